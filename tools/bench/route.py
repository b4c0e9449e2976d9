#!/usr/bin/env python3
"""Benchmark: a build's trip through api -> child -> grandchild (issue 7,
``route``).

Rows, all measured in one invocation:

* bare relay (3 vhosts): the limit.  Three processes, each a plain
  oslo.messaging RPC server on one of the three cells' vhosts, casting the
  request on to the next; the last casts to a sink vhost where this
  process counts it.  The payload is the forward row's wire JSON.  The
  relay hops stay up for the whole run and the relay is measured again in
  every round of the kombu rows, in turn with them (the machine's speed
  drifts from minute to minute): the kombu rows are compared with the
  median of the relay's rounds beside them, the relay's row shows the
  median of all its measurements, each printed below the table.
* forward only (3 cells): the same four legs through the three nova-cells
  daemons: this process casts a targeted ``process_message`` onto the api
  cell's intercell topic as if it were the api cell's parent, addressed to
  ``bench!api!child!gc!sink``, where ``sink`` is a child row added to the
  grandchild's ``cells`` table pointing at the sink vhost (no method runs
  anywhere: every cell only routes).
* builds (3 cells, rabbit): ``CellsAPI.build_instances`` on the api cell's
  vhost, the builtin hand-off (``local_scheduler_driver = builtin``)
  placing the instance in the grandchild; done when the row at the top is
  no longer ``building``.  Latency: the top row's ``updated_at`` (written
  when ``instance_update_at_top`` arrives) minus the cast.
* forward only (3, kombu): the forward row with the three daemons on
  ``[cells] intercell_transport = kombu`` (acknowledged once processed,
  publisher confirms; the api cell is still reached by an oslo.messaging
  cast, and gc still casts to an oslo.messaging sink).  Both forward
  rows run ``--rounds`` rounds, each with a relay (A B, B A, ...), their
  rate the median, compared with the relay's rounds beside them.
* builds (3 cells, kombu) and builds (3, kombu, not durable): the builds
  on kombu with ``[cells] durable_forwarding = true`` and ``false``,
  alternating for ``--rounds`` rounds (each row of each round restarts
  the daemons with its setting, warms up, then builds ``--count``); a
  row's rate is the median of its rounds' (each round's is printed below
  the table), its percentiles those of all its builds; target 30 % of
  the relay.  Below the table: durable as a share of not durable (target
  80 %), the daemons' CPU per build, and the transactions PostgreSQL
  counted per build in each cell's database (``pg_stat_database``;
  target at most 6 for the three cells), less this process's own in the
  top's database (writing and polling the instance rows) and less the
  idle daemons' (heartbeats, pushes) measured just before
  (:class:`_DaemonTransactions`: each reading waits ``--db-settle``
  seconds, as PostgreSQL holds an idle backend's counts for up to 10 s;
  not available unless the daemons are on PostgreSQL).  PostgreSQL
  counts what reaches it: a ping of a pooled connection (oslo.db's at
  every checkout before nova_cells.db.api pinged only idle ones) is a
  transaction there, which the in-process row's figure (SQLAlchemy's
  ``begin``) does not count.  ``--no-kombu`` skips the kombu rows.
  With ``--baseline REV``, both rows again in every round with the
  daemons of that commit (a temporary git worktree first on their
  ``PYTHONPATH``, on the same databases, vhosts and bench), taking turns
  with this tree's: a change's speed-up, measured under the same load.
* builds (3 cells, fake): the same, in one process on ``fake://``
  (:class:`nova_cells.demo.core.Demo`).
* bare 2-hop round trips/N: the limit of the next row.  The same N
  callers and the same four casts (api -> child -> gc, gc -> child -> api)
  between three plain oslo.messaging RPC servers on ``fake://`` that only
  cast the message on (:class:`_BareRoundTrips`).
* 2-hop round trips fake/N: N threads calling the api cell's
  ``MessageRunner.targeted(..., 'api!child!gc', 'bench_noop', {},
  need_response=True)`` in a loop
  (:class:`nova_cells.testing.inprocess.CellTree`).

The in-process rows run on ``--backend`` (threading, or eventlet as the
original nova-cells did); the daemons always run threading.

Requests are issued with at most ``--window`` in flight (round trips: one
per thread).  The daemons, vhosts and databases are the demo's
(:mod:`nova_cells.testing.demo_processes`), and so is its ``cells.conf``,
except
``db_check_interval`` (``--db-check-interval``: nova's 60 by default; the
demo's 0 re-reads the ``cells`` table and the cell's own capacity at every
routing step).  The databases are on PostgreSQL by default: this process
writes the new rows into the top's database while the api daemon updates
them, which SQLite files do not survive (see doc/performance.rst).

    python tools/bench/route.py [--count 300] [--window 32]
        [--transport-url rabbit://guest:guest@127.0.0.1:5672/]
        [--database-url postgresql+psycopg2://postgres@127.0.0.1/postgres]
        [--db-check-interval 60] [--no-rabbit] [--quick] [--profile DIR]
        [--backend threading|eventlet] [--rounds 2] [--db-settle 12]
        [--no-durable] [--no-kombu] [--rows ROW,ROW...] [--baseline REV]

``--no-durable`` sets ``durable_forwarding = false`` for every daemon row
but the kombu builds, which have both.  ``--quick``: 10 requests a row,
one round, 2 s of settling (a smoke test, not figures).  ``--rows``
measures only the rows named (of ``round_trips``, ``fake_builds``,
``builds``, ``builds_kombu``, ``forward_kombu``, ``forward``; the relay,
the baseline, always), to look at one part in less time.
"""

import argparse
import collections
import contextlib
import datetime
import functools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

# tools/ is not a package: _common is found next to this file.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import _common  # noqa: E402

DEFAULT_BROKER = 'rabbit://guest:guest@127.0.0.1:5672/'
# SQLite files shared by this process (writing the new instance rows) and
# the api daemon (updating them) fail with "database is locked": see
# doc/performance.rst.
DEFAULT_DATABASE = 'postgresql+psycopg2://postgres@127.0.0.1:5432/postgres'
LAYOUT = {'api': {'child': {'gc': {}}}}
TARGET = 'api!child!gc'
# Hosts big enough for every build of a run (the demo's are not): with
# --baseline and 3 rounds, 4,000 builds of 4.7 GB on average (the
# demo's random flavors) filled hosts of 4 TB.
HOST_SIZES = ((16777216, 16384, 4000000),)
HOSTS_PER_LEAF = 4
RELAY_TOPIC = 'bench.relay'
SINK_TOPIC = 'bench.sink'
INTERCELL_TOPIC = 'cells.intercell.targeted'
NOOP = 'bench_noop'
# Seconds before each relay measured between the rows of a round.
RELAY_SETTLE = 3.0
TARGETS = {'forward': 0.85, 'forward_kombu': 1.50, 'builds': 0.50,
           'builds_kombu': 0.30, 'durable_vs_not': 0.80,
           'db_transactions': 6, 'round_trips': 1150.0}
# What --rows may name (the relay, the baseline, is always measured).
ROWS = ('round_trips', 'fake_builds', 'builds', 'builds_kombu',
        'forward_kombu', 'forward')
_EPOCH = datetime.datetime(1970, 1, 1)
# Seconds PostgreSQL (15) may keep an idle backend's counts before it
# sends them to pg_stat_database (its PGSTAT_IDLE_INTERVAL).
PG_STATS_IDLE_FLUSH = 10.0


def _say(line):
    sys.stderr.write('route: %s\n' % line)
    sys.stderr.flush()


def _topology():
    from nova_cells.demo import topology as demo_topology
    return demo_topology.Topology(layout=json.loads(json.dumps(LAYOUT)),
                                  hosts_per_leaf=HOSTS_PER_LEAF,
                                  host_sizes=HOST_SIZES)


def _ctxt():
    from nova_cells import context as cells_context
    return cells_context.get_admin_context()


