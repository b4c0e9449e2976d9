"""Cell database queries on a real SQLite file (reference §3.1)."""

import pytest
import sqlalchemy as sa

from nova_cells.db import api as db_api
from nova_cells import exception
from tests.unit import helpers

URL = 'rabbit://u:p@h:5672/vh'


def _create(db, name, is_parent=False, **extra):
    return db_api.cell_create(db, dict(name=name, transport_url=URL,
                                       is_parent=is_parent, **extra))


def _raw_cells(db):
    with db.engine.connect() as conn:
        return conn.execute(sa.text(
            'SELECT id, name, deleted, deleted_at IS NOT NULL '
            'FROM cells ORDER BY id')).all()


def test_cell_create_returns_the_row_with_column_defaults(db):
    row = _create(db, 'c1')
    assert {k: row[k] for k in ('id', 'name', 'transport_url', 'is_parent',
                                'weight_offset', 'weight_scale', 'api_url',
                                'deleted', 'deleted_at')} == {
        'id': 1, 'name': 'c1', 'transport_url': URL, 'is_parent': False,
        'weight_offset': 0.0, 'weight_scale': 1.0, 'api_url': None,
        'deleted': 0, 'deleted_at': None}
    assert row['created_at'] is not None


def test_cell_create_duplicate_raises_and_adds_nothing(db):
    _create(db, 'c1')
    with pytest.raises(exception.CellExists) as err:
        _create(db, 'c1', is_parent=True)
    assert str(err.value) == 'Cell with name c1 already exists.'
    assert err.value.code == 409
    assert _raw_cells(db) == [(1, 'c1', 0, 0)]


@pytest.mark.parametrize('call', [
    pytest.param(lambda db: db_api.cell_update(db, 'ghost', {'api_url': 'x'}),
                 id='update'),
    pytest.param(lambda db: db_api.cell_get(db, 'ghost'), id='get'),
])
def test_unknown_cell_raises_not_found(db, call):
    _create(db, 'c1')
    with pytest.raises(exception.CellNotFound) as err:
        call(db)
    assert err.value.cell_name == 'ghost'
    assert str(err.value) == "Cell ghost doesn't exist."


def test_cell_update_changes_the_row(db):
    _create(db, 'c1')
    row = db_api.cell_update(db, 'c1', {'is_parent': True,
                                        'weight_offset': 3.5})
    assert (row['is_parent'], row['weight_offset'], row['name']) == (
        True, 3.5, 'c1')
    assert row['updated_at'] is not None
    assert db_api.cell_get(db, 'c1')['is_parent'] is True


def test_cell_update_rename_onto_existing_name_raises_exists(db):
    _create(db, 'c1')
    _create(db, 'c2')
    with pytest.raises(exception.CellExists):
        db_api.cell_update(db, 'c2', {'name': 'c1'})
    assert [r['name'] for r in db_api.cell_get_all(db)] == ['c1', 'c2']


def test_cell_delete_soft_deletes_and_name_can_be_reused(db):
    first = _create(db, 'c1')
    assert db_api.cell_delete(db, 'c1') == 1
    # soft delete: the row stays, deleted = id, deleted_at stamped
    assert _raw_cells(db) == [(first['id'], 'c1', first['id'], 1)]
    assert db_api.cell_get_all(db) == []
    with pytest.raises(exception.CellNotFound):
        db_api.cell_get(db, 'c1')
    second = _create(db, 'c1', is_parent=True)
    assert second['id'] != first['id']
    assert db_api.cell_get(db, 'c1')['id'] == second['id']
    assert len(_raw_cells(db)) == 2


def test_cell_delete_unknown_returns_zero(db):
    assert db_api.cell_delete(db, 'ghost') == 0


def test_cell_get_all_lists_live_cells_by_id(db):
    for name in ('b', 'a', 'c'):
        _create(db, name)
    db_api.cell_delete(db, 'a')
    assert [r['name'] for r in db_api.cell_get_all(db)] == ['b', 'c']


def test_service_create_and_report_bumps_report_count(db):
    row = db_api.service_create(db, {'host': 'h', 'binary': 'nova-cells',
                                     'topic': 'cells'})
    assert (row['report_count'], row['last_seen_up']) == (0, None)
    first = db_api.service_report(db, row['id'])
    second = db_api.service_report(db, row['id'])
    assert (first['report_count'], second['report_count']) == (1, 2)
    assert second['last_seen_up'] >= first['last_seen_up']
    assert db_api.service_get_by_host_and_binary(
        db, 'h', 'nova-cells')['report_count'] == 2


def test_service_report_of_missing_row_raises(db):
    with pytest.raises(exception.ServiceNotFound) as err:
        db_api.service_report(db, 42)
    assert err.value.service_id == 42


