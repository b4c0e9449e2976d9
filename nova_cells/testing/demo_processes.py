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

This module must not import the tests: the few ``rabbitmqctl`` calls are
re-implemented here.
"""

import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from urllib import error as urlerror
from urllib import parse as urlparse
from urllib import request as urlrequest
import uuid

import oslo_messaging
import sqlalchemy as sa
from sqlalchemy import pool as sa_pool

from nova_cells import conf as cells_conf
from nova_cells import context as cells_context
from nova_cells.db import api as db_api
from nova_cells.db import migration
from nova_cells.demo import core as demo
from nova_cells.transport import rpc
from nova_cells import rpcapi
from nova_cells import TOPIC
from nova_cells import transport_url as transport_urls

__all__ = ['DemoError', 'Terminated', 'signals_as_exceptions',
           'Vhosts', 'Databases', 'Daemon', 'ProcessDemo', 'leave']

# Seconds a daemon gets to answer its first ping, and to exit on SIGTERM
# before its process group is killed.
START_TIMEOUT = 30
STOP_TIMEOUT = 4
CLIENT_CLOSE_TIMEOUT = 3
# rabbitmqctl costs half a CPU second a call: a few at a time.
RABBITMQCTL_PARALLEL = 6
MANAGEMENT_PORT = 15672
LOG_TAIL = 20
_PR_SET_PDEATHSIG = 1


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


def _child_setup():
    """A ``preexec_fn``: unblock what :func:`signals_held` blocked (a
    signal mask survives exec, and a daemon deaf to SIGTERM could only be
    killed), and have the kernel SIGKILL the child when the demo dies.

    prctl is resolved before the fork: the child only calls it.  Where
    there is no prctl (not Linux) the other safeguards still hold.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        prctl = None
    parent = os.getpid()
    held = {signal.SIGINT, signal.SIGTERM}

    def preexec():
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:
                # The demo died before prctl: nobody would ever stop us.
                os._exit(1)
    return preexec


def _subprocess_env():
    """Daemons run threading, unbuffered, quiet about deprecations, and
    must not notify a systemd unit the demo may run under."""
    env = dict(os.environ, PYTHONWARNINGS='ignore', PYTHONUNBUFFERED='1',
               NOVA_CELLS_BACKEND='threading')
    for name in ('NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID'):
        env.pop(name, None)
    return env


def _tail(path, lines=LOG_TAIL):
    try:
        with open(path, errors='replace') as stream:
            return ''.join(stream.readlines()[-lines:])
    except OSError:
        return ''


# -- the broker ---------------------------------------------------------------


def with_vhost(broker_url, vhost):
    """``broker_url`` with its virtual host replaced."""
    parts = urlparse.urlsplit(broker_url)
    return urlparse.urlunsplit((parts.scheme, parts.netloc,
                                '/' + urlparse.quote(vhost, safe=''), '', ''))


