#!/usr/bin/env python3
"""Benchmark: 10, 100 and 1,000 cells in one process (issue 7, ``scale``).

Each size runs in a fresh child process (so that its RSS is its own): an
in-process tree on ``fake://`` (``nova_cells.testing.inprocess.CellTree``) of
depth 2, api -> ~sqrt(n) middle cells -> leaves, every leaf with 2 hosts, and
100 instances per cell in total (100,000 at 1,000 cells) inserted directly
into the leaves' SQLite databases and at the top.  Measured per size:

* capacities: every leaf runs ``propagation.update_our_parents``; the time
  until the top's aggregated free RAM is the sum of all hosts;
* a broadcast query: the top manager's ``get_cell_status`` (every cell
  answers with its instance counts by state), median of 5;
* RSS after start and after the queries, and threads.

Printed: the figures, then the growth per 10x cells (target: no faster
than linear, i.e. a ratio <= 10 per 10x).  The baseline is each child
process's RSS right after its imports (no cells yet), in the same run.

The cells run on eventlet by default (``--backend``), as the original
nova-cells did: 1,000 cells are 4,000 threads (3 intercell servers and a
sender per cell), which native threads sharing one GIL on 2 cores do not
get through (above ~300 cells the run does not finish); green threads do.
Three artefacts of putting every cell in one process are removed, each
explained where it is done: the fake:// listeners' polling
(``install_notifying_fake_listener``), eventlet's thread lookup
(``_common.install_fast_green_current_thread``) and full garbage
collections over every cell's objects (``gc.freeze`` after start-up).

    python tools/bench/scale.py [--quick] [--sizes 10,100,300,1000]
        [--backend eventlet|threading] [--profile]
"""

import argparse
import gc
import itertools
import json
import math
import os
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

SIZES = (10, 100, 300, 1000)
INSTANCES_PER_CELL = 100
HOST_RAM_MB = 65536
# How long idle fake:// listeners and server workers sleep (see
# install_notifying_fake_listener).
IDLE_WAIT_S = 30.0


def layout_for(cells):
    """api -> round(sqrt(n)) middle cells -> the rest as leaves, spread
    round-robin; with n <= 3 just api -> children."""
    if cells <= 3:
        return {'api': {'mid%d' % i: {} for i in range(cells - 1)}}
    middles = max(1, int(round(math.sqrt(cells))))
    leaves = cells - 1 - middles
    layout = {'mid%d' % i: {} for i in range(middles)}
    for index in range(leaves):
        layout['mid%d' % (index % middles)]['leaf%d' % index] = {}
    return {'api': layout}


def _rss_mb():
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    return float('nan')


class _TemplateMigration(object):
    """Stands in for ``migration`` while a tree builds: copies one synced
    SQLite file instead of running the migrations once per cell (setup
    cost only; the figures measured after it do not depend on it)."""

    def __init__(self, real, template):
        self.real = real
        self.template = template

    def db_sync(self, db):
        prefix = 'sqlite:///'
        if not db.connection.startswith(prefix):
            return self.real.db_sync(db)
        shutil.copyfile(self.template, db.connection[len(prefix):])

    def __getattr__(self, name):
        return getattr(self.real, name)