def test_service_get_by_host_and_binary_missing_is_none(db):
    assert db_api.service_get_by_host_and_binary(db, 'h', 'nova-cells') \
        is None


def test_service_get_all_by_binary_includes_disabled(db):
    helpers.add_compute_service(db, 'a')
    helpers.add_compute_service(db, 'b', disabled=True)
    db_api.service_create(db, {'host': 'a', 'binary': 'nova-cells',
                               'topic': 'cells'})
    rows = db_api.service_get_all_by_binary(db, 'nova-compute')
    assert sorted((r['host'], r['disabled']) for r in rows) == [
        ('a', False), ('b', True)]


def test_compute_nodes_are_listed(db):
    helpers.add_compute_node(db, 'a', 4096, 1024, 40, 10)
    nodes = db_api.compute_node_get_all(db)
    assert [(n['host'], n['memory_mb'], n['free_ram_mb'], n['local_gb'],
             n['free_disk_gb']) for n in nodes] == [('a', 4096, 1024, 40, 10)]


def test_nodes_and_compute_services_are_read_together(db):
    helpers.add_compute_service(db, 'a')
    helpers.add_compute_service(db, 'b', disabled=True)
    db_api.service_create(db, {'host': 'c', 'binary': 'nova-cells',
                               'topic': 'cells'})
    helpers.add_compute_node(db, 'a', 4096, 1024, 40, 10)
    nodes, services = db_api.compute_nodes_with_services(db)
    assert nodes == db_api.compute_node_get_all(db)
    assert sorted((host, row['disabled']) for host, row in
                  services.items()) == [('a', False), ('b', True)]


def _dbapi_connection(session):
    return session.connection().connection.dbapi_connection


def test_a_sqlite_file_keeps_its_connection_between_transactions(db):
    """oslo.db's NullPool reopened the file (and ran the PRAGMAs) for
    every transaction; the connection is now kept, PRAGMAs and all."""
    seen = set()
    for _ in range(3):
        with db.reader() as session:
            seen.add(id(_dbapi_connection(session)))
            assert session.execute(
                sa.text('PRAGMA journal_mode')).scalar() == 'wal'
            assert session.execute(
                sa.text('PRAGMA busy_timeout')).scalar() == 30000
    assert len(seen) == 1
    assert isinstance(db.engine.pool, sa.pool.QueuePool)


def test_pooled_sqlite_connections_serve_concurrent_threads(db):
    import threading
    errors = []

    def create(index):
        try:
            db_api.cell_create(db, {'name': 'c%d' % index,
                                    'transport_url': 'fake:///c%d' % index,
                                    'is_parent': False})
            db_api.cell_get_all(db)
        except Exception as exc:  # noqa - reported below
            errors.append(exc)
    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(c['name'] for c in db_api.cell_get_all(db)) == [
        'c%d' % i for i in range(8)]
    with pytest.raises(exception.CellExists):      # oslo.db's filters hold
        db_api.cell_create(db, {'name': 'c0', 'transport_url': 'fake://',
                                'is_parent': False})


def test_a_sqlite_pool_keeps_max_pool_size_connections(tmp_path):
    default = db_api.Database('sqlite:///' + str(tmp_path / 'a.sqlite'))
    sized = db_api.Database('sqlite:///' + str(tmp_path / 'b.sqlite'),
                            max_pool_size=3)
    large = db_api.Database('sqlite:///' + str(tmp_path / 'c.sqlite'),
                            max_pool_size=50)
    try:
        assert default.engine.pool.size() == 1
        assert sized.engine.pool.size() == 3
        assert large.engine.pool.size() == db_api.SQLITE_POOL_MAX
    finally:
        default.dispose()
        sized.dispose()
        large.dispose()


def test_a_daemon_pools_twenty_connections_unless_told(make_conf):
    conf = make_conf('')
    assert conf.database.max_pool_size == 20
    assert make_conf('[database]\nmax_pool_size = 7\n').database \
        .max_pool_size == 7


def test_services_of_each_binary_are_read_with_their_own_value(db):
    # The live-rows statement is built once per filtered column and run
    # with the value bound: reading another binary must not see the first.
    helpers.add_compute_service(db, 'a')
    db_api.service_create(db, {'host': 'c', 'binary': 'nova-cells',
                               'topic': 'cells'})
    _nodes, compute = db_api.compute_nodes_with_services(db)
    _nodes, cells = db_api.compute_nodes_with_services(db, 'nova-cells')
    _nodes, none = db_api.compute_nodes_with_services(db, 'nova-conductor')
    assert (sorted(compute), sorted(cells), none) == (['a'], ['c'], {})