# -- builds (both transports) -------------------------------------------------


def _epoch(value):
    return (value - _EPOCH).total_seconds()


def run_builds(builder, count, window, timeout, poll=0.02):
    """``count`` builds through ``builder`` (a :class:`demo.Builder` set
    up and propagated), at most ``window`` in flight.

    :returns: (Latencies, number of builds that ended in error)
    """
    from nova_cells.db import models
    latencies = _common.Latencies()
    sent, outstanding = {}, set()
    issued = errors = 0
    deadline = time.monotonic() + timeout
    while issued < count or outstanding:
        free = min(window - len(outstanding), count - issued)
        if free > 0:
            first = len(builder.requested)
            stamps = [time.time()]
            builder.build(free, progress=lambda i, n: stamps.append(
                time.time()))
            for index, instance_uuid in enumerate(builder.requested[first:]):
                sent[instance_uuid] = stamps[index]
                outstanding.add(instance_uuid)
            issued += free
        with builder.top_db.reader() as session:
            rows = session.query(
                models.Instance.uuid, models.Instance.vm_state,
                models.Instance.updated_at).filter(
                    models.Instance.uuid.in_(list(outstanding)),
                    models.Instance.vm_state != 'building').all()
        now = time.time()
        for instance_uuid, vm_state, updated_at in rows:
            outstanding.discard(instance_uuid)
            if vm_state != 'active':
                errors += 1
                continue
            start = sent[instance_uuid]
            end = _epoch(updated_at) if updated_at else now
            latencies.add(start, end if start <= end <= now else now)
        if not rows:
            if time.monotonic() > deadline:
                raise TimeoutError('%d builds still building after %.0f s'
                                   % (len(outstanding), timeout))
            time.sleep(poll)
    return latencies, errors


class _ComputeHeartbeat(object):
    """What the leaf's nova-compute services would do: keep
    ``last_seen_up`` fresh.  The in-process demo seeds the hosts once and
    keeps the default ``service_down_time`` (60 s): a run longer than that
    (a busy machine) would find every host down."""

    def __init__(self, db, interval=2.0):
        self.db = db
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        from oslo_utils import timeutils
        from nova_cells.db import models
        while not self._stop.wait(self.interval):
            with self.db.writer() as session:
                session.query(models.Service).update(
                    {'last_seen_up': timeutils.utcnow()},
                    synchronize_session=False)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class _DatabaseWork(object):
    """Transactions and statements each cell's engine runs while counting:
    the database work of a build, a figure that does not move with the
    machine's load (unlike its CPU time)."""

    def __init__(self, cells):
        self.engines = {name: cell.db.engine for name, cell in cells.items()}
        self.counts = collections.Counter()

    def _listeners(self, name):
        def begin(_conn):
            self.counts[name, 'transactions'] += 1

        def statement(*_args):
            self.counts[name, 'statements'] += 1
        return [('begin', begin), ('before_cursor_execute', statement)]

    def __enter__(self):
        import sqlalchemy as sa
        self._attached = [(engine, event, listener)
                          for name, engine in self.engines.items()
                          for event, listener in self._listeners(name)]
        for engine, event, listener in self._attached:
            sa.event.listen(engine, event, listener)
        return self

    def __exit__(self, *exc):
        import sqlalchemy as sa
        for engine, event, listener in self._attached:
            sa.event.remove(engine, event, listener)

    def per_build(self, builds):
        """{cell: (transactions, statements)} per build."""
        return {name: (self.counts[name, 'transactions'] / builds,
                       self.counts[name, 'statements'] / builds)
                for name in self.engines}


def bench_fake_builds(count, window, warmup, timeout, db_work=None):
    """The builds on fake:// in this process; with a ``db_work`` dict, it
    receives each cell's transactions and statements per build."""
    from nova_cells.demo import core as demo
    base_dir = tempfile.mkdtemp(prefix='bench-route-')
    tree = demo.Demo(base_dir, topology=_topology(), seed=1)
    try:
        tree.setup()
        if not tree.propagate(timeout=timeout):
            raise RuntimeError('capacities did not reach the top (fake)')
        with _ComputeHeartbeat(tree.tree.cells['gc'].db):
            run_builds(tree, warmup, window, timeout)
            with _DatabaseWork(tree.tree.cells) as work:
                result = run_builds(tree, count, window,
                                    max(timeout, demo.build_timeout(count, 3)))
            if db_work is not None:
                db_work.update(work.per_build(count))
            return result
    finally:
        tree.close()
        shutil.rmtree(base_dir, ignore_errors=True)


# -- 2-hop round trips on fake:// ---------------------------------------------


def _noop_tables():
    from nova_cells import handlers
    tables = handlers.default_tables()
    tables.table('targeted').method(NOOP)(lambda runner, message: None)
    return tables


def bench_round_trips(threads, per_thread):
    """``threads`` callers, ``per_thread`` targeted calls each, api to gc
    and back on fake://."""
    from nova_cells.testing import inprocess
    base_dir = tempfile.mkdtemp(prefix='bench-route-')
    tree = inprocess.CellTree(LAYOUT, base_dir,
                              overrides={'call_timeout': 60},
                              handler_tables=_noop_tables)
    failures = []
    try:
        tree.build().start()
        runner = tree.cells['api'].runner
        ctxt = _ctxt()

        def round_trip():
            response = runner.targeted(ctxt, TARGET, NOOP, {},
                                       direction='down', need_response=True)
            if response.failure:
                failures.append(response.value)
        for _warm in range(5):
            round_trip()
        latencies = _run_callers(threads, per_thread, round_trip)
    finally:
        tree.close()
        shutil.rmtree(base_dir, ignore_errors=True)
    if failures:
        raise RuntimeError('%d round trips failed, first: %s'
                           % (len(failures), failures[0]))
    return latencies


class _BareRoundTrips(object):
    """The fake:// limit of a 2-hop round trip: the same four casts as
    ours (api -> child -> gc, then gc -> child -> api) between three plain
    oslo.messaging RPC servers, one per cell, with no nova-cells code on
    the way: each server's endpoint only casts the message on, and the
    api's completes the caller's slot.  The payload is a targeted
    message's wire JSON of the same size as ours.
    """

    # leg -> (server that receives it, the leg it casts on, or None: done)
    ROUTE = {0: ('child', 1), 1: ('gc', 2), 2: ('child', 3),
             3: ('api', None)}

    def __init__(self):
        self.run_id = uuid.uuid4().hex[:8]
        self._slots = {}
        self._servers = []
        self._clients = {}

    def _url(self, cell):
        return 'fake:///bare-%s-%s' % (self.run_id, cell)

    def _topic(self, cell):
        return 'bench.bare.%s' % cell

    def start(self):
        import oslo_messaging
        from oslo_messaging.rpc import server as rpc_server
        from nova_cells import conf as cells_conf
        from nova_cells.transport import rpc

        bench = self

        class Hop(object):
            @rpc_server.expose
            def hop(self, ctxt, seq, leg, message):
                bench._arrived(ctxt, seq, leg, message)

        noop = oslo_messaging.NoOpSerializer()
        for cell in ('api', 'child', 'gc'):
            transport = rpc.get_transport(cells_conf.new_config(),
                                          self._url(cell))
            server = rpc.get_server(transport, oslo_messaging.Target(
                topic=self._topic(cell), server='bench'), [Hop()],
                serializer=noop)
            server.start()
            self._servers.append(server)
            self._clients[cell] = rpc.get_client(transport, oslo_messaging
                                                 .Target(topic=self._topic(
                                                     cell)), serializer=noop)
        return self

    def _cast(self, ctxt, leg, seq, message):
        cell = self.ROUTE[leg][0]
        self._clients[cell].cast(ctxt, 'hop', seq=seq, leg=leg,
                                 message=message)

    def _arrived(self, ctxt, seq, leg, message):
        next_leg = self.ROUTE[leg][1]
        if next_leg is None:
            self._slots.pop(seq).set()
        else:
            self._cast(ctxt, next_leg, seq, message)

    def round_trip(self, ctxt, message):
        done = threading.Event()
        seq = uuid.uuid4().hex
        self._slots[seq] = done
        self._cast(ctxt, 0, seq, message)
        if not done.wait(60):
            raise TimeoutError('bare round trip %s lost' % seq)

    def stop(self):
        for server in self._servers:
            server.stop()
        for server in self._servers:
            server.wait()


