"""Support for the messaging tests: an in-process tree of cells on
``fake://`` with test-only intercell methods, and a stand-alone runner whose
driver records what would go on the wire.

The tree is nova_cells.testing.inprocess.CellTree unchanged (real state
managers,
SQLite databases, oslo.messaging servers and clients); only the handler
tables get a few extra methods, as /tmp/smoke.py does.
"""

import contextlib
import threading
import time

import oslo_messaging
from oslo_messaging._drivers import impl_fake

from nova_cells.db import api as db_api
from nova_cells import handlers
from nova_cells.testing import inprocess
from nova_cells.messaging import runner as messaging
from nova_cells.transport import rpc_driver
from nova_cells.cells import state

# api -> 3 children -> 2 grandchildren each: 10 cells.
LAYOUT = {'api': {'c1': {'g1': {}, 'g2': {}},
                  'c2': {'g3': {}, 'g4': {}},
                  'c3': {'g5': {}, 'g6': {}}}}
PATHS = {'api': 'api',
         'c1': 'api!c1', 'c2': 'api!c2', 'c3': 'api!c3',
         'g1': 'api!c1!g1', 'g2': 'api!c1!g2', 'g3': 'api!c2!g3',
         'g4': 'api!c2!g4', 'g5': 'api!c3!g5', 'g6': 'api!c3!g6'}
ALL_PATHS = sorted(PATHS.values())
CALL_TIMEOUT = 3


def pick_serializer():
    """nova's object serializer when nova_cells.objects works, else NoOp."""
    try:
        from nova_cells.service import assembly

        return assembly.object_serializer()
    except Exception:  # noqa - objects package still being written
        return oslo_messaging.NoOpSerializer()


class Recorder(object):
    """Thread-safe log of (cell, method, kwargs) from the test handlers."""

    def __init__(self):
        self._lock = threading.Lock()
        self.calls = []

    def add(self, cell, method, **kwargs):
        with self._lock:
            self.calls.append((cell, method, kwargs))

    def cells(self, method=None, tag=None):
        with self._lock:
            return [c for c, m, k in self.calls
                    if method in (None, m) and tag in (None, k.get('tag'))]


def _whoami(runner, message):
    return {'name': runner.our_name,
            'routing_path': str(message.routing_path),
            'hop_count': message.hop_count,
            'max_hop_count': message.max_hop_count}


def tables_factory(recorder=None):
    """A factory for CellTree(handler_tables=...) with test methods.

    targeted: ``whoami``, ``record(tag)``;
    broadcast: ``whoami``, ``record(tag)``, ``explode(cells, kind)`` which
    raises in the named cells (ValueError or CellNotFound).
    """
    from nova_cells import exception

    recorder = recorder if recorder is not None else Recorder()

    def record(runner, message, tag=None):
        recorder.add(runner.our_name, message.method_name, tag=tag)
        return runner.our_name

    def explode(runner, message, cells, kind='value'):
        if runner.our_name in cells:
            if kind == 'value':
                raise ValueError('boom in %s' % runner.our_name)
            raise exception.CellNotFound(cell_name='x-' + runner.our_name)
        return runner.our_name

    def factory():
        tables = handlers.default_tables()
        for kind in ('targeted', 'broadcast'):
            table = tables.table(kind)
            table.method('whoami')(_whoami)
            table.method('record')(record)
        tables.table('broadcast').method('explode')(explode)
        return tables

    factory.recorder = recorder
    return factory


def make_tree(base_dir, layout=None, call_timeout=CALL_TIMEOUT,
              recorder=None, overrides=None):
    """A built (not started) CellTree with the test handler tables."""
    opts = {'call_timeout': call_timeout}
    opts.update(overrides or {})
    return inprocess.CellTree(layout or LAYOUT, str(base_dir),
                              overrides=opts,
                              handler_tables=tables_factory(recorder),
                              serializer=pick_serializer())


# -- fake:// isolation --------------------------------------------------------
#
# BUG (reported, see test_rpc_driver.test_stopping_one_cell_keeps_other_
# cells_exchanges): oslo.messaging's FakeDriver.cleanup() clears *every*
# exchange of the process (FakeExchangeManager._exchanges is a class
# attribute).  CellsRPCDriver calls transport.cleanup() when it stops its
# servers or prunes a neighbour's transport, so stopping one cell of a
# CellTree (or closing another tree) drops the messages queued for every
# other cell and, until their listeners poll again, every fanout message
# (fanout only reaches server queues that exist).  The tree fixtures below
# make that cleanup a no-op while a tree runs and drop only the tree's own
# exchanges when it closes, so the other tests are not flaky.

