"""The kombu intercell transport (``[cells] intercell_transport = kombu``)
with real daemons on a real RabbitMQ.

* A tree api -> child -> gc all on kombu builds instances; each goes
  active once.
* Mixed trees: kombu daemons beside oslo.messaging daemons of ours, and
  beside a stand-in for an original nova-cells (raw kombu, oslo's
  declarations), on the same vhosts: a build goes down and its updates
  come up across every pair.
* oslo.messaging and the kombu driver declare the same queues: each
  declares where the other already has, for several option combinations,
  and each one's message reaches the other.
* A daemon SIGKILLed with messages delivered and unacknowledged loses
  none: they are delivered again once it is back.
* A message over ``max_message_size`` is refused at send (nothing is
  published, the caller gets the error), and one received is logged and
  acknowledged, never processed; the daemon goes on.
* The ``cells`` topic served on kombu answers nova-api's client exactly
  as oslo.messaging's RPC server does (results and errors).
"""

import contextlib
import json
import os
import signal
import subprocess
import threading
import uuid as uuidlib

import oslo_messaging
from oslo_messaging.rpc import server as rpc_server
import pytest

from tests.functional import fixtures
from tests.functional.original_standin import OriginalStandIn
from tests.functional import tree_support
from tests.functional.tree_support import Flavor
from tests.functional.tree_support import ProcessTree

from nova_cells import conf as cells_conf
from nova_cells import context as cells_context
from nova_cells.transport import rpc
from nova_cells.transport import driver as kombu_driver
from nova_cells.transport import errors
from nova_cells.transport import marker

pytestmark = pytest.mark.functional

LAYOUT = {'api': {'child': {'gc': {}}}}
LEAF = 'api!child!gc'
SMALL = Flavor(2, 'm1.small', 2048, 1, 20)
HOSTS = {'gc': [('gc-cmp1', 262144, 128, 4000)]}
SETTLE = 60
TARGETED = 'cells.intercell.targeted'
ADMIN = cells_context.RequestContext(user_id='ft-user',
                                     project_id='ft-project', is_admin=True,
                                     roles=['admin'])


def _extra(transports):
    def extra(cell):
        return {'DEFAULT': {'service_down_time': 3600},
                'cells': {'local_scheduler_driver': 'builtin',
                          'call_timeout': 5,
                          'outbox_resend_interval': 2,
                          'intercell_transport': transports.get(
                              cell.name, 'kombu')}}
    return extra


@contextlib.contextmanager
def _tree(tmp_path, stack, request, transports):
    """api -> child -> gc; ``transports`` maps a cell to 'kombu',
    'oslo.messaging' or 'original' (a stand-in)."""
    cells = ProcessTree(LAYOUT, tmp_path, stack, extra=_extra(transports),
                        request=request)
    cells.prepare([SMALL], HOSTS)
    standins = {name: stack.enter_context(OriginalStandIn.for_cell(cells,
                                                                   name))
                for name, kind in transports.items() if kind == 'original'}
    ours = [name for name in cells.cells if name not in standins]
    for name in ours:
        cells.start_cell(name, wait=False)
    for name in ours:
        cells.wait_ready(name)
    yield cells


def _build(cells, count, target=None):
    """nova-api's build: the rows at the top, then the casts."""
    api = cells['api']
    requests = [(str(uuidlib.uuid4()), 'ft-kombu-%d' % i, SMALL)
                for i in range(count)]
    tree_support.create_api_instances(api.db_url, requests)
    with tree_support.cells_api(api.url, api.conf.path) as (cells_api, _a):
        for uuid, name, flavor in requests:
            kwargs = tree_support.build_kwargs(
                tree_support.instance_object(uuid, name, flavor), flavor)
            if target:
                kwargs['filter_properties']['scheduler_hints'] = {
                    'target_cell': target}
            cells_api.build_instances(ADMIN, **kwargs)
    return [u for u, _n, _f in requests]


