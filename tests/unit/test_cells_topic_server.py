"""The ``cells`` topic on kombu (``nova_cells.transport.api_server``): read
as oslo.messaging's listener reads it, dispatched by oslo's own
dispatcher, answered as oslo's server answers, acknowledged after the
method returned; and the build's message uuid taken from the delivery,
so that a copy delivered again is the same message."""

import datetime
import json

import oslo_messaging
from oslo_messaging.rpc import dispatcher as rpc_dispatcher
import pytest

from nova_cells import context as cells_context
from nova_cells import exception
from nova_cells.messaging import runner as messaging
from nova_cells.transport import rpc
from nova_cells.transport import api_server
from nova_cells.transport import envelope
from nova_cells.transport import lanes
from tests.unit import transport_doubles


class _Endpoint(object):
    target = oslo_messaging.Target(version='1.42')

    def __init__(self):
        self.calls = []

    @oslo_messaging.expose
    def echo(self, ctxt, value):
        self.calls.append((ctxt, value))
        return {'echo': value}

    @oslo_messaging.expose
    def dated(self, ctxt):
        return {'at': datetime.datetime(2026, 12, 7, 5, 4, 3)}

    @oslo_messaging.expose
    def lost(self, ctxt):
        raise exception.CellNotFound(cell_name='nowhere')

    @oslo_messaging.expose
    @oslo_messaging.expected_exceptions(exception.CellNotFound)
    def expected(self, ctxt):
        raise exception.CellNotFound(cell_name='expected')

    def hidden(self, ctxt):
        return 'never over RPC'


def _server(endpoint):
    server = api_server.CellsTopicServer(
        'rabbit://u:p@127.0.0.1:5672/v', factory=None, declarations=None,
        retry=None, topic='cells', host='h1', endpoints=[endpoint],
        serializer=rpc.RequestContextSerializer(),
        access_policy=rpc_dispatcher.ExplicitRPCAccessPolicy, workers=1)
    server._consumer = transport_doubles.RecordingConsumer()
    return server


_CTXT = cells_context.RequestContext('u1', 'p1', request_id='req-1').to_dict()


def _handled(endpoint, method, args=None, call=False, unique_id='u' * 32):
    """Decode and process one body; return the delivery."""
    server = _server(endpoint)
    body = api_server.encode_call(
        method, args or {}, _CTXT, msg_id='m1' if call else None,
        reply_q='reply_q1' if call else None, unique_id=unique_id,
        version='1.42')
    delivery = transport_doubles.delivery(body)
    delivery.decoded = api_server.decode(body)
    assert server._process(delivery) == lanes.ACK
    return delivery


def _reply(delivery):
    queue, body = delivery.reply
    assert queue == 'reply_q1'
    return json.loads(json.loads(body)['oslo.message'])


def test_a_body_is_read_as_oslo_reads_it():
    body = api_server.encode_call('echo', {'value': 1}, _CTXT, msg_id='m1',
                                  reply_q='q1', unique_id='abc',
                                  namespace='baseapi')
    incoming = api_server.decode(body)
    assert incoming.message == {'method': 'echo', 'args': {'value': 1},
                                'version': '1.0', 'namespace': 'baseapi'}
    assert incoming.ctxt == _CTXT
    assert (incoming.msg_id, incoming.reply_q, incoming.unique_id) == (
        'm1', 'q1', 'abc')
    assert incoming.client_timeout is None


def test_oslo_messaging_clients_body_is_read():
    # What oslo.messaging's own client serializes for a cast.
    from oslo_messaging._drivers import common
    inner = {'method': 'echo', 'args': {'value': 'x'}, 'version': '1.42',
             '_unique_id': 'f' * 32}
    inner.update(('_context_%s' % k, v) for k, v in _CTXT.items())
    body = json.dumps(common.serialize_msg(inner))
    incoming = api_server.decode(body.encode('utf-8'))
    assert incoming.message['method'] == 'echo'
    assert incoming.unique_id == 'f' * 32
    assert incoming.ctxt['request_id'] == 'req-1'


