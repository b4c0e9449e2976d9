"""Real daemons, a real broker and real databases for the functional tests.

Nothing here is mocked: every test gets a fresh RabbitMQ vhost (so that no
leftover fanout or reply queue of an earlier run can answer or swallow a
message), a throw-away database on SQLite, PostgreSQL or MySQL/MariaDB, and
starts ``nova-cells`` / ``nova-cells-manage`` as subprocesses, exactly as an
operator would.

The servers are expected to run (CI starts them): a database server or a
broker that cannot be reached makes the test *fail* with a message saying
which one, it is never skipped.

The plumbing itself (vhosts, throw-away databases, daemon processes,
``cells.conf``) is :mod:`nova_cells.testing`'s, shared with the demo and
the benches; what is here is the tests' own: fixed local servers, a
failure that says which server is missing, the vhost made one ahead.
Helpers (plain functions and classes) come first, the pytest fixtures
last; ``conftest.py`` re-exports the fixtures.
"""

import contextlib
import dataclasses
import os
import pathlib
import subprocess
import sys
import time
import uuid

import nova_cells  # noqa: F401 - threading backend before oslo imports

import oslo_messaging
import pytest
import sqlalchemy as sa
from sqlalchemy import pool as sa_pool

from nova_cells import conf as cells_conf
from nova_cells import context as cells_context
from nova_cells.testing import conf as daemon_conf
from nova_cells.testing import daemons
from nova_cells.testing import databases
from nova_cells.testing import vhosts
from nova_cells.transport import rpc

__all__ = [
    # constants
    'BIN_DIR', 'NOVA_CELLS', 'NOVA_CELLS_MANAGE', 'DB_BACKENDS',
    'DAEMON_BACKENDS', 'RABBIT_HOST', 'RABBIT_PORT',
    # helpers
    'unique_name', 'rabbit_vhost', 'reap_vhost_deletions',
    'throwaway_database', 'sync_schema', 'insert_row', 'CellConf',
    'write_cells_conf', 'run_manage', 'run_many', 'run_many_confs',
    'table_rows', 'live_rows', 'Daemon', 'CellsRPC', 'wait_for_ping',
    'poll_until', 'non_empty_lines',
    # fixtures
    'rabbit_url', 'db_backend', 'database_url', 'synced_database_url',
    'sqlite_url', 'synced_sqlite_url',
    'daemon_factory', 'DAEMONS_KEY', 'stack',
]

BIN_DIR = os.path.dirname(sys.executable)
NOVA_CELLS = os.path.join(BIN_DIR, 'nova-cells')
NOVA_CELLS_MANAGE = os.path.join(BIN_DIR, 'nova-cells-manage')

RABBIT_HOST = '127.0.0.1'
RABBIT_PORT = 5672
BROKER_URL = 'rabbit://guest:guest@%s:%d/' % (RABBIT_HOST, RABBIT_PORT)
# The servers the throw-away databases are made on, and their names in a
# failure.
DB_SERVERS = {
    'postgresql': ('postgresql+psycopg2://postgres@127.0.0.1:5432/postgres',
                   'PostgreSQL'),
    'mysql': ('mysql+pymysql://root@127.0.0.1:3306/?charset=utf8',
              'MySQL/MariaDB'),
}

DB_BACKENDS = ('sqlite', 'postgresql', 'mysql')
DAEMON_BACKENDS = ('threading', 'eventlet')

# Seconds a CLI invocation may take before the test gives up on it.
CLI_TIMEOUT = 60


def unique_name(prefix):
    """``prefix`` + 10 random hex digits: unique per run and per test."""
    return '%s%s' % (prefix, uuid.uuid4().hex[:10])


# The environment of every process under test.
_subprocess_env = daemons.subprocess_env


# -- RabbitMQ -----------------------------------------------------------------

# ``rabbitmqctl`` takes about half a CPU second per call, so vhosts are made
# one ahead and deleted in the background: the next test's vhost is being
# prepared while the current test runs.  Each vhost still serves one test
# only.  :func:`reap_vhost_deletions` (end of session) waits for them all.
RABBITMQCTL_TIMEOUT = 60
_PENDING_DELETIONS = []
_vhost_ahead = []


def _start_rabbitmqctl(script, vhost):
    try:
        return vhosts.start_ctl(script, vhost, user='guest')
    except OSError as exc:
        pytest.fail('cannot run rabbitmqctl: %s' % exc, pytrace=False)


def _finish(proc, what):
    return vhosts.finish_ctl(proc, what, timeout=RABBITMQCTL_TIMEOUT)


def _prepare_vhost():
    vhost = unique_name('nc-ft-')
    return vhost, _start_rabbitmqctl(vhosts.ADD_SCRIPT, vhost)


