"""Schema migrations against SQLite: models and migrations agree."""

from alembic.autogenerate import compare_metadata
from alembic import command
from alembic.migration import MigrationContext
import pytest
import sqlalchemy as sa

from nova_cells.db import api as db_api
from nova_cells.db import migration
from nova_cells.db import models
from nova_cells.db import schema
from tests import nova_stein

# Reference §3.1: nova's ``cells`` table, column for column.
NOVA_CELLS_COLUMNS = {
    'id', 'created_at', 'updated_at', 'deleted_at', 'deleted', 'name',
    'api_url', 'transport_url', 'weight_offset', 'weight_scale', 'is_parent'}
# Revision 0003 adds the cell state beyond nova (issue 6), nullable so that
# an original nova-cells writing into the table is unaffected.
ADDED_CELLS_COLUMNS = {'state', 'state_reason', 'signing_keys'}


def test_models_match_migrated_schema(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn),
                                models.BASE.metadata)
    assert diff == []


def test_db_version_is_head_after_sync(db):
    assert migration.head_version() == '0008'
    assert migration.db_version(db) == migration.head_version()


def test_the_daemons_head_constant_is_alembics_head(db):
    # The daemon checks its schema without loading alembic.
    assert schema.HEAD_REVISION == migration.head_version()
    assert schema.current_revision(db) == migration.db_version(db)


def test_current_revision_of_an_empty_database_is_none(tmp_path):
    empty = db_api.Database('sqlite:///' + str(tmp_path / 'empty.sqlite'))
    try:
        assert schema.current_revision(empty) is None
    finally:
        empty.dispose()


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
                      'bw_usage_cache', 'cell_outbox', 'cell_inbox',
                      'cell_claims', 'instance_extra',
                      'instance_system_metadata',
                      'instance_metadata', 'instance_info_caches',
                      'instance_id_mappings', 's3_images', 'security_groups',
                      'security_group_instance_association',
                      'security_group_rules', 'security_group_default_rules',
                      'tags', 'console_auth_tokens'}


def test_cells_table_has_novas_columns_plus_the_state(db):
    columns = {c['name']: c for c in sa.inspect(db.engine).get_columns(
        'cells')}
    assert set(columns) == NOVA_CELLS_COLUMNS | ADDED_CELLS_COLUMNS
    assert columns['transport_url']['nullable'] is False
    assert all(columns[c]['nullable'] for c in ADDED_CELLS_COLUMNS)
    assert {c.name for c in models.Cell.__table__.columns} == \
        NOVA_CELLS_COLUMNS | ADDED_CELLS_COLUMNS


def test_a_row_written_without_the_state_reads_enabled(db):
    # What an original nova-cells (or nova-manage) inserts.
    with db.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO cells (name, transport_url, is_parent, deleted) "
            "VALUES ('old', 'rabbit://h/', 0, 0)"))
    assert db_api.cell_get(db, 'old')['state'] == 'enabled'


def test_downgrade_to_0002_drops_the_state_columns(db):
    with db.engine.begin() as conn:
        command.downgrade(migration._alembic_config(conn), '0002')
    columns = {c['name'] for c in sa.inspect(db.engine).get_columns('cells')}
    assert columns == NOVA_CELLS_COLUMNS


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


def _schema(engine):
    inspector = sa.inspect(engine)
    return {table: {c['name']: str(c['type'])
                    for c in inspector.get_columns(table)}
            for table in inspector.get_table_names()}


def test_db_sync_adopts_a_database_nova_created(tmp_path):
    """nova 19.3.2's own cell database (its migrations' schema, nova's
    rows, no alembic_version) is brought to head: nova's tables keep every
    column as it was, only nova-cells' tables and the ``cells`` columns
    beyond nova are added, and nova's rows stay."""
    url = 'sqlite:///' + str(tmp_path / 'nova.sqlite')
    nova_stein.create_database(url)
    nova_db = db_api.Database(url)
    try:
        with nova_db.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO cells (name, transport_url, is_parent, deleted) "
                "VALUES ('child1', 'rabbit://h/c1', 0, 0)"))
            conn.execute(sa.text(
                "INSERT INTO instances (uuid, vm_state, deleted) "
                "VALUES ('u-1', 'active', 0)"))
        before = _schema(nova_db.engine)
        assert migration.db_version(nova_db) is None
        migration.db_sync(nova_db)
        after = _schema(nova_db.engine)

        assert migration.db_version(nova_db) == migration.head_version()
        assert set(after) - set(before) == {'alembic_version', 'cell_outbox',
                                            'cell_inbox', 'cell_claims'}
        changed = {t for t in before if before[t] != after[t]}
        assert changed == {'cells'}
        assert set(after['cells']) - set(before['cells']) == \
            ADDED_CELLS_COLUMNS
        row = db_api.cell_get(nova_db, 'child1')
        assert (row['transport_url'], row['state']) == ('rabbit://h/c1',
                                                        'enabled')
        with nova_db.engine.connect() as conn:
            assert conn.execute(sa.text(
                'SELECT uuid FROM instances')).scalars().all() == ['u-1']
    finally:
        nova_db.dispose()


def _generic(sa_type):
    return type(sa_type.as_generic()).__name__


# Our columns nova's cell database does not have: added by our revisions,
# nullable, so that nova's services never notice them.
OURS_ONLY = {('cells', name) for name in ADDED_CELLS_COLUMNS}
# Where nova's migrations left a string with a CHECK where its model says
# Enum: the same values, stored the same way.
ENUM_AS_STRING = {('key_pairs', 'type'), ('migrations', 'migration_type')}


NOVA_TABLES = nova_stein.table_columns('main')
SHARED = sorted(t.name for t in models.BASE.metadata.sorted_tables
                if t.name in NOVA_TABLES)


def test_most_of_our_tables_are_novas():
    ours = {t.name for t in models.BASE.metadata.sorted_tables}
    assert ours - set(SHARED) == {'cell_outbox', 'cell_inbox',
                                  'cell_claims'}


@pytest.mark.parametrize('table', SHARED)
def test_every_column_we_declare_is_novas(table):
    """What our code reads and writes of a nova table exists in the
    database nova created, with nova's generic type (a column nova lacks
    made every capacity read fail on a real cell)."""
    nova = NOVA_TABLES[table]
    for column in models.BASE.metadata.tables[table].columns:
        if (table, column.name) in OURS_ONLY:
            assert column.nullable, column.name
            continue
        assert column.name in nova, '%s.%s is not nova\'s' % (
            table, column.name)
        if (table, column.name) in ENUM_AS_STRING:
            continue
        assert _generic(column.type) == _generic(nova[column.name]), (
            table, column.name)
