"""Queries on a cell's database, returning plain dicts.

A :class:`Database` wraps one oslo.db enginefacade, so that several cells can
live in one process (tests, the demo) each with its own database; nothing
here reads configuration.  Rows leave this module as dicts (nova's
``dict(row)``), never as ORM objects bound to a session.
"""

import contextlib
import functools
import threading
import time

from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import enginefacade
from oslo_db.sqlalchemy import exc_filters
from oslo_utils import timeutils
import sqlalchemy as sa

from nova_cells.db import models
from nova_cells import exception

__all__ = ['Database', 'cell_create', 'cell_update', 'cell_delete',
           'cell_get', 'cell_get_all', 'service_get_by_host_and_binary',
           'service_create', 'service_report', 'service_get_all_by_binary',
           'service_hosts_alive',
           'compute_node_get_all', 'compute_nodes_with_services',
           'nodes_and_services']


#: A pooled connection to a database server unused for this many seconds
#: is pinged before it is handed out again (oslo.db pings at every
#: checkout).
PING_AFTER_IDLE_SECONDS = 2.0

#: Most connections kept open to one SQLite file: it has one writer at a
#: time, so more buy nothing, and a process holding many cells (the demo,
#: the ``scale`` bench) would hold many file descriptors.
SQLITE_POOL_MAX = 5


@enginefacade.transaction_context_provider
class _DBContext(object):
    """A throw-away holder for enginefacade's per-transaction state."""


class Database(object):
    """One cell's database: an engine facade and its connection URL.

    No I/O happens here until a query runs; :meth:`check_connection` is the
    explicit readiness step of the daemon's start-up.
    """

    def __init__(self, connection, **options):
        self.connection = connection
        self._facade = enginefacade.transaction_context()
        self._facade.configure(connection=connection, **options)
        self._facade.append_on_engine_create(_name_unnamed_duplicates)
        self._facade.append_on_engine_create(_ping_after_idle)
        self._write_lock = None
        if connection.startswith('sqlite') and ':memory:' not in connection:
            # NOTE(nova-cells): SQLite has one writer at a time; serialize
            # our writers here instead of failing on "database is locked".
            self._write_lock = _file_write_lock(connection)
            self._facade.append_on_engine_create(_sqlite_concurrency)
            keep = min(options.get('max_pool_size') or 1,
                       SQLITE_POOL_MAX)
            self._facade.append_on_engine_create(
                lambda engine: _pool_sqlite_connections(engine, keep))

    @classmethod
    def from_conf(cls, conf):
        """Build from oslo.db's ``[database]`` options of ``conf``."""
        options = {name: conf.database[name] for name in conf.database}
        connection = options.pop('connection')
        for unused in ('backend', 'use_db_reconnect', 'db_retry_interval',
                       'db_inc_retry_interval', 'db_max_retry_interval',
                       'db_max_retries', 'slave_connection',
                       'asyncio_connection', 'asyncio_slave_connection'):
            options.pop(unused, None)
        return cls(connection, **options)

    @property
    def engine(self):
        return self._facade.writer.get_engine()

    def writer(self):
        """A context manager yielding a session in a write transaction."""
        return self._write(self._facade.writer)

    def connection_writer(self):
        """A context manager yielding a Core connection in a write
        transaction: for statements that need no ORM (the outbox and the
        inbox, on every durable hop), at about half a session's CPU."""
        return self._write(self._facade.writer.connection)

    def _write(self, transaction):
        if self._write_lock is None:
            return transaction.using(_DBContext())
        return self._locked(transaction)

    @contextlib.contextmanager
    def _locked(self, transaction):
        with self._write_lock:
            with transaction.using(_DBContext()) as handle:
                yield handle

    def reader(self):
        """A context manager yielding a session in a read transaction."""
        return self._facade.reader.using(_DBContext())

    def connection_reader(self):
        """A Core connection in a read transaction (see
        :meth:`connection_writer`)."""
        return self._facade.reader.connection.using(_DBContext())

    def check_connection(self):
        """Connect once (oslo.db retries per ``max_retries``).

        :raises oslo_db.exception.DBConnectionError: when unreachable.
        """
        with self.engine.connect() as conn:
            conn.execute(sa.text('SELECT 1'))

    def dispose(self):
        """Close pooled connections (before a fork, and on shutdown; for a
        SQLite file, also before copying it: the last connection to close
        writes the WAL back into the file)."""
        self._facade.dispose_pool()


