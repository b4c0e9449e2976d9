"""The kombu intercell transport's pure parts: the envelope against the
original's wire (``full_envelopes`` of the wire samples), declarations
against oslo.messaging's own argument builder, the ordered lanes, and
what the driver does with each kind of received message."""

import json
import os
import re
import socket
import threading

import pytest
from oslo_messaging._drivers import impl_rabbit

from nova_cells import conf as cells_conf
from nova_cells import exception
from nova_cells.messaging import delivery
from nova_cells.transport import signing
from nova_cells.transport import consumer as consumer_mod
from nova_cells.transport import declarations
from nova_cells.transport import driver as kombu_driver
from nova_cells.transport import envelope
from nova_cells.transport import errors
from nova_cells.transport import lanes
from nova_cells.transport import marker
from tests.unit import transport_doubles

SAMPLES = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                       'reference', 'wire_samples.json')


def _full_envelopes():
    with open(SAMPLES) as f:
        envelopes = json.load(f)['full_envelopes']
    return sorted(envelopes.items())


@pytest.mark.parametrize('name, sample', _full_envelopes(),
                         ids=[n for n, _s in _full_envelopes()])
def test_cast_body_is_the_originals_byte_for_byte(name, sample):
    # The body's own key order (the decoded copy in the file is sorted).
    theirs = json.loads(json.loads(sample['body'])['oslo.message'])
    context = {key[len('_context_'):]: value for key, value in theirs.items()
               if key.startswith('_context_')}
    ours = envelope.encode_cast(theirs['args']['message'], context)
    # Only the fresh _unique_id differs.
    unique = json.loads(json.loads(ours)['oslo.message'])['_unique_id']
    assert re.fullmatch('[0-9a-f]{32}', unique)
    assert ours.decode('utf-8').replace(unique, theirs['_unique_id']) == \
        sample['body']
    assert sample['properties'] == envelope.PROPERTIES
    assert sample['headers'] == {}


@pytest.mark.parametrize('name, sample', _full_envelopes(),
                         ids=[n for n, _s in _full_envelopes()])
def test_original_bodies_decode(name, sample):
    decoded = envelope.decode(sample['body'].encode('utf-8'))
    assert decoded.message == \
        sample['decoded_oslo_message']['args']['message']
    assert decoded.signature is None and decoded.reply_q is None


def test_signature_travels_as_an_argument():
    body = envelope.encode_cast('{"uuid": "u"}', {'user': None}, 'abc')
    inner = json.loads(json.loads(body)['oslo.message'])
    assert inner['args'] == {'message': '{"uuid": "u"}', 'signature': 'abc'}
    assert list(inner)[:4] == ['method', 'args', 'version', '_unique_id']
    assert envelope.decode(body).signature == 'abc'


def test_a_call_is_read_with_its_reply_queue_and_answered_as_oslo():
    inner = {'method': 'process_message', 'args': {'message': '{}'},
             'version': '1.0', '_msg_id': 'm1', '_reply_q': 'reply_x',
             '_unique_id': 'x'}
    body = json.dumps({'oslo.version': '2.0',
                       'oslo.message': json.dumps(inner)})
    decoded = envelope.decode(body)
    assert (decoded.msg_id, decoded.reply_q) == ('m1', 'reply_x')
    reply = json.loads(json.loads(envelope.encode_reply('m1'))
                       ['oslo.message'])
    assert reply['result'] is None and reply['failure'] is None
    assert reply['ending'] is True and reply['_msg_id'] == 'm1'
    refused = signing.MessageRefused(uuid='u', sender='s', reason='r')
    failure = json.loads(json.loads(json.loads(envelope.encode_reply(
        'm1', refused))['oslo.message'])['failure'])
    assert failure['class'] == 'MessageRefused'
    assert failure['module'] == 'nova_cells.transport.signing'


@pytest.mark.parametrize('body', [
    b'not json', b'[]', b'{"oslo.version": "3.0", "oslo.message": "{}"}',
    json.dumps({'oslo.version': '2.0', 'oslo.message': json.dumps(
        {'method': 'other', 'args': {'message': '{}'}})}).encode(),
    json.dumps({'oslo.version': '2.0', 'oslo.message': json.dumps(
        {'method': 'process_message', 'args': {'message': 1}})}).encode(),
    json.dumps({'oslo.version': '2.0', 'oslo.message': json.dumps(
        {'method': 'process_message', 'version': '2.0',
         'args': {'message': '{}'}})}).encode(),
    json.dumps({'oslo.version': '2.0', 'oslo.message': json.dumps(
        {'method': 'process_message', 'version': '1.1',
         'args': {'message': '{}'}})}).encode(),
    json.dumps({'oslo.version': '2.0', 'oslo.message': json.dumps(
        {'method': 'process_message',
         'args': {'message': '{}', 'evil': 1}})}).encode(),
    b'\xff\xfe',
], ids=['text', 'list', 'envelope-3', 'method', 'message-type',
        'version-2', 'version-1.1', 'extra-arg', 'not-utf8'])
