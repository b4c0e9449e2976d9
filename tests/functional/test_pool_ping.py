"""A pooled connection to a database server is pinged before use only when
it sat unused for a while (``nova_cells.db.api.PING_AFTER_IDLE_SECONDS``),
not before every transaction as oslo.db's ``pool_pre_ping`` does; a
connection the server dropped while it sat in the pool is still replaced
before a transaction uses it.  On PostgreSQL and MariaDB, each connection
killed by the server itself.
"""

import pytest
from oslo_db import exception as db_exc
import sqlalchemy as sa

from nova_cells.db import api as db_api


@pytest.fixture(params=('postgresql', 'mysql'))
def db_backend(request):
    """The database servers only: a SQLite file has nothing to ping."""
    return request.param


@pytest.fixture
def pings(one_connection_db, monkeypatch):
    """How many times the pool pinged (a list of the pinged connections)."""
    dialect = one_connection_db.engine.dialect
    pinged = []
    real = dialect.do_ping

    def counting(dbapi_connection):
        pinged.append(dbapi_connection)
        return real(dbapi_connection)
    monkeypatch.setattr(dialect, 'do_ping', counting)
    return pinged


def _backend_id(db):
    """The server's id of the connection the next transaction uses."""
    query = ('SELECT pg_backend_pid()' if db.engine.dialect.name ==
             'postgresql' else 'SELECT CONNECTION_ID()')
    with db.connection_reader() as conn:
        return conn.execute(sa.text(query)).scalar()


def _kill(url, backend_id):
    """End that connection from the server's side, from another one."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == 'postgresql':
                assert conn.execute(sa.text(
                    'SELECT pg_terminate_backend(:pid)'),
                    {'pid': backend_id}).scalar()
            else:
                conn.execute(sa.text('KILL %d' % int(backend_id)))
    finally:
        engine.dispose()


def test_a_busy_connection_is_not_pinged(one_connection_db, pings):
    for _ in range(5):
        _backend_id(one_connection_db)
    assert pings == []


def test_an_idle_connection_is_pinged(one_connection_db, pings,
                                      monkeypatch):
    _backend_id(one_connection_db)
    monkeypatch.setattr(db_api, 'PING_AFTER_IDLE_SECONDS', 0.0)
    for _ in range(3):
        _backend_id(one_connection_db)
    assert len(pings) == 3


def test_a_connection_dropped_while_idle_is_replaced(
        one_connection_db, synced_database_url, pings, monkeypatch):
    first = _backend_id(one_connection_db)
    _kill(synced_database_url, first)
    monkeypatch.setattr(db_api, 'PING_AFTER_IDLE_SECONDS', 0.0)
    second = _backend_id(one_connection_db)
    assert second != first
    assert len(pings) == 1


def test_without_the_ping_the_first_transaction_fails(
        one_connection_db, synced_database_url, pings, monkeypatch):
    """What the ping saves: the dropped connection fails one transaction
    (then the pool replaces it)."""
    monkeypatch.setattr(db_api, 'PING_AFTER_IDLE_SECONDS', 3600.0)
    first = _backend_id(one_connection_db)
    _kill(synced_database_url, first)
    with pytest.raises(db_exc.DBConnectionError):
        _backend_id(one_connection_db)
    assert _backend_id(one_connection_db) != first
    assert pings == []
