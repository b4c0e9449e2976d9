"""Neighbour broker URLs: parse, validate, build and mask.

A neighbour's ``transport_url`` (``rabbit://user:pass@host:5672/vhost``,
several hosts comma-separated) is the only thing nova-cells knows of how to
reach it.  Passwords in it must never reach a log line or CLI output:
:func:`mask` is what every printer uses.
"""

import re
from urllib import parse as urlparse

from oslo_config import cfg
import oslo_messaging

from nova_cells import exception

__all__ = ['parse', 'mask', 'first_host_info', 'build',
           'check_messaging_url', 'MESSAGING_TRANSPORTS', 'MAX_URL_LENGTH']

_HOSTLESS_TRANSPORTS = ('fake',)
#: Schemes of messaging drivers a neighbour can be reached with (``http``
#: and the like parse as transport URLs too, but nothing could use them).
MESSAGING_TRANSPORTS = ('rabbit', 'amqp', 'kombu', 'kombu+rabbit',
                        'kombu+amqp', 'kafka', 'fake')
#: Longest neighbour URL: the ``cells.transport_url`` column is a
#: VARCHAR(255).
MAX_URL_LENGTH = 255
_CREDS = re.compile(r'([^:/@,]+):[^@]*@')


def parse(url):
    """Return an ``oslo_messaging.TransportURL`` for ``url``.

    :raises InvalidTransportURL: when it cannot be parsed or names no host.
    """
    try:
        parsed = oslo_messaging.TransportURL.parse(cfg.ConfigOpts(), url)
    except Exception as e:  # noqa - any parse failure is a bad URL
        raise exception.InvalidTransportURL(url=mask(url), reason=str(e))
    if parsed.transport not in _HOSTLESS_TRANSPORTS:
        if not parsed.hosts or not all(h.hostname for h in parsed.hosts):
            raise exception.InvalidTransportURL(
                url=mask(url), reason='every broker host needs a hostname')
    for host in parsed.hosts:
        if host.port is not None and not 0 < host.port < 65536:
            raise exception.InvalidTransportURL(
                url=mask(url), reason='port %d out of range' % host.port)
    return parsed


def check_messaging_url(url):
    """Parse ``url`` as a neighbour's transport URL: storable, with no
    control characters and a messaging driver's scheme.

    :returns: the parsed ``TransportURL``.
    :raises InvalidTransportURL: saying why (the password masked).
    """
    if len(url) > MAX_URL_LENGTH:
        raise exception.InvalidTransportURL(
            url=mask(url[:64]) + '...',
            reason='longer than %d characters' % MAX_URL_LENGTH)
    if any(ord(c) < 33 or ord(c) == 0x7f for c in url):
        raise exception.InvalidTransportURL(
            url=mask(url).encode('unicode_escape').decode('ascii'),
            reason='white space or control characters')
    parsed = parse(url)
    if parsed.transport not in MESSAGING_TRANSPORTS:
        raise exception.InvalidTransportURL(
            url=mask(url), reason='%r is not a messaging transport (one of '
            '%s)' % (parsed.transport, ', '.join(MESSAGING_TRANSPORTS)))
    return parsed


def _host_entries(netloc):
    """Split ``netloc`` into host entries; a segment before the '@' of the
    next one is taken as part of its password (which may hold a ',')."""
    entries, pending = [], []
    for segment in netloc.split(','):
        pending.append(segment)
        if '@' in segment:
            entries.append(','.join(pending))
            pending = []
    return entries + pending


def _mask_host(entry):
    creds, sep, where = entry.rpartition('@')
    if not sep:
        return entry
    user, colon, _password = creds.partition(':')
    return user + (':***' if colon else '') + '@' + where


# Query parameters whose value is a secret (oslo.messaging and kombu take
# credentials and key passphrases from the query too).
_SECRET_PARAM = re.compile(r'(pass|secret|token|key|auth|cred)', re.I)


def _mask_query(query):
    """``a=1&password=x`` -> ``a=1&password=***`` (``;`` separators too)."""
    def _one(item):
        name, sep, value = item.partition('=')
        if sep and value and _SECRET_PARAM.search(urlparse.unquote(name)):
            return name + '=***'
        return item
    return '&'.join(';'.join(_one(i) for i in part.split(';'))
                    for part in query.split('&'))


def _mask_rest(text):
    """Path, query and fragment: secret parameters and anything shaped
    like ``user:password@`` masked."""
    return _CREDS.sub(lambda m: m.group(1) + ':***@', _mask_query(text))


def mask(url):
    """Return ``url`` with every password replaced by ``***``: in each
    host's credentials, in secret query parameters (``?password=``), and
    in anything else shaped like credentials.  Never raises (it is what
    error messages about bad URLs are built with)."""
    if not url:
        return url
    if not isinstance(url, str):
        return '<not a URL>'
    try:
        parts = urlparse.urlsplit(url)
    except ValueError:
        return '<unparseable URL>'
    if '@' not in parts.netloc:
        # No credentials in the host part; a password holding '/' or '?'
        # ends urlsplit's netloc early: mask anything shaped like them.
        return _mask_rest(url)
    head, _sep, rest = url.partition(parts.netloc)
    netloc = ','.join(_mask_host(h) for h in _host_entries(parts.netloc))
    return head + netloc + _mask_rest(rest)


def first_host_info(url):
    """Return ``username``, ``rpc_host``, ``rpc_port``, ``virtual_host``
    of the first broker host (what nova's cell info and list showed)."""
    parsed = parse(url)
    host = parsed.hosts[0] if parsed.hosts else None
    return {'username': host.username if host else None,
            'rpc_host': host.hostname if host else None,
            'rpc_port': host.port if host else None,
            'virtual_host': parsed.virtual_host}


def _host_netloc(hostname, port, username, password):
    where = '[%s]' % hostname if ':' in hostname else hostname
    if port is not None:
        where = '%s:%d' % (where, port)
    if username is None:
        return where
    creds = urlparse.quote(username, safe='')
    if password is not None:
        creds += ':' + urlparse.quote(password, safe='')
    return creds + '@' + where


def build(hosts, username=None, password=None, virtual_host=None,
          transport='rabbit'):
    """Build a transport URL from ``[(hostname, port), ...]``.

    Unlike ``nova-manage cell create``, the local ``transport_url`` is *not*
    used as a seed (reference §10.33: it leaked the local broker's hosts
    into the neighbour's URL).
    """
    if not hosts:
        raise exception.InvalidTransportURL(url='', reason='no broker host')
    netloc = ','.join(_host_netloc(h, p, username, password)
                      for h, p in hosts)
    path = urlparse.quote(virtual_host or '', safe='')
    url = '%s://%s/%s' % (transport, netloc, path)
    parse(url)
    return url