def test_bad_envelopes_are_refused(body):
    with pytest.raises(envelope.BadEnvelope):
        envelope.decode(body)


# -- declarations -----------------------------------------------------------

_COMBOS = [
    {},
    {'amqp_durable_queues': True},
    {'amqp_auto_delete': True},
    {'rabbit_ha_queues': True},
    {'rabbit_quorum_queue': True, 'rabbit_quorum_delivery_limit': 5,
     'rabbit_quorum_max_memory_length': 10,
     'rabbit_quorum_max_memory_bytes': 1000},
    {'rabbit_quorum_queue': True, 'rabbit_transient_quorum_queue': True},
    {'rabbit_transient_queues_ttl': 0},
    {'rabbit_transient_quorum_queue': True, 'rabbit_stream_fanout': True,
     'rabbit_qos_prefetch_count': 10},
]


def _conf(options):
    conf = cells_conf.new_config()
    for name, value in options.items():
        conf.set_override(name, value, group='oslo_messaging_rabbit')
    return conf


def _oslo_queue_args(rabbit, quorum, ttl, stream):
    return impl_rabbit._get_queue_arguments(
        rabbit.rabbit_ha_queues, ttl, quorum,
        impl_rabbit.QuorumMemConfig(
            rabbit.rabbit_quorum_delivery_limit,
            rabbit.rabbit_quorum_max_memory_length,
            rabbit.rabbit_quorum_max_memory_bytes), stream)


@pytest.mark.parametrize('options', _COMBOS, ids=[
    ','.join(sorted(c)) or 'defaults' for c in _COMBOS])
def test_declarations_match_oslo_messaging(options):
    conf = _conf(options)
    rabbit = conf.oslo_messaging_rabbit
    ours = declarations.Declarations(
        declarations.QueueOptions.from_conf(conf), 'nova')
    durable = rabbit.amqp_durable_queues or rabbit.rabbit_quorum_queue
    # declare_topic_consumer (topic and server queues) and topic_send.
    queue = ours.topic_queue('t.host')
    assert (queue.name, queue.routing_key) == ('t.host', 't.host')
    assert (queue.durable, queue.auto_delete) == (durable,
                                                  rabbit.amqp_auto_delete)
    assert queue.queue_arguments == _oslo_queue_args(
        rabbit, rabbit.rabbit_quorum_queue, 0, False)
    exchange = ours.topic_exchange()
    assert (exchange.name, exchange.type, exchange.durable,
            exchange.auto_delete) == ('nova', 'topic', durable,
                                      rabbit.amqp_auto_delete)
    # declare_fanout_consumer and fanout_send.
    fanout_durable = (rabbit.rabbit_transient_quorum_queue or
                      rabbit.rabbit_stream_fanout)
    name = ours.fanout_queue_name('t')
    if rabbit.rabbit_stream_fanout:
        assert name == 't_fanout'
    else:
        assert re.fullmatch('t_fanout_[0-9a-f]{32}', name)
    fanout = ours.fanout_queue('t', name)
    assert (fanout.durable, fanout.auto_delete) == (fanout_durable, False)
    assert fanout.queue_arguments == _oslo_queue_args(
        rabbit, rabbit.rabbit_transient_quorum_queue,
        rabbit.rabbit_transient_queues_ttl, rabbit.rabbit_stream_fanout)
    fx = ours.fanout_exchange('t')
    assert (fx.name, fx.type, fx.durable, fx.auto_delete) == (
        't_fanout', 'fanout', fanout_durable, True)


def test_quorum_and_mirrored_together_are_refused_as_oslo_does():
    with pytest.raises(ValueError):
        declarations.QueueOptions(quorum=True, ha_queues=True)


# -- lanes -------------------------------------------------------------------

