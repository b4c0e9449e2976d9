"""The request context: oslo.context's, with nova's extra keys.

Its ``to_dict()`` is what travels as ``ctxt`` in intercell messages and as
``_context_*`` in oslo.messaging envelopes, so the keys are exactly nova's
(reference §4.2).  :meth:`RequestContext.for_other_cell` drops what must not
leave the cell (the original sent the auth token to every cell, §10.4).
"""

import copy
import datetime
import functools
import re

from oslo_context import context as oslo_context
from oslo_utils import timeutils

__all__ = ['RequestContext', 'WireContext', 'check_wire_ctxt',
           'get_admin_context']

_NOVA_KEYS = ('user_id', 'project_id', 'is_admin', 'read_deleted',
              'remote_address', 'timestamp', 'request_id', 'quota_class',
              'user_name', 'service_catalog', 'project_name')


# The form our to_dict() writes (a naive UTC datetime's isoformat), which
# nearly every received timestamp has: read by the standard library's C
# parser, as oslo's ISO 8601 parser (UTC assumed, then made naive) would.
_NAIVE_ISO = re.compile(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\Z',
                        re.ASCII)


@functools.lru_cache(maxsize=4096)
def _parse_timestamp(text):
    """A context's ISO 8601 timestamp as a naive UTC datetime, an offset
    applied (cached: the messages of one request carry the same one, hop
    after hop).

    :raises ValueError: not an ISO 8601 date and time.
    """
    if _NAIVE_ISO.match(text):
        return datetime.datetime.fromisoformat(text)
    return timeutils.normalize_time(timeutils.parse_isotime(text))


class RequestContext(oslo_context.RequestContext):
    """Security context and request information, as nova's."""

    def __init__(self, user_id=None, project_id=None, is_admin=None,
                 read_deleted='no', remote_address=None, timestamp=None,
                 quota_class=None, service_catalog=None, user_name=None,
                 project_name=None, **kwargs):
        kwargs.setdefault('user_id', user_id)
        kwargs.setdefault('project_id', project_id)
        super(RequestContext, self).__init__(is_admin=bool(is_admin),
                                             **kwargs)
        self.read_deleted = read_deleted
        self.remote_address = remote_address
        if isinstance(timestamp, str):
            timestamp = _parse_timestamp(timestamp)
        self.timestamp = timestamp or timeutils.utcnow()
        self.quota_class = quota_class
        self.service_catalog = list(service_catalog or [])
        self.user_name = user_name
        self.project_name = project_name
        # The ``_unique_id`` of the RPC message that brought this request,
        # when a server that acknowledges after handling (the kombu
        # ``cells`` topic) may deliver a copy again; never on the wire.
        self.delivery_id = None
        # The :class:`~nova_cells.messaging.delivery.Scope` of the received
        # message whose handler holds this context: the messages made with
        # it are recorded with that message's receipt.  Never on the wire.
        self.delivery_scope = None

    def to_dict(self):
        base = super(RequestContext, self).to_dict()
        # NOTE(nova-cells): oslo.context dropped 'tenant'; nova Stein (and
        # so the wire) still carries it, right after 'user'.
        values = {'user': base.pop('user', self.user_id),
                  'tenant': self.project_id}
        values.update(base)
        values.update({
            'user_id': self.user_id,
            'project_id': self.project_id,
            'is_admin': self.is_admin,
            'read_deleted': self.read_deleted,
            'remote_address': self.remote_address,
            'timestamp': self.timestamp.isoformat(),
            'request_id': self.request_id,
            'quota_class': self.quota_class,
            'user_name': self.user_name,
            'service_catalog': self.service_catalog,
            'project_name': self.project_name,
        })
        return values

    @classmethod
    def from_dict(cls, values):
        """Rebuild from ``to_dict()`` output; unknown keys are ignored."""
        kwargs = {k: values.get(k) for k in _NOVA_KEYS if k in values}
        kwargs.setdefault('user_id', values.get('user'))
        kwargs.setdefault('project_id', values.get('tenant'))
        kwargs['read_deleted'] = values.get('read_deleted') or 'no'
        return super(RequestContext, cls).from_dict(values, **kwargs)

    def to_policy_values(self):
        """oslo.policy credentials, plus ``is_admin`` as nova added it (the
        cell scheduler rules default to ``is_admin:True``)."""
        values = super(RequestContext, self).to_policy_values()
        values['is_admin'] = self.is_admin
        return values

    def elevated(self, read_deleted=None):
        """Return an admin copy of this context."""
        ctxt = copy.copy(self)
        ctxt.roles = list(self.roles)
        ctxt.is_admin = True
        if 'admin' not in ctxt.roles:
            ctxt.roles.append('admin')
        if read_deleted is not None:
            ctxt.read_deleted = read_deleted
        return ctxt

    def for_other_cell(self):
        """Return a context safe to send to another cell: no auth token, no
        service catalog.  A copy when there is something to drop; this very
        context when there is not (a message received from another cell,
        on every hop): callers only read what they get."""
        if self.auth_token is None and not self.service_catalog:
            return self
        ctxt = copy.copy(self)
        ctxt.auth_token = None
        ctxt.service_catalog = []
        return ctxt