@pytest.mark.parametrize('body', [
    b'not json', b'[]', b'{"oslo.version": "1.0", "oslo.message": "{}"}',
    json.dumps({'oslo.version': '2.0', 'oslo.message': json.dumps(
        {'args': {}})}).encode(),
    json.dumps({'oslo.version': '2.0', 'oslo.message': json.dumps(
        {'method': 'echo', 'args': []})}).encode(),
    # Deeper than the parser's recursion limit.
    json.dumps({'oslo.version': '2.0', 'oslo.message': '{"method": "echo",'
                ' "args": {"value": ' + '[' * 100000 + ']' * 100000 +
                '}}'}).encode(),
])
def test_what_is_not_an_rpc_message_is_refused(body):
    with pytest.raises(envelope.BadEnvelope):
        api_server.decode(body)


def test_an_unreadable_body_is_logged_once_and_acknowledged(caplog):
    server = _server(_Endpoint())
    delivery = transport_doubles.delivery(b'{"oslo.version": "2.0"')
    server._on_delivery(delivery)
    assert server._consumer.settled == [(delivery, False, None)]
    assert 'Rejected a message on topic cells' in caplog.text


def test_a_cast_runs_with_the_delivery_id_in_its_context():
    endpoint = _Endpoint()
    delivery = _handled(endpoint, 'echo', {'value': 7})
    assert delivery.reply is None            # a cast: no answer
    ctxt, value = endpoint.calls[0]
    assert value == 7
    assert isinstance(ctxt, cells_context.RequestContext)
    assert ctxt.request_id == 'req-1'
    assert ctxt.delivery_id == 'u' * 32
    # Never on the wire.
    assert 'delivery_id' not in ctxt.to_dict()


def test_a_call_is_answered_with_its_result():
    reply = _reply(_handled(_Endpoint(), 'echo', {'value': 'x'}, call=True))
    assert reply['result'] == {'echo': 'x'}
    assert reply['failure'] is None and reply['ending'] is True
    assert reply['_msg_id'] == 'm1'


def test_a_result_is_encoded_as_oslo_encodes_it():
    # oslo's serialize_msg: jsonutils, dates as ISO strings.
    reply = _reply(_handled(_Endpoint(), 'dated', call=True))
    assert reply['result'] == {'at': '2026-12-07T05:04:03.000000'}
    assert reply['failure'] is None


@pytest.mark.parametrize('method', ['lost', 'expected'])
def test_a_failure_is_answered_as_oslo_serializes_it(method, caplog):
    reply = _reply(_handled(_Endpoint(), method, call=True))
    failure = json.loads(reply['failure'])
    assert failure['class'] == 'CellNotFound'
    assert failure['module'] == 'nova_cells.exception'
    # An expected exception is not logged as an error.
    assert ('Exception during message handling' in caplog.text) == (
        method == 'lost')


@pytest.mark.parametrize('method', ['hidden', 'missing'])
def test_only_exposed_methods_run(method):
    endpoint = _Endpoint()
    failure = json.loads(_reply(_handled(endpoint, method,
                                         call=True))['failure'])
    assert failure['class'] == 'NoSuchMethod'
    assert endpoint.calls == []


def test_a_copy_of_a_delivery_becomes_the_same_message():
    ctxt = cells_context.RequestContext('u1', 'p1')
    assert messaging.delivered_uuid(ctxt, 'build_instances') is None
    ctxt.delivery_id = 'a' * 32
    first = messaging.delivered_uuid(ctxt, 'build_instances')
    again = cells_context.RequestContext('u1', 'p1')
    again.delivery_id = 'a' * 32
    assert messaging.delivered_uuid(again, 'build_instances') == first
    other = cells_context.RequestContext('u1', 'p1')
    other.delivery_id = 'b' * 32
    assert messaging.delivered_uuid(other, 'build_instances') != first
    assert messaging.delivered_uuid(ctxt, 'other_method') != first