class _Recorder(object):
    def __init__(self, outcomes=None):
        self.outcomes = outcomes or {}
        self.processed = []
        self.settled = []
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.expected = None

    def process(self, item):
        with self.lock:
            self.processed.append(item)
            left = self.outcomes.get(item)
            if left:
                self.outcomes[item] = left[1:]
                return left[0]
        return lanes.ACK

    def settle(self, item, outcome):
        with self.lock:
            self.settled.append((item, outcome))
            if self.expected is not None and \
                    len(self.settled) >= self.expected:
                self.done.set()


def _run(recorder, submissions, **kwargs):
    recorder.expected = len(submissions)
    pool = lanes.Lanes(recorder.process, recorder.settle, **kwargs)
    try:
        for item, key in submissions:
            pool.submit(item, key)
        assert recorder.done.wait(30)
    finally:
        pool.stop()


def test_one_key_in_order_while_a_retried_head_holds_only_its_key():
    # a1 is not taken twice: a2, a3 wait behind it, b1..b3 go on.
    recorder = _Recorder({'a1': [lanes.RETRY, lanes.RETRY]})
    submissions = [('a1', 'A'), ('a2', 'A'), ('b1', 'B'), ('a3', 'A'),
                   ('b2', 'B'), ('b3', 'B')]
    _run(recorder, submissions, workers=3, first_delay=0.01)
    order = [item for item, _outcome in recorder.settled]
    assert [i for i in order if i.startswith('a')] == ['a1', 'a2', 'a3']
    assert [i for i in order if i.startswith('b')] == ['b1', 'b2', 'b3']
    assert order.index('b3') < order.index('a2')
    assert recorder.processed.count('a1') == 3
    assert all(outcome == lanes.ACK for _i, outcome in recorder.settled)


def test_keyless_messages_do_not_wait_for_each_other():
    recorder = _Recorder({'x': [lanes.RETRY] * 3})
    _run(recorder, [('x', None), ('y', None), ('z', None)], workers=2,
         first_delay=0.01)
    order = [item for item, _outcome in recorder.settled]
    assert order[-1] == 'x' and sorted(order[:2]) == ['y', 'z']


def test_a_message_held_too_long_goes_back_to_the_queue():
    now = [0.0]
    recorder = _Recorder({'a': [lanes.RETRY] * 100})

    def process(item):
        now[0] += 400.0
        return recorder.process(item)
    recorder.expected = 2
    pool = lanes.Lanes(process, recorder.settle, workers=1,
                       first_delay=0.0, clock=lambda: now[0])
    try:
        pool.submit('a', 'K')
        pool.submit('b', 'K')
        assert recorder.done.wait(30)
    finally:
        pool.stop()
    assert recorder.settled == [('a', lanes.REQUEUE), ('b', lanes.ACK)]


def test_a_failing_process_counts_as_done():
    def process(item):
        raise RuntimeError('boom')
    settled = []
    done = threading.Event()
    pool = lanes.Lanes(process, lambda i, o: (settled.append((i, o)),
                                              done.set()), workers=1)
    try:
        pool.submit('a', None)
        assert done.wait(30)
    finally:
        pool.stop()
    assert settled == [('a', lanes.ACK)]


# -- the driver's handling of received messages ---------------------------

class _Runner(object):
    state_manager = None

    def __init__(self, raises=None):
        self.raises = raises
        self.seen = []

    def refuse_oversized(self, text):
        pass

    def process_json(self, text, held=False, parsed=None):
        self.seen.append(text)
        self.parsed = parsed
        if self.raises is not None:
            raise self.raises


class _Lanes(object):
    def __init__(self):
        self.submitted = []

    def submit(self, item, key):
        self.submitted.append((item, key))


def _driver(runner, max_message_size=8 * 1024 * 1024):
    conf = cells_conf.new_config()
    conf.set_override('transport_url', 'rabbit://u:p@127.0.0.1:5672/v')
    conf.set_override('max_message_size', max_message_size, group='cells')
    driver = kombu_driver.KombuCellsDriver(conf)
    driver._dispatcher = kombu_driver.rpc_driver.InterCellRPCDispatcher(
        runner)
    driver._consumer = transport_doubles.RecordingConsumer()
    driver._lanes = _Lanes()
    return driver


def _message(uuid='m-1', instance='i-1'):
    return json.dumps({'uuid': uuid, 'method_kwargs': {
        'instance': {'uuid': instance}}})


def test_a_delivery_is_queued_under_its_instance():
    driver = _driver(_Runner())
    item = transport_doubles.delivery(envelope.encode_cast(_message(), {}))
    driver._on_delivery(item)
    assert driver._lanes.submitted == [(item, 'i-1')]
    assert item.uuid == 'm-1'