class Vhosts(object):
    """Make and delete vhosts with ``rabbitmqctl`` (when it is on PATH and
    works), else with the management HTTP API; else say what to make by
    hand.

    :param broker_url: ``rabbit://user:pass@host:port/``: the user gets
        full rights on every vhost made.
    """

    def __init__(self, broker_url):
        try:
            parsed = transport_urls.parse(broker_url)
        except ValueError as exc:
            raise DemoError('--transport-url: %s' % exc)
        if parsed.transport not in ('rabbit', 'amqp'):
            raise DemoError('--transport-url must be rabbit://, not %s://'
                            % parsed.transport)
        host = parsed.hosts[0]
        self.user = host.username or 'guest'
        self.password = host.password or 'guest'
        self.hostname = host.hostname
        self.made = []
        self.tool = None

    def _choose(self):
        if shutil.which('rabbitmqctl') and self._ctl_works():
            return 'rabbitmqctl'
        if self._http('GET', '/api/overview', quiet=True) is not None:
            return 'http'
        return None

    def _ctl_works(self):
        try:
            result = subprocess.run(['rabbitmqctl', 'list_vhosts'],
                                    capture_output=True, timeout=60,
                                    stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return result.returncode == 0

    def create(self, names):
        """Make every vhost with full rights for the URL's user."""
        self.tool = self._choose()
        if self.tool is None:
            raise DemoError(
                'cannot create RabbitMQ vhosts: no working rabbitmqctl and '
                'no management API on %s:%d; create these vhosts with full '
                'rights for %s, then re-run with --run-id: %s'
                % (self.hostname, MANAGEMENT_PORT, self.user,
                   ' '.join(names)))
        # Recorded before they exist: a vhost half made when a signal
        # arrives is deleted all the same.
        self.made.extend(names)
        if self.tool == 'rabbitmqctl':
            self._ctl_each(names, 'rabbitmqctl add_vhost "$1" && rabbitmqctl '
                           'set_permissions -p "$1" "$2" ".*" ".*" ".*"')
        else:
            for name in names:
                self._http('PUT', '/api/vhosts/%s' % _q(name), {})
                self._http('PUT', '/api/permissions/%s/%s'
                           % (_q(name), _q(self.user)),
                           {'configure': '.*', 'write': '.*', 'read': '.*'})

    def delete_all(self):
        """Delete every vhost made (with what is left in them)."""
        names, self.made = self.made, []
        if not names or self.tool is None:
            return []
        if self.tool == 'rabbitmqctl':
            return self._ctl_each(names, 'rabbitmqctl delete_vhost "$1"',
                                  check=False)
        failed = []
        for name in names:
            if self._http('DELETE', '/api/vhosts/%s' % _q(name),
                          quiet=True) is None:
                failed.append(name)
        return failed

    def _ctl_each(self, names, script, check=True):
        """Run ``script`` (sh, ``$1`` the vhost, ``$2`` the user) for every
        name, a few at a time; raise (or return) the failures."""
        failed, pending, todo = [], [], list(names)
        while todo or pending:
            while todo and len(pending) < RABBITMQCTL_PARALLEL:
                name = todo.pop(0)
                pending.append((name, subprocess.Popen(
                    ['sh', '-c', script, 'sh', name, self.user],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, text=True)))
            name, proc = pending.pop(0)
            out, _err = proc.communicate()
            if proc.returncode != 0:
                failed.append('%s: %s' % (name, out.strip()))
        if failed and check:
            raise DemoError('rabbitmqctl failed: %s' % '; '.join(failed))
        return failed

    def _http(self, method, path, body=None, quiet=False):
        url = 'http://%s:%d%s' % (self.hostname, MANAGEMENT_PORT, path)
        data = None if body is None else json.dumps(body).encode()
        req = urlrequest.Request(url, data=data, method=method)
        req.add_header('content-type', 'application/json')
        req.add_header('authorization', 'Basic %s' % base64.b64encode(
            ('%s:%s' % (self.user, self.password)).encode()).decode())
        try:
            with urlrequest.urlopen(req, timeout=5) as answer:
                return answer.read()
        except (urlerror.URLError, OSError) as exc:
            if quiet:
                return None
            raise DemoError('RabbitMQ management API %s %s: %s'
                            % (method, path, exc))


def _q(name):
    return urlparse.quote(name, safe='')


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
        self._admin = None
        if server_url:
            self._admin_url, self._dialect = _admin_url(server_url)

    def name_of(self, cell):
        return 'ncdemo_%s_%s' % (self.run_id, cell)

    def url_of(self, cell):
        if not self.server_url:
            return 'sqlite:///%s' % os.path.join(self.base_dir,
                                                 '%s.sqlite' % cell)
        url = sa.engine.make_url(self.server_url).set(
            database=self.name_of(cell))
        return url.render_as_string(hide_password=False)

    def create(self, cells):
        """Make the databases and bring them to the newest schema."""
        if not self.server_url:
            return self._copy_template(cells)
        self._admin = sa.create_engine(self._admin_url,
                                       poolclass=sa_pool.NullPool,
                                       isolation_level='AUTOCOMMIT')
        for cell in cells:
            self.made.append(cell)
            self._execute(_CREATE[self._dialect] % self.name_of(cell))
        for cell in cells:
            _sync(self.url_of(cell))

    def _copy_template(self, cells):
        template = os.path.join(self.base_dir, 'template.sqlite')
        _sync('sqlite:///%s' % template)
        for cell in cells:
            shutil.copyfile(template, os.path.join(self.base_dir,
                                                   '%s.sqlite' % cell))

    def _execute(self, statement):
        try:
            with self._admin.connect() as conn:
                conn.execute(sa.text(statement))
        except sa.exc.SQLAlchemyError as exc:
            raise DemoError('database server %s: %s' % (
                transport_urls.mask(self.server_url),
                str(getattr(exc, 'orig', exc)).strip().splitlines()[0]))

    def drop_all(self):
        """Drop what was made (SQLite files go with the directory)."""
        names, self.made = self.made, []
        failed = []
        for cell in names:
            try:
                self._execute(_DROP[self._dialect] % self.name_of(cell))
            except DemoError as exc:
                failed.append(str(exc))
        if self._admin is not None:
            self._admin.dispose()
        return failed


_CREATE = {'postgresql': 'CREATE DATABASE "%s"',
           'mysql': 'CREATE DATABASE `%s` CHARACTER SET utf8'}
# The daemons are gone by then; FORCE only ends what a killed one left.
_DROP = {'postgresql': 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)',
         'mysql': 'DROP DATABASE IF EXISTS `%s`'}