class WireContext(object):
    """A received message's ``ctxt``, kept as the dict it came in.

    A cell that only passes a message on never reads its context; building
    a :class:`RequestContext` from the dict (oslo.context's ``from_dict``, a
    timestamp) and turning it back into one for the next hop cost more than
    the rest of the hop's own work.  So a received message holds this until
    something reads ``message.ctxt``, and sends on what the rebuild would
    have sent, without rebuilding:

    * a dict already in the form our ``to_dict()`` gives (every message
      from a nova-cells or nova cell of the same keys) goes on as it came,
      without its auth token and service catalog
      (:meth:`RequestContext.for_other_cell`);
    * any other (a key we do not know, which may hold a credential; no
      request id; a timestamp, ``is_admin`` or ``read_deleted`` not in
      nova's form) is rebuilt once, here, as every hop did before.

    The dict is checked on receipt (:func:`check_wire_ctxt`), so that a
    context which would not rebuild is rejected where it arrives, as before.
    """

    __slots__ = ('values',)

    def __init__(self, values):
        check_wire_ctxt(values)
        if not _in_wire_form(values):
            values = RequestContext.from_dict(values).to_dict()
        if values.get('auth_token') is not None or \
                values.get('service_catalog'):
            values = dict(values, auth_token=None, service_catalog=[])
        self.values = values

    def to_dict(self):
        """A copy: oslo.messaging's tracing writes into an envelope's."""
        return dict(self.values)

    def for_other_cell(self):
        return self

    def rebuild(self):
        """The :class:`RequestContext`, for whatever reads it."""
        return RequestContext.from_dict(self.values)


# The keys of our to_dict(): nova's (reference section 4.2).
_CTXT_KEYS = frozenset(RequestContext(overwrite=False).to_dict())
_READ_DELETED = ('no', 'yes', 'only')


def _in_wire_form(values):
    """True when ``values`` would come out of a rebuild as it is (but for
    keys it lacks, which the next rebuild fills with the same defaults)."""
    timestamp = values.get('timestamp')
    request_id = values.get('request_id')
    return (values.keys() <= _CTXT_KEYS and
            type(request_id) is str and bool(request_id) and
            type(values.get('is_admin')) is bool and
            values.get('read_deleted') in _READ_DELETED and
            type(timestamp) is str and
            _canonical_timestamp(timestamp) == timestamp)


@functools.lru_cache(maxsize=4096)
def _canonical_timestamp(text):
    """The timestamp as our to_dict() writes it (naive UTC isoformat)."""
    return _parse_timestamp(text).isoformat()


def check_wire_ctxt(values):
    """Raise ValueError or TypeError where :meth:`RequestContext.from_dict`
    and ``to_dict`` would fail on ``values``: a timestamp that is not an ISO
    8601 text, a service catalog that is neither empty nor a list."""
    if not isinstance(values, dict):
        raise TypeError('ctxt must be an object')
    timestamp = values.get('timestamp')
    if timestamp is not None:
        if not isinstance(timestamp, str):
            raise TypeError('ctxt timestamp must be a text')
        _parse_timestamp(timestamp)
    catalog = values.get('service_catalog')
    if catalog and not isinstance(catalog, list):
        raise TypeError('ctxt service_catalog must be a list')


def get_admin_context(read_deleted='no'):
    """An admin context not tied to any user, for periodic work."""
    return RequestContext(user_id=None, project_id=None, is_admin=True,
                          read_deleted=read_deleted, overwrite=False)