def _noop_wire_message():
    """A targeted no-op message's wire JSON, in nova's keys (the fake
    driver copies the payload on every leg, so its size matters; ours
    carry the original message again on the two response legs, so the
    bare payload is if anything the smaller)."""
    return json.dumps({
        'message_type': 'targeted', 'ctxt': _ctxt().to_dict(),
        'method_name': NOOP, 'method_kwargs': {}, 'direction': 'down',
        'need_response': True, 'fanout': False,
        'uuid': str(uuid.uuid4()), 'routing_path': 'api',
        'hop_count': 1, 'max_hop_count': 10, 'target_cell': TARGET})


def _run_callers(threads, per_thread, call):
    """``threads`` callers, ``per_thread`` calls each; the Latencies,
    with ``cpu_seconds``: this process's CPU (all its threads) while they
    ran, the whole tree of cells being in this process."""
    latencies = _common.Latencies()
    go = threading.Event()

    def caller():
        go.wait()
        for _index in range(per_thread):
            start = time.perf_counter()
            call()
            latencies.add(start, time.perf_counter())
    workers = [threading.Thread(target=caller, daemon=True)
               for _t in range(threads)]
    for worker in workers:
        worker.start()
    started = time.process_time()
    go.set()
    for worker in workers:
        worker.join()
    latencies.cpu_seconds = time.process_time() - started
    return latencies


def bench_bare_round_trips(threads, per_thread):
    """The limit row beside ``bench_round_trips``: same callers, same four
    legs, plain oslo.messaging."""
    bare = _BareRoundTrips().start()
    ctxt = {'user_id': 'bench', 'project_id': 'bench', 'is_admin': True}
    message = _noop_wire_message()
    try:
        for _warm in range(5):
            bare.round_trip(ctxt, message)
        return _run_callers(threads, per_thread,
                            lambda: bare.round_trip(ctxt, message))
    finally:
        bare.stop()


# -- RabbitMQ: the sink, the relay and the forward ----------------------------


class _Sink(object):
    """What this process receives at the end of a relay or forward chain:
    ``on_arrival(seq)`` for each request."""

    def __init__(self):
        self.on_arrival = None

    def arrived(self, seq):
        callback = self.on_arrival
        if callback is not None:
            callback(seq)


def _relay_endpoint(on_message):
    from oslo_messaging.rpc import server as rpc_server

    class Relay(object):
        @rpc_server.expose
        def relay(self, ctxt, seq, message):
            on_message(ctxt, seq, message)
    return Relay()


def _intercell_endpoint(sink):
    import oslo_messaging
    from oslo_messaging.rpc import server as rpc_server

    class InterCell(object):
        target = oslo_messaging.Target(version='1.0')

        @rpc_server.expose
        def process_message(self, _ctxt, message):
            data = json.loads(message)
            if data.get('method_name') == NOOP:
                sink.arrived(data['method_kwargs']['seq'])
    return InterCell()


def _server(url, topic, endpoints):
    import oslo_messaging
    from nova_cells import conf as cells_conf
    from nova_cells.transport import rpc
    transport = rpc.get_transport(cells_conf.new_config(), url)
    server = rpc.get_server(transport, oslo_messaging.Target(
        topic=topic, server='bench'), endpoints)
    server.start()
    return transport, server


def _client(url, topic, version=None):
    import oslo_messaging
    from nova_cells import conf as cells_conf
    from nova_cells.transport import rpc
    transport = rpc.get_transport(cells_conf.new_config(), url)
    return transport, rpc.get_client(transport, oslo_messaging.Target(
        topic=topic, version=version))


def relay_hop(listen_url, next_url, next_topic):
    """One relay process: serve ``relay`` on ``listen_url`` and cast each
    request on to ``next_url`` (the ``--relay-hop`` entry point)."""
    import signal
    _transport, client = _client(next_url, next_topic)

    def on_message(ctxt, seq, message):
        client.cast(ctxt, 'relay', seq=seq, message=message)
    _stransport, server = _server(listen_url, RELAY_TOPIC,
                                  [_relay_endpoint(on_message)])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    while not stop.wait(1):
        pass
    server.stop()
    server.wait()


def _forward_message(seq):
    """The wire JSON of a targeted no-op for ``sink`` below gc, as the api
    cell's (imaginary) parent ``bench`` would send it."""
    return json.dumps({
        'message_type': 'targeted', 'ctxt': _ctxt().to_dict(),
        'method_name': NOOP, 'method_kwargs': {'seq': seq},
        'direction': 'down', 'need_response': False, 'fanout': False,
        'uuid': str(uuid.uuid4()), 'routing_path': 'bench', 'hop_count': 1,
        'max_hop_count': 10, 'target_cell': 'bench!%s!sink' % TARGET})


def run_chain(sink, send, count, window, timeout):
    """``count`` requests through ``send(seq)``, at most ``window`` in
    flight, each done when the sink sees its ``seq``."""
    latencies = _common.Latencies()
    gate = _common.Window(window)
    started = {}

    def arrived(seq):
        start = started.pop(seq, None)
        if start is not None:
            latencies.add(start, time.perf_counter())
            gate.done()
    sink.on_arrival = arrived
    try:
        for seq in range(count):
            gate.acquire(timeout)
            started[seq] = time.perf_counter()
            send(seq)
        if not gate.wait_all(timeout):
            raise TimeoutError('%d of %d requests never arrived'
                               % (len(started), count))
    finally:
        sink.on_arrival = None
    return latencies


def _warm_up(sink, send, timeout=30.0):
    """Send until one arrives: every server of the chain is listening."""
    arrived = threading.Event()
    sink.on_arrival = lambda seq: arrived.set()
    deadline = time.monotonic() + timeout
    try:
        seq = -1
        while not arrived.wait(0.5):
            if time.monotonic() > deadline:
                raise TimeoutError('nothing came through the chain')
            send(seq)
            seq -= 1
    finally:
        time.sleep(0.5)
        sink.on_arrival = None


