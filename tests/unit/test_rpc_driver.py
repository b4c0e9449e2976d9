"""The intercell transport (reference §4.1, §10.10, §10.11):
nova_cells.transport.rpc_driver on a CellTree over fake://."""

import json
import time

import oslo_messaging
from oslo_messaging._drivers import impl_fake
import pytest

from nova_cells import context
from nova_cells.db import api as db_api
from nova_cells import exception
from nova_cells.transport import rpc
from nova_cells.transport import rpc_driver
from tests.unit import tree_support

LAYOUT = {'api': {'c1': {'g1': {}}, 'c2': {}}}
TOPICS = ['cells.intercell.targeted', 'cells.intercell.broadcast',
          'cells.intercell.response']


@pytest.fixture
def ctxt():
    return context.get_admin_context()


@pytest.fixture
def tree(tmp_path):
    recorder = tree_support.Recorder()
    with tree_support.running_tree(tmp_path, layout=LAYOUT,
                                   recorder=recorder) as cell_tree:
        cell_tree.recorder = recorder
        yield cell_tree


@pytest.fixture
def get_transport_calls(monkeypatch):
    """Record every rpc.get_transport(conf, url) as (cell name, url)."""
    calls = []
    real = rpc.get_transport

    def spy(conf, url=None):
        calls.append((conf.cells.name, url))
        return real(conf, url)

    monkeypatch.setattr(rpc, 'get_transport', spy)
    return calls


# -- servers ------------------------------------------------------------------

def test_three_servers_per_started_cell(tree):
    for name, cell in tree.cells.items():
        targets = [server._target for server in cell.driver._servers]
        assert [t.topic for t in targets] == TOPICS, name
        assert {t.server for t in targets} == {'host-%s' % name}
        assert {t.exchange for t in targets} == {
            tree.exchange_for_url(tree.url_of(name))}, \
            'each cell listens on its own broker (exchange on fake://)'


def test_servers_only_for_started_cells(tmp_path):
    cell_tree = tree_support.make_tree(tmp_path, layout=LAYOUT)
    with tree_support.run_scoped_fake_exchanges(cell_tree):
        cell_tree.build()
        try:
            assert all(c.driver._servers == []
                       for c in cell_tree.cells.values()), 'build: no I/O'
            cell_tree.start(['api', 'c1'])
            assert {n: len(c.driver._servers)
                    for n, c in cell_tree.cells.items()} == {
                'api': 3, 'c1': 3, 'g1': 0, 'c2': 0}
        finally:
            tree_support.stop_all(cell_tree)
            cell_tree.close()


def test_dispatcher_exposes_only_process_message_at_1_0():
    assert rpc_driver.InterCellRPCDispatcher.target.version == '1.0'
    seen = []

    class Runner(object):
        def refuse_oversized(self, message):
            pass

        def process_json(self, message, held=False, parsed=None):
            seen.append(message)

    dispatcher = rpc_driver.InterCellRPCDispatcher(Runner())
    assert dispatcher.process_message(None, 'garbage') is None
    assert seen == ['garbage']
    public = [n for n in dir(dispatcher) if not n.startswith('_') and
              n != 'target' and callable(getattr(dispatcher, n))]
    # receive() is the kombu driver's entry point, never the wire's: the
    # servers' access policy reaches only what @expose marks.
    assert public == ['process_message', 'receive']
    exposed = [n for n in public
               if getattr(getattr(dispatcher, n), 'exposed', False)]
    assert exposed == ['process_message']


@pytest.mark.parametrize('configured, expected', [
    pytest.param('', None, id='unset-no-cap'),
    pytest.param('grizzly', '1.0', id='grizzly-alias'),
    pytest.param('1.0', '1.0', id='explicit'),
])
def test_version_cap_from_upgrade_levels(make_conf, configured, expected):
    text = '[upgrade_levels]\nintercell = %s\n' % configured \
        if configured else ''
    driver = rpc_driver.CellsRPCDriver(make_conf(text))
    assert driver.version_cap == expected
    assert driver.topic_base == 'cells.intercell'