def _delete_vhost_later(vhost):
    _PENDING_DELETIONS.append(
        (vhost, _start_rabbitmqctl(vhosts.DELETE_SCRIPT, vhost)))


@contextlib.contextmanager
def rabbit_vhost():
    """A fresh vhost with full rights for guest; yields its transport URL.

    The vhost (with every queue and exchange a test left in it) is deleted
    afterwards, so nothing of one test can answer or swallow the messages of
    another, and nothing accumulates on the broker.
    """
    vhost, proc = _vhost_ahead.pop() if _vhost_ahead else _prepare_vhost()
    _vhost_ahead.append(_prepare_vhost())
    error = _finish(proc, 'rabbitmqctl add_vhost/set_permissions')
    if error:
        pytest.fail('RabbitMQ unusable (is it running on %s:%s?): %s'
                    % (RABBIT_HOST, RABBIT_PORT, error), pytrace=False)
    try:
        yield vhosts.with_vhost(BROKER_URL, vhost)
    finally:
        _delete_vhost_later(vhost)


def reap_vhost_deletions():
    """Delete the vhost made ahead, wait for every background deletion and
    return the failures."""
    while _vhost_ahead:
        vhost, proc = _vhost_ahead.pop()
        if _finish(proc, vhost) is None:
            _delete_vhost_later(vhost)
    failed = []
    while _PENDING_DELETIONS:
        vhost, proc = _PENDING_DELETIONS.pop()
        error = _finish(proc, vhost)
        if error:
            failed.append(error)
    return failed


# -- databases ----------------------------------------------------------------

@contextlib.contextmanager
def throwaway_database(backend, directory):
    """Create an empty database on ``backend``; yield its SQLAlchemy URL.

    A database server that does not answer fails the test, saying which.

    :param backend: one of :data:`DB_BACKENDS`.
    :param directory: where the SQLite file goes.
    """
    if backend == 'sqlite':
        path = pathlib.Path(directory) / ('%s.sqlite' % unique_name('nc_'))
        yield 'sqlite:///%s' % path
        return
    if backend not in DB_SERVERS:
        raise ValueError('unknown database backend %r' % backend)
    server_url, what = DB_SERVERS[backend]
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(databases.throwaway_database(
                server_url, unique_name('nc_')))
        except databases.Unreachable as exc:
            pytest.fail('%s is not reachable at %s (the functional tests '
                        'need it running): %s' % (what, server_url,
                                                  exc.reason),
                        pytrace=False)
        yield url


# In-process, for tests about something else than ``db sync`` (which
# ``test_manage`` runs through the CLI): it saves a second of start-up.
sync_schema = databases.sync_schema


