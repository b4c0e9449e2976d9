"""``nova-cells-demo``: a whole cell tree, in one process or one daemon per
cell on a real broker.

Without arguments everything runs in this process (fake:// transport,
SQLite files) and needs nothing installed.  ``--transport-url`` starts one
real ``nova-cells`` daemon per cell instead (see
:mod:`nova_cells.testing.demo_processes`), and removes every daemon, vhost and
database again however the demo ends.
"""

import argparse
import faulthandler
import logging
import signal
import sys
import tempfile
import time

from nova_cells.demo import core as demo
from nova_cells.testing import demo_processes
from nova_cells.demo import topology as demo_topology
from nova_cells import version

# Exit statuses besides 0 (all placed) and 1 (not all placed in time).
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog='nova-cells-demo',
        description='Build instances through a tree of cells: in one '
                    'process (fake:// transport, SQLite databases; the '
                    'default), or one nova-cells daemon per cell on a real '
                    'broker (--transport-url).')
    parser.add_argument('--instances', '-n', type=int, default=None,
                        help='how many instances to build (default: the '
                             'topology file\'s "instances", else 100)')
    parser.add_argument('--format', choices=('text', 'json'),
                        default='text')
    parser.add_argument('--topology', metavar='FILE',
                        help='JSON file describing the tree (a "layout", or '
                             '"depth" and "fanout"; see etc/demo/)')
    parser.add_argument('--hosts-per-leaf', type=int, default=None)
    parser.add_argument('--seed', type=int, help='random seed (flavors)')
    parser.add_argument('--all-instances', action='store_true',
                        help='list every instance (text output), not only '
                             'the first %d' % demo.LISTED_INSTANCES)
    parser.add_argument('--progress', action='store_true',
                        help='show progress bars on stderr even when it is '
                             'not a terminal')
    parser.add_argument('--timeout', type=float, default=None,
                        help='seconds to wait for the builds to settle '
                             '(default: from the size of the run)')
    parser.add_argument('--transport-url', metavar='URL',
                        help='run one nova-cells daemon per cell on this '
                             'broker (rabbit://user:pass@host:5672/), a '
                             'vhost per cell')
    parser.add_argument('--database-url', metavar='URL',
                        help='with --transport-url: a database server '
                             '(postgresql+psycopg2://user@host/ or '
                             'mysql+pymysql://user@host/) for one database '
                             'per cell (default: SQLite files)')
    parser.add_argument('--run-id', metavar='ID',
                        help='with --transport-url: name vhosts and '
                             'databases ncdemo-ID-<cell> (default: random)')
    parser.add_argument('--keep-logs', action='store_true',
                        help='with --transport-url: keep the run\'s '
                             'directory (configs, daemon logs) afterwards')
    parser.add_argument('--verbose', '-v', action='store_true',
                        help='log what every cell does (to stderr)')
    parser.add_argument('--version', action='version',
                        version=version.version_string())
    args = parser.parse_args(argv)
    if args.database_url and not args.transport_url:
        parser.error('--database-url needs --transport-url')
    if args.instances is not None and args.instances < 0:
        parser.error('--instances must be 0 or more')
    if args.hosts_per_leaf is not None and args.hosts_per_leaf < 1:
        parser.error('--hosts-per-leaf must be 1 or more')
    return args


def _topology(args):
    """The tree to build, the command line overriding the file; a bad file
    ends the demo here, in one line, before anything is created."""
    try:
        topology = (demo_topology.load(args.topology) if args.topology
                    else demo_topology.default())
    except demo_topology.TopologyError as exc:
        sys.stderr.write('nova-cells-demo: bad topology: %s\n' % exc)
        sys.exit(EXIT_USAGE)
    if args.hosts_per_leaf is not None:
        topology.hosts_per_leaf = args.hosts_per_leaf
    if args.instances is None:
        args.instances = (100 if topology.instances is None
                          else topology.instances)
    return topology


