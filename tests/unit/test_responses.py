"""Responses, their failure JSON and the waiting slots (reference §4.7-4.9,
§10.2): nova_cells.messaging.responses."""

import datetime
import json
import sys
import threading
import time

import oslo_messaging
import pytest

from nova_cells import context
from nova_cells import exception
from nova_cells.messaging import responses

FAILURE_KEYS = {'class', 'module', 'message', 'tb', 'args', 'kwargs'}
NOOP = oslo_messaging.NoOpSerializer()


def _raised(exc):
    """A sys.exc_info() tuple for ``exc`` (with a real traceback)."""
    try:
        raise exc
    except Exception:
        return sys.exc_info()


def _failure_json(cls, module, message='msg', kwargs=None, args=None):
    return json.dumps({'class': cls, 'module': module, 'message': message,
                       'tb': ['Traceback line 1\n', 'line 2\n'],
                       'args': args if args is not None else [message],
                       'kwargs': kwargs or {}})


# -- failure JSON -------------------------------------------------------------

@pytest.mark.parametrize('exc, cls, module, kwargs', [
    pytest.param(exception.CellTimeout(cell_name='api!c2!g3'), 'CellTimeout',
                 'nova.exception', {'cell_name': 'api!c2!g3', 'code': 500},
                 id='cell-timeout-as-nova-exception'),
    pytest.param(exception.CellMaxHopCountReached(hop_count=3),
                 'CellMaxHopCountReached', 'nova.exception',
                 {'hop_count': 3, 'code': 500}, id='max-hop-count'),
    pytest.param(exception.CellRoutingInconsistency(reason='r'),
                 'CellRoutingInconsistency', 'nova.exception',
                 {'reason': 'r', 'code': 500}, id='routing-inconsistency'),
    pytest.param(ValueError('bad'), 'ValueError', 'builtins', {},
                 id='builtin-value-error'),
    pytest.param(KeyError('k'), 'KeyError', 'builtins', {},
                 id='builtin-key-error'),
])
def test_serialize_failure_has_exactly_novas_keys(exc, cls, module, kwargs):
    data = json.loads(responses.serialize_failure(_raised(exc)))
    assert set(data) == FAILURE_KEYS
    assert (data['class'], data['module'], data['kwargs']) == (cls, module,
                                                               kwargs)
    assert isinstance(data['message'], str) and data['message']
    assert isinstance(data['args'], list)
    assert data['tb'] and all(isinstance(line, str) for line in data['tb']), \
        'an exc_info tuple carries its traceback lines'


def test_serialize_failure_of_a_bare_instance_has_empty_tb():
    data = json.loads(responses.serialize_failure(ValueError('x')))
    assert data['tb'] == []
    assert data['message'] == 'x'
    assert data['args'] == ['x']


def test_serialize_failure_strips_remote_suffix():
    remote_cls = type('CellTimeout_Remote', (exception.CellTimeout,),
                      {'__module__': 'nova.exception_Remote'})
    data = json.loads(responses.serialize_failure(
        remote_cls(cell_name='a!b')))
    assert (data['class'], data['module']) == ('CellTimeout',
                                               'nova.exception')


def test_serialize_failure_never_raises_on_odd_args_and_kwargs():
    class Opaque(object):
        pass

    when = datetime.datetime(2020, 1, 2, 3, 4, 5)
    data = json.loads(responses.serialize_failure(
        exception.NovaCellsException(when=when, obj=Opaque())))
    assert data['kwargs']['when'].startswith('2020-01-02T03:04:05')
    assert 'obj' in data['kwargs']
    data = json.loads(responses.serialize_failure(
        ValueError(Opaque(), {1, 2}, when)))
    assert len(data['args']) == 3


