"""The demo on a real broker: one ``nova-cells`` daemon per cell.

What an operator would deploy, made and unmade in one command: a RabbitMQ
vhost per cell (``ncdemo-<run>-<cell>``), a database per cell (SQLite files,
or databases created on a PostgreSQL/MySQL server), a ``cells.conf`` per
cell with fast intervals, the schema, the ``cells`` rows wiring parents and
children, flavors and compute hosts in the leaves, and the daemons started
a level at a time, each answering ping before the next level starts (a
child's first capacity report needs its parent listening).  The demo then
plays nova-api, exactly as the in-process one (:class:`demo.Builder`).

Nothing may outlive the demo, however it ends:

* each daemon runs in its own session, and is stopped by signalling its
  whole process group (oslo.service forks the service into a child);
* SIGINT and SIGTERM of the demo become exceptions, so that the same
  ``finally`` that runs on success stops the daemons, deletes the vhosts
  and drops the databases (:func:`signals_as_exceptions`);
* a daemon asks the kernel to SIGKILL it when the demo dies (prctl
  ``PR_SET_PDEATHSIG``), for the one case no handler runs: the demo
  SIGKILLed.  The forked service then sees its parent's pipe close and
  exits too.

The vhosts, databases, daemons and their ``cells.conf`` are the shared
pieces of :mod:`nova_cells.testing` (the functional tests and the benches
use them too); this module adds what is the demo's: the names of a run,
SQLite copies of one synced template, the order of the start, and the
signals.
"""

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid

import oslo_messaging

from nova_cells import conf as cells_conf
from nova_cells import context as cells_context
from nova_cells.db import api as db_api
from nova_cells.demo import core as demo
from nova_cells.testing import conf as daemon_conf
from nova_cells.testing import daemons
from nova_cells.testing import databases
from nova_cells.testing import vhosts
from nova_cells.transport import rpc
from nova_cells import rpcapi
from nova_cells import TOPIC

__all__ = ['DemoError', 'Terminated', 'signals_as_exceptions',
           'Databases', 'Daemon', 'ProcessDemo', 'leave']

# Seconds a daemon gets to answer its first ping.
START_TIMEOUT = 30
CLIENT_CLOSE_TIMEOUT = 3


