"""Helpers shared by the benches in ``tools/bench/``.

Timing and percentiles, a plain-text table, a load note (the build
machine is often busy), RabbitMQ vhosts (through
:class:`nova_cells.testing.vhosts.Vhosts`: ``rabbitmqctl``, else the
management API) and helper processes that cannot outlive the bench
(:mod:`nova_cells.testing.daemons`).
"""

import argparse
import importlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

__all__ = ['percentile', 'Latencies', 'Window', 'print_table', 'load_note',
           'RabbitVhosts', 'Spawned', 'BaselineTree', 'add_beside_arguments',
           'measure_beside', 'print_beside', 'cpu_us_per_call']


def wire_sample(key):
    """A message of the original captured on the wire
    (``tests/reference/wire_samples.json``, keyed as there), parsed."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), 'tests', 'reference',
        'wire_samples.json')
    with open(path) as handle:
        sample = json.load(handle)['samples'][key]
    return sample.get('message') or sample['oslo_message']


def percentile(samples, fraction):
    """Nearest-rank percentile of ``samples`` (``fraction`` in 0..1)."""
    if not samples:
        return float('nan')
    ordered = sorted(samples)
    rank = max(1, int(math.ceil(fraction * len(ordered))))
    return ordered[min(rank, len(ordered)) - 1]


class Latencies(object):
    """Seconds per request, and the span from the first start to the
    last end: requests per second over the whole run."""

    def __init__(self):
        self.samples = []
        self.first = None
        self.last = None
        self._lock = threading.Lock()

    def add(self, start, end):
        with self._lock:
            self.samples.append(end - start)
            self.first = start if self.first is None else min(self.first,
                                                              start)
            self.last = end if self.last is None else max(self.last, end)

    def __len__(self):
        return len(self.samples)

    def rate(self):
        if not self.samples or self.last <= self.first:
            return 0.0
        return len(self.samples) / (self.last - self.first)

    def p_ms(self, fraction):
        return percentile(self.samples, fraction) * 1000.0


class Window(object):
    """At most ``size`` requests in flight; ``done()`` frees a slot and
    ``wait_all`` waits until every started request is done."""

    def __init__(self, size):
        self._slots = threading.Semaphore(size)
        self._cond = threading.Condition()
        self.started = self.finished = 0

    def acquire(self, timeout):
        if not self._slots.acquire(timeout=timeout):
            raise TimeoutError('no request finished in %.0f s' % timeout)
        with self._cond:
            self.started += 1

    def done(self):
        with self._cond:
            self.finished += 1
            self._cond.notify_all()
        self._slots.release()

    def wait_all(self, timeout):
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.finished < self.started:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True


def print_table(header, rows, out=None):
    """``header``: ``[(title, width)]`` (the first left-aligned, others
    right-aligned); ``rows``: lists of already formatted cells."""
    out = out or sys.stdout
    widths = [w for _t, w in header]

    def line(cells):
        parts = []
        for index, (cell, width) in enumerate(zip(cells, widths)):
            parts.append(('%-*s' if index == 0 else '%*s') % (width, cell))
        return ' '.join(parts).rstrip()
    out.write(line([t for t, _w in header]) + '\n')
    for row in rows:
        out.write(line(list(row) + [''] * (len(widths) - len(row))) + '\n')
    out.flush()


def load_note():
    """``load average 1/5/15 min on N cores`` (the figures depend on it)."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return 'load average unknown'
    return 'load average %.2f %.2f %.2f on %d cores' % (
        one, five, fifteen, os.cpu_count() or 0)


class RabbitVhosts(object):
    """Make vhosts on the broker of ``broker_url`` and delete them all at
    the end (the demo's tool: rabbitmqctl or the management API)."""

    def __init__(self, broker_url):
        from nova_cells.testing import vhosts
        self._with_vhost = vhosts.with_vhost
        self.broker_url = broker_url
        self.vhosts = vhosts.Vhosts(broker_url)

    def create(self, names):
        self.vhosts.create(list(names))
        return [self.url_of(n) for n in names]

    def url_of(self, name):
        return self._with_vhost(self.broker_url, name)

    def delete_all(self):
        return self.vhosts.delete_all()