@pytest.mark.parametrize('exc, attr, value', [
    pytest.param(exception.CellTimeout(cell_name='api!c2!g3'), 'cell_name',
                 'api!c2!g3', id='cell-timeout'),
    pytest.param(exception.CellMaxHopCountReached(hop_count=7), 'hop_count',
                 7, id='max-hop-count'),
    pytest.param(exception.CellRoutingInconsistency(reason='why'), 'reason',
                 'why', id='routing-inconsistency'),
    pytest.param(exception.CellNotFound(cell_name='nope'), 'cell_name',
                 'nope', id='cell-not-found'),
])
def test_our_exceptions_round_trip_with_kwargs(exc, attr, value):
    back = responses.deserialize_failure(
        responses.serialize_failure(_raised(exc)))
    assert type(back) is type(exc)
    assert getattr(back, attr) == value
    assert back.kwargs[attr] == value
    assert str(back) == str(exc)
    assert 'raise exc' in back.remote_traceback


@pytest.mark.parametrize('cls, module, expected_type', [
    pytest.param('ValueError', 'builtins', ValueError, id='py3-builtins'),
    pytest.param('ValueError', 'exceptions', ValueError, id='py2-exceptions'),
    pytest.param('KeyError', 'exceptions', KeyError, id='py2-key-error'),
    pytest.param('CellTimeout', 'nova.exception', exception.CellTimeout,
                 id='nova-exception-module'),
    pytest.param('CellTimeout', 'nova_cells.exception', exception.CellTimeout,
                 id='our-module-name'),
    pytest.param('Evil', 'evil.module', oslo_messaging.RemoteError,
                 id='unknown-module-remote-error'),
    pytest.param('CellTimeout', 'evil.module', oslo_messaging.RemoteError,
                 id='known-class-unknown-module'),
    pytest.param('FlavorDiskTooSmall', 'nova.exception',
                 oslo_messaging.RemoteError,
                 id='nova-class-we-do-not-have'),
    pytest.param('SystemExit', 'builtins', oslo_messaging.RemoteError,
                 id='base-exception-not-exception'),
    pytest.param('print', 'builtins', oslo_messaging.RemoteError,
                 id='builtin-not-a-class'),
    pytest.param('__import__', 'builtins', oslo_messaging.RemoteError,
                 id='builtin-function-is-never-called'),
])
def test_deserialize_failure_allowed_modules(cls, module, expected_type):
    back = responses.deserialize_failure(_failure_json(cls, module, 'the msg'))
    assert type(back) is expected_type
    if expected_type is oslo_messaging.RemoteError:
        assert back.exc_type == cls
        assert back.value == 'the msg'
        assert back.traceback == 'Traceback line 1\nline 2\n'
    else:
        assert 'the msg' in str(back)


@pytest.mark.parametrize('raw', [
    pytest.param('not json {', id='not-json'),
    pytest.param('[1, 2]', id='json-list'),
    pytest.param('{}', id='empty-object'),
    pytest.param(json.dumps({'class': 5, 'module': None}), id='wrong-types'),
    pytest.param(json.dumps({'class': 'ValueError', 'module': 'builtins',
                             'kwargs': 'nope', 'tb': None}),
                 id='kwargs-not-a-dict'),
])
def test_deserialize_failure_of_garbage_never_raises(raw):
    back = responses.deserialize_failure(raw)
    assert isinstance(back, Exception)


# -- Response -----------------------------------------------------------------

def test_response_success_json_round_trip():
    ctxt = context.get_admin_context()
    value = {'a': [1, 2], 'b': None}
    data = json.loads(responses.Response(ctxt, 'api!c1', value,
                                         False).to_json(NOOP))
    assert data == {'cell_name': 'api!c1', 'value': value, 'failure': False}
    back = responses.Response.from_json(ctxt, json.dumps(data), NOOP)
    assert (back.cell_name, back.value, back.failure) == ('api!c1', value,
                                                          False)
    assert back.value_or_raise() == value