_FILE_LOCKS = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_write_lock(connection):
    """One write lock per SQLite file in this process, shared by every
    Database object opened on it."""
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(connection, threading.Lock())


def _name_unnamed_duplicates(engine):
    """Raise oslo.db's ``DBDuplicateEntry`` for a PostgreSQL unique
    violation on a constraint whose name has no underscore.

    oslo.db reads the column out of PostgreSQL's constraint name by
    cutting it at underscores, and raises ``ValueError`` for a name
    without one, such as nova's ``uuid`` index of ``instances``: a resent
    build then failed on PostgreSQL instead of finding the row its earlier
    delivery made.  This listener must run before oslo.db's, which is
    already registered (``insert=True`` does not order these dialect
    events), so oslo.db's is registered again after it.
    """
    def _duplicate(context):
        error = context.original_exception
        diagnostics = getattr(error, 'diag', None)
        name = getattr(diagnostics, 'constraint_name', None)
        if getattr(error, 'pgcode', None) == _PG_UNIQUE_VIOLATION and \
                name and '_' not in name:
            raise db_exc.DBDuplicateEntry(
                columns=[name], inner_exception=context.sqlalchemy_exception)

    oslo_handler = exc_filters.handler
    registered = sa.event.contains(engine, 'handle_error', oslo_handler)
    if registered:
        sa.event.remove(engine, 'handle_error', oslo_handler)
    sa.event.listen(engine, 'handle_error', _duplicate)
    if registered:
        sa.event.listen(engine, 'handle_error', oslo_handler, retval=True)


# PostgreSQL's SQLSTATE of a unique violation.
_PG_UNIQUE_VIOLATION = '23505'


def _ping_after_idle(engine):
    """Ping a pooled connection before use only when it sat unused for
    :data:`PING_AFTER_IDLE_SECONDS`, instead of at every checkout.

    oslo.db turns SQLAlchemy's ``pool_pre_ping`` on: one ``SELECT 1``
    round trip before every transaction.  On a busy daemon a connection
    goes back to the pool and out again within milliseconds, and those
    pings were one statement in eight of a durable build on PostgreSQL
    (tools/bench/route.py).  A connection that broke while in use fails
    that transaction whether or not it was pinged before; the writes that
    must not be lost retry on a connection error.  What the ping is for,
    a connection that died while idle in the pool (the server restarted
    overnight), is still caught: as SQLAlchemy's pre-ping does, a failed
    ping invalidates the pool's connections and the checkout gets a new
    one.
    """
    pool = engine.pool
    if not getattr(pool, '_pre_ping', False):
        return                  # a SQLite file: nothing to ping
    pool._pre_ping = False
    dialect = engine.dialect

    @sa.event.listens_for(pool, 'checkin')
    def _checkin(_dbapi_connection, record):
        record.info['nova_cells.idle_since'] = time.monotonic()

    @sa.event.listens_for(pool, 'checkout')
    def _checkout(dbapi_connection, record, _proxy):
        since = record.info.pop('nova_cells.idle_since', None)
        if since is None or \
                time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise sa.exc.InvalidatePoolError(str(exc))
            raise


def _sqlite_concurrency(engine):
    """WAL and a busy timeout, so that the threads of one daemon (or the
    cells of the in-process demo) can write one SQLite file together."""
    @sa.event.listens_for(engine, 'connect')
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute('PRAGMA journal_mode=WAL')
        cursor.execute('PRAGMA busy_timeout=30000')
        cursor.close()


