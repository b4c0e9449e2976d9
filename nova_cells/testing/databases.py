"""Throw-away databases on a PostgreSQL or MySQL/MariaDB server, and the
schema sync that makes them usable.

A database per test, or per cell of a demo, because a daemon's rows must
not meet another's, and dropping the database is the one cleanup that
cannot miss a table.  CREATE and DROP DATABASE cannot run inside a
transaction, nor on the database being dropped: they run in autocommit
on the server's maintenance database (``postgres``; none on MySQL).
"""

import contextlib

import sqlalchemy as sa
from sqlalchemy import pool as sa_pool

from nova_cells.db import api as db_api
from nova_cells.db import migration
from nova_cells import transport_url as transport_urls

__all__ = ['ServerError', 'Unreachable', 'Server', 'throwaway_database',
           'sync_schema']

CREATE = {'postgresql': 'CREATE DATABASE "%s"',
          'mysql': 'CREATE DATABASE `%s` CHARACTER SET utf8'}
# Whoever used the database is gone by then; FORCE only ends the
# connections of a daemon that was killed and left them behind.
DROP = {'postgresql': 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)',
        'mysql': 'DROP DATABASE IF EXISTS `%s`'}


class ServerError(Exception):
    """A statement failed on the server; ``str()`` names the server
    (password masked) and the first line of the driver's error."""


class Unreachable(ServerError):
    """The server did not answer; ``reason`` is the driver's error."""

    def __init__(self, message, reason):
        super(Unreachable, self).__init__(message)
        self.reason = reason


class Server(object):
    """A database server to create and drop databases on.

    :param url: a SQLAlchemy URL of the server, with or without a
        database (``postgresql+psycopg2://postgres@127.0.0.1:5432/``).
    :raises ValueError: for a URL that is not one, or not of PostgreSQL
        or MySQL/MariaDB.
    """

    def __init__(self, url):
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError as exc:
            raise ValueError(str(exc))
        self.dialect = parsed.get_backend_name()
        if self.dialect not in CREATE:
            raise ValueError('a postgresql or mysql server, not %s'
                             % self.dialect)
        self.url = url
        self._parsed = parsed
        self.admin_url = parsed.set(
            database='postgres' if self.dialect == 'postgresql' else None
        ).render_as_string(hide_password=False)
        self._engine = None

    def url_of(self, name):
        """The URL of database ``name`` on this server."""
        return self._parsed.set(database=name).render_as_string(
            hide_password=False)

    @property
    def engine(self):
        """An autocommit engine on the maintenance database, without a
        pool: nothing of ours stays connected to the server."""
        if self._engine is None:
            self._engine = sa.create_engine(self.admin_url,
                                            poolclass=sa_pool.NullPool,
                                            isolation_level='AUTOCOMMIT')
        return self._engine

    def check(self):
        """Raise :class:`Unreachable` unless the server answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text('SELECT 1'))
        except sa.exc.SQLAlchemyError as exc:
            reason = str(getattr(exc, 'orig', None) or exc).strip()
            raise Unreachable('database server %s: %s' % (
                transport_urls.mask(self.url), reason), reason)

    def create(self, name):
        self.execute(CREATE[self.dialect] % name)

    def drop(self, name):
        """Drop database ``name`` if it exists, whoever is connected."""
        self.execute(DROP[self.dialect] % name)

    def execute(self, statement):
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text(statement))
        except sa.exc.SQLAlchemyError as exc:
            raise ServerError('database server %s: %s' % (
                transport_urls.mask(self.url),
                str(getattr(exc, 'orig', None) or exc).strip()
                .splitlines()[0])) from exc

    def dispose(self):
        if self._engine is not None:
            self._engine.dispose()


@contextlib.contextmanager
def throwaway_database(server_url, name):
    """Create database ``name`` on the server of ``server_url``, yield
    its URL, and drop it however the block ends.

    :raises Unreachable: before anything is made, when the server does
        not answer.
    """
    server = Server(server_url)
    try:
        server.check()
    except Unreachable:
        server.dispose()
        raise
    try:
        server.create(name)
        yield server.url_of(name)
    finally:
        try:
            server.drop(name)
        finally:
            server.dispose()


def sync_schema(url):
    """Bring the database at ``url`` to the newest schema, in this
    process: a second cheaper than ``nova-cells-manage db sync``."""
    db = db_api.Database(url)
    try:
        migration.db_sync(db)
    finally:
        db.dispose()
