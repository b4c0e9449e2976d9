#!/usr/bin/env python3
"""Benchmark: instance updates absorbed by the top cell (issue 7, ``sync``).

(a) In process: the code path of the top's ``instance_update_at_top``
    handler (``nova_cells.top.instances.update_at_top`` on the top's
    ``Database``) on a throw-away PostgreSQL database, from K threads, N
    updates over M instances.  Baseline, same run, same threads: the same
    updates applied one per transaction in nova's code shape, a plain
    read-modify-write of the row (what nova's ``instance_update`` did).
(b) End to end: an in-process tree api -> child -> gc on ``fake://`` with
    the api cell on PostgreSQL; the grandchild sends
    ``instance_update_at_top`` (``nova_cells.top.topsync``) for many instances,
    flat out and then paced; measured: updates/s applied at the top and the
    lag from the send to the top's row holding the new value.

Target: >= 2,000 updates/s with a bounded lag.  Then cProfile of (a).

    python tools/bench/sync.py [--quick] [--pg-url URL]
"""

import argparse
import cProfile
import io
import os
import sys
import pstats
import tempfile
import threading
import time
import uuid

import nova_cells  # noqa: F401 - threading backend before oslo imports

from oslo_utils import timeutils
import sqlalchemy as sa

from nova_cells import context as cells_context
from nova_cells.db import api as db_api
from nova_cells.db import migration
from nova_cells.db import models
from nova_cells.objects import instance as instance_obj

# tools/ is not a package: _common is found next to this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

inprocess = _common.project_module('nova_cells.testing.inprocess')
instances = _common.project_module('nova_cells.top.instances')
topsync = _common.project_module('nova_cells.top.topsync')
topwriter = _common.project_module('nova_cells.top.topwriter')

PG_ADMIN_URL = 'postgresql+psycopg2://postgres@127.0.0.1:5432/postgres'
TARGET_RATE = 2000.0
CELL = 'api!child!gc'


# -- a throw-away PostgreSQL database -----------------------------------------


class ThrowawayPG(object):
    """CREATE DATABASE on enter, DROP DATABASE (forced) on exit."""

    def __init__(self, admin_url=PG_ADMIN_URL):
        self.admin_url = admin_url
        self.name = 'nc_bench_%s' % uuid.uuid4().hex[:10]
        base = sa.engine.make_url(admin_url)
        self.url = base.set(database=self.name).render_as_string(
            hide_password=False)

    def _admin(self, statement):
        engine = sa.create_engine(self.admin_url,
                                  isolation_level='AUTOCOMMIT',
                                  poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(statement))
        finally:
            engine.dispose()

    def __enter__(self):
        self._admin('CREATE DATABASE %s' % self.name)
        return self

    def __exit__(self, *exc):
        self._admin('DROP DATABASE IF EXISTS %s WITH (FORCE)' % self.name)


def seed_instances(db, count):
    """``count`` live instance rows; returns their uuids."""
    uuids = [str(uuid.uuid4()) for _ in range(count)]
    with db.writer() as session:
        session.add_all([models.Instance(
            uuid=u, display_name='seed', project_id='bench',
            user_id='bench', vm_state='active', task_state=None,
            cell_name=CELL, memory_mb=512, vcpus=1, root_gb=1,
            ephemeral_gb=0, deleted=0) for u in uuids])
    return uuids


def update_object(instance_uuid, value):
    """What a leaf sends: an Instance whose changed fields are these."""
    return instance_obj.Instance(uuid=instance_uuid, vm_state='active',
                                 task_state=None, display_name=value,
                                 power_state=1)


def ours_apply(db, instance_uuid, value):
    """One transaction per update (heal's and sync's path)."""
    instances.update_at_top(db, update_object(instance_uuid, value), CELL)


_WRITERS = {}


def ours_grouped(db, instance_uuid, value):
    """The handler's path: TopWriter's group commit."""
    writer = _WRITERS.get(id(db))
    if writer is None:
        writer = _WRITERS[id(db)] = topwriter.TopWriter(db)
    writer.update_at_top(update_object(instance_uuid, value), CELL)


