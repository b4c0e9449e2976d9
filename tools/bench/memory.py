#!/usr/bin/env python3
"""Benchmark: memory of an idle ``nova-cells`` daemon (issue 7, ``memory``).

Starts the real daemon (``nova-cells --config-file <conf>``, threading
backend) on a SQLite database made by ``nova-cells-manage db sync`` and its
own RabbitMQ vhost, waits until it has reported its heartbeat and settled,
then reads the RSS of the launcher (master process) and of the worker, and
the worker's PSS (``/proc/<pid>/smaps_rollup``).  Twice: with no
neighbours, and with 1,000 children in its ``cells`` table whose transport
URLs name vhosts that do not exist (transports are made lazily, per
neighbour URL, when a message is first sent to it).

Baseline, same run: a bare ``python -c "import oslo_messaging,
sqlalchemy"`` process.  Target: idle RSS <= 80 MB.  Processes and the vhost
are always cleaned up.

    python tools/bench/memory.py [--quick] [--settle SECONDS]
"""

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid

from nova_cells.testing import daemons

TARGET_MB = 80.0
BIN_DIR = os.path.dirname(sys.executable)
NOVA_CELLS_MANAGE = os.path.join(BIN_DIR, 'nova-cells-manage')
RABBIT = 'rabbit://guest:guest@127.0.0.1:5672/%s'
BASELINE_CODE = ('import oslo_messaging, sqlalchemy, sys, time; '
                 'print("ready", flush=True); time.sleep(600)')


# -- /proc --------------------------------------------------------------------


def proc_kb(pid, field, name='status'):
    """``field`` (e.g. ``VmRSS``, ``Pss``) of /proc/<pid>/<name>, in kB."""
    try:
        with open('/proc/%d/%s' % (pid, name)) as source:
            for line in source:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def children(pid):
    """Direct children of ``pid`` (from /proc/<pid>/task/*/children)."""
    found = []
    try:
        tasks = os.listdir('/proc/%d/task' % pid)
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            with open('/proc/%d/task/%s/children' % (pid, task)) as source:
                found.extend(int(p) for p in source.read().split())
        except FileNotFoundError:
            continue
    return found


def threads_of(pid):
    try:
        return len(os.listdir('/proc/%d/task' % pid))
    except FileNotFoundError:
        return None


def mb(kb):
    return float('nan') if kb is None else kb / 1024.0


# -- a vhost and a daemon -----------------------------------------------------


def rabbitmqctl(*args):
    return subprocess.run(('rabbitmqctl',) + args, capture_output=True,
                          text=True, timeout=120)


class Vhost(object):
    def __init__(self):
        self.name = 'nc-bench-mem-%s' % uuid.uuid4().hex[:10]

    def __enter__(self):
        for args in (('add_vhost', self.name),
                     ('set_permissions', '-p', self.name, 'guest', '.*',
                      '.*', '.*')):
            result = rabbitmqctl(*args)
            if result.returncode:
                self.__exit__()
                raise RuntimeError('rabbitmqctl %s: %s' % (
                    args[0], result.stdout + result.stderr))
        return self

    def __exit__(self, *exc):
        rabbitmqctl('delete_vhost', self.name)


def write_conf(directory, url, name='membench', cell_type='compute'):
    path = os.path.join(directory, 'cells.conf')
    connection = 'sqlite:///%s' % os.path.join(directory, 'cell.sqlite')
    with open(path, 'w') as conf:
        conf.write('[DEFAULT]\ntransport_url = %s\nhost = %s\n'
                   'state_path = %s\nreport_interval = 1\n'
                   'periodic_fuzzy_delay = 0\n\n'
                   '[cells]\nname = %s\ncell_type = %s\n\n'
                   '[database]\nconnection = %s\n' % (
                       url, 'membench-%s' % uuid.uuid4().hex[:6], directory,
                       name, cell_type, connection))
    return path, connection


def add_neighbours(connection, count):
    """``count`` child rows with URLs to vhosts that do not exist (plain
    sqlite3: this process stays as light as the baseline)."""
    import sqlite3

    now = time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())
    rows = [(now, 0, 'nb%d' % index,
             RABBIT % ('nc-bench-absent-%d' % index), 0.0, 1.0, False)
            for index in range(count)]
    with sqlite3.connect(connection[len('sqlite:///'):]) as conn:
        conn.executemany(
            'INSERT INTO cells (created_at, deleted, name, transport_url, '
            'weight_offset, weight_scale, is_parent) '
            'VALUES (?, ?, ?, ?, ?, ?, ?)', rows)


def heartbeats(connection):
    import sqlite3

    path = connection[len('sqlite:///'):]
    try:
        with sqlite3.connect(path, timeout=5) as conn:
            row = conn.execute("SELECT max(report_count) FROM services "
                               "WHERE \"binary\" = 'nova-cells'").fetchone()
            return row[0] or 0
    except sqlite3.Error:
        return 0


class Daemon(daemons.Daemon):
    """The daemon measured, its output in ``daemon.log``; on exit its
    whole process group gets SIGTERM, and SIGKILL 10 s later."""

    def __init__(self, conf, directory):
        self.log_path = os.path.join(directory, 'daemon.log')
        super(Daemon, self).__init__(conf, directory, self.log_path)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        daemons.stop_all([self], timeout=10)

    def log_tail(self, lines=5):
        return super(Daemon, self).log_tail(lines)