def test_the_runner_gets_the_parse_made_to_order_the_delivery():
    """The consumer thread parses the message to find its instance; the
    lane hands that parse on instead of parsing the text again."""
    runner = _Runner()
    driver = _driver(runner)
    item = transport_doubles.delivery(envelope.encode_cast(_message(), {}))
    driver._on_delivery(item)
    assert driver._process(item) == lanes.ACK
    assert runner.seen == [_message()]
    assert runner.parsed == json.loads(_message())
    assert runner.parsed is item.parsed


def test_an_unreadable_message_is_left_for_the_runner_to_parse():
    runner = _Runner()
    driver = _driver(runner)
    item = transport_doubles.delivery(envelope.encode_cast('{"uuid": ', {}))
    driver._on_delivery(item)
    assert item.parsed is None and item.uuid == '?'
    driver._process(item)
    assert runner.seen == ['{"uuid": '] and runner.parsed is None


@pytest.mark.parametrize('body', [b'garbage', b'x' * (4 * 2048 + 65537)],
                         ids=['malformed', 'oversized'])
def test_malformed_or_oversized_is_acked_unprocessed(body, caplog):
    driver = _driver(_Runner(), max_message_size=2048)
    item = transport_doubles.delivery(body)
    driver._on_delivery(item)
    assert driver._lanes.submitted == []
    assert driver._consumer.settled == [(item, False, None)]
    assert 'Rejected intercell message' in caplog.text


def _processed(runner, body):
    driver = _driver(runner)
    item = transport_doubles.delivery(body)
    item.decoded = envelope.decode(body)
    return driver._process(item), item


def test_not_taken_is_retried():
    runner = _Runner(exception.MessageNotTaken(uuid='m-1', reason='db'))
    outcome, _item = _processed(runner, envelope.encode_cast(_message(), {}))
    assert outcome == lanes.RETRY


def test_a_poison_message_is_logged_once_and_acked(caplog):
    runner = _Runner(RuntimeError('poison'))
    outcome, item = _processed(runner, envelope.encode_cast(_message(), {}))
    assert outcome == lanes.ACK and item.reply is None
    assert caplog.text.count('failed; dropping it') == 1


def test_a_message_too_large_is_acked_without_a_traceback(caplog):
    runner = _Runner(kombu_driver.exception.MessageTooLarge(size=9, limit=1))
    outcome, _item = _processed(runner, envelope.encode_cast(_message(), {}))
    assert outcome == lanes.ACK and 'Traceback' not in caplog.text


def test_a_call_is_answered_once_processed():
    inner = {'method': 'process_message', 'args': {'message': _message()},
             'version': '1.0', '_msg_id': 'id1', '_reply_q': 'reply_q1'}
    body = json.dumps({'oslo.version': '2.0',
                       'oslo.message': json.dumps(inner)}).encode()
    outcome, item = _processed(_Runner(), body)
    assert outcome == lanes.ACK
    queue, reply = item.reply
    assert queue == 'reply_q1'
    assert json.loads(json.loads(reply)['oslo.message'])['_msg_id'] == 'id1'


class _Context(object):
    def for_other_cell(self):
        return self

    def to_dict(self):
        return {}


class _Cell(object):
    capabilities = {}

    def __init__(self, name='n', url='rabbit://u:p@127.0.0.1:5672/n'):
        self.name = name
        self.db_info = {'transport_url': url}


def test_a_message_over_the_limit_is_refused_at_send(caplog):
    driver = _driver(_Runner(), max_message_size=2048)
    with pytest.raises(errors.MessageTooLarge) as raised:
        driver.deliver_message_to_cell(
            _Cell(), 'targeted', json.dumps({'uuid': 'big', 'x': 'y' * 4096}),
            _Context(), 5)
    assert 'big' in str(raised.value) and driver._publishers == {}
    assert 'big' not in caplog.text, 'reported by the caller, once'


def test_markers_are_remembered_and_asked_again_after_a_failure():
    answers = [RuntimeError('down'), True]
    asked = []

    def probe(url):
        asked.append(url)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer
    now = [0.0]
    markers = marker.Markers(probe, originals=['old'], ttl=10,
                             clock=lambda: now[0])
    assert markers.is_ours('old', 'u0') is False and asked == []
    with pytest.raises(RuntimeError):
        markers.is_ours('n', 'u1')
    assert markers.is_ours('n', 'u1') is True
    assert markers.is_ours('n', 'u1') is True
    assert asked == ['u1', 'u1']
    now[0] = 11.0
    answers.append(False)
    assert markers.is_ours('n', 'u1') is False