def test_stopped_cell_processes_nothing(tree, ctxt):
    api = tree.cells['api']
    tree.stop(['c1'])
    assert tree.cells['c1'].driver._servers == []
    api.runner.targeted(ctxt, 'api!c1', 'record', {'tag': 'after-stop'})
    api.runner.targeted(ctxt, 'api!c2', 'record', {'tag': 'after-stop'})
    assert tree_support.wait_until(
        lambda: tree.recorder.cells(tag='after-stop') == ['c2'])
    time.sleep(0.3)
    assert tree.recorder.cells(tag='after-stop') == ['c2'], \
        'c1 is stopped: its cast is never processed'


def test_stop_servers_releases_every_transport(tree, ctxt):
    api = tree.cells['api']
    api.runner.broadcast(ctxt, 'whoami', {}, need_response=True)
    assert set(api.driver._transports) == {tree.url_of('c1'),
                                           tree.url_of('c2')}
    tree.stop(['api'])
    assert api.driver._servers == []
    assert api.driver._transports == {} and api.driver._clients == {}
    assert api.driver._server_transport is None
    api.driver.stop_servers()  # a second stop is harmless


# -- sending ------------------------------------------------------------------

def test_one_transport_per_neighbour_url_reused(tree, ctxt,
                                                get_transport_calls):
    api = tree.cells['api']
    url_c1, url_c2 = tree.url_of('c1'), tree.url_of('c2')
    for _i in range(3):
        response = api.runner.targeted(ctxt, 'api!c1', 'whoami', {},
                                       need_response=True)
        assert response.value_or_raise()['name'] == 'c1'
    first = api.driver._transports[url_c1]
    api.runner.broadcast(ctxt, 'whoami', {}, need_response=True)
    api.runner.targeted(ctxt, 'api!c1!g1', 'whoami', {}, need_response=True)
    assert api.driver._transports[url_c1] is first
    assert set(api.driver._transports) == {url_c1, url_c2}
    assert get_transport_calls.count(('api', url_c1)) == 1
    assert get_transport_calls.count(('api', url_c2)) == 1
    assert sorted(api.driver._clients) == [
        (url_c1, 'broadcast'), (url_c1, 'targeted'),
        (url_c2, 'broadcast')]


def test_prune_closes_transport_of_deleted_neighbour(tree, ctxt,
                                                     monkeypatch):
    api = tree.cells['api']
    url_c1, url_c2 = tree.url_of('c1'), tree.url_of('c2')
    api.runner.broadcast(ctxt, 'whoami', {}, need_response=True)
    assert set(api.driver._transports) == {url_c1, url_c2}
    closed = []
    for url, transport in api.driver._transports.items():
        monkeypatch.setattr(transport, 'cleanup',
                            lambda url=url: closed.append(url))

    assert db_api.cell_delete(api.db, 'c1') == 1
    assert set(api.driver._transports) == {url_c1, url_c2}, \
        'nothing happens before the state manager syncs'
    api.state_manager.sync(force=True)
    assert set(api.driver._transports) == {url_c2}
    assert closed == [url_c1]
    assert all(key[0] != url_c1 for key in api.driver._clients)
    response = api.runner.targeted(ctxt, 'api!c1', 'whoami', {},
                                   need_response=True)
    assert isinstance(response.value, exception.CellRoutingInconsistency)
    answers = api.runner.broadcast(ctxt, 'whoami', {}, need_response=True)
    assert sorted(r.cell_name for r in answers) == ['api', 'api!c2']


def test_prune_on_url_change(tree, ctxt, monkeypatch):
    api = tree.cells['api']
    old, new = tree.url_of('c2'), tree.url_of('c2') + '-moved'
    api.runner.targeted(ctxt, 'api!c2', 'whoami', {})
    closed = []
    monkeypatch.setattr(api.driver._transports[old], 'cleanup',
                        lambda: closed.append(old))
    db_api.cell_update(api.db, 'c2', {'transport_url': new})
    api.state_manager.sync(force=True)
    assert closed == [old]
    assert old not in api.driver._transports