def install_notifying_fake_listener(idle_workers=True):
    """Make oslo.messaging's ``fake://`` listeners wait for a delivery
    instead of polling every 50 ms.

    The stock fake listener wakes every 50 ms and locks every queue it
    listens to; a CellTree runs 3 servers per cell, so 1,000 cells are
    3,000 threads polling 60,000 times a second, which saturates 2 cores
    before any cell does any work (a cost of the in-memory broker, which a
    real deployment, one process per cell on RabbitMQ, does not have).
    Here each exchange gets a condition that ``deliver_message``
    notifies; a listener re-checks its queues when woken (and at least
    every 30 s; ``stop`` wakes it).  With ``idle_workers`` the servers'
    futurist workers, which wake every second when idle, wait 30 s
    instead: with 3,000 servers those wake-ups alone starve the GIL (the
    cost: stopping a tree then waits up to 30 s for them).  Messages,
    queues and routing are untouched.
    """
    import futurist._thread
    from oslo_messaging._drivers import base
    from oslo_messaging._drivers import impl_fake

    if idle_workers:
        futurist._thread.ThreadWorker.MAX_IDLE_FOR = IDLE_WAIT_S

    if getattr(impl_fake, '_bench_notifying', False):
        return
    guard = threading.Lock()

    def signal_of(exchange):
        cond = getattr(exchange, '_bench_cond', None)
        if cond is None:
            with guard:
                cond = getattr(exchange, '_bench_cond', None)
                if cond is None:
                    exchange._bench_seq = 0
                    cond = exchange._bench_cond = threading.Condition()
        return cond

    def wake(exchange):
        cond = signal_of(exchange)
        with cond:
            exchange._bench_seq += 1
            cond.notify_all()

    real_deliver = impl_fake.FakeExchange.deliver_message

    def deliver_message(self, *args, **kwargs):
        result = real_deliver(self, *args, **kwargs)
        wake(self)
        return result

    def poll(self, timeout=None):
        deadline = None if timeout is None else time.time() + timeout
        exchanges = [self._exchange_manager.get_exchange(t.exchange)
                     for t in self._targets]
        first = exchanges[0]
        single = all(e is first for e in exchanges)
        cond = signal_of(first)
        while not self._stopped.is_set():
            with cond:
                seen = first._bench_seq
            for target, exchange in zip(self._targets, exchanges):
                ctxt, message, reply_q, requeue = exchange.poll(
                    target, self._pool)
                if message is not None:
                    return impl_fake.FakeIncomingMessage(
                        ctxt, message, reply_q, requeue)
            pause = IDLE_WAIT_S if single else 0.05
            if deadline is not None:
                left = deadline - time.time()
                if left < 0:
                    break
                pause = min(pause, left)
            with cond:
                if first._bench_seq == seen and not self._stopped.is_set():
                    cond.wait(pause)
        return None

    def stop(self):
        self._stopped.set()
        for target in self._targets:
            wake(self._exchange_manager.get_exchange(target.exchange))

    impl_fake.FakeExchange.deliver_message = deliver_message
    impl_fake.FakeListener.poll = base.batch_poll_helper(poll)
    impl_fake.FakeListener.stop = stop
    impl_fake._bench_notifying = True


class _DispatchCounter(object):
    """Counts the RPC messages dispatched by every server of the process
    while it is installed: the work a query takes, in messages, which
    should grow linearly in cells whatever the time per message does."""

    def __init__(self):
        from oslo_messaging.rpc import dispatcher

        # next() on an itertools.count is atomic: native threads lose no
        # increment (``+= 1`` on an attribute could).
        self._counter = itertools.count()
        self._class = dispatcher.RPCDispatcher
        self._real = real = self._class.dispatch
        tick = self._counter

        def dispatch(self, *args, **kwargs):
            next(tick)
            return real(self, *args, **kwargs)
        self._class.dispatch = dispatch

    def stop(self):
        """Uninstall; the number of messages dispatched meanwhile."""
        self._class.dispatch = self._real
        return next(self._counter)


def _insert_instances(db, paths, count):
    """``count`` active instances, spread over ``paths`` (cell names)."""
    import sqlalchemy as sa

    from nova_cells.db import models

    if not count:
        return
    rows = [{'uuid': str(uuid.uuid4()), 'display_name': 'i%d' % n,
             'project_id': 'bench', 'user_id': 'bench',
             'vm_state': ('active', 'stopped', 'error')[n % 3],
             'cell_name': paths[n % len(paths)], 'memory_mb': 512,
             'vcpus': 1, 'root_gb': 1, 'ephemeral_gb': 0, 'deleted': 0}
            for n in range(count)]
    with db.writer() as session:
        session.execute(sa.insert(models.Instance.__table__), rows)


def _yappi_top(stats, top=20):
    stats.sort('tsub', 'desc')
    total = sum(s.tsub for s in stats) or 1.0
    lines = ['  %6s %8s  %s' % ('own %', 'calls', 'function')]
    for stat in list(stats)[:top]:
        lines.append('  %5.1f%% %8d  %s %s:%d' % (
            100.0 * stat.tsub / total, stat.ncall, stat.name,
            os.path.basename(stat.module), stat.lineno))
    return '\n'.join(lines)