# -- the neighbour's announced limit -----------------------------------------

class _Published(object):
    def __init__(self):
        self.bodies = []

    def publish(self, body, routing_key, **_kwargs):
        self.bodies.append(body)


def _neighbour(capabilities):
    from nova_cells.cells import state
    cell = state.CellState('child')
    cell.db_info = {'transport_url': 'rabbit://u:p@127.0.0.1:5672/child'}
    cell.capabilities = state.parse_capabilities(capabilities)
    return cell


def test_a_message_over_the_limit_a_neighbour_announced_is_not_sent():
    """Its broker would take it and its daemon drop it unread: a durable
    message would count as delivered and be lost.  Refused here, before
    anything is published, it stays in the outbox, reported."""
    driver = _driver(_Runner(), max_message_size=262144)
    published = _Published()
    driver._publisher = lambda url: published
    text = json.dumps({'uuid': 'm-1', 'pad': 'x' * 20000})
    small = _neighbour(['nova_cells_max_message_size=262144;16384'])
    with pytest.raises(errors.MessageTooLarge) as raised:
        driver.deliver_message_to_cell(small, 'targeted', text,
                                       _WireCtxt(), 10)
    assert raised.value.kwargs['limit'] == 16384, 'the smallest below it'
    assert published.bodies == []
    assert delivery._too_large(raised.value), 'the outbox reports it'
    for capabilities in (['nova_cells_max_message_size=65536'],
                         ['hypervisor=kvm'],            # an original cell
                         ['nova_cells_max_message_size=junk;0']):
        driver.deliver_message_to_cell(_neighbour(capabilities), 'targeted',
                                       text, _WireCtxt(), 10)
    assert len(published.bodies) == 3


class _WireCtxt(object):
    def for_other_cell(self):
        return self

    def to_dict(self):
        return {}


def test_a_cell_announces_its_limit_unless_its_operator_did():
    from nova_cells.cells import state
    conf = cells_conf.new_config()
    conf.set_override('max_message_size', 4096, group='cells')
    caps = state.make_state_manager(conf, None).my_cell_state.capabilities
    assert caps['nova_cells_max_message_size'] == {'4096'}
    assert caps['hypervisor'] == {'xenserver', 'kvm'}, 'nova\'s, kept'
    conf.set_override('capabilities', ['nova_cells_max_message_size=100'],
                      group='cells')
    caps = state.make_state_manager(conf, None).my_cell_state.capabilities
    assert caps == {'nova_cells_max_message_size': {'100'}}


def test_a_delivery_waiting_for_a_worker_is_active():
    """Submitted but not yet taken, it counts: the consumer must poll
    fast for its acknowledgement (and a call's answer) from then on."""
    gate = threading.Event()
    started = threading.Event()

    def process(item):
        started.set()
        gate.wait(10)
        return lanes.ACK
    pool = lanes.Lanes(process, lambda item, outcome: None, workers=1)
    try:
        pool.submit('first', None)
        assert started.wait(10)
        pool.submit('second', None)         # the only worker is busy
        assert pool.busy() == 1
        assert pool.active() == 2
    finally:
        gate.set()
        pool.stop()


class _PollingConnection(object):
    """Records the timeout of each ``drain_events``; stops the consumer
    after a few."""

    def __init__(self, consumer, polls=3):
        self.consumer = consumer
        self.timeouts = []
        self.polls = polls

    def drain_events(self, timeout):
        self.timeouts.append(timeout)
        if len(self.timeouts) >= self.polls:
            self.consumer._closing.set()
        raise socket.timeout()

    def heartbeat_check(self):
        pass


@pytest.mark.parametrize('busy, queued, expected', [
    (False, False, consumer_mod._IDLE_POLL),
    (True, False, consumer_mod._BUSY_POLL),
    (False, True, consumer_mod._BUSY_POLL)],
    ids=['idle', 'deliveries-in-hand', 'settlement-queued'])
def test_the_consumer_polls_fast_while_anything_is_in_hand(busy, queued,
                                                           expected):
    cons = consumer_mod.Consumer(None, 'rabbit://h/v', [], None, 0, None,
                                 busy=lambda: busy)
    conn = cons._conn = _PollingConnection(cons, polls=1)
    cons._flush = lambda: None              # keeps what is queued queued
    if queued:
        cons.settle(transport_doubles.delivery(b'{}'))
    cons._serve()
    assert conn.timeouts == [expected]