@pytest.mark.parametrize('bad_url, error', [
    pytest.param('', oslo_messaging.InvalidTransportURL, id='empty-url'),
    pytest.param('nosuchdriver://x/', Exception, id='unknown-driver'),
])
def test_unreachable_neighbour_is_a_failure_not_a_timeout(
        tree, ctxt, bad_url, error):
    api = tree.cells['api']
    db_api.cell_update(api.db, 'c2', {'transport_url': bad_url})
    api.state_manager.sync(force=True)
    started = time.monotonic()
    response = api.runner.targeted(ctxt, 'api!c2', 'whoami', {},
                                   need_response=True)
    assert response.failure and isinstance(response.value, error)
    answers = tree_support.by_cell(api.runner.broadcast(
        ctxt, 'whoami', {}, need_response=True))
    assert time.monotonic() - started < 2, 'no waiting for c2'
    assert sorted(answers) == ['api', 'api!c1', 'api!c1!g1', 'api!c2']
    assert answers['api!c2'].failure
    assert not answers['api!c1!g1'].failure
    assert len(api.runner.slots) == 0


def test_cast_carries_process_message_and_fanout(tree, ctxt, monkeypatch):
    """What send_message_to_cell hands to oslo.messaging (§4.1)."""
    api = tree.cells['api']
    casts = []

    class Client(object):
        def __init__(self, fanout=False):
            self.fanout = fanout

        def prepare(self, fanout=False):
            return Client(fanout)

        def cast(self, cast_ctxt, method, **kwargs):
            casts.append((self.fanout, cast_ctxt, method, kwargs))

    monkeypatch.setattr(api.driver, '_client', lambda url, kind: Client())
    token_ctxt = context.RequestContext(is_admin=True, auth_token='tok',
                                        service_catalog=[{'x': 1}])
    api.runner.targeted(token_ctxt, 'api!c1', 'whoami', {})
    api.runner.targeted(token_ctxt, 'api!c1', 'whoami', {}, fanout=True)
    assert [(c[0], c[2], list(c[3])) for c in casts] == [
        (False, 'process_message', ['message']),
        (True, 'process_message', ['message'])]
    for _fanout, cast_ctxt, _method, kwargs in casts:
        assert cast_ctxt.auth_token is None
        assert cast_ctxt.service_catalog == []
        assert json.loads(kwargs['message'])['method_name'] == 'whoami'
    assert token_ctxt.auth_token == 'tok', 'caller context untouched'


# -- fake:// isolation (harness bug) ------------------------------------------

def test_stopping_one_cell_keeps_other_cells_exchanges(tmp_path):
    """BUG: stopping one cell of a CellTree wipes every fake:// exchange.

    CellsRPCDriver.stop_servers() (and prune()) call transport.cleanup();
    oslo.messaging's FakeDriver.cleanup() clears the process-wide
    FakeExchangeManager._exchanges.  Messages queued for the still-running
    cells are lost, and fanout messages (responses!) are dropped until
    each listener polls again, so tree tests that stop a cell or close a
    second tree flake with CellTimeout.  Fix in nova_cells/testing/inprocess.py
    (see the report).
    """
    cell_tree = tree_support.make_tree(tmp_path, layout=LAYOUT)
    cell_tree.build().start()
    try:
        exchanges = impl_fake.FakeExchangeManager._exchanges
        name = cell_tree.exchange_for_url(cell_tree.url_of('api'))
        before = exchanges.get(name)
        assert before is not None
        cell_tree.stop(['g1'])
        assert exchanges.get(name) is before, \
            "stopping g1 dropped api's exchange (and its queued messages)"
    finally:
        tree_support.stop_all(cell_tree)
        cell_tree.close()