def _settled(url, uuids):
    def fetch():
        rows = tree_support.rows_by_uuid(url)
        return {u: rows.get(u) for u in uuids}
    return fixtures.poll_until(
        fetch, lambda rows: all(r is not None and r['vm_state'] != 'building'
                                for r in rows.values()),
        timeout=SETTLE, interval=0.2)


def _assert_active_once(cells, uuids):
    top = _settled(cells['api'].db_url, uuids)
    for row in top.values():
        found = row and (row['vm_state'], row['cell_name'], row['host'])
        assert found == ('active', LEAF, 'gc-cmp1'), (
            row, cells.logs()[-20000:])
    leaf = [r['uuid'] for r in fixtures.live_rows(cells['gc'].db_url,
                                                  'instances')]
    assert sorted(u for u in leaf if u in uuids) == sorted(uuids)


def test_a_tree_on_kombu_builds_every_instance_once(request, tmp_path,
                                                    stack):
    with _tree(tmp_path, stack, request, {}) as cells:
        expected = tree_support.expected_capacities(HOSTS['gc'], [SMALL])
        assert cells.wait_for_top_capacities(expected) == expected, \
            cells.logs()[-20000:]
        uuids = _build(cells, 20)
        _assert_active_once(cells, uuids)


@pytest.mark.parametrize('transports', [
    {'child': 'oslo.messaging'},
    {'api': 'oslo.messaging', 'gc': 'oslo.messaging'},
    {'child': 'original'},
], ids=['oslo-child', 'kombu-child', 'original-child'])
def test_mixed_trees_carry_builds_down_and_updates_up(request, tmp_path,
                                                      stack, transports):
    with _tree(tmp_path, stack, request, transports) as cells:
        uuids = _build(cells, 3, target=LEAF)
        _assert_active_once(cells, uuids)


# -- declarations: oslo.messaging's and ours on one vhost --------------------

_OPTIONS = [
    {},
    {'amqp_durable_queues': True},
    {'rabbit_quorum_queue': True, 'rabbit_transient_quorum_queue': True,
     'rabbit_quorum_delivery_limit': 3},
]


def _conf(url, options, host='ft-host'):
    conf = cells_conf.new_config()
    conf.set_override('transport_url', url)
    conf.set_override('host', host)
    for name, value in options.items():
        conf.set_override(name, value, group='oslo_messaging_rabbit')
    return conf


class _Endpoint(object):
    target = oslo_messaging.Target(version='1.0')

    def __init__(self):
        self.got = []
        self.arrived = threading.Event()

    @rpc_server.expose
    def process_message(self, _ctxt, message):
        self.got.append(message)
        self.arrived.set()


class _Runner(object):
    state_manager = None

    def __init__(self):
        self.got = []
        self.arrived = threading.Event()

    def refuse_oversized(self, text):
        """The runner's first check (nothing here is oversized)."""

    def process_json(self, text, held=False, parsed=None):
        self.got.append(text)
        self.arrived.set()


class _Cell(object):
    capabilities = {}

    def __init__(self, url, name='neighbour'):
        self.name = name
        self.db_info = {'transport_url': url}


def _list_queues(vhost):
    out = subprocess.run(
        ['rabbitmqctl', '-q', 'list_queues', '-p', vhost, 'name', 'durable',
         'auto_delete', 'arguments'], capture_output=True, text=True,
        check=True, timeout=60).stdout
    return sorted(line.split('\t') for line in out.splitlines()
                  if line.strip() and not line.startswith('name'))


@pytest.mark.parametrize('options', _OPTIONS, ids=[
    ','.join(sorted(o)) or 'defaults' for o in _OPTIONS])