def _pool_sqlite_connections(engine, keep=1):
    """Keep up to ``keep`` connections to a SQLite file open between
    transactions (``[database] max_pool_size`` in a daemon, at most
    :data:`SQLITE_POOL_MAX`; more are opened
    when threads need them, and closed when they are done).

    oslo.db gives SQLite files a ``NullPool``: every transaction opened the
    file and ran the PRAGMAs of :func:`_sqlite_concurrency` again, which
    was a third of a broadcast query's time with 1,000 cells in one
    process (doc/performance.rst).  SQLAlchemy's own default for a file
    is a ``QueuePool`` (its pysqlite dialect turns ``check_same_thread``
    off for files, so threads may share pooled connections).  The new pool
    is built as ``Pool.recreate`` builds one, so the connect listeners of
    oslo.db and ours carry over; no pre-ping, as a local file cannot drop
    a connection the way a server does.
    """
    current = engine.pool
    if not isinstance(current, sa.pool.NullPool):
        return
    engine.pool = sa.pool.QueuePool(
        current._creator, pool_size=keep, max_overflow=-1,
        recycle=current._recycle, echo=current.echo,
        logging_name=current._orig_logging_name,
        reset_on_return=current._reset_on_return, pre_ping=False,
        _dispatch=current.dispatch, dialect=current._dialect)
    current.dispose()


def _live(query_model):
    return sa.select(query_model).where(query_model.deleted == 0)


def _soft_delete(row):
    row.deleted = row.id
    row.deleted_at = timeutils.utcnow()


# -- cells -------------------------------------------------------------------

#: Columns of ``cells`` a caller may set; ``id``, ``deleted`` and the
#: timestamps are this module's (the same list as
#: :data:`nova_cells.cells.cell_values.WRITABLE_COLUMNS`, which checks values).
CELL_COLUMNS = frozenset(('name', 'transport_url', 'api_url',
                          'weight_offset', 'weight_scale', 'is_parent',
                          'state', 'state_reason', 'signing_keys'))


def _only_cell_columns(values):
    """Refuse any key that is not a writable column: ``setattr`` would
    otherwise set ``id``, ``deleted`` or any attribute of the row object
    (the RPC ``cell_update`` once took whatever it was given)."""
    unknown = sorted(str(k) for k in values if k not in CELL_COLUMNS)
    if unknown:
        raise exception.InvalidCellValues(
            reason='unknown cell columns: %s' % ', '.join(unknown))


def cell_create(db, values):
    """Create a neighbour cell; :raises CellExists: on a duplicate name,
    :raises InvalidCellValues: for a key that is not a writable column."""
    _only_cell_columns(values)
    try:
        with db.writer() as session:
            row = models.Cell(**values)
            session.add(row)
            session.flush()
            return row.as_dict()
    except db_exc.DBDuplicateEntry:
        raise exception.CellExists(name=values.get('name'))


def _cell_row(session, name):
    row = session.execute(
        _live(models.Cell).where(models.Cell.name == name)).scalars().first()
    if row is None:
        raise exception.CellNotFound(cell_name=name)
    return row


def cell_update(db, name, values):
    """Update a neighbour cell; :raises CellNotFound:, :raises CellExists:,
    :raises InvalidCellValues: for a key that is not a writable column."""
    _only_cell_columns(values)
    try:
        with db.writer() as session:
            row = _cell_row(session, name)
            for key, value in values.items():
                setattr(row, key, value)
            session.flush()
            return row.as_dict()
    except db_exc.DBDuplicateEntry:
        raise exception.CellExists(name=values.get('name'))


def cell_delete(db, name):
    """Soft-delete a neighbour cell; return the number of rows deleted."""
    with db.writer() as session:
        rows = session.execute(
            _live(models.Cell).where(models.Cell.name == name)).scalars()
        count = 0
        for row in rows:
            _soft_delete(row)
            count += 1
        return count


def cell_get(db, name):
    """Return a neighbour cell; :raises CellNotFound:."""
    with db.reader() as session:
        return _cell_row(session, name).as_dict()


def cell_get_all(db):
    """Return every live neighbour cell, ordered by id."""
    with db.reader() as session:
        rows = session.execute(_live(models.Cell).order_by(models.Cell.id))
        return [row.as_dict() for row in rows.scalars()]


# -- services -----------------------------------------------------------------