class DemoError(Exception):
    """Something the demo cannot go on without; ``str()`` says what."""


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt is for SIGINT, so that the
    cleanup in ``finally`` runs (the default action would just exit)."""


@contextlib.contextmanager
def signals_as_exceptions():
    """SIGINT -> KeyboardInterrupt and SIGTERM -> :class:`Terminated`
    while the block runs (whatever handlers were there before).

    Yields the list of signals received: raised in the middle of a
    library call, the exception may come out as another one (a database
    driver's, say); the caller still knows it was asked to stop.
    """
    received = []

    def on_sigint(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt()

    def on_sigterm(signum, frame):
        received.append(signum)
        raise Terminated()

    previous = {signal.SIGINT: signal.signal(signal.SIGINT, on_sigint),
                signal.SIGTERM: signal.signal(signal.SIGTERM, on_sigterm)}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def signals_ignored():
    """Ignore SIGINT/SIGTERM while cleaning up: a second Ctrl-C must not
    cut the cleanup short and leave daemons or vhosts behind (it is
    bounded: SIGKILL follows SIGTERM after a few seconds)."""
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, signal.SIG_IGN)
                for signum in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def signals_held():
    """Hold SIGINT/SIGTERM back (delivered at the end): a signal between
    fork and the bookkeeping of a new child would lose track of it."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def _demo_errors(option=None):
    """What the shared pieces raise, as a :class:`DemoError` (the demo
    says it in one line); a bad URL names the option it came from."""
    try:
        yield
    except (vhosts.VhostError, databases.ServerError) as exc:
        raise DemoError(str(exc))
    except ValueError as exc:
        if option is None:
            raise
        raise DemoError('%s: %s' % (option, exc))


# -- the databases ------------------------------------------------------------


class Databases(object):
    """A database per cell: SQLite files in the run's directory, or
    databases made on a server (and dropped at the end).

    SQLite files are copies of one synced template: a schema sync costs
    about a second, a copy nothing.
    """

    def __init__(self, server_url, base_dir, run_id):
        self.server_url = server_url
        self.base_dir = base_dir
        self.run_id = run_id
        self.made = []
        self._server = None
        if server_url:
            with _demo_errors('--database-url'):
                self._server = databases.Server(server_url)

    def name_of(self, cell):
        return 'ncdemo_%s_%s' % (self.run_id, cell)

    def url_of(self, cell):
        if not self.server_url:
            return 'sqlite:///%s' % os.path.join(self.base_dir,
                                                 '%s.sqlite' % cell)
        return self._server.url_of(self.name_of(cell))

    def create(self, cells):
        """Make the databases and bring them to the newest schema."""
        if not self.server_url:
            return self._copy_template(cells)
        for cell in cells:
            self.made.append(cell)
            with _demo_errors():
                self._server.create(self.name_of(cell))
        for cell in cells:
            databases.sync_schema(self.url_of(cell))

    def _copy_template(self, cells):
        template = os.path.join(self.base_dir, 'template.sqlite')
        databases.sync_schema('sqlite:///%s' % template)
        for cell in cells:
            shutil.copyfile(template, os.path.join(self.base_dir,
                                                   '%s.sqlite' % cell))

    def drop_all(self):
        """Drop what was made (SQLite files go with the directory)."""
        names, self.made = self.made, []
        failed = []
        for cell in names:
            try:
                self._server.drop(self.name_of(cell))
            except databases.ServerError as exc:
                failed.append(str(exc))
        if self._server is not None:
            self._server.dispose()
        return failed


# -- the daemons --------------------------------------------------------------


class Daemon(daemons.Daemon):
    """One ``nova-cells`` process of a cell, logging to ``<cell
    dir>/nova-cells.log``; it dies with the demo, even SIGKILLed."""

    def __init__(self, cell, path, directory):
        self.cell = cell
        self.path = path
        self.log_path = os.path.join(directory, 'nova-cells.log')
        super(Daemon, self).__init__(
            os.path.join(directory, 'cells.conf'), directory, self.log_path,
            preexec=daemons.die_with_parent)


# -- configuration ------------------------------------------------------------


def cells_conf_text(name, is_api, transport_url, connection, state_path):
    """A cells.conf for a demo daemon: fast heartbeats and pushes, the
    builtin local scheduler (no nova-conductor here), hosts that stay up
    however long the demo runs."""
    return daemon_conf.ini(daemon_conf.merged(
        daemon_conf.daemon_sections(
            name, 'api' if is_api else 'compute', transport_url, connection,
            state_path, host='ncdemo-%s' % name, max_retries=3),
        {'DEFAULT': {'service_down_time': 3600},
         'cells': {'parent_update_interval': 2,
                   'local_scheduler_driver': 'builtin',
                   'call_timeout': 10,
                   'scheduler_retries': 2,
                   'scheduler_retry_delay': 1}}))


# -- the run ------------------------------------------------------------------


def _ping(transport, timeout):
    target = oslo_messaging.Target(topic=TOPIC, namespace='baseapi',
                                   version='1.1')
    client = rpc.get_client(transport, target)
    return client.prepare(timeout=timeout).call(
        cells_context.get_admin_context(), 'ping', arg='demo')


class ProcessDemo(demo.Builder):
    """The demo with one daemon per cell on a real broker.

    :param broker_url: ``rabbit://user:pass@host:5672/``.
    :param database_url: a PostgreSQL/MySQL server URL, or None (SQLite).
    :param say: ``say(line)`` for what is going on (stderr).
    :param progress: ``progress(done, total)`` as daemons start.
    :param keep_dir: leave the run's directory (logs) behind.
    """

    # The API cell's daemon writes the same database (SQLite by default).
    rows_first = True

    def __init__(self, topology, broker_url, database_url=None, run_id=None,
                 seed=None, say=None, progress=None, keep_dir=False):
        super(ProcessDemo, self).__init__(topology, seed)
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.broker_url = broker_url
        # Both check their URL: a bad one fails before anything is made.
        with _demo_errors('--transport-url'):
            self.vhosts = vhosts.Vhosts(broker_url)
        self.databases = Databases(database_url, None, self.run_id)
        self.say = say or (lambda line: None)
        self.progress = progress
        self.keep_dir = keep_dir
        self.paths = topology.paths()
        self.base_dir = tempfile.mkdtemp(
            prefix='nova-cells-demo-%s-' % self.run_id)
        self.databases.base_dir = self.base_dir
        self.daemons = {}
        self._transport = None
        self._top_db = None

    # -- names ----------------------------------------------------------------

    def vhost_of(self, name):
        return 'ncdemo-%s-%s' % (self.run_id, name)

    def url_of(self, name):
        return vhosts.with_vhost(self.broker_url, self.vhost_of(name))

    @property
    def top_db(self):
        if self._top_db is None:
            self._top_db = db_api.Database(
                self.databases.url_of(self.topology.top))
        return self._top_db

    def processes(self):
        return [{'cell': self.paths[name], 'pid': d.pid}
                for name, d in self.daemons.items()]

    # -- setting up -----------------------------------------------------------

    def setup(self):
        names = [name for name, _p, _path in self.topology.cells()]
        self.say('run %s in %s: %d cells' % (self.run_id, self.base_dir,
                                             len(names)))
        with _demo_errors():
            self.vhosts.create([self.vhost_of(n) for n in names])
        self.say('created %d vhosts (%s)' % (len(names), self.vhosts.tool))
        self.databases.create(names)
        self._wire_and_seed()
        self._write_confs()
        self._start_daemons()
        self._transport = rpc.get_transport(
            cells_conf.new_config(), self.url_of(self.topology.top))
        self.cells_api = rpcapi.CellsAPI(cells_conf.new_config(),
                                         self._transport)
        return self

    def _wire_and_seed(self):
        """The ``cells`` rows (as ``nova-cells-manage cell create``),
        flavors everywhere, compute hosts in the leaves."""
        leaves = set(self.topology.leaves())
        for name, parent, _path in self.topology.cells():
            db = db_api.Database(self.databases.url_of(name))
            try:
                if parent is not None:
                    _link(db, parent, self.url_of(parent), True)
                    parent_db = db_api.Database(
                        self.databases.url_of(parent))
                    try:
                        _link(parent_db, name, self.url_of(name), False)
                    finally:
                        parent_db.dispose()
                demo.seed_flavors(db)
                if name in leaves:
                    demo.seed_hosts(db, self.topology.hosts(name))
            finally:
                db.dispose()

    def _write_confs(self):
        for name, parent, path in self.topology.cells():
            directory = os.path.join(self.base_dir, name)
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, 'cells.conf'), 'w') as out:
                out.write(cells_conf_text(
                    name, parent is None, self.url_of(name),
                    self.databases.url_of(name), directory))
            self.daemons[name] = Daemon(name, path, directory)

    def _start_daemons(self):
        total, ready = len(self.daemons), 0
        for level in self.topology.levels():
            for name in level:
                with signals_held():
                    self.daemons[name].start()
            for name in level:
                self._wait_ready(self.daemons[name])
                ready += 1
                if self.progress:
                    self.progress(ready, total)
        self.say('started %d daemons (pids %s)' % (
            total, ' '.join(str(d.pid) for d in self.daemons.values())))

    def _wait_ready(self, daemon):
        """Ping the cell on its vhost until it answers; a daemon that
        exits, or stays silent, ends the demo with its log."""
        deadline = time.monotonic() + START_TIMEOUT
        transport = rpc.get_transport(cells_conf.new_config(),
                                      self.url_of(daemon.cell))
        try:
            while True:
                if not daemon.running():
                    raise self._failed(daemon, 'exited with status %s'
                                       % daemon.proc.returncode)
                if time.monotonic() > deadline:
                    raise self._failed(daemon, 'did not answer ping in %d s'
                                       % START_TIMEOUT)
                try:
                    return _ping(transport, 1)
                except oslo_messaging.MessagingTimeout:
                    continue
                except oslo_messaging.MessagingException:
                    time.sleep(0.2)
        finally:
            transport.cleanup()

    def _failed(self, daemon, what):
        return DemoError('nova-cells of cell %s (pid %s) %s; end of %s:\n%s'
                         % (daemon.path, daemon.pid, what, daemon.log_path,
                            daemon.log_tail()))

    # -- the demo proper ------------------------------------------------------

    def propagate(self, timeout=None):
        """Wait until the top knows every leaf's capacity (the daemons
        push at start-up and every parent_update_interval)."""
        expected = self.topology.total_ram_mb()
        ctxt = cells_context.get_admin_context()
        deadline = time.monotonic() + (timeout or
                                       max(30.0, len(self.topology) * 0.5))
        while time.monotonic() < deadline:
            try:
                caps = self.cells_api.get_capacities(ctxt)
            except oslo_messaging.MessagingTimeout:
                continue
            if caps.get('ram_free', {}).get('total_mb') == expected:
                return True
            time.sleep(0.2)
        return False

    def status(self):
        return self.cells_api.get_cell_status(
            cells_context.get_admin_context(),
            timeout=max(10, len(self.topology)))

    def report_failure(self, what):
        """Say what failed, with the log tails of the cells that logged an
        error (the top's when none did)."""
        self.say(what)
        noisy = [d for d in self.daemons.values()
                 if 'ERROR' in d.log_tail() or 'Traceback' in d.log_tail()]
        for daemon in noisy or [self.daemons[self.topology.top]]:
            self.say('end of %s:\n%s' % (daemon.log_path, daemon.log_tail()))

    # -- tearing down ---------------------------------------------------------

    def close(self):
        """Stop every daemon, delete the vhosts, drop the databases and
        the directory; SIGINT and SIGTERM are ignored meanwhile."""
        began = time.monotonic()
        with signals_ignored():
            closer = self._close_clients()
            daemons.stop_all(list(self.daemons.values()))
            closer.join(CLIENT_CLOSE_TIMEOUT)
            stopped = time.monotonic()
            problems = self.vhosts.delete_all() + self.databases.drop_all()
            if not self.keep_dir:
                shutil.rmtree(self.base_dir, ignore_errors=True)
        self.say('stopped %d daemons in %.1f s, removed vhosts and '
                 'databases in %.1f s' % (len(self.daemons), stopped - began,
                                          time.monotonic() - stopped))
        if self.keep_dir:
            self.say('kept %s' % self.base_dir)
        for problem in problems:
            self.say('cleanup: %s' % problem)

    def _close_clients(self):
        """Close our broker connection in a thread of its own: after a
        signal raised in the middle of a publish, kombu can wait forever
        for a channel; the demo must end all the same (:func:`leave`)."""
        transport, self._transport = self._transport, None
        closer = threading.Thread(
            target=transport.cleanup if transport else (lambda: None),
            name='close-transport', daemon=True)
        closer.start()
        if self._top_db is not None:
            self._top_db.dispose()
        return closer


def leave(status):
    """Exit now with ``status`` if a library thread would keep the
    process alive (a broker connection that did not close): everything
    of ours is cleaned up by then, and a demo must never hang at exit."""
    lingering = [t for t in threading.enumerate()
                 if t is not threading.current_thread() and not t.daemon]
    if lingering:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def _link(db, name, url, is_parent):
    db_api.cell_create(db, {'name': name, 'transport_url': url,
                            'is_parent': is_parent, 'weight_offset': 0.0,
                            'weight_scale': 1.0})