def insert_row(url, table, **values):
    """Insert one row with SQLAlchemy Core (no project code involved)."""
    engine = sa.create_engine(url, poolclass=sa_pool.NullPool)
    try:
        tab = sa.Table(table, sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            conn.execute(sa.insert(tab).values(**values))
    finally:
        engine.dispose()


def table_rows(url, table):
    """Every row of ``table`` (deleted ones included), ordered by id."""
    engine = sa.create_engine(url, poolclass=sa_pool.NullPool)
    try:
        tab = sa.Table(table, sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            result = conn.execute(sa.select(tab).order_by(tab.c.id))
            return [dict(row._mapping) for row in result]
    finally:
        engine.dispose()


def live_rows(url, table):
    """The rows of ``table`` not soft-deleted (``deleted == 0``)."""
    return [r for r in table_rows(url, table) if not r['deleted']]


# -- configuration and the CLI ------------------------------------------------

@dataclasses.dataclass
class CellConf(object):
    """A cells.conf written by :func:`write_cells_conf`."""

    path: pathlib.Path
    host: str
    name: str
    transport_url: str
    connection: str


def write_cells_conf(directory, transport_url, connection, name='cell1',
                     cell_type='compute', cells_config=None, debug=False,
                     host=None, extra=None, filename='cells.conf'):
    """Write a cells.conf for one daemon into ``directory``.

    Fast on purpose: heartbeat every second, no periodic fuzzy delay, the
    cell list re-read on every access (``db_check_interval = 0``) and one
    connection attempt to the database.

    :param extra: ``{section: {option: value}}`` added last, overriding
        the defaults above (``None`` drops an option).
    """
    directory = pathlib.Path(directory)
    host = host or unique_name('ft-host-')
    sections = daemon_conf.merged(
        daemon_conf.daemon_sections(name, cell_type, transport_url,
                                    connection, directory, host),
        {'DEFAULT': {'debug': debug}, 'cells': {'cells_config': cells_config}},
        extra)
    path = directory / filename
    path.write_text(daemon_conf.ini(sections))
    return CellConf(path=path, host=host, name=name,
                    transport_url=transport_url, connection=connection)


def run_manage(conf, *args, check=False, timeout=CLI_TIMEOUT):
    """Run ``nova-cells-manage --config-file <conf> args...``.

    :param timeout: seconds after which the command is killed and the
        test fails (subprocess.TimeoutExpired): a hang guard.
    :returns: the ``subprocess.CompletedProcess`` (text output).
    """
    result = subprocess.run(_manage_argv(conf, args), capture_output=True,
                            text=True, timeout=timeout,
                            env=_subprocess_env())
    if check and result.returncode != 0:
        pytest.fail('nova-cells-manage %s exited %s:\n%s%s'
                    % (' '.join(args), result.returncode, result.stdout,
                       result.stderr), pytrace=False)
    return result


def _manage_argv(conf, args):
    path = conf.path if isinstance(conf, CellConf) else conf
    return [NOVA_CELLS_MANAGE, '--config-file', str(path)] + list(args)


def run_many(conf, commands):
    """Run several read-only ``nova-cells-manage`` commands concurrently.

    Only for commands that do not write, or that each have a database of
    their own: it saves a second of interpreter start-up per command.

    :param commands: ``{key: [args...]}``.
    :returns: ``{key: CompletedProcess}``.
    """
    return run_many_confs({key: (conf, args)
                           for key, args in commands.items()})


def run_many_confs(commands):
    """As :func:`run_many`, with ``{key: (conf, [args...])}``."""
    procs = {}
    for key, (conf, args) in commands.items():
        argv = _manage_argv(conf, args)
        procs[key] = (argv, subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_subprocess_env()))
    results = {}
    for key, (argv, proc) in procs.items():
        try:
            out, err = proc.communicate(timeout=CLI_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        results[key] = subprocess.CompletedProcess(argv, proc.returncode,
                                                   out, err)
    return results


def non_empty_lines(text):
    return [line for line in text.splitlines() if line.strip()]


# -- the daemon ---------------------------------------------------------------

class Daemon(daemons.Daemon):
    """One ``nova-cells`` subprocess in its own session / process group,
    its stdout and stderr in files named after the cell and backend.

    Under the threading backend oslo.service forks the service into a child
    process, so only killing the whole group is sure to leave nothing
    behind; :meth:`kill` does that and the fixture always calls it.
    """

    def __init__(self, conf, log_dir, backend='threading', label=None):
        self.conf = conf
        self.label = label or '1'
        self.log_dir = pathlib.Path(log_dir)
        stem = 'nova-cells-%s-%s' % (conf.name, backend)
        if label:
            stem += '-' + label
        super(Daemon, self).__init__(
            conf.path, self.log_dir, self.log_dir / (stem + '.stdout.log'),
            self.log_dir / (stem + '.stderr.log'), backend=backend)

    def stop(self, timeout=5):
        """SIGTERM, then wait up to ``timeout`` s; return the exit status.

        Fails the test (after killing the group) when it does not exit.
        """
        if not self.running():
            return self.proc.returncode
        self.terminate()
        status = self.wait(timeout)
        if status is None:
            self.kill()
            pytest.fail('nova-cells (pid %s) did not exit within %s s of '
                        'SIGTERM; log:\n%s' % (self.pid, timeout, self.log()),
                        pytrace=False)
        return status

    def stdout(self):
        return _read(self.stdout_path)

    def stderr(self):
        return _read(self.stderr_path)

    def log(self):
        """Both streams (under eventlet oslo.log writes to stdout)."""
        return '--- stdout ---\n%s--- stderr ---\n%s' % (self.stdout(),
                                                         self.stderr())

    def __repr__(self):
        return '<nova-cells %s %s pid=%s>' % (
            self.conf.name, self.backend, self.proc and self.proc.pid)


def _read(path):
    try:
        return pathlib.Path(path).read_text(errors='replace')
    except FileNotFoundError:
        return ''


# -- RPC client (test side) ---------------------------------------------------

class CellsRPC(object):
    """A test's own RPC client to the ``cells`` topic of one broker.

    Built the way nova-api's client is: a private ConfigOpts with every
    option registered, a transport for the URL, the admin context.
    """

    def __init__(self, url, config_file=None):
        self.url = url
        # A cell's cells.conf, when given: its [oslo_messaging_rabbit]
        # options (queue durability must match the daemon's).
        self.conf = cells_conf.new_config(
            default_config_files=[str(config_file)] if config_file else None)
        self.transport = rpc.get_transport(self.conf, url)
        self.ctxt = cells_context.get_admin_context()

    def call(self, method, version='1.0', namespace=None, timeout=10,
             **kwargs):
        target = oslo_messaging.Target(topic=nova_cells.TOPIC,
                                       namespace=namespace, version=version)
        client = rpc.get_client(self.transport, target)
        return client.prepare(timeout=timeout).call(self.ctxt, method,
                                                    **kwargs)

    def ping(self, arg='x', timeout=10):
        return self.call('ping', version='1.1', namespace='baseapi',
                         timeout=timeout, arg=arg)

    def get_cell_info_for_neighbors(self, timeout=10):
        return self.call('get_cell_info_for_neighbors', version='1.1',
                         timeout=timeout)

    def get_capacities(self, cell_name=None, timeout=10):
        return self.call('get_capacities', version='1.9', timeout=timeout,
                         cell_name=cell_name)

    def close(self):
        self.transport.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def wait_for_ping(url, timeout=30, daemon=None, per_call_timeout=0.5,
                  deadline=None, config_file=None):
    """Ping the ``cells`` topic on ``url`` until it answers (at once when
    the daemon is up: the timeout only bounds a daemon that never is).

    Each ping that times out is followed by one that waits twice as long
    (up to 4 s): on a loaded machine a daemon just started may answer
    every ping later than the first wait, and an answer to an earlier
    ping is not taken for a later one's.

    :param daemon: a :class:`Daemon` whose early death ends the wait.
    :param deadline: a ``time.monotonic()`` instant overriding ``timeout``.
    :returns: the ping answer.
    """
    deadline = deadline or time.monotonic() + timeout
    last_error = None
    per_call = per_call_timeout
    with CellsRPC(url, config_file) as client:
        while True:
            if daemon is not None and not daemon.running():
                pytest.fail('nova-cells exited with status %s before '
                            'answering ping; log:\n%s'
                            % (daemon.proc.returncode, daemon.log()),
                            pytrace=False)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                return client.ping(
                    arg='x', timeout=max(0.2, min(per_call, left)))
            except oslo_messaging.MessagingTimeout as exc:
                last_error = exc
                per_call = min(per_call * 2, 4.0)
            except oslo_messaging.MessagingException as exc:
                last_error = exc
                time.sleep(0.2)
    pytest.fail('nobody answered ping on %s in time (last error: %r)%s'
                % (url, last_error,
                   '; log:\n%s' % daemon.log() if daemon else ''),
                pytrace=False)


def poll_until(fetch, predicate, timeout=5, interval=0.2):
    """Call ``fetch()`` until ``predicate(value)``; return the last value.

    The caller asserts on the returned value, so that a timeout shows what
    was last seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if predicate(value) or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# -- fixtures -----------------------------------------------------------------

DAEMONS_KEY = pytest.StashKey[list]()


@pytest.fixture
def rabbit_url():
    """A fresh vhost on the local RabbitMQ; its ``rabbit://`` URL."""
    with rabbit_vhost() as url:
        yield url


@pytest.fixture(params=DB_BACKENDS)
def db_backend(request):
    return request.param


@pytest.fixture
def database_url(db_backend, tmp_path):
    """An empty database on each backend in turn (sqlite, pg, mysql)."""
    with throwaway_database(db_backend, tmp_path) as url:
        yield url


@pytest.fixture
def synced_database_url(database_url):
    """As ``database_url``, with the schema at head."""
    sync_schema(database_url)
    return database_url


@pytest.fixture
def one_connection_db(synced_database_url):
    """A Database on ``synced_database_url`` with one pooled connection
    and no overflow: the transaction after a refused one reuses the
    connection that saw the error."""
    from nova_cells.db import api as db_api
    database = db_api.Database(synced_database_url, max_pool_size=1,
                               max_overflow=0)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    with throwaway_database('sqlite', tmp_path) as url:
        yield url


@pytest.fixture
def synced_sqlite_url(sqlite_url):
    sync_schema(sqlite_url)
    return sqlite_url


@pytest.fixture
def daemon_factory(request, tmp_path):
    """``start(conf, backend='threading')`` -> a running :class:`Daemon`.

    Every daemon's process group is killed at teardown, whatever happened;
    on failure the logs are attached to the report (see conftest.py).
    """
    daemons = request.node.stash.setdefault(DAEMONS_KEY, [])

    def start(conf, backend='threading'):
        daemon = Daemon(conf, tmp_path, backend=backend)
        daemons.append(daemon)
        return daemon.start()

    yield start
    for daemon in daemons:
        daemon.kill()


@pytest.fixture
def stack():
    """An ``ExitStack`` closed when the test ends, pass or fail: what a
    test registers on it (daemons, vhosts, databases, servers) goes."""
    with contextlib.ExitStack() as exit_stack:
        yield exit_stack