def test_oslo_and_kombu_declare_the_same_and_reach_each_other(options):
    with fixtures.rabbit_vhost() as oslo_url, \
            fixtures.rabbit_vhost() as kombu_url:
        # oslo.messaging's RPC server first, then ours beside it (same
        # host: the same server queue), on one vhost.
        conf = _conf(oslo_url, options)
        transport = rpc.get_transport(conf)
        endpoint = _Endpoint()
        server = rpc.get_server(transport, oslo_messaging.Target(
            topic=TARGETED, server='ft-host'), [endpoint])
        server.start()
        ours = kombu_driver.KombuCellsDriver(conf)
        runner = _Runner()
        try:
            ours.start_servers(runner)
            # Ours alone on the other vhost: what oslo declared here is
            # what ours declares there (fanout queue names aside).
            alone = kombu_driver.KombuCellsDriver(_conf(kombu_url, options))
            alone.start_servers(_Runner())
            alone.stop_servers()
            vhost = oslo_url.rsplit('/', 1)[1]
            declared = {q[0]: q[1:] for q in _list_queues(vhost)}
            theirs = {q[0]: q[1:] for q in _list_queues(
                kombu_url.rsplit('/', 1)[1])}
            for name in (TARGETED, TARGETED + '.ft-host'):
                assert declared[name] == theirs[name], (name, declared)
            fanouts = [v for k, v in declared.items() if '_fanout_' in k]
            assert len(set(map(tuple, fanouts))) == 1, declared
            # A kombu send reaches the shared queue (one of the two
            # consumers takes it); an oslo cast reaches it too.
            ours.deliver_message_to_cell(
                _Cell(oslo_url), 'targeted', json.dumps({'n': 1}),
                cells_context.get_admin_context(), 10)
            client = rpc.get_client(transport, oslo_messaging.Target(
                topic=TARGETED, version='1.0'))
            for index in range(2, 12):
                client.cast(cells_context.get_admin_context(),
                            'process_message', message=json.dumps(
                                {'n': index}))
            got = fixtures.poll_until(
                lambda: sorted(json.loads(m)['n'] for m in
                               endpoint.got + runner.got),
                lambda n: len(n) == 11, timeout=10)
            assert got == list(range(1, 12))
            assert ours.is_ours(_Cell(oslo_url)) is True
        finally:
            ours.stop_servers()
            server.stop()
            server.wait()
            transport.cleanup()


def test_an_oslo_broker_shows_no_marker_and_an_operator_can_say_original():
    with fixtures.rabbit_vhost() as url:
        conf = _conf(url, {})
        conf.set_override('original_neighbours', ['old'], group='cells')
        transport = rpc.get_transport(conf)
        server = rpc.get_server(transport, oslo_messaging.Target(
            topic=TARGETED, server='x'), [_Endpoint()])
        server.start()
        driver = kombu_driver.KombuCellsDriver(conf)
        try:
            assert driver.is_ours(_Cell(url)) is False
            driver.start_servers(_Runner())
            driver.markers.forget()
            # The passive check that failed closed its channel only: the
            # connection is still good for this one.
            assert driver.is_ours(_Cell(url)) is True
            assert driver.is_ours(_Cell(url, name='old')) is False
        finally:
            driver.stop_servers()
            server.stop()
            server.wait()
            transport.cleanup()
    assert marker.NAME == 'nova-cells.kombu-transport'


# -- no loss when killed ------------------------------------------------------

def _noop(seq, target='top!mid!sink'):
    return json.dumps(tree_support.cells_message(
        'targeted', 'ft_noop', 'top', method_kwargs={'seq': seq},
        target_cell=target))


def _is_noop(message):
    return message.get('method_name') == 'ft_noop'


def _kill_group(daemon, sig):
    os.killpg(daemon.proc.pid, sig)