def measure_daemon(neighbours, settle, timeout=60.0):
    """Start a daemon (with ``neighbours`` children), wait, measure."""
    with tempfile.TemporaryDirectory() as tmp, Vhost() as vhost:
        cell_type = 'api' if neighbours else 'compute'
        conf, connection = write_conf(tmp, RABBIT % vhost.name,
                                      cell_type=cell_type)
        sync = subprocess.run([NOVA_CELLS_MANAGE, '--config-file', conf,
                               'db', 'sync'], capture_output=True, text=True,
                              timeout=120)
        if sync.returncode:
            raise RuntimeError('db sync failed: %s' % sync.stderr)
        if neighbours:
            add_neighbours(connection, neighbours)
        with Daemon(conf, tmp) as daemon:
            started = time.monotonic()
            deadline = started + timeout
            while heartbeats(connection) < 1:
                if daemon.proc.poll() is not None or \
                        time.monotonic() > deadline:
                    raise RuntimeError('daemon not up (exit %s): %s' % (
                        daemon.proc.poll(), daemon.log_tail()))
                time.sleep(0.2)
            ready = time.monotonic() - started
            time.sleep(settle)
            launcher = daemon.proc.pid
            workers = children(launcher)
            worker = workers[0] if workers else None
            result = {
                'neighbours': neighbours, 'ready_s': ready,
                'launcher_rss': mb(proc_kb(launcher, 'VmRSS')),
                'worker_rss': mb(worker and proc_kb(worker, 'VmRSS')),
                'worker_pss': mb(worker and proc_kb(worker, 'Pss',
                                                    'smaps_rollup')),
                'launcher_pss': mb(proc_kb(launcher, 'Pss', 'smaps_rollup')),
                'worker_threads': worker and threads_of(worker),
                'workers': len(workers),
                'alive': daemon.proc.poll() is None,
            }
            with open(daemon.log_path, errors='replace') as log:
                text = log.read()
            result['log_errors'] = sum(1 for line in text.splitlines()
                                       if ' ERROR ' in line)
            warnings = [line.split(' WARNING ', 1)[1]
                        for line in text.splitlines() if ' WARNING ' in line]
            result['log_warnings'] = len(warnings)
            shapes = collections.Counter(
                re.sub(r'\d+', 'N', w)[:150] for w in warnings)
            result['top_warnings'] = shapes.most_common(2)
        return result


def measure_baseline(timeout=60.0):
    proc = subprocess.Popen([sys.executable, '-c', BASELINE_CODE],
                            stdout=subprocess.PIPE, text=True,
                            stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        proc.stdout.readline()
        return {'rss': mb(proc_kb(proc.pid, 'VmRSS')),
                'pss': mb(proc_kb(proc.pid, 'Pss', 'smaps_rollup'))}
    finally:
        proc.kill()
        proc.wait(timeout=timeout)


def load():
    try:
        return '%.2f %.2f %.2f' % os.getloadavg()
    except OSError:
        return '?'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='10 neighbours, 1 s settle (a smoke test)')
    parser.add_argument('--settle', type=float, default=None,
                        help='seconds to wait after the first heartbeat')
    parser.add_argument('--neighbours', type=int, default=None)
    args = parser.parse_args(argv)
    settle = args.settle if args.settle is not None else (
        1.0 if args.quick else 15.0)
    neighbours = args.neighbours or (10 if args.quick else 1000)
    print('load average (1/5/15 min): %s' % load())
    base = measure_baseline()
    rows = [measure_daemon(0, settle), measure_daemon(neighbours, settle)]
    print('\n%-34s %8s %8s %8s %8s %7s %7s' % (
        'process', 'RSS MB', 'PSS MB', 'threads', 'up s', 'errors',
        'warns'))
    print('%-34s %8.1f %8.1f %8s %8s %7s %7s' % (
        'baseline: import oslo_messaging,sa', base['rss'], base['pss'],
        '-', '-', '-', '-'))
    for row in rows:
        label = '%d neighbours' % row['neighbours']
        print('%-34s %8.1f %8.1f %8s %8.1f %7d %7d' % (
            'launcher, ' + label, row['launcher_rss'], row['launcher_pss'],
            '-', row['ready_s'], row['log_errors'], row['log_warnings']))
        print('%-34s %8.1f %8.1f %8s %8s %7s %7s' % (
            'worker, ' + label, row['worker_rss'], row['worker_pss'],
            row['worker_threads'], '', '', ''))
        for shape, count in row.get('top_warnings', []):
            print('    %dx WARNING %s' % (count, shape))
        if not row['alive'] or row['workers'] != 1:
            print('  !! daemon alive=%s, workers=%d' % (row['alive'],
                                                        row['workers']))
    print('\n' + verdict(rows, settle))
    print('load average after: %s' % load())
    return 0 if all(r['alive'] for r in rows) else 1


def _largest(row):
    return max(row['launcher_rss'], row['worker_rss'])


def verdict(rows, settle):
    """The target is the idle daemon's (no neighbours); a daemon with
    neighbours is reported beside it, with what each neighbour costs."""
    idle, loaded = rows[0], rows[-1]
    text = ('target: idle RSS <= %.0f MB: %s (largest idle process '
            '%.1f MB; settle %.0f s after the first heartbeat)' % (
                TARGET_MB, 'met' if _largest(idle) <= TARGET_MB
                else 'NOT met', _largest(idle), settle))
    extra = loaded['neighbours'] - idle['neighbours']
    if extra > 0:
        text += ('\nwith %d neighbours: largest process %.1f MB (%.0f KB '
                 'per neighbour above idle)' % (
                     loaded['neighbours'], _largest(loaded),
                     1024.0 * (_largest(loaded) - _largest(idle)) / extra))
    return text


if __name__ == '__main__':
    raise SystemExit(main())