def _admin_url(server_url):
    """Where to run CREATE/DROP DATABASE, and the dialect."""
    try:
        url = sa.engine.make_url(server_url)
    except sa.exc.ArgumentError as exc:
        raise DemoError('--database-url: %s' % exc)
    dialect = url.get_backend_name()
    if dialect not in _CREATE:
        raise DemoError('--database-url: a postgresql or mysql server, '
                        'not %s' % dialect)
    url = url.set(database='postgres' if dialect == 'postgresql' else None)
    return url.render_as_string(hide_password=False), dialect


def _sync(url):
    db = db_api.Database(url)
    try:
        migration.db_sync(db)
    finally:
        db.dispose()


# -- the daemons --------------------------------------------------------------


def _nova_cells_argv():
    """The installed console script next to our interpreter, else the
    entry point through this interpreter."""
    script = os.path.join(os.path.dirname(sys.executable), 'nova-cells')
    if os.access(script, os.X_OK):
        return [script]
    return [sys.executable, '-c',
            'import sys; from nova_cells.cmd.cells import main; '
            'sys.exit(main())']


class Daemon(object):
    """One ``nova-cells`` process, in a session (process group) of its
    own, logging to ``<cell dir>/nova-cells.log``."""

    def __init__(self, cell, path, directory):
        self.cell = cell
        self.path = path
        self.directory = directory
        self.conf_path = os.path.join(directory, 'cells.conf')
        self.log_path = os.path.join(directory, 'nova-cells.log')
        self.proc = None

    def start(self):
        with open(self.log_path, 'ab') as log:
            self.proc = subprocess.Popen(
                _nova_cells_argv() + ['--config-file', self.conf_path],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                cwd=self.directory, start_new_session=True,
                preexec_fn=_child_setup(), env=_subprocess_env())
        return self

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, signum):
        """Signal the whole group: the forked service too."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def log_tail(self):
        return _tail(self.log_path)


def stop_daemons(daemons, timeout=STOP_TIMEOUT):
    """SIGTERM every group, wait up to ``timeout`` s in all, then SIGKILL
    every group (stragglers of those that exited included) and reap."""
    started = [d for d in daemons if d.proc is not None]
    for daemon in started:
        if daemon.running():
            daemon.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(d.running() for d in started) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    for daemon in started:
        daemon.signal_group(signal.SIGKILL)
    for daemon in started:
        try:
            daemon.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


# -- configuration ------------------------------------------------------------


def _ini(sections):
    lines = []
    for section, options in sections.items():
        lines.append('[%s]' % section)
        lines.extend('%s = %s' % (key, value)
                     for key, value in options.items())
        lines.append('')
    return '\n'.join(lines)


def cells_conf_text(name, is_api, transport_url, connection, state_path):
    """A cells.conf for a demo daemon: fast heartbeats and pushes, the
    builtin local scheduler (no nova-conductor here), hosts that stay up
    however long the demo runs."""
    return _ini({
        'DEFAULT': {'transport_url': transport_url,
                    'host': 'ncdemo-%s' % name,
                    'state_path': state_path,
                    'report_interval': 1,
                    'periodic_fuzzy_delay': 0,
                    'service_down_time': 3600},
        'cells': {'name': name,
                  'cell_type': 'api' if is_api else 'compute',
                  'db_check_interval': 0,
                  'parent_update_interval': 2,
                  'local_scheduler_driver': 'builtin',
                  'call_timeout': 10,
                  'scheduler_retries': 2,
                  'scheduler_retry_delay': 1},
        'database': {'connection': connection,
                     'max_retries': 3,
                     'retry_interval': 1},
    })


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
        self.vhosts = Vhosts(broker_url)
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
        return with_vhost(self.broker_url, self.vhost_of(name))

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
            stop_daemons(list(self.daemons.values()))
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