def test_a_daemon_killed_with_messages_in_hand_loses_none(request, tmp_path,
                                                          stack):
    cells = ProcessTree({'mid': {}}, tmp_path, stack,
                        extra=_extra({}), request=request)
    cells.provision()
    cells.sync_schemas(cli=False)
    sink_url = stack.enter_context(fixtures.rabbit_vhost())
    tree_support.insert_rows(cells['mid'].db_url, 'cells', [dict(
        name='sink', is_parent=False, transport_url=sink_url,
        weight_offset=0.0, weight_scale=1.0, deleted=0)])
    capture = stack.enter_context(tree_support.AmqpCapture(
        sink_url, [(tree_support.topic_exchange(), TARGETED)]))
    mid = cells['mid']
    cells.start_cell('mid')
    # Frozen: the broker hands it every message (64 at most
    # unacknowledged), none is processed.
    _kill_group(mid.daemon, signal.SIGSTOP)
    try:
        tree_support.publish_raw(mid.url, [
            ('nova', TARGETED, tree_support.oslo_envelope(_noop(seq)))
            for seq in range(20)])
        ready = fixtures.poll_until(
            lambda: tree_support.queue_state(mid.url, TARGETED),
            lambda state: state == (0, 1), timeout=10)
        assert ready == (0, 1)      # all delivered, in the frozen hands
    finally:
        mid.daemon.kill()
    # Back in the queue once the broker sees the connection gone.
    back = fixtures.poll_until(
        lambda: tree_support.queue_state(mid.url, TARGETED),
        lambda state: state == (20, 0), timeout=10)
    assert back == (20, 0)
    cells.start_cell('mid')
    seen = set()
    for _index in range(20):
        message = capture.wait_for(_is_noop, timeout=20)
        assert message is not None, (sorted(seen), cells.logs()[-20000:])
        seen.add(message['method_kwargs']['seq'])
    assert seen == set(range(20))
    assert tree_support.queue_state(mid.url, TARGETED)[0] == 0


# -- max_message_size ---------------------------------------------------------

def test_oversized_messages_are_refused_at_send_and_dropped_on_receipt(
        request, tmp_path, stack):
    cells = ProcessTree({'mid': {}}, tmp_path, stack,
                        extra=lambda cell: dict(_extra({})(cell), cells=dict(
                            _extra({})(cell)['cells'],
                            max_message_size=4096)),
                        request=request)
    cells.provision()
    cells.sync_schemas(cli=False)
    sink_url = stack.enter_context(fixtures.rabbit_vhost())
    tree_support.insert_rows(cells['mid'].db_url, 'cells', [dict(
        name='sink', is_parent=False, transport_url=sink_url,
        weight_offset=0.0, weight_scale=1.0, deleted=0)])
    capture = stack.enter_context(tree_support.AmqpCapture(
        sink_url, [(tree_support.topic_exchange(), TARGETED)]))
    cells.start_cell('mid')
    mid = cells['mid']
    # At send: a driver of ours with the same limit refuses it; nothing
    # reaches the queue; the next message goes.
    conf = _conf(mid.url, {})
    conf.set_override('max_message_size', 4096, group='cells')
    sender = kombu_driver.KombuCellsDriver(conf)
    big = json.dumps(dict(json.loads(_noop(1, 'top!mid!sink')),
                          pad='x' * 5000))
    try:
        with pytest.raises(errors.MessageTooLarge):
            sender.deliver_message_to_cell(_Cell(mid.url), 'targeted', big,
                                           cells_context.get_admin_context(),
                                           10)
        sender.deliver_message_to_cell(_Cell(mid.url), 'targeted',
                                       _noop(2),
                                       cells_context.get_admin_context(), 10)
    finally:
        sender.prune(())
    arrived = capture.wait_for(_is_noop, timeout=20)
    assert arrived['method_kwargs']['seq'] == 2, cells.logs()[-20000:]
    # On receipt: published raw past the sender's check, logged, acked.
    tree_support.publish_raw(mid.url, [
        ('nova', TARGETED, tree_support.oslo_envelope(big)),
        ('nova', TARGETED, tree_support.oslo_envelope(_noop(3)))])
    arrived = capture.wait_for(_is_noop, timeout=20)
    assert arrived['method_kwargs']['seq'] == 3, cells.logs()[-20000:]
    state = fixtures.poll_until(
        lambda: tree_support.queue_state(mid.url, TARGETED),
        lambda s: s == (0, 1), timeout=10)
    assert state == (0, 1)
    assert 'exceeds max_message_size 4096' in mid.daemon.log()
    assert capture.wait_for(_is_noop, timeout=0.5) is None