def test_response_failure_json_value_is_a_json_string():
    ctxt = context.get_admin_context()
    response = responses.Response.from_exception(
        ctxt, 'api!c2!g3', exception.CellTimeout(cell_name='api!c2!g3'))
    data = json.loads(response.to_json(NOOP))
    assert set(data) == {'cell_name', 'value', 'failure'}
    assert data['failure'] is True
    assert isinstance(data['value'], str), 'nova nests the failure as a string'
    assert set(json.loads(data['value'])) == FAILURE_KEYS
    back = responses.Response.from_json(ctxt, json.dumps(data), NOOP)
    assert back.failure and back.cell_name == 'api!c2!g3'
    with pytest.raises(exception.CellTimeout) as info:
        back.value_or_raise()
    assert info.value.cell_name == 'api!c2!g3'


def test_value_or_raise_with_exc_info_tuple_keeps_traceback():
    exc_info = _raised(ValueError('tb kept'))
    response = responses.Response(None, 'api', exc_info, True)
    with pytest.raises(ValueError, match='tb kept') as info:
        response.value_or_raise()
    assert info.value.__traceback__ is not None


def test_value_or_raise_with_exception_instance():
    response = responses.Response(None, 'api', KeyError('k'), True)
    with pytest.raises(KeyError):
        response.value_or_raise()


def test_response_repr_names_cell_and_outcome():
    assert repr(responses.Response(None, 'api!c1', 1, False)) == \
        '<Response api!c1 ok>'
    assert repr(responses.Response(None, 'api!c1', 1, True)) == \
        '<Response api!c1 failure>'


# -- ResponseSlots ------------------------------------------------------------

def test_put_for_unknown_uuid_is_dropped():
    slots = responses.ResponseSlots()
    assert slots.put('no-such-uuid', 'c1', ['{}']) is False
    assert len(slots) == 0


def test_put_after_close_is_dropped():
    slots = responses.ResponseSlots()
    slots.open('u1', ['c1'])
    slots.close('u1')
    assert slots.put('u1', 'c1', ['{}']) is False
    assert len(slots) == 0


def test_targeted_slot_completes_on_any_single_answer():
    slots = responses.ResponseSlots()
    slot = slots.open('u1')
    assert slots.put('u1', 'g5', ['r1']) is True
    started = time.monotonic()
    received, missing = slot.wait(5)
    assert time.monotonic() - started < 1
    assert (received, missing) == (['r1'], [])


def test_broadcast_slot_orders_by_expected_neighbour_and_names_missing():
    slots = responses.ResponseSlots()
    slot = slots.open('u1', ['c1', 'c2', 'c3'])
    slots.put('u1', 'c3', ['from-c3'])
    slots.put('u1', 'c1', ['from-c1a', 'from-c1b'])
    received, missing = slot.wait(0.05)
    assert received == ['from-c1a', 'from-c1b', 'from-c3']
    assert missing == ['c2']


def test_broadcast_slot_ignores_unexpected_neighbour():
    slots = responses.ResponseSlots()
    slot = slots.open('u1', ['c1'])
    slots.put('u1', 'intruder', ['x'])
    received, missing = slot.wait(0.05)
    assert (received, missing) == ([], ['c1'])


@pytest.mark.parametrize('timeout', [0, -1], ids=['zero', 'negative'])
def test_wait_with_no_time_returns_at_once(timeout):
    slot = responses.ResponseSlots().open('u1', ['c1'])
    started = time.monotonic()
    assert slot.wait(timeout) == ([], ['c1'])
    assert time.monotonic() - started < 0.5


def test_slot_with_no_neighbours_is_complete():
    slot = responses.ResponseSlots().open('u1', [])
    assert slot.wait(5) == ([], [])


def test_wait_wakes_up_when_the_last_answer_arrives_from_another_thread():
    slots = responses.ResponseSlots()
    slot = slots.open('u1', ['c1', 'c2'])
    slots.put('u1', 'c1', ['a'])
    timer = threading.Timer(0.1, slots.put, args=('u1', 'c2', ['b']))
    timer.start()
    started = time.monotonic()
    try:
        received, missing = slot.wait(5)
    finally:
        timer.join()
    assert time.monotonic() - started < 2, 'woken up, not timed out'
    assert (received, missing) == (['a', 'b'], [])