class _Profiler(object):
    """py-spy record (raw, collapsed stacks) of the daemons during one
    phase; nothing when py-spy is missing.  Only the thread holding the
    GIL is sampled (``--gil``): a daemon's threads mostly wait on locks,
    sockets and the database, which py-spy does not always tell from
    running, and those samples would hide where the CPU goes."""

    def __init__(self, directory):
        self.directory = directory
        self.procs = []
        self.tool = shutil.which('py-spy') or os.path.join(
            os.path.dirname(sys.executable), 'py-spy')
        if directory:
            os.makedirs(directory, exist_ok=True)

    def start(self, phase, pids):
        if not self.directory or not os.access(self.tool, os.X_OK):
            return
        for name, pid in pids.items():
            out = os.path.join(self.directory, '%s-%s.txt' % (phase, name))
            self.procs.append(subprocess.Popen(
                [self.tool, 'record', '--format', 'raw', '--subprocesses',
                 '--gil', '--rate', '200', '-o', out, '-p', str(pid)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
        time.sleep(1.0)

    def stop(self):
        import signal
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs = []


def _process_demo_class():
    from nova_cells.testing import daemons
    from nova_cells.testing import demo_processes

    class RouteDemo(demo_processes.ProcessDemo):
        """The demo's daemons, with ``[cells] db_check_interval`` as
        asked (the demo's 0 re-reads the ``cells`` table and the cell's
        own capacity on every routing step)."""

        db_check_interval = None
        durable = True

        def _write_confs(self):
            """The demo's, on oslo.messaging (the kombu rows switch
            later), with the interval and durability asked."""
            super(RouteDemo, self)._write_confs()
            interval = (0 if self.db_check_interval is None
                        else self.db_check_interval)
            for daemon in self.daemons.values():
                with open(daemon.conf_path) as stream:
                    text = stream.read()
                text = text.replace(
                    'db_check_interval = 0\n',
                    'db_check_interval = %d\ndurable_forwarding = %s\n'
                    'intercell_transport = oslo.messaging\n'
                    % (interval, self.durable))
                with open(daemon.conf_path, 'w') as stream:
                    stream.write(text)

        def set_transport(self, kind):
            """Rewrite every daemon's ``[cells] intercell_transport`` and
            restart them all; their new pids."""
            self._set_cells_option('intercell_transport', kind)
            return self.restart_all()

        def set_durable(self, flag):
            """Rewrite every daemon's ``[cells] durable_forwarding`` and
            restart them all (the option is read once, when the daemon
            wires its links); their new pids."""
            self.durable = bool(flag)
            self._set_cells_option('durable_forwarding', self.durable)
            return self.restart_all()

        def _set_cells_option(self, option, value):
            """``option = value`` in every daemon's ``[cells]``, instead
            of the line it had."""
            for daemon in self.daemons.values():
                with open(daemon.conf_path) as stream:
                    text = stream.read()
                text = re.sub(r'(?m)^%s = .*\n' % option, '', text)
                text = text.replace('[cells]\n', '[cells]\n%s = %s\n'
                                    % (option, value), 1)
                with open(daemon.conf_path, 'w') as stream:
                    stream.write(text)

        def use_tree(self, path):
            """Run the daemons from the source tree ``path`` (first on
            their ``PYTHONPATH``) from their next start; None: the
            installed tree."""
            for daemon in self.daemons.values():
                extra = {'PYTHONPATH': path} if path else {}
                daemon.env = functools.partial(
                    daemons.subprocess_env,
                    NOVA_CELLS_BACKEND=daemon.backend, **extra)

        def restart_all(self):
            """Restart every daemon, one after the other; their new
            pids."""
            return {name: self.restart(name) for name in self.daemons}

        def restart(self, name):
            """Stop and start one daemon (it re-reads its ``cells``
            table at start); its new pid."""
            daemon = self.daemons[name]
            daemons.stop_all([daemon])
            with demo_processes.signals_held():
                daemon.start()
            self._wait_ready(daemon)
            return daemon.pid
    return RouteDemo


# -- RabbitMQ: the kombu builds, durable and not, and their transactions -----


# (results key, [cells] durable_forwarding, label)
KOMBU_BUILDS = (('builds_kombu', True, 'durable'),
                ('builds_kombu_not_durable', False, 'not durable'))
# The same, by the daemons of --baseline REV.
BASELINE_BUILDS = (('builds_kombu_baseline', True, 'durable, baseline'),
                   ('builds_kombu_not_durable_baseline', False,
                    'not durable, baseline'))


def _pooled(rounds):
    """The builds of every round as one Latencies (percentiles over all
    of them) with ``round_rates``, each round's rate: the row shows their
    median, as a rate over the whole span would count the restarts and
    waits between rounds.  (Latencies, errors of all rounds)."""
    pooled = _common.Latencies()
    for latencies, _errors in rounds:
        pooled.samples.extend(latencies.samples)
        for edge in (latencies.first, latencies.last):
            if edge is not None:
                pooled.first = edge if pooled.first is None else min(
                    pooled.first, edge)
                pooled.last = edge if pooled.last is None else max(
                    pooled.last, edge)
    pooled.round_rates = [latencies.rate() for latencies, _e in rounds]
    return pooled, sum(errors for _lat, errors in rounds)


def _rate(latencies):
    """A row's rate: the median of its rounds' when it has rounds."""
    rates = getattr(latencies, 'round_rates', None)
    return statistics.median(rates) if rates else latencies.rate()


@contextlib.contextmanager
def _metered(meter, name, pids):
    """CPU of ``pids`` while the block runs, added to ``meter.used[name]``
    (a row of several rounds, each with new pids after a restart)."""
    key = name + ' (this round)'
    meter.start(key, pids)
    yield
    meter.stop(key)
    if key in meter.used:
        meter.used[name] = meter.used.get(name, 0.0) + meter.used.pop(key)
        before = meter.beside.get(name, (0.0, 0.0, 0.0))
        meter.beside[name] = tuple(
            total + added
            for total, added in zip(before, meter.beside.pop(key)))


def _pg_stats_url(database_url):
    """Where to read ``pg_stat_database`` from: the server's ``postgres``
    database, which is none of the cells' (so the reads are not counted
    in theirs); None when the daemons are not on PostgreSQL, with why."""
    import sqlalchemy as sa
    if not database_url:
        return None, 'the daemons\' databases are SQLite files'
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() != 'postgresql':
        return None, 'the daemons\' databases are on %s, not PostgreSQL' % (
            url.get_backend_name())
    return url.set(database='postgres').render_as_string(
        hide_password=False), None


def _engines_of(db):
    """The engines behind a :class:`Database`: its writer's and its
    reader's (the same one unless a slave_connection is set)."""
    facade = db._facade
    engines = [facade.writer.get_engine(), facade.reader.get_engine()]
    return list({id(engine): engine for engine in engines}.values())


class _OwnTransactions(object):
    """What this process's engines cost PostgreSQL while counting: each
    transaction (``begin``), each new connection (its start-up is a
    transaction there) and each ping of a pooled connection, which
    ``nova_cells.db.api`` sends in autocommit when the connection sat
    idle for ``PING_AFTER_IDLE_SECONDS`` (followed here by the same
    rule; checked: 40 writer transactions with 4 pauses longer than that
    counted 44, PostgreSQL 45)."""

    def __init__(self, engines):
        from nova_cells.db import api as db_api
        self.engines = engines
        self.count = 0
        self.idle = db_api.PING_AFTER_IDLE_SECONDS
        self._listeners = (('begin', self._add), ('connect', self._add),
                           ('checkin', self._checkin),
                           ('checkout', self._checkout))

    def _add(self, *_args):
        self.count += 1

    @staticmethod
    def _checkin(_dbapi_connection, record):
        record.info['bench.idle_since'] = time.monotonic()

    def _checkout(self, _dbapi_connection, record, _proxy):
        since = record.info.pop('bench.idle_since', None)
        if since is not None and time.monotonic() - since >= self.idle:
            self.count += 1

    def __enter__(self):
        import sqlalchemy as sa
        for engine in self.engines:
            for event, listener in self._listeners:
                sa.event.listen(engine, event, listener)
        return self

    def __exit__(self, *exc):
        import sqlalchemy as sa
        for engine in self.engines:
            for event, listener in self._listeners:
                sa.event.remove(engine, event, listener)


class _DaemonTransactions(object):
    """Transactions PostgreSQL counts in each cell's database
    (``pg_stat_database``) during a row, less this process's own in the
    top's (it writes the new instance rows, as nova-api would, and polls
    them) and less what the idle daemons do meanwhile (heartbeats,
    capacity pushes): the database work of a build on the real daemons,
    their workers and pools included, which no listener here can see.

    A backend sends its counts at most once a second, and one that falls
    idle keeps them for up to :data:`PG_STATS_IDLE_FLUSH` seconds (seen
    here: a backend's last second of a row arriving 10 s after it): so
    each reading comes ``settle`` seconds after the work it must include,
    and this process's own connections are closed before it (a backend's
    exit sends its counts).  The idle rate is measured for ``settle / 2``
    seconds just before the row, after the warm-up's work has settled.
    """

    def __init__(self, run, database_url, settle):
        self.url, self.reason = _pg_stats_url(database_url)
        self.cells = list(run.daemons)
        self.names = {cell: run.databases.name_of(cell)
                      for cell in self.cells}
        self.top = run.topology.top
        self.top_db = run.top_db
        self.settle = settle
        self.totals = collections.defaultdict(collections.Counter)
        self.builds = collections.Counter()
        self.per_transaction = None

    def _read(self):
        """{cell: transactions so far}, from a connection of its own."""
        import sqlalchemy as sa
        from sqlalchemy import pool as sa_pool
        engine = sa.create_engine(self.url, poolclass=sa_pool.NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text('SELECT pg_stat_clear_snapshot()'))
                return {cell: conn.execute(sa.text(
                    'SELECT xact_commit + xact_rollback FROM '
                    'pg_stat_database WHERE datname = :name'),
                    {'name': name}).scalar() or 0
                    for cell, name in self.names.items()}
        finally:
            engine.dispose()

    def calibrate(self, transactions=100):
        """PostgreSQL's count for one transaction of the daemons' kind
        (an oslo.db writer, and any ping of its pool checkout), measured
        now on a throw-away database of the same server:
        what the daemons' counts are divided by to give transactions as
        the in-process row and the issue count them (SQLAlchemy's
        ``begin``).  Sets ``self.per_transaction``."""
        from nova_cells.db import api as db_api
        from nova_cells.testing import databases
        if self.reason:
            return None
        name = 'route_calibrate_%d' % os.getpid()
        server = databases.Server(self.url)
        try:
            server.drop(name)       # left by a killed run of this pid
            server.create(name)
            before = self._count(server.engine, name, lambda: None)
            after = self._count(server.engine, name,
                                lambda: self._transactions(
                                    db_api, server.url_of(name),
                                    transactions))
            self.per_transaction = max(1.0, (after - before) / float(
                transactions))
        finally:
            try:
                server.drop(name)
            finally:
                server.dispose()
        return self.per_transaction

    @staticmethod
    def _transactions(db_api, url, count):
        import sqlalchemy as sa
        db = db_api.Database(url)
        try:
            for _ in range(count):
                with db.connection_writer() as conn:
                    conn.execute(sa.text('SELECT 1'))
        finally:
            db.dispose()        # a backend's exit sends its counts

    @staticmethod
    def _count(admin, name, work):
        import sqlalchemy as sa
        work()
        time.sleep(1.5)
        with admin.connect() as conn:
            conn.execute(sa.text('SELECT pg_stat_clear_snapshot()'))
            return conn.execute(sa.text(
                'SELECT xact_commit + xact_rollback FROM pg_stat_database '
                'WHERE datname = :name'), {'name': name}).scalar() or 0

    def _settled_read(self):
        self.top_db.dispose()
        time.sleep(self.settle)
        return time.monotonic(), self._read()

    @contextlib.contextmanager
    def row(self, name, builds):
        """Count the block's transactions for row ``name`` (``builds``
        builds)."""
        if self.reason:
            yield
            return
        idle_from, idle_start = self._settled_read()
        time.sleep(self.settle / 2.0)
        start_time, start = time.monotonic(), self._read()
        with _OwnTransactions(_engines_of(self.top_db)) as own:
            yield
        end_time, end = self._settled_read()
        totals = self.totals[name]
        for cell in self.cells:
            idle_rate = ((start[cell] - idle_start[cell]) /
                         max(1e-3, start_time - idle_from))
            totals[cell] += end[cell] - start[cell]
            totals['idle', cell] += idle_rate * (end_time - start_time)
        totals['own'] += own.count
        self.builds[name] += builds

    def per_build(self, name):
        """{cell: transactions per build, 'all', 'own' (this process's,
        excluded), 'idle' (the idle daemons', excluded)}; or None."""
        builds = self.builds[name]
        if self.reason or not builds:
            return None
        totals = self.totals[name]
        per = {}
        for cell in self.cells:
            work = totals[cell] - totals['idle', cell]
            if cell == self.top:
                work -= totals['own']
            per[cell] = work / builds
        per['all'] = sum(per[cell] for cell in self.cells)
        per['own'] = totals['own'] / builds
        per['idle'] = sum(totals['idle', cell]
                          for cell in self.cells) / builds
        per['settle'] = self.settle
        per['per_transaction'] = self.per_transaction
        return per


def _kombu_order(durable_last, baseline):
    """``[(row, durable, tree)]`` of one round: not durable and durable
    (the run's own setting last, for the forward rows after them), each
    by the baseline's daemons first when there is one."""
    ours = [row + (None,) for row in KOMBU_BUILDS]
    theirs = [row + (baseline,) for row in BASELINE_BUILDS] \
        if baseline else []
    rows = sorted(theirs + ours, key=lambda row: (
        row[1] == durable_last, row[3] is None))
    return [(name, durable, tree) for name, durable, _label, tree in rows]


# The relay's place among the rows of a round of the kombu builds.
RELAY_ROW = ('relay', None, None)


def _rows_of_round(order, index):
    """The rows of round ``index`` (from 0): ``order``, reversed in every
    second round (A B, B A, A B, ...)."""
    return order if index % 2 == 0 else order[::-1]


def kombu_build_rounds(run, args, meter, count, window, warmup, rounds,
                       profiler=None, baseline=None, relay=None):
    """The kombu builds, durable and not, alternating for ``rounds``
    rounds: each row of each round restarts the daemons with its
    ``durable_forwarding``, warms up and builds ``count`` instances.
    Alternating spreads over both rows what changes during a run (the
    machine's load, the tables growing), and every second round takes
    the rows in reverse order (A B, B A, ...), so that no row is always
    the one measured after the others.  The daemons end with the run's
    own setting, for the forward rows after them.  With ``baseline`` (a
    source tree), each row is measured by its daemons too, next to ours.
    With ``relay`` (``() -> None``), the bare relay is measured in each
    round too, in turn with the builds: its rate, the rows' limit, is
    taken under the same load as theirs.

    :returns: {row: (Latencies of all rounds, errors)}, with
        ``'kombu_db'``: {row: per_build figures, or the reason why none}.
    """
    from nova_cells.demo import core as demo
    timeout = max(args.timeout, demo.build_timeout(count, 3))
    counter = _DaemonTransactions(run, args.database_url,
                                  settle=args.db_settle)
    order = _kombu_order(args.durable, baseline)
    if relay is not None:
        order = [RELAY_ROW] + order
    counter.calibrate()
    measured = collections.defaultdict(list)
    by_daemon = collections.defaultdict(float)
    last = None
    for round_index in range(rounds):
        for name, durable, tree in _rows_of_round(order, round_index):
            if name == RELAY_ROW[0]:
                relay()
                continue
            last = (durable, tree)
            run.use_tree(tree)
            pids = run.set_durable(durable)
            _, errors = run_builds(run, warmup, window, args.timeout)
            if errors:
                _say('%s: %d warm-up builds failed' % (name, errors))
            with counter.row(name, count), _by_daemon(by_daemon, name,
                                                      pids):
                with _metered(meter, name, pids.values()):
                    if profiler is not None:
                        profiler.start('%s-%d' % (name, round_index + 1),
                                       pids)
                    try:
                        measured[name].append(run_builds(run, count, window,
                                                         timeout))
                    finally:
                        if profiler is not None:
                            profiler.stop()
            _say('round %d, %s: %.0f builds/s' % (
                round_index + 1, name, measured[name][-1][0].rate()))
    if last is not None and last != (args.durable, None):
        run.use_tree(None)
        run.set_durable(args.durable)
    results = {name: _pooled(measured[name]) for name in measured}
    results['kombu_db'] = {name: counter.per_build(name) or counter.reason
                           for name in measured}
    results['kombu_cpu_by_daemon'] = {
        key: 1000.0 * used / len(results[key[0]][0].samples)
        for key, used in by_daemon.items() if results[key[0]][0].samples}
    return results


@contextlib.contextmanager
def _by_daemon(used, name, pids):
    """CPU seconds of each daemon (its workers included) while the block
    runs, added to ``used[(name, cell)]``: which cell a row's cost is in."""
    before = {cell: _common.process_tree_cpu([pid])
              for cell, pid in pids.items()}
    yield
    for cell, pid in pids.items():
        after = _common.process_tree_cpu([pid])
        if before[cell] is not None and after is not None:
            used[name, cell] += _common.cpu_used_between(before[cell], after)


def bench_rabbit(args, count, window, warmup):
    """The relay, the forward and the builds on the broker; a dict of
    Latencies (and build errors)."""
    if not args.baseline:
        return _bench_rabbit(args, count, window, warmup, None)
    with _common.BaselineTree(args.baseline) as tree:
        _say('baseline %s in %s' % (args.baseline, tree.path))
        return _bench_rabbit(args, count, window, warmup, tree.path)


def _bench_rabbit(args, count, window, warmup, baseline):
    from nova_cells.db import api as db_api
    from nova_cells.demo import core as demo
    from nova_cells.testing import demo_processes

    results = {}
    timeout = args.timeout
    run = _process_demo_class()(
        _topology(), args.transport_url,
        database_url=args.database_url or None, say=_say, seed=1)
    run.db_check_interval = args.db_check_interval
    run.durable = args.durable
    spawned = _common.Spawned()
    profiler = _Profiler(args.profile)
    meter = _common.CPUMeter()
    results['cpu'] = meter.used
    results['cpu_beside'] = meter.beside
    clients, servers = [], []
    with demo_processes.signals_as_exceptions():
        try:
            run.setup()
            if not run.propagate(timeout=timeout):
                raise RuntimeError('capacities did not reach the top')
            pids = {name: d.pid for name, d in run.daemons.items()}
            _say('daemons: %s' % ', '.join('%s=%d' % i for i in pids.items()))
            sink_vhost = run.vhost_of('sink')
            run.vhosts.create([sink_vhost])
            sink_url = run.url_of('sink')
            sink = _Sink()

            # The relay: api -> child -> gc vhosts, then the sink.
            hops = ['api', 'child', 'gc']
            for index, name in enumerate(hops):
                last = index == len(hops) - 1
                next_url = sink_url if last else run.url_of(hops[index + 1])
                spawned.start(
                    [sys.executable, os.path.abspath(__file__),
                     '--relay-hop', run.url_of(name), next_url,
                     SINK_TOPIC if last else RELAY_TOPIC],
                    log_path=os.path.join(run.base_dir, 'relay-%s.log'
                                          % name),
                    env=dict(os.environ, PYTHONWARNINGS='ignore'))
            servers.append(_server(sink_url, SINK_TOPIC, [_relay_endpoint(
                lambda ctxt, seq, message: sink.arrived(seq))]))
            transport, relay = _client(run.url_of('api'), RELAY_TOPIC)
            clients.append(transport)
            ctxt = _ctxt()
            payload = _forward_message(0)

            def send_relay(seq):
                relay.cast(ctxt, 'relay', seq=seq, message=payload)
            relay_rounds = collections.defaultdict(list)

            def measure_relay(beside=None):
                # The relay hops stay up (idle) for the whole run: every
                # round of the rows after this one measures it again,
                # the limit of the rows ``beside`` it.  The daemons first
                # finish what a row before left them (its last updates,
                # marks and outbox rows), as each of their rows starts
                # with a restart.
                if beside is not None:
                    time.sleep(RELAY_SETTLE)
                run_chain(sink, send_relay, warmup, window, timeout)
                with _metered(meter, 'relay',
                              [proc.pid for proc in spawned.procs]):
                    measured = run_chain(sink, send_relay, count, window,
                                         timeout)
                keys = ['relay'] + (['relay beside %s' % beside]
                                    if beside is not None else [])
                for key in keys:
                    relay_rounds[key].append((measured, 0))
                    results[key] = _pooled(relay_rounds[key])[0]
                _say('relay: %.0f requests/s' % measured.rate())
            _warm_up(sink, send_relay, timeout)
            measure_relay()

            # The builds, before the sink becomes gc's child.
            if 'builds' in args.rows:
                run_builds(run, warmup, window, timeout)
                profiler.start('builds', pids)
                meter.start('builds', pids.values())
                try:
                    results['builds'] = run_builds(
                        run, count, window,
                        max(timeout, demo.build_timeout(count, 3)))
                finally:
                    profiler.stop()
                meter.stop('builds')
            if args.kombu:
                pids = run.set_transport('kombu')
                _say('kombu transport: %s' % ', '.join(
                    '%s=%d' % i for i in pids.items()))
                if 'builds_kombu' in args.rows:
                    results.update(kombu_build_rounds(
                        run, args, meter, count, window, warmup,
                        args.rounds, profiler, baseline,
                        relay=lambda: measure_relay('builds_kombu')))
                pids = {name: d.pid for name, d in run.daemons.items()}

            # The forward: sink becomes gc's child (gc restarted to see
            # the row at once, whatever db_check_interval is).
            gc_db = db_api.Database(run.databases.url_of('gc'))
            try:
                db_api.cell_create(gc_db, {
                    'name': 'sink', 'transport_url': sink_url,
                    'is_parent': False, 'weight_offset': 0.0,
                    'weight_scale': 1.0})
            finally:
                gc_db.dispose()
            pids['gc'] = run.restart('gc')
            servers.append(_server(sink_url, INTERCELL_TOPIC,
                                   [_intercell_endpoint(sink)]))
            transport, intercell = _client(run.url_of('api'),
                                           INTERCELL_TOPIC, version='1.0')
            clients.append(transport)

            def send_forward(seq):
                intercell.cast(ctxt, 'process_message',
                               message=_forward_message(seq))

            def forward(row):
                _warm_up(sink, send_forward, timeout)
                rounds = []
                for index in range(args.rounds):
                    for step in _rows_of_round([row, 'relay'], index):
                        if step == 'relay':
                            measure_relay(row)
                            continue
                        run_chain(sink, send_forward, warmup, window,
                                  timeout)
                        profiler.start('%s-%d' % (row, index + 1), pids)
                        try:
                            with _metered(meter, row, pids.values()):
                                rounds.append((run_chain(
                                    sink, send_forward, count, window,
                                    timeout), 0))
                        finally:
                            profiler.stop()
                        _say('round %d, %s: %.0f requests/s' % (
                            index + 1, row, rounds[-1][0].rate()))
                results[row] = _pooled(rounds)[0]
            if args.kombu:
                if 'forward_kombu' in args.rows:
                    forward('forward_kombu')
                if 'forward' in args.rows:
                    pids = run.set_transport('oslo.messaging')
            if 'forward' in args.rows:
                forward('forward')
        except Exception as exc:
            _say('failed: %s' % exc)
            if run.daemons:
                run.report_failure('rabbit part failed')
            raise
        finally:
            profiler.stop()
            spawned.stop_all()
            for transport, server in servers:
                server.stop()
            for transport, server in servers:
                server.wait()
                transport.cleanup()
            for transport in clients:
                transport.cleanup()
            run.close()
    return results


# -- the table ----------------------------------------------------------------


def _row(name, latencies, limit=None, target=None, note=''):
    rate = _rate(latencies)
    versus = ''
    if limit:
        versus = '%3.0f %%' % (100.0 * rate / limit)
        if target:
            versus += '  (target %d %%)' % round(target * 100)
    elif target:
        versus = '(target %d/s)' % target
    return [name, '%.0f' % rate, '%.1f' % latencies.p_ms(0.5),
            '%.1f' % latencies.p_ms(0.99), versus + note]


def report(results, threads, out=None):
    rows = []
    relay = results.get('relay')
    limit = _rate(relay) if relay else None

    def limit_beside(row):
        beside = results.get('relay beside %s' % row)
        return _rate(beside) if beside else limit
    if relay:
        rows.append(_row('bare relay (3 vhosts)', relay))
    if 'forward' in results:
        rows.append(_row('forward only (3 cells)', results['forward'],
                         limit_beside('forward'), TARGETS['forward']))
    if 'forward_kombu' in results:
        rows.append(_row('forward only (3, kombu)',
                         results['forward_kombu'],
                         limit_beside('forward_kombu'),
                         TARGETS['forward_kombu']))
    if 'builds' in results:
        lat, errors = results['builds']
        rows.append(_row('builds (3 cells, rabbit)', lat, limit,
                         TARGETS['builds'],
                         '  %d errors' % errors if errors else ''))
    for key, name in (('builds_kombu', 'builds (3 cells, kombu)'),
                      ('builds_kombu_not_durable',
                       'builds (3, kombu, not durable)'),
                      ('builds_kombu_baseline', '  baseline: durable'),
                      ('builds_kombu_not_durable_baseline',
                       '  baseline: not durable')):
        if key in results:
            lat, errors = results[key]
            rows.append(_row(name, lat, limit_beside('builds_kombu'),
                             TARGETS['builds_kombu'],
                             '  %d errors' % errors if errors else ''))
    if 'fake_builds' in results:
        lat, errors = results['fake_builds']
        rows.append(_row('builds (3 cells, fake)', lat,
                         note='%d errors' % errors if errors else ''))
    if 'bare_round_trips' in results:
        rows.append(_row('bare 2-hop round trips/%d' % threads,
                         results['bare_round_trips']))
    if 'round_trips' in results:
        bare = results.get('bare_round_trips')
        rows.append(_row('2-hop round trips fake/%d' % threads,
                         results['round_trips'],
                         bare.rate() if bare else None,
                         note='  (target %d/s)' % TARGETS['round_trips']))
    _common.print_table([('route', 31), ('req/s', 8), ('p50 ms', 8),
                         ('p99 ms', 8), ('vs limit', 10)], rows, out)
    kombu_db = results.get('kombu_db') or {}
    lines = [chain_rounds(results), kombu_rounds(results),
             durable_vs_not(results),
             against_baseline(results), cpu_per_request(results),
             cpu_by_daemon(results), cpu_per_round_trip(results)]
    # Not the baseline's: the figure per writer transaction is this
    # tree's (a baseline's pool may count differently).
    lines.extend(daemon_transactions_per_build(label, kombu_db.get(key))
                 for key, _durable, label in KOMBU_BUILDS)
    for line in lines:
        if line:
            print(line, file=out)
    db_line = db_work_per_build(results.get('fake_db'))
    if db_line:
        print(db_line, file=out)


def chain_rounds(results):
    """One line: each measurement's rate of the relay and the forward
    rows (the table shows their median): the relay is measured again in
    every round of the rows after it, and the kombu rows are compared
    with the median of the relay's rounds beside them (taken under the
    same load); the relay's row is the median of all."""
    names = ['relay'] + ['relay beside %s' % row for row in (
        'builds_kombu', 'forward_kombu', 'forward')] + [
        'forward_kombu', 'forward']
    parts = []
    for name in names:
        rates = getattr(results.get(name), 'round_rates', None)
        if rates:
            parts.append('%s %s%s' % (name, ', '.join(
                '%.0f' % rate for rate in rates),
                ' (median %.0f)' % statistics.median(rates)
                if name.startswith('relay beside') else ''))
    return ('requests/s by round: ' + '; '.join(parts)) if parts else ''


def kombu_rounds(results):
    """One line: each round's rate of the kombu builds rows (the table
    shows their median)."""
    def rates(key):
        found = getattr(_builds(results, key), 'round_rates', None)
        return ', '.join('%.0f' % rate for rate in found or ())
    return _per_kombu_row('kombu builds/s by round: ', rates)


def _per_kombu_row(title, describe):
    """``title`` and each kombu builds row's label with ``describe(row)``
    (rows it describes as '' left out); '' when none is described."""
    parts = ['%s %s' % (label, describe(key))
             for key, _durable, label in KOMBU_BUILDS + BASELINE_BUILDS
             if describe(key)]
    return title + '; '.join(parts) if parts else ''


def durable_vs_not(results):
    """One line: the durable kombu builds' rate as a share of the not
    durable's (both medians over rounds): what durable forwarding costs
    on kombu."""
    durable = _builds(results, 'builds_kombu')
    not_durable = _builds(results, 'builds_kombu_not_durable')
    if durable is None or not_durable is None or not _rate(not_durable):
        return ''
    return ('kombu builds, durable/not durable: %.0f %%  (target %d %%)'
            % (100.0 * _rate(durable) / _rate(not_durable),
               round(TARGETS['durable_vs_not'] * 100)))


def cpu_by_daemon(results):
    """One line: CPU ms per build of each daemon in the kombu builds rows
    (where durable forwarding's cost lies)."""
    per = results.get('kombu_cpu_by_daemon') or {}

    def cells(key):
        return ', '.join('%s %.1f' % (cell, value)
                         for (row, cell), value in per.items() if row == key)
    return _per_kombu_row('CPU ms/build of each daemon (kombu): ', cells)


def against_baseline(results):
    """One line: each kombu builds row's rate as a multiple of the
    baseline's same row (medians over the same rounds)."""
    parts = []
    for (key, _d, label), (base_key, _bd, _bl) in zip(KOMBU_BUILDS,
                                                      BASELINE_BUILDS):
        ours, theirs = _builds(results, key), _builds(results, base_key)
        if ours is not None and theirs is not None and _rate(theirs):
            parts.append('%s %.2fx' % (label, _rate(ours) / _rate(theirs)))
    if not parts:
        return ''
    return 'kombu builds against the baseline: ' + ', '.join(parts)


def daemon_transactions_per_build(label, per_build):
    """One line: transactions PostgreSQL counted per kombu build in each
    cell's database (:class:`_DaemonTransactions`), or why there is no
    figure."""
    if per_build is None:
        return ''
    head = 'DB transactions per build in the daemons (kombu, %s)' % label
    if isinstance(per_build, str):
        return '%s: not available, %s' % (head, per_build)
    # A cell that does nothing per build can come out a hair below zero
    # (its idle rate is an estimate): no "-0.0".
    tenths = {name: round(value, 1) + 0.0
              for name, value in per_build.items()}
    cells = [name for name in per_build
             if name not in ('all', 'own', 'idle', 'settle',
                             'per_transaction')]
    rough = ''
    if per_build['settle'] < PG_STATS_IDLE_FLUSH:
        rough = ('; readings %.0f s after the work, PostgreSQL may send '
                 'counts %.0f s late: rough' % (per_build['settle'],
                                                PG_STATS_IDLE_FLUSH))
    line = ('%s, as PostgreSQL counts them: %s; all %.1f (excluded: the '
            'bench\'s own %.1f, the idle daemons\' %.1f%s)' % (
                head, ', '.join('%s %.1f' % (name, tenths[name])
                                for name in cells),
                tenths['all'], tenths['own'], tenths['idle'], rough))
    ratio = per_build.get('per_transaction')
    if ratio:
        line += ('\n  as transactions (PostgreSQL counted %.2f per oslo.db '
                 'writer transaction, measured in this run, pings of the '
                 'pool included): %s; all %.1f (target at most %d)' % (
                     ratio, ', '.join('%s %.1f' % (name, per_build[name] /
                                                   ratio) for name in cells),
                     per_build['all'] / ratio, TARGETS['db_transactions']))
    return line


def db_work_per_build(per_cell):
    """One line: database transactions and statements per build in each
    cell of the in-process row (the test bench's polling of the top is
    included in the api's: a few per build)."""
    if not per_cell:
        return ''
    total_tx = sum(tx for tx, _st in per_cell.values())
    total_st = sum(st for _tx, st in per_cell.values())
    return ('DB work per build (in-process builds, transactions/statements):'
            ' %s; all %.1f/%.1f' % (', '.join(
                '%s %.1f/%.1f' % (name, tx, st)
                for name, (tx, st) in per_cell.items()), total_tx, total_st))


def cpu_per_round_trip(results):
    """One line: CPU ms per round trip of the in-process rows (the
    process's, all its threads): what bounds them when the process holds
    one core (its GIL)."""
    per = [(name, 1000.0 * latencies.cpu_seconds / len(latencies))
           for name, latencies in (('bare', results.get('bare_round_trips')),
                                   ('ours', results.get('round_trips')))
           if getattr(latencies, 'cpu_seconds', None) is not None and
           len(latencies)]
    if not per:
        return ''
    return 'CPU ms per 2-hop round trip of this process: ' + ', '.join(
        '%s %.2f' % item for item in per)


def _builds(results, key):
    """The Latencies of a builds row (kept with its error count), or
    None."""
    return (results.get(key) or (None,))[0]


def _row_counts(results):
    """{RabbitMQ row: its Latencies or None}."""
    counts = {name: results.get(name)
              for name in ('relay', 'forward', 'forward_kombu')}
    counts.update((key, _builds(results, key)) for key in (
        ('builds',) + tuple(row[0] for row in KOMBU_BUILDS +
                            BASELINE_BUILDS)))
    return counts


def _per_request(used, counts):
    """{row: ms per request} of ``used`` ({row: CPU seconds})."""
    return {name: 1000.0 * used[name] / len(counts[name].samples)
            for name in counts
            if name in used and counts[name] is not None and
            counts[name].samples}


def cpu_per_request(results):
    """Lines: CPU ms per request of each RabbitMQ row's own processes
    (the three relay hops; the three daemons, workers included), and the
    builds' as a multiple of the relay's: where a row's rate is bounded by
    the machine's cores, this is why.  Then what RabbitMQ, this process
    (the bench's clients and sink) and the SQL servers used per request
    meanwhile: the rest of a row's cost, a row whose daemons cost less
    than the relay's hops can still cost the broker more (publisher
    confirms), a durable one the database more."""
    used = results.get('cpu') or {}
    counts = _row_counts(results)
    per = _per_request(used, counts)
    if not per:
        return ''
    text = 'CPU ms/request of the chain\'s processes: ' + ', '.join(
        '%s %.1f' % (name, value) for name, value in per.items())
    if 'relay' in per and 'builds' in per and per['relay'] > 0:
        text += ' (a build costs %.1f relay requests)' % (
            per['builds'] / per['relay'])
    beside = results.get('cpu_beside') or {}
    broker = _per_request({k: v[0] for k, v in beside.items()}, counts)
    own = _per_request({k: v[1] for k, v in beside.items()}, counts)
    if any(broker.values()):
        text += '\nCPU ms/request of RabbitMQ meanwhile: ' + ', '.join(
            '%s %.1f' % item for item in broker.items())
    if own:
        text += '\nCPU ms/request of this process meanwhile: ' + ', '.join(
            '%s %.1f' % item for item in own.items())
    database = _per_request({k: v[2] for k, v in beside.items()}, counts)
    if any(database.values()):
        text += ('\nCPU ms/request of the SQL servers meanwhile: '
                 + ', '.join('%s %.1f' % item for item in database.items()))
    return text


def _rows(text):
    """``--rows``: a tuple of known row names."""
    names = tuple(name.strip() for name in text.split(',') if name.strip())
    unknown = sorted(set(names) - set(ROWS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            'rows are among %s, not %s' % (', '.join(ROWS),
                                           ', '.join(unknown) or 'none'))
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--count', type=int, default=300,
                        help='requests per row (builds, relay, forward)')
    parser.add_argument('--window', type=int, default=32,
                        help='requests in flight at most')
    parser.add_argument('--threads', type=int, default=128,
                        help='round-trip callers')
    parser.add_argument('--round-trips', type=int, default=6400,
                        help='round trips in all')
    parser.add_argument('--transport-url', default=DEFAULT_BROKER)
    parser.add_argument('--database-url', default=DEFAULT_DATABASE,
                        help='PostgreSQL/MySQL server for the daemons\' '
                        'databases ("" for SQLite files)')
    parser.add_argument('--db-check-interval', type=int, default=60,
                        help='[cells] db_check_interval of the daemons '
                        '(default: nova\'s 60; the demo uses 0)')
    parser.add_argument('--timeout', type=float, default=120.0,
                        help='seconds a row may take at least (a busy '
                        'machine needs more)')
    parser.add_argument('--no-durable', dest='durable', action='store_false',
                        help='[cells] durable_forwarding = false in the '
                        'daemons (nova\'s cast and forget) for every row '
                        'but the kombu builds, which have both')
    parser.add_argument('--rounds', type=int,
                        help='rounds of the kombu builds, durable and not '
                        'alternating, and of each forward row, each with '
                        'a relay (default 2; --quick: 1)')
    parser.add_argument('--db-settle', type=float,
                        help='seconds before each pg_stat_database reading '
                        '(PostgreSQL holds an idle backend\'s counts up to '
                        '10 s; default 12; --quick: 2)')
    parser.add_argument('--backend', choices=('threading', 'eventlet'),
                        default='threading',
                        help='concurrency backend of the in-process '
                        'fake:// rows (NOVA_CELLS_BACKEND of a daemon)')
    parser.add_argument('--no-kombu', dest='kombu', action='store_false',
                        help='skip the rows of the daemons on [cells] '
                        'intercell_transport = kombu')
    parser.add_argument('--no-rabbit', action='store_true',
                        help='only the fake:// rows')
    parser.add_argument('--quick', action='store_true',
                        help='tiny counts (smoke test)')
    parser.add_argument('--profile', metavar='DIR',
                        help='py-spy record the daemons (raw stacks)')
    parser.add_argument('--rows', type=_rows, default=ROWS,
                        help='comma-separated rows to measure (default: '
                        'all of %s; the relay is always measured)'
                        % ','.join(ROWS))
    parser.add_argument('--baseline', metavar='REV',
                        help='the kombu builds of this git revision too, '
                        'taking turns with this tree\'s in each round')
    parser.add_argument('--relay-hop', nargs=3, help=argparse.SUPPRESS,
                        metavar=('LISTEN', 'NEXT', 'TOPIC'))
    args = parser.parse_args(argv)
    from nova_cells import _backend
    _backend.select(args.backend)
    if args.backend == 'eventlet':
        _common.install_fast_green_current_thread()
    if args.relay_hop:
        relay_hop(*args.relay_hop)
        return 0
    count, window, warmup = args.count, args.window, 20
    threads, per_thread = args.threads, max(1, args.round_trips //
                                            max(1, args.threads))
    if args.quick:
        count, window, warmup = 10, 4, 2
        threads, per_thread = 4, 5
    if args.rounds is None:
        args.rounds = 1 if args.quick else 2
    if args.db_settle is None:
        args.db_settle = 2.0 if args.quick else 12.0
    results = collections.OrderedDict()
    _say(_common.load_note())
    if 'round_trips' in args.rows:
        results['bare_round_trips'] = bench_bare_round_trips(threads,
                                                             per_thread)
        results['round_trips'] = bench_round_trips(threads, per_thread)
    if 'fake_builds' in args.rows:
        results['fake_db'] = {}
        results['fake_builds'] = bench_fake_builds(count, window, warmup,
                                                   args.timeout,
                                                   results['fake_db'])
    if not args.no_rabbit:
        results.update(bench_rabbit(args, count, window, warmup))
    report(results, threads)
    print('%d requests a row, %d in flight, db_check_interval %d, '
          'durable_forwarding %s (kombu builds: both, %d rounds), '
          'in-process backend %s; %s' % (
              count, window, args.db_check_interval, args.durable,
              args.rounds, args.backend, _common.load_note()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