def _progress(label):
    """A bar redrawn in place, only when it changes (waiting polls
    often; a log file need not hold every poll)."""
    last = []

    def show(done, total):
        if last == [done, total]:
            return
        last[:] = [done, total]
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write('\r%-9s [%s%s] %d/%d' % (
            label, '#' * filled, '.' * (width - filled), done, total))
        if done >= total:
            sys.stderr.write('\n')
        sys.stderr.flush()
    return show


def _say(message):
    """One line of what the demo is doing, on stderr (stdout is the
    result, JSON for scripts)."""
    sys.stderr.write('nova-cells-demo: %s\n' % message)
    sys.stderr.flush()


def _timeout(args, topology):
    return args.timeout or demo.build_timeout(args.instances, len(topology))


def _build_and_report(args, run, topology, show, **extra):
    """Build, wait, print; the part both ways of running share.

    :returns: True when every instance settled in time.
    """
    started = time.monotonic()
    run.build(args.instances, _progress('requested') if show else None)
    settled = run.wait(timeout=_timeout(args, topology),
                       progress=_progress('placed') if show else None)
    extra.setdefault('timings', {})['build_s'] = round(
        time.monotonic() - started, 2)
    summary, status = run.summary(), run.final_status()
    if args.format == 'json':
        print(demo.render_json(summary, status, **extra))
    else:
        print(demo.render_text(
            summary, status,
            limit=None if args.all_instances else demo.LISTED_INSTANCES,
            processes=extra.get('processes')))
    sys.stdout.flush()
    return settled


def _in_process(args, topology, show):
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix='nova-cells-demo-') as base:
        run = demo.Demo(base, topology=topology, seed=args.seed)
        try:
            run.setup()
            if not run.propagate():
                _say('capacities did not reach the top')
                return 1
            setup_s = round(time.monotonic() - began, 2)
            return 0 if _build_and_report(
                args, run, topology, show,
                timings={'setup_s': setup_s}) else 1
        finally:
            run.close()


def _with_daemons(args, topology, show):
    """One daemon per cell; every exit path goes through ``close()``."""
    began = time.monotonic()
    try:
        run = demo_processes.ProcessDemo(
            topology, args.transport_url, database_url=args.database_url,
            run_id=args.run_id, seed=args.seed, say=_say,
            keep_dir=args.keep_logs,
            progress=_progress('started') if show else None)
    except demo_processes.DemoError as exc:
        _say(str(exc))
        return EXIT_USAGE
    with demo_processes.signals_as_exceptions() as received:
        try:
            run.setup()
            if not run.propagate():
                run.report_failure('capacities did not reach the top')
                return 1
            setup_s = round(time.monotonic() - began, 2)
            settled = _build_and_report(
                args, run, topology, show, processes=run.processes(),
                base_dir=run.base_dir, run_id=run.run_id,
                timings={'setup_s': setup_s})
            if not settled:
                run.report_failure('not every instance settled in %d s'
                                   % _timeout(args, topology))
            return 0 if settled else 1
        except BaseException as exc:
            return _failure_status(exc, received)
        finally:
            run.close()


def _failure_status(exc, received):
    """The exit status for what ended the run: a signal (whatever
    exception it turned into on the way), one of our errors, or a bug
    (raised on, with its traceback)."""
    if received:
        signum = received[0]
        _say('%s: stopping the daemons' % (
            'interrupted (SIGINT)' if signum == signal.SIGINT
            else 'terminated (SIGTERM)'))
        return EXIT_SIGINT if signum == signal.SIGINT else EXIT_SIGTERM
    if isinstance(exc, demo_processes.DemoError):
        _say('error: %s' % exc)
        return 1
    raise exc


def main(argv=None):
    args = _parse(sys.argv[1:] if argv is None else argv)
    # kill -USR1 <pid>: every thread's stack on stderr, to see where a
    # demo that seems stuck is waiting.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    logging.basicConfig(level=logging.INFO if args.verbose
                        else logging.ERROR, stream=sys.stderr,
                        format='%(asctime)s %(levelname)s %(name)s '
                               '%(message)s')
    topology = _topology(args)
    show = args.progress or (args.format == 'text' and sys.stderr.isatty())
    if args.transport_url:
        return demo_processes.leave(_with_daemons(args, topology, show))
    return _in_process(args, topology, show)
