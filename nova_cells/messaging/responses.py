"""Responses between cells: the ``Response`` value, its failure JSON, and the
slots where a waiting cell collects them (reference §4.7-§4.9).

Differences from nova, on purpose:

* a slot knows which neighbours it waits for, so on timeout it names each
  cell that did not answer (a ``CellTimeout`` failure per cell) and keeps
  what did arrive, instead of failing the whole broadcast (§10.2);
* a slot waits once for all its neighbours with one deadline, not
  ``call_timeout`` per neighbour in turn;
* a remote exception is rebuilt only for allowed modules (ours and nova's
  ``nova.exception`` names, plus builtins); anything else becomes an
  ``oslo_messaging.RemoteError``.
"""

import threading
import time
import traceback

from oslo_log import log as logging
import oslo_messaging
from oslo_serialization import jsonutils

from nova_cells import exception

__all__ = ['Response', 'ResponseSlots', 'serialize_failure',
           'deserialize_failure']

LOG = logging.getLogger(__name__)

_OUR_MODULES = ('nova_cells.exception', 'nova.exception')
_BUILTIN_MODULES = ('builtins', 'exceptions')


def _exc_kwargs(exc):
    kwargs = getattr(exc, 'kwargs', None)
    if not isinstance(kwargs, dict):
        return {}
    return jsonutils.to_primitive(kwargs, convert_instances=True)


def serialize_failure(exc_info):
    """Return nova's failure JSON string for an exception.

    ``exc_info`` is a ``sys.exc_info()`` tuple or an exception instance.
    Our exceptions travel under ``nova.exception`` when nova has a class of
    that name, so that an original nova-cells rebuilds them too.
    """
    if isinstance(exc_info, BaseException):
        exc, tb = exc_info, exc_info.__traceback__
    else:
        exc, tb = exc_info[1], exc_info[2]
    cls = type(exc)
    module = cls.__module__
    if module == 'nova_cells.exception':
        module = 'nova.exception'
    name = cls.__name__
    for suffix in ('_Remote',):
        name = name[:-len(suffix)] if name.endswith(suffix) else name
        module = module[:-len(suffix)] if module.endswith(suffix) else module
    message = exc.format_message() if hasattr(exc, 'format_message') \
        else str(exc)
    return jsonutils.dumps({
        'class': name,
        'module': module,
        'message': message,
        'tb': traceback.format_tb(tb) if tb else [],
        'args': jsonutils.to_primitive(list(getattr(exc, 'args', ())),
                                       convert_instances=True),
        'kwargs': _exc_kwargs(exc),
    })


def _rebuild(cls, message, kwargs):
    if issubclass(cls, exception.NovaCellsException):
        try:
            return cls(message, **kwargs)
        except TypeError:
            return cls(message)
    return cls(message)


def deserialize_failure(data):
    """Rebuild the exception a remote cell described (nova's JSON)."""
    if isinstance(data, str):
        try:
            data = jsonutils.loads(data)
        except ValueError:
            return oslo_messaging.RemoteError('ValueError', data, '')
    if not isinstance(data, dict):
        return oslo_messaging.RemoteError('Unknown', str(data), '')
    name = str(data.get('class', 'Exception'))
    module = str(data.get('module', ''))
    message = str(data.get('message', ''))
    tb = ''.join(data.get('tb') or [])
    kwargs = data.get('kwargs') if isinstance(data.get('kwargs'), dict) \
        else {}
    cls = None
    if module in _OUR_MODULES:
        cls = getattr(exception, name, None)
    elif module in _BUILTIN_MODULES:
        import builtins
        cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        return oslo_messaging.RemoteError(name, message, tb)
    exc = _rebuild(cls, message, kwargs)
    exc.remote_traceback = tb
    return exc


class Response(object):
    """One cell's answer: a value, or a failure, named by its cell path."""

    def __init__(self, ctxt, cell_name, value, failure):
        self.ctxt = ctxt
        self.cell_name = cell_name
        self.value = value
        self.failure = failure

    def to_json(self, serializer):
        value = self.value
        if self.failure:
            value = serialize_failure(value)
        else:
            value = serializer.serialize_entity(self.ctxt, value)
        return jsonutils.dumps({'cell_name': self.cell_name, 'value': value,
                                'failure': bool(self.failure)})

    @classmethod
    def from_json(cls, ctxt, json_message, serializer):
        data = jsonutils.loads(json_message)
        if not isinstance(data, dict):
            raise ValueError('a response must be a JSON object')
        value = data.get('value')
        failure = bool(data.get('failure'))
        if failure:
            value = deserialize_failure(value)
        else:
            value = serializer.deserialize_entity(ctxt, value)
        return cls(ctxt, data.get('cell_name'), value, failure)

    @classmethod
    def from_exception(cls, ctxt, cell_name, exc):
        return cls(ctxt, cell_name, exc, True)

    def value_or_raise(self):
        if self.failure:
            if isinstance(self.value, tuple):
                raise self.value[1].with_traceback(self.value[2])
            raise self.value
        return self.value

    def __repr__(self):
        return '<Response %s %s>' % (self.cell_name,
                                     'failure' if self.failure else 'ok')


class _Slot(object):
    """Responses for one message uuid, per neighbour they came from.

    ``expected`` is the list of neighbour names to hear from, or None for
    "any single answer" (a targeted call: the answer comes from afar).
    """

    def __init__(self, expected):
        self.expected = list(expected) if expected is not None else None
        self.received = {}
        self._cond = threading.Condition()

    def _complete(self):
        if self.expected is None:
            return bool(self.received)
        return all(name in self.received for name in self.expected)

    def put(self, from_cell, responses):
        with self._cond:
            key = from_cell if self.expected is not None else '*'
            self.received.setdefault(key, []).extend(responses)
            self._cond.notify_all()

    def wait(self, timeout):
        """Block until complete or ``timeout``; return (responses, missing).

        ``responses`` is a flat list of JSON strings in neighbour order.
        """
        deadline = time.monotonic() + max(0, timeout)
        with self._cond:
            while not self._complete():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            order = self.expected if self.expected is not None else ['*']
            responses = [r for name in order
                         for r in self.received.get(name, [])]
            missing = [n for n in order if n not in self.received]
        return responses, missing


class ResponseSlots(object):
    """uuid -> slot, shared by every message a runner processes."""

    def __init__(self):
        self._slots = {}
        self._lock = threading.Lock()

    def open(self, uuid, expected=None):
        slot = _Slot(expected)
        with self._lock:
            self._slots[uuid] = slot
        return slot

    def close(self, uuid):
        with self._lock:
            self._slots.pop(uuid, None)

    def put(self, uuid, from_cell, responses):
        """Deliver ``responses``; False (and a debug log) if none waits."""
        with self._lock:
            slot = self._slots.get(uuid)
        if slot is None:
            LOG.debug('Dropping late or unknown response for message %s '
                      'from %s', uuid, from_cell)
            return False
        slot.put(from_cell, responses)
        return True

    def __len__(self):
        return len(self._slots)