def run_one(cells, per_cell, base_dir, fake='notify', profile=False,
            backend='eventlet'):
    """Build, start and measure one tree in this process; a dict."""
    from nova_cells import _backend
    _backend.select(backend)
    if backend == 'eventlet':
        _common.install_fast_green_current_thread()

    if fake == 'notify':
        install_notifying_fake_listener(idle_workers=cells >= 300)

    from nova_cells import context as cells_context
    from nova_cells.db import api as db_api
    from nova_cells.demo import core as demo
    from nova_cells.testing import inprocess
    from nova_cells.cells import propagation

    result = {'cells': cells, 'rss_import_mb': _rss_mb(),
              'threads_before': threading.active_count()}
    layout = layout_for(cells)
    names = list(inprocess.walk_layout(layout))
    leaves = [name for name, _p, _path in names
              if not any(p == name for _n, p, _x in names)]
    template = os.path.join(base_dir, 'template.sqlite')
    from nova_cells.db import migration
    template_db = db_api.Database('sqlite:///%s' % template)
    migration.db_sync(template_db)
    # Closing its connections writes the WAL back into the file copied.
    template_db.dispose()
    # db_check_interval: a cell re-reads its neighbours and its own
    # capacity at most this often (nova: 60 s); a run at 1,000 cells takes
    # minutes, and those periodic re-reads would land inside whichever
    # measurement is running at the time.
    tree = inprocess.CellTree(layout, base_dir,
                              overrides={'call_timeout': 300,
                                         'db_check_interval': 3600})
    start = time.perf_counter()
    inprocess.migration = _TemplateMigration(migration, template)
    try:
        tree.build()
    finally:
        inprocess.migration = migration
    result['build_s'] = time.perf_counter() - start
    total_instances = per_cell * cells
    per_leaf = total_instances // max(1, len(leaves))
    start = time.perf_counter()
    for leaf in leaves:
        db = tree.cells[leaf].db
        demo.seed_hosts(db, [('%s-h%d' % (leaf, i), HOST_RAM_MB, 16, 1000)
                             for i in range(2)])
        _insert_instances(db, [tree.paths[leaf]], per_leaf)
    _insert_instances(tree.cells['api'].db,
                      [tree.paths[leaf] for leaf in leaves],
                      per_leaf * len(leaves))
    result['seed_s'] = time.perf_counter() - start
    result['instances'] = per_leaf * len(leaves)
    start = time.perf_counter()
    tree.start()
    result['start_s'] = time.perf_counter() - start
    # The cells' long-lived objects (hundreds of MB at 1,000 cells) out of
    # the collector's reach: otherwise every full collection walks all of
    # them, and the number of collections grows with the messages, so the
    # query measured the heap size times the cell count (one process per
    # cell has a small heap).
    gc.collect()
    gc.freeze()
    result['threads'] = threading.active_count()
    result['rss_started_mb'] = _rss_mb()
    try:
        ctxt = cells_context.get_admin_context()
        top = tree.cells['api']
        expected = HOST_RAM_MB * 2 * len(leaves)
        start = time.perf_counter()
        for leaf in leaves:
            propagation.update_our_parents(tree.cells[leaf].runner, ctxt)
        sent = time.perf_counter()
        deadline = time.monotonic() + max(30.0, cells * 0.3)
        reached = False
        while time.monotonic() < deadline:
            ram = top.state_manager.get_our_capacities().get('ram_free', {})
            if ram.get('total_mb') == expected:
                reached = True
                break
            time.sleep(0.01)
        result['propagate_send_s'] = sent - start
        result['propagate_s'] = time.perf_counter() - start
        result['propagated'] = reached
        samples, cpu = [], []
        dispatched = _DispatchCounter()
        for _ in range(5):
            start, start_cpu = time.perf_counter(), time.process_time()
            status = top.manager.get_cell_status(ctxt)
            samples.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        result['status_s'] = statistics.median(samples)
        result['status_cpu_s'] = statistics.median(cpu)
        result['status_messages'] = dispatched.stop() / len(samples)
        answered = status.get('cells', []) if isinstance(status, dict) \
            else []
        result['status_cells'] = len(answered)
        result['status_failures'] = len(status.get('failures', [])) \
            if isinstance(status, dict) else None
        result['status_instances'] = sum(
            sum((c.get('value') or {}).get('instances', {})
                .values()) for c in answered
            if isinstance(c.get('value'), dict))
        result['rss_end_mb'] = _rss_mb()
        if profile:
            import yappi

            yappi.set_clock_type('cpu')
            if backend == 'eventlet':
                # One OS thread: attribute CPU time per green thread.
                yappi.set_context_backend('greenlet')
            yappi.start(builtins=True)
            top.manager.get_cell_status(ctxt)
            yappi.stop()
            result['profile'] = _yappi_top(yappi.get_func_stats())
    finally:
        start = time.perf_counter()
        tree.close()
        result['close_s'] = time.perf_counter() - start
    return result


def _child(cells, per_cell, timeout, fake, profile=False,
           backend='eventlet'):
    argv = [sys.executable, os.path.abspath(__file__), '--one', str(cells),
            '--per-cell', str(per_cell), '--fake', fake,
            '--backend', backend] + (
                ['--profile'] if profile else [])
    try:
        proc = subprocess.run(argv, capture_output=True, text=True,
                              timeout=timeout,
                              env=dict(os.environ, PYTHONWARNINGS='ignore'))
    except subprocess.TimeoutExpired:
        return {'cells': cells, 'error': 'timed out after %ds' % timeout}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith('{'):
            return json.loads(line)
    tail = (proc.stderr or '').strip().splitlines()[-3:]
    return {'cells': cells,
            'error': 'exit %s: %s' % (proc.returncode, ' | '.join(tail))}