# -- the broker going away ------------------------------------------------

def test_the_consumer_reconnects_after_the_broker_drops_it(caplog):
    with fixtures.rabbit_vhost() as url:
        conf = _conf(url, {})
        conf.set_override('rabbit_retry_interval', 1,
                          group='oslo_messaging_rabbit')
        driver = kombu_driver.KombuCellsDriver(conf)
        runner = _Runner()
        driver.start_servers(runner)
        try:
            subprocess.run(['rabbitmqctl', '-q', 'close_all_connections',
                            '-p', url.rsplit('/', 1)[1], 'ft outage'],
                           check=True, timeout=60, capture_output=True)
            # Sent until the consumer is back (the publisher reconnects
            # by itself; the shared queue may be gone with its consumer
            # when the queues are transient, so a send may be returned).

            def delivered():
                try:
                    driver.deliver_message_to_cell(
                        _Cell(url), 'targeted', json.dumps({'n': 1}),
                        cells_context.get_admin_context(), 5)
                except errors.NotTaken:
                    return False
                return runner.arrived.wait(1)
            assert fixtures.poll_until(delivered, bool, timeout=30)
        finally:
            driver.stop_servers()
    lost = [r for r in caplog.records
            if 'Intercell consumer lost the broker' in r.getMessage()]
    assert len(lost) == 1, [r.getMessage() for r in caplog.records]
    assert 'guest:***@' in lost[0].getMessage()


def _answers(cells_rpc):
    """What a daemon's ``cells`` topic answers to a few calls of nova-api's
    client: results, and the errors as the caller sees them."""
    def outcome(method, **kwargs):
        try:
            return ('result', cells_rpc.call(method, timeout=10, **kwargs))
        except oslo_messaging.RemoteError as exc:
            return ('remote error', exc.exc_type)
        except oslo_messaging.MessagingTimeout:
            return ('timeout', None)
    return {
        'ping': cells_rpc.ping('hello'),
        'capacities': sorted(cells_rpc.get_capacities()),
        'unknown cell': outcome('cell_get', version='1.13',
                                cell_name='nowhere'),
        'unknown method': outcome('no_such_method', version='1.0'),
        'newer version': outcome('get_capacities', version='9.0'),
    }


def test_the_cells_topic_answers_nova_api_as_oslo_messaging_does(
        request, tmp_path, stack):
    """With the kombu transport the ``cells`` topic is served by a kombu
    consumer that acknowledges after handling; nova-api's client must not
    see the difference: the same results and the same errors as from a
    daemon whose topic oslo.messaging's RPC server serves."""
    answers, logs = {}, {}
    for transport in ('kombu', 'oslo.messaging'):
        cells = ProcessTree({'api': {}}, tmp_path / transport, stack,
                            extra=_extra({'api': transport}),
                            request=request)
        cells.prepare([SMALL], {})
        cells.start()
        with fixtures.CellsRPC(cells['api'].url,
                               cells['api'].conf.path) as cells_rpc:
            answers[transport] = _answers(cells_rpc)
        logs[transport] = cells.logs()
    assert answers['kombu'] == answers['oslo.messaging']
    assert answers['kombu']['unknown cell'] == ('remote error',
                                                'CellNotFound')
    assert answers['kombu']['unknown method'][0] == 'remote error'
    # Served by the kombu consumer indeed.
    assert 'Listening on cells (server' in logs['kombu']
    assert 'Listening on cells (server' not in logs['oslo.messaging']
