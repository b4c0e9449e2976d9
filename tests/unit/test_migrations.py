"""Schema migrations against SQLite: models and migrations agree."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
import pytest
import sqlalchemy as sa

from nova_cells.db import api as db_api
from nova_cells.db import migration
from nova_cells.db import models

# Reference §3.1: nova's ``cells`` table, column for column.
NOVA_CELLS_COLUMNS = {
    'id', 'created_at', 'updated_at', 'deleted_at', 'deleted', 'name',
    'api_url', 'transport_url', 'weight_offset', 'weight_scale', 'is_parent'}


def test_models_match_migrated_schema(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn),
                                models.BASE.metadata)
    assert diff == []


def test_db_version_is_head_after_sync(db):
    assert migration.head_version() == '0002'
    assert migration.db_version(db) == migration.head_version()


def test_empty_database_has_no_version(tmp_path):
    empty = db_api.Database('sqlite:///' + str(tmp_path / 'empty.sqlite'))
    try:
        assert migration.db_version(empty) is None
    finally:
        empty.dispose()


def test_db_sync_twice_is_a_no_op(db):
    migration.db_sync(db)
    assert migration.db_version(db) == migration.head_version()


def test_migrated_tables(db):
    tables = set(sa.inspect(db.engine).get_table_names())
    assert tables == {'alembic_version', 'cells', 'services',
                      'compute_nodes', 'instance_types', 'instances',
                      'instance_faults', 'instance_actions',
                      'instance_actions_events', 'migrations', 'task_log',
                      'key_pairs', 'block_device_mapping',
                      'bw_usage_cache'}


def test_cells_table_has_exactly_novas_columns(db):
    columns = {c['name']: c for c in sa.inspect(db.engine).get_columns(
        'cells')}
    assert set(columns) == NOVA_CELLS_COLUMNS
    assert columns['transport_url']['nullable'] is False
    assert {c.name for c in models.Cell.__table__.columns} == \
        NOVA_CELLS_COLUMNS


@pytest.mark.parametrize('table, name, columns', [
    pytest.param('cells', 'uniq_cells0name0deleted', ['name', 'deleted'],
                 id='cells-name-deleted'),
    pytest.param('services', 'uniq_services0host0binary0deleted',
                 ['host', 'binary', 'deleted'], id='services-host-binary'),
    pytest.param('services', 'uniq_services0host0topic0deleted',
                 ['host', 'topic', 'deleted'], id='services-host-topic'),
    pytest.param('instance_types', 'uniq_instance_types0name0deleted',
                 ['name', 'deleted'], id='flavors-name'),
])
def test_unique_constraints(db, table, name, columns):
    uniques = {u['name']: u['column_names']
               for u in sa.inspect(db.engine).get_unique_constraints(table)}
    assert uniques[name] == columns