def _ratio(results, key):
    pairs = []
    for small, big in zip(results, results[1:]):
        a, b = small.get(key), big.get(key)
        if a and b:
            factor = big['cells'] / small['cells']
            pairs.append('%.1fx per %gx' % (b / a, factor))
    return ', '.join(pairs) or '-'


def load():
    try:
        return '%.2f %.2f %.2f' % os.getloadavg()
    except OSError:
        return '?'


def report(results, out=None):
    out = out or sys.stdout
    print('%6s %7s %8s %7s %8s %7s %7s %7s %6s %6s %7s %8s %8s %8s' % (
        'cells', 'threads', 'inst', 'build s', 'start s', 'caps s',
        'query s', 'q cpu s', 'q msgs', 'ms/msg', 'answers', 'RSS MB',
        'base MB', 'MB/cell'), file=out)
    for r in results:
        if 'error' in r:
            print('%6d  failed: %s' % (r['cells'], r['error']), file=out)
            continue
        r['rss_delta_mb'] = r['rss_end_mb'] - r['rss_import_mb']
        print('%6d %7d %8d %7.1f %8.2f %7.2f %7.3f %7.3f %6.0f %6.2f %7s '
              '%8.0f %8.0f %8.2f%s'
              % (r['cells'], r['threads'], r['instances'], r['build_s'],
                 r['start_s'], r['propagate_s'], r['status_s'],
                 r['status_cpu_s'], r['status_messages'],
                 1000.0 * r['status_s'] / max(1, r['status_messages']),
                 '%d/%d' % (r['status_cells'], r['cells']), r['rss_end_mb'],
                 r['rss_import_mb'], r['rss_delta_mb'] / r['cells'],
                 '' if r['propagated'] else '  (capacities INCOMPLETE)'),
              file=out)
    good = [r for r in results if 'error' not in r]
    print('\ngrowth (target: <= linear, ratio <= the cell factor):', file=out)
    for label, key in (('capacities to the top', 'propagate_s'),
                       ('broadcast query', 'status_s'),
                       ('  its CPU time', 'status_cpu_s'),
                       ('  its messages', 'status_messages'),
                       ('RSS above the imports', 'rss_delta_mb'),
                       ('build (setup)', 'build_s')):
        print('  %-24s %s' % (label, _ratio(good, key)), file=out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='sizes 3 and 7, 10 instances per cell')
    parser.add_argument('--sizes', default=None,
                        help='comma-separated cell counts')
    parser.add_argument('--per-cell', type=int, default=None,
                        help='instances per cell (default 100)')
    parser.add_argument('--fake', choices=('notify', 'stock'),
                        default='notify',
                        help='fake:// listeners: woken on delivery '
                        '(default) or the stock 50 ms polling')
    parser.add_argument('--backend', choices=('threading', 'eventlet'),
                        default='eventlet',
                        help='concurrency backend of the cells (as '
                        'NOVA_CELLS_BACKEND for a daemon)')
    parser.add_argument('--profile', action='store_true',
                        help='profile one more broadcast query at each '
                        'size (yappi, CPU time of all threads)')
    parser.add_argument('--one', type=int, default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    per_cell = args.per_cell if args.per_cell is not None else (
        10 if args.quick else INSTANCES_PER_CELL)
    if args.one is not None:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(run_one(args.one, per_cell, tmp,
                                     args.fake, args.profile,
                                     args.backend)))
        return 0
    sizes = [int(s) for s in args.sizes.split(',')] if args.sizes else (
        [3, 7] if args.quick else list(SIZES))
    print('load average (1/5/15 min): %s; fake:// listeners: %s' % (
        load(), args.fake))
    results = []
    for cells in sizes:
        results.append(_child(cells, per_cell, max(120, cells // 2),
                              args.fake, args.profile, args.backend))
        print('  %d cells done (load %s)' % (cells, load()), flush=True)
    report(results)
    for result in results:
        if result.get('profile'):
            print('\nWhere the CPU goes in one broadcast query, %d cells '
                  '(yappi, all threads, own time):\n%s' % (
                      result['cells'], result['profile']))
    print('load average after: %s' % load())
    return 1 if any('error' in r for r in results) else 0


if __name__ == '__main__':
    raise SystemExit(main())