class Spawned(object):
    """Child processes, each in its own session, SIGTERMed then SIGKILLed
    (the whole group) by :meth:`stop_all`; also a context manager."""

    def __init__(self):
        self.procs = []

    def start(self, argv, log_path=None, env=None):
        """Start ``argv``, its output appended to ``log_path``; its
        Popen."""
        from nova_cells.testing import daemons
        process = daemons.Process(argv, stdout_path=log_path,
                                  env=env or dict(os.environ)).start()
        self.procs.append(process)
        return process.proc

    def stop_all(self, timeout=5.0):
        from nova_cells.testing import daemons
        procs, self.procs = self.procs, []
        daemons.stop_all(procs, timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop_all()


def _proc_stat(pid):
    """(parent pid, CPU seconds used) of a live process, from /proc."""
    with open('/proc/%d/stat' % pid) as stream:
        text = stream.read()
    # The command name (field 2) may hold spaces: split after its ')'.
    fields = text[text.rindex(')') + 2:].split()
    ticks = os.sysconf('SC_CLK_TCK')
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks


def cpu_used_between(before, after):
    """CPU seconds used between two :func:`process_tree_cpu` readings,
    process by process: a process that ended meanwhile is left out (its
    time moved to its parent's count of dead children, which the total
    would otherwise lose: RabbitMQ's short-lived helpers made it
    negative), one that started is counted from zero."""
    return sum(max(cpu - before.get(pid, 0.0), 0.0)
               for pid, cpu in after.items())


def process_tree_cpu(pids):
    """``{pid: CPU seconds (user + system) used so far}`` of ``pids`` and
    all their live descendants (a daemon's workers), or None without
    /proc."""
    if not os.path.isdir('/proc'):
        return None
    stats = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                stats[int(entry)] = _proc_stat(int(entry))
            except (OSError, ValueError, IndexError):
                continue            # gone meanwhile, or not a process
    children = {}
    for pid, (parent, _cpu) in stats.items():
        children.setdefault(parent, []).append(pid)
    used, todo = {}, list(pids)
    while todo:
        pid = todo.pop()
        if pid in used or pid not in stats:
            continue
        used[pid] = stats[pid][1]
        todo.extend(children.get(pid, ()))
    return used


def _pids_whose_cmdline(matches):
    """The pids of the processes visible in /proc whose command line
    (bytes, NUL-separated) ``matches``."""
    pids = []
    if not os.path.isdir('/proc'):
        return pids
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as stream:
                cmdline = stream.read()
        except OSError:
            continue
        if matches(cmdline):
            pids.append(int(entry))
    return pids


def broker_pids():
    """The pids of a RabbitMQ server running on this machine (its Erlang
    VM, ``beam.smp``), if any is visible in /proc."""
    return _pids_whose_cmdline(
        lambda cmdline: b'beam.smp' in cmdline and b'rabbit' in cmdline)


def database_server_pids():
    """The pids of the SQL servers running on this machine: PostgreSQL's
    postmaster (its backends, one per connection, are its children) and
    MariaDB/MySQL, if any is visible in /proc."""
    # A backend's command line is its title ("postgres: 15/main: ..."),
    # not a program path: only the postmaster matches.
    return _pids_whose_cmdline(
        lambda cmdline: os.path.basename(cmdline.split(b'\0', 1)[0]) in (
            b'postgres', b'mariadbd', b'mysqld'))


class CPUMeter(object):
    """CPU seconds used by some processes (and their descendants) between
    :meth:`start` and :meth:`stop`: what a row cost the machine beside
    what it achieved.  Beside them, in ``beside[name]``: what the local
    RabbitMQ server, this process (the bench's clients and sinks) and the
    local SQL servers used meanwhile, the rest of a row's cost on a
    machine it saturates."""

    def __init__(self):
        self.used = {}
        self.beside = {}
        self._started = {}
        self._brokers = broker_pids()
        self._databases = database_server_pids()

    def _beside_now(self):
        return (process_tree_cpu(self._brokers) or {}, time.process_time(),
                process_tree_cpu(self._databases) or {})

    def start(self, name, pids):
        self._started[name] = (list(pids), process_tree_cpu(pids),
                               self._beside_now())

    def stop(self, name):
        pids, before, beside = self._started.pop(name)
        after = process_tree_cpu(pids)
        now = self._beside_now()
        if before is not None and after is not None:
            self.used[name] = cpu_used_between(before, after)
            self.beside[name] = (cpu_used_between(beside[0], now[0]),
                                 now[1] - beside[1],
                                 cpu_used_between(beside[2], now[2]))


def install_fast_green_current_thread():
    """Make eventlet's ``threading.current_thread()`` O(1) in a green
    thread it has not seen yet.

    eventlet answers it by scanning ``threading.enumerate()`` for a thread
    whose ident is the green thread's, and oslo.messaging's RPC dispatcher
    builds a ``threading.Thread`` (its call watchdog) for every message it
    dispatches, in a fresh pool green thread each time; so every message
    costs one pass over every thread of the process.  A daemon has a few
    dozen; 1,000 cells in one process have 4,000, which made the broadcast
    query quadratic in cells (yappi: 11 million ``Thread.ident`` calls in
    one query at 1,000 cells).  The lookup below gives the same answer
    from the dict ``enumerate()`` is made from.
    """
    import greenlet
    import threading as patched_threading

    from eventlet.green import threading as green_threading

    def matching_thread():
        ident = id(greenlet.getcurrent())
        thread = patched_threading._active.get(ident)
        return [thread] if thread is not None else []

    green_threading.__dict__['__patched_enumerate'] = matching_thread


# The modules a bench measured beside an older commit imports, and where
# they were before the modules moved into packages (commit 2fbe6d1).
MOVED_FROM = {
    'nova_cells.testing.inprocess': 'nova_cells.inprocess',
    'nova_cells.top.instances': 'nova_cells.instances',
    'nova_cells.top.topsync': 'nova_cells.topsync',
    'nova_cells.top.topwriter': 'nova_cells.topwriter',
    'nova_cells.handoff.new_instance': 'nova_cells.local.new_instance',
}


def project_module(name):
    """The module ``name``, or, in a baseline tree from before the
    package moves, the one it was (:data:`MOVED_FROM`).  The old name is
    tried first: in an old tree, the installed (current) tree would
    otherwise supply the new name's module, and mix the two trees."""
    old = MOVED_FROM.get(name)
    if old is not None:
        try:
            return importlib.import_module(old)
        except ImportError:
            pass
    return importlib.import_module(name)


class BaselineTree(object):
    """An older commit of this repository, checked out in a temporary git
    worktree, to measure beside the working tree in the same invocation.

    :meth:`run_json` runs a bench script (the current one: same rows) in a
    child process with the old tree first on ``PYTHONPATH``, with
    ``--json``; the script prints its rows as JSON on its last line.  In
    a commit from before the modules moved into packages, the script finds
    them under their old names (:func:`project_module`).
    """

    REPO = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))

    def __init__(self, rev):
        self.rev = rev
        self.path = None

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix='bench-baseline-')
        added = subprocess.run(['git', '-C', self.REPO, 'worktree', 'add',
                                '--detach', self.path, self.rev],
                               capture_output=True, text=True)
        if added.returncode != 0:
            shutil.rmtree(self.path, ignore_errors=True)
            raise SystemExit('cannot check out the baseline %r: %s'
                             % (self.rev, added.stderr.strip()))
        # Its own package metadata, first on the path: its plug-ins' entry
        # points, not the installed tree's (modules have moved since).
        subprocess.run([sys.executable, '-c', 'import setuptools; '
                        'setuptools.setup()', '-q', 'egg_info'],
                       cwd=self.path, capture_output=True)
        return self

    def __exit__(self, *exc):
        subprocess.run(['git', '-C', self.REPO, 'worktree', 'remove',
                        '--force', self.path], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def run_json(self, script, args):
        env = dict(os.environ, PYTHONPATH=self.path, PYTHONWARNINGS='ignore')
        done = subprocess.run(
            [sys.executable, os.path.abspath(script)] + list(args) +
            ['--json'], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit('the baseline %s failed: %s' % (
                self.rev, done.stderr.strip()[-2000:]))
        return [tuple(row) for row in json.loads(done.stdout.splitlines()[-1])]


def _best(runs):
    """Per row, the lowest CPU of the rounds (the least disturbed)."""
    return [(name, min(run[index][1] for run in runs))
            for index, (name, _cpu) in enumerate(runs[0])]


def add_beside_arguments(parser, rounds):
    """``--rounds``, ``--baseline REV``, ``--quick`` and the child's
    ``--json``: the options of a bench measured beside an older commit."""
    parser.add_argument('--rounds', type=int, default=rounds)
    parser.add_argument('--baseline', metavar='REV',
                        help='git revision measured beside this tree')
    parser.add_argument('--quick', action='store_true',
                        help='a few calls, one round (smoke test)')
    parser.add_argument('--json', action='store_true', help=argparse.SUPPRESS)


def cpu_us_per_call(call, calls, warmup=100):
    """This process's CPU microseconds per ``call()``, after a warm-up."""
    for _warm in range(min(warmup, calls)):
        call()
    start = time.process_time()
    for _index in range(calls):
        call()
    return 1e6 * (time.process_time() - start) / calls


def measure_beside(baseline_rev, rounds, measure, script, child_args):
    """``(ours, theirs)``: per row ``(name, CPU us)``, the best of
    ``rounds`` runs of ``measure()`` in this tree and, with
    ``baseline_rev``, of ``script child_args --json`` run from that
    commit's worktree, the two taking turns (theirs is None without)."""
    ours, theirs = [], []
    if baseline_rev:
        with BaselineTree(baseline_rev) as tree:
            for _round in range(rounds):
                theirs.append(tree.run_json(script, child_args))
                ours.append(measure())
    else:
        ours = [measure() for _round in range(rounds)]
    return _best(ours), (_best(theirs) if theirs else None)


def print_beside(title, ours, theirs, rev, digits=0, out=None):
    """The rows of :func:`measure_beside`: CPU us per row, and beside it
    the baseline's and the speed-up when there is one."""
    rows = []
    before_of = dict(theirs or ())
    for name, cpu in ours:
        row = [name, '%.*f' % (digits, cpu)]
        if theirs:
            before = before_of.get(name)
            row += (['%.*f' % (digits, before), '%.2fx' % (before / cpu)]
                    if before is not None else ['-', '-'])
        rows.append(row)
    header = [(title, 34), ('us CPU', 8)]
    if theirs:
        header += [(rev[:10], 11), ('speed-up', 9)]
    print_table(header, rows, out)