def nova_apply(db, instance_uuid, value):
    """nova's shape: read the row, set the fields, write, one transaction."""
    with db.writer() as session:
        row = session.execute(sa.select(models.Instance).where(
            models.Instance.uuid == instance_uuid,
            models.Instance.deleted == 0)).scalars().first()
        row.vm_state = 'active'
        row.task_state = None
        row.display_name = value
        row.power_state = 1
        row.cell_name = CELL
        row.updated_at = timeutils.utcnow()


def raw_apply(db, instance_uuid, value):
    """The server's floor: one UPDATE statement and its commit."""
    with db.engine.begin() as conn:
        conn.execute(_RAW_UPDATE, {'uuid': instance_uuid, 'value': value,
                                   'cell': CELL,
                                   'now': timeutils.utcnow()})


_RAW_UPDATE = sa.text(
    'UPDATE instances SET vm_state = \'active\', task_state = NULL, '
    'display_name = :value, power_state = 1, cell_name = :cell, '
    'updated_at = :now WHERE uuid = :uuid AND deleted = 0')


def batched_rate(db, uuids, total, threads, batch=50):
    """What-if: ``batch`` updates per transaction (one UPDATE each)."""
    pending = {}
    batch = max(1, min(batch, total // threads))

    def apply(db, instance_uuid, value):
        key = threading.get_ident()
        items = pending.setdefault(key, [])
        items.append({'uuid': instance_uuid, 'value': value, 'cell': CELL,
                      'now': timeutils.utcnow()})
        if len(items) >= batch:
            # In uuid order, or concurrent batches deadlock.
            with db.engine.begin() as conn:
                conn.execute(_RAW_UPDATE,
                             sorted(items, key=lambda i: i['uuid']))
            del items[:]

    return run_threads(apply, db, uuids, total, threads)


def run_threads(func, db, uuids, total, threads):
    """``total`` calls of ``func`` spread over ``threads``; updates/s."""
    per_thread = total // threads
    errors = []

    def work(index):
        try:
            for n in range(per_thread):
                func(db, uuids[(index + n * threads) % len(uuids)],
                     'v%d-%d' % (index, n))
        except Exception as exc:  # noqa - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(i,))
               for i in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    took = time.perf_counter() - start
    if errors:
        raise errors[0]
    return per_thread * threads / took


def profile_ours(db, uuids, count, top=14):
    profiler = cProfile.Profile()
    profiler.enable()
    for n in range(count):
        ours_apply(db, uuids[n % len(uuids)], 'p%d' % n)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats('tottime').print_stats(top)
    return out.getvalue()


# -- end to end ---------------------------------------------------------------


class PGTopCellTree(inprocess.CellTree):
    """A CellTree whose API cell keeps its database on ``top_url``."""

    def __init__(self, layout, base_dir, top_url, **kwargs):
        super(PGTopCellTree, self).__init__(layout, base_dir, **kwargs)
        self.top_url = top_url

    def _conf(self, name, is_api):
        conf = super(PGTopCellTree, self)._conf(name, is_api)
        if is_api:
            conf.set_override('connection', self.top_url, 'database')
        return conf


class Applied(object):
    """Wraps the top handler's ``TopWriter.update_at_top`` to note when
    each value landed (committed)."""

    def __init__(self):
        self.times = {}
        self._real = topwriter.TopWriter.update_at_top

    def __enter__(self):
        real, times = self._real, self.times

        def update_at_top(writer, instance, cell_name, *scope):
            # ``scope``: the received message's (since the delivery state
            # left the thread-local); absent in older commits.
            result = real(writer, instance, cell_name, *scope)
            times[instance.display_name] = time.perf_counter()
            return result

        topwriter.TopWriter.update_at_top = update_at_top
        return self

    def __exit__(self, *exc):
        topwriter.TopWriter.update_at_top = self._real


def end_to_end(tree, uuids, total, senders, rate=None, timeout=120.0):
    """Send ``total`` updates from gc; returns (updates/s, lags ms, lost,
    stale) where ``stale`` counts instances whose top row does not hold the
    last value sent for them."""
    gc = tree.cells['gc']
    ctxt = cells_context.get_admin_context()
    sent = {}
    last = {}
    lock = threading.Lock()
    per_sender = total // senders
    interval = senders / rate if rate else 0.0

    def send(index):
        next_at = time.perf_counter()
        for n in range(per_sender):
            if interval:
                next_at += interval
                delay = next_at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            instance_uuid = uuids[(index + n * senders) % len(uuids)]
            value = 'e%d-%d-%s' % (index, n, uuid.uuid4().hex[:6])
            with lock:
                sent[value] = time.perf_counter()
                last[instance_uuid] = value
            topsync.instance_update_at_top(
                gc.runner, ctxt, update_object(instance_uuid, value))

    with Applied() as applied:
        threads = [threading.Thread(target=send, args=(i,))
                   for i in range(senders)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        deadline = time.monotonic() + timeout
        while len(applied.times) < len(sent) and \
                time.monotonic() < deadline:
            time.sleep(0.02)
        times = dict(applied.times)
    done = [times[v] for v in sent if v in times]
    end = max(done) if done else time.perf_counter()
    lags = sorted((times[v] - t) * 1000.0 for v, t in sent.items()
                  if v in times)
    rows = {row['uuid']: row['display_name'] for row in
            _top_rows(tree.cells['api'].db)}
    stale = sum(1 for u, v in last.items() if rows.get(u) != v)
    return len(done) / (end - start), lags, len(sent) - len(done), stale


def profile_e2e(tree, uuids, total, top=25):
    import yappi

    yappi.set_clock_type('cpu')
    yappi.start(builtins=True)
    try:
        end_to_end(tree, uuids, total, 4)
    finally:
        yappi.stop()
    stats = yappi.get_func_stats()
    stats.sort('tsub', 'desc')
    total_cpu = sum(s.tsub for s in stats) or 1.0
    lines = ['  %6s %8s  %s' % ('own %', 'calls', 'function')]
    for stat in list(stats)[:top]:
        lines.append('  %5.1f%% %8d  %s %s:%d' % (
            100.0 * stat.tsub / total_cpu, stat.ncall, stat.name,
            os.path.basename(stat.module), stat.lineno))
    yappi.clear_stats()
    return '\n'.join(lines)


def _top_rows(db):
    with db.reader() as session:
        return [{'uuid': u, 'display_name': d} for u, d in session.execute(
            sa.select(models.Instance.uuid, models.Instance.display_name))]


def pct(values, fraction):
    if not values:
        return float('nan')
    return values[min(len(values) - 1, int(len(values) * fraction))]


def load():
    try:
        return '%.2f %.2f %.2f' % os.getloadavg()
    except OSError:
        return '?'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='tiny sizes (a smoke test, not a figure)')
    parser.add_argument('--pg-url', default=PG_ADMIN_URL,
                        help='admin URL of the PostgreSQL server')
    parser.add_argument('--threads', type=int, default=8)
    parser.add_argument('--updates', type=int, default=None)
    parser.add_argument('--instances', type=int, default=None)
    parser.add_argument('--no-durable', action='store_true',
                        help='(b) with [cells] durable_forwarding = false '
                        '(nova\'s cast and forget)')
    parser.add_argument('--profile-e2e', action='store_true',
                        help='also profile (b) flat out with yappi (CPU '
                        'time, all threads; slows it down)')
    args = parser.parse_args(argv)
    total = args.updates or (200 if args.quick else 12000)
    count = args.instances or (50 if args.quick else 1000)
    e2e_total = 100 if args.quick else 6000
    print('load average (1/5/15 min): %s' % load())

    print('\n(a) top absorption in process, PostgreSQL, %d threads, '
          '%d updates over %d instances' % (args.threads, total, count))
    with ThrowawayPG(args.pg_url) as pg:
        db = db_api.Database(pg.url)
        migration.db_sync(db)
        uuids = seed_instances(db, count)
        ours_apply(db, uuids[0], 'warm')
        nova_apply(db, uuids[0], 'warm')
        rates = {}
        for name, func in (('ours (group commit, TopWriter)', ours_grouped),
                           ('ours, 1 transaction per update', ours_apply),
                           ('baseline (nova read-modify-write)',
                            nova_apply),
                           ('floor: 1 raw UPDATE per commit', raw_apply)):
            samples = [run_threads(func, db, uuids, total, args.threads)
                       for _ in range(1 if args.quick else 2)]
            rates[name] = max(samples)
        # The top's intercell servers run up to executor_thread_pool_size
        # (oslo.messaging's default 64) handlers at once: that many
        # callers can share one TopWriter transaction.
        handlers = 64
        pooled = 'ours (group commit), %d handlers' % handlers
        rates[pooled] = max(
            run_threads(ours_grouped, db, uuids, total, handlers)
            for _ in range(1 if args.quick else 2))
        for name, rate in rates.items():
            print('  %-36s %8.0f updates/s' % (name, rate))
        ours_rate = rates[pooled]
        single = run_threads(ours_apply, db, uuids, total // 4 or 1, 1)
        print('  %-36s %8.0f updates/s' % ('ours, 1 thread', single))
        print('  %-36s %8.0f updates/s' % (
            'what-if: 50 raw UPDATEs per commit',
            batched_rate(db, uuids, total, args.threads)))
        profile = profile_ours(db, uuids, 100 if args.quick else 2000)
        db.dispose()

    print('\n(b) end to end api -> child -> gc on fake://, api on '
          'PostgreSQL, %d updates over %d instances, durable forwarding '
          '%s' % (e2e_total, count, 'off' if args.no_durable else 'on'))
    with ThrowawayPG(args.pg_url) as pg, \
            tempfile.TemporaryDirectory() as tmp:
        tree = PGTopCellTree({'api': {'child': {'gc': {}}}}, tmp, pg.url,
                             overrides={'call_timeout': 10,
                                        'durable_forwarding':
                                        not args.no_durable})
        tree.build()
        uuids = seed_instances(tree.cells['api'].db, count)
        tree.start()
        try:
            end_to_end(tree, uuids, 20, 2)
            print('  %-22s %10s %8s %8s %8s %6s %6s' % (
                'load', 'updates/s', 'p50 ms', 'p99 ms', 'max ms', 'lost',
                'stale'))
            flood = None
            for label, rate in (('flat out', None), ('paced', 'half')):
                if rate == 'half':
                    rate = max(50.0, flood / 2.0)
                    label = 'paced %.0f/s' % rate
                got, lags, lost, stale = end_to_end(
                    tree, uuids, e2e_total, 4, rate=rate)
                flood = flood or got
                print('  %-22s %10.0f %8.1f %8.1f %8.1f %6d %6d' % (
                    label, got, pct(lags, 0.5), pct(lags, 0.99),
                    lags[-1] if lags else float('nan'), lost, stale))
            if args.profile_e2e:
                e2e_profile = profile_e2e(tree, uuids, e2e_total // 2)
        finally:
            tree.close()

    print('\ntarget >= %.0f updates/s at the top: in process %s '
          '(%.0f/s), end to end %s (%.0f/s)' % (
              TARGET_RATE, 'met' if ours_rate >= TARGET_RATE else 'NOT met',
              ours_rate, 'met' if flood >= TARGET_RATE else 'NOT met',
              flood))
    print('load average after: %s' % load())
    print('\nWhere the time goes, (a) ours, one thread (cProfile, '
          'tottime):')
    print('\n'.join(line for line in profile.splitlines()[:40]
                    if line.strip()))
    if args.profile_e2e:
        print('\nWhere the CPU goes, (b) flat out, all threads (yappi, '
              'own time):')
        print(e2e_profile)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