_NOOP_LOCK = threading.Lock()
_NOOP_USERS = [0]
_ORIGINAL_CLEANUP = impl_fake.FakeExchangeManager.__dict__['cleanup']


@contextlib.contextmanager
def run_scoped_fake_exchanges(tree):
    manager = impl_fake.FakeExchangeManager
    with _NOOP_LOCK:
        if _NOOP_USERS[0] == 0:
            manager.cleanup = classmethod(lambda cls: None)
        _NOOP_USERS[0] += 1
    try:
        yield
    finally:
        with _NOOP_LOCK:
            _NOOP_USERS[0] -= 1
            if _NOOP_USERS[0] == 0:
                manager.cleanup = _ORIGINAL_CLEANUP
        prefix = 'nova.%s-' % tree.run_id
        with manager._exchanges_lock:
            for name in [n for n in manager._exchanges
                         if n and n.startswith(prefix)]:
                del manager._exchanges[name]


def stop_all(tree, names=None):
    """tree.stop() for many cells at once.

    Each oslo.messaging server that handled a message needs up to 1 s to
    stop (futurist's idle worker polls its queue every second), and
    CellsRPCDriver.stop_servers() stops its three servers one after the
    other, so stopping a ten-cell tree cell by cell takes ~10-20 s.  Here
    every server is stopped and waited for in parallel first; the drivers'
    own stop_servers() then finds them stopped.
    """
    names = list(names or tree._running)
    servers = [server for name in names
               for server in tree.cells[name].driver._servers]

    def stop(server):
        server.stop()
        server.wait()

    threads = [threading.Thread(target=stop, args=(server,))
               for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tree.stop(names)


@contextlib.contextmanager
def running_tree(base_dir, **kwargs):
    """A started tree (see make_tree), closed quickly at the end."""
    tree = make_tree(base_dir, **kwargs)
    with run_scoped_fake_exchanges(tree):
        tree.build().start()
        try:
            yield tree
        finally:
            stop_all(tree)
            tree.close()


def wait_until(predicate, timeout=3.0, interval=0.02):
    """Poll ``predicate`` until true or ``timeout``; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def by_cell(responses):
    return {r.cell_name: r for r in responses}


# -- a stand-alone runner with a recording driver -----------------------------

class RecordingDriver(rpc_driver.BaseCellsDriver):
    """Records (neighbour name, message type, message JSON) per send;
    ``on_send(cell_name, message)``, if set, runs after each record."""

    def __init__(self):
        self.sent = []
        self.on_send = None

    def start_servers(self, runner):
        pass

    def stop_servers(self):
        pass

    def is_ours(self, cell_state):
        return True

    def send_message_to_cell(self, cell_state, message):
        self.sent.append((cell_state.name, message.message_type,
                          message.to_json()))
        if self.on_send is not None:
            self.on_send(cell_state.name, message)


def neighbour_url(name):
    return 'fake:///standalone-%s' % name


def make_runner(db, name, parents=(), children=(),
                capabilities=('hypervisor=kvm', 'os=linux'),
                tables=None, serializer=None, max_hop_count=10,
                call_timeout=0):
    """A real MessageRunner + CellStateManager over ``db``; the driver only
    records what would be cast to the neighbours."""
    for neighbour, is_parent in ([(p, True) for p in parents] +
                                 [(c, False) for c in children]):
        db_api.cell_create(db, {'name': neighbour,
                                'transport_url': neighbour_url(neighbour),
                                'is_parent': is_parent,
                                'weight_offset': 0.0, 'weight_scale': 1.0})
    manager = state.CellStateManager(name, list(capabilities),
                                     state.DBCellSource(db), db,
                                     state.StateSettings())
    manager.sync(force=True)
    driver = RecordingDriver()
    runner = messaging.MessageRunner(
        name, manager, driver,
        tables or tables_factory()(),
        serializer or pick_serializer(),
        messaging.RunnerSettings(max_hop_count=max_hop_count,
                                 call_timeout=call_timeout))
    return runner