def service_get_by_host_and_binary(db, host, binary):
    """Return the live service row for (host, binary), or None."""
    with db.reader() as session:
        row = session.execute(
            _live(models.Service).where(models.Service.host == host,
                                        models.Service.binary == binary)
        ).scalars().first()
        return row.as_dict() if row else None


def service_create(db, values):
    """Create a service row and return it."""
    with db.writer() as session:
        row = models.Service(**values)
        session.add(row)
        session.flush()
        return row.as_dict()


def service_report(db, service_id):
    """Record a heartbeat: bump ``report_count``, stamp ``last_seen_up``.

    :raises ServiceNotFound: if the row was deleted meanwhile.
    """
    now = timeutils.utcnow()
    with db.connection_writer() as conn:
        if conn.execute(_SERVICE_REPORT, {'s_id': service_id,
                                          'last_seen_up': now,
                                          'updated_at': now}).rowcount != 1:
            raise exception.ServiceNotFound(service_id=service_id)
        return dict(conn.execute(_SERVICE_BY_ID,
                                 {'s_id': service_id}).one()._mapping)


# A heartbeat of every service, every report_interval: two Core statements
# built once (the ORM's load and flush cost a forwarding cell more CPU than
# many of the messages it passed on).
_SERVICES = models.Service.__table__
_LIVE_SERVICE = (_SERVICES.c.id == sa.bindparam('s_id'),
                 _SERVICES.c.deleted == 0)
_SERVICE_REPORT = sa.update(_SERVICES).where(*_LIVE_SERVICE).values(
    report_count=sa.func.coalesce(_SERVICES.c.report_count, 0) + 1)
_SERVICE_BY_ID = sa.select(_SERVICES).where(*_LIVE_SERVICE)


def service_hosts_alive(db, binary, since):
    """The hosts of the live services of ``binary`` whose heartbeat is
    newer than ``since``."""
    table = models.Service.__table__
    with db.connection_reader() as conn:
        return set(conn.execute(sa.select(table.c.host).where(
            table.c.deleted == 0, table.c.binary == binary,
            sa.func.coalesce(table.c.last_seen_up, table.c.updated_at,
                             table.c.created_at) >= since)).scalars())


def service_get_all_by_binary(db, binary):
    """Return every live service row of ``binary`` (disabled included)."""
    with db.reader() as session:
        rows = session.execute(
            _live(models.Service).where(models.Service.binary == binary))
        return [row.as_dict() for row in rows.scalars()]


# -- compute nodes -----------------------------------------------------------

def _live_dicts(conn, model, **equal):
    """Every live row of ``model`` (with the columns in ``equal`` at those
    values) as a dict, read with Core: the same dicts as ``as_dict()`` of
    ORM objects, without building and tracking an object per row (a leaf
    reads every node and service per build)."""
    columns = tuple(sorted(equal))
    return [dict(row._mapping) for row in conn.execute(
        _live_rows_statement(model.__table__, columns),
        {'l_' + name: equal[name] for name in columns})]


@functools.lru_cache(maxsize=64)
def _live_rows_statement(table, columns):
    """The SELECT of :func:`_live_dicts`, built once per table and set
    of filtered columns, with bound parameters ``l_<column>``."""
    return sa.select(table).where(table.c.deleted == 0, *(
        table.c[name] == sa.bindparam('l_' + name) for name in columns))


def compute_node_get_all(db):
    """Return every live compute node row."""
    with db.connection_reader() as conn:
        return _live_dicts(conn, models.ComputeNode)


def nodes_and_services(conn, binary='nova-compute'):
    """:func:`compute_nodes_with_services` within ``conn``'s transaction
    (a placement reads and writes in one)."""
    nodes = _live_dicts(conn, models.ComputeNode)
    services = {row['host']: row for row in _live_dicts(
        conn, models.Service, binary=binary)}
    return nodes, services


def compute_nodes_with_services(db, binary='nova-compute'):
    """``(compute node rows, {host: service row})`` read in one
    transaction: what a host scheduler and the capacity refresh need, in
    one pool checkout (the flavors come from :mod:`nova_cells.db.flavors`,
    possibly from another database)."""
    with db.connection_reader() as conn:
        return nodes_and_services(conn, binary)
