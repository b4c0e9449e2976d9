"""Healing the top through real daemons: ``api -> child``, one
``nova-cells`` process, RabbitMQ vhost and SQLite database each.

Rows are changed behind the daemons' backs, directly in the child's
database with SQLAlchemy Core (as a lost ``instance_update_at_top`` cast
would leave them); the child's ``_heal_instances`` periodic task
(``[cells] heal_interval = 1``, ``instance_update_num_instances = 50``)
must put the API cell's rows right within a few seconds.  Also
``sync_instances`` and ``instance_delete_everywhere`` through ``CellsAPI``
as nova-api sends them.
"""

import contextlib
import uuid as uuidlib

from oslo_utils import timeutils
import pytest
import sqlalchemy as sa
from sqlalchemy import pool as sa_pool

from tests.functional import fixtures
from tests.functional import tree_support
from tests.functional.tree_support import ProcessTree

from nova_cells.objects import instance as instance_obj

pytestmark = pytest.mark.functional

LAYOUT = {'api': {'child': {}}}
HEAL_DEADLINE = 10


def _extra(cell):
    # The API cell never heals; a long interval there keeps its log quiet.
    heal_interval = 1 if cell.parent else 60
    return {'DEFAULT': {'periodic_fuzzy_delay': 0},
            'cells': {'heal_interval': heal_interval,
                      'instance_update_num_instances': 50,
                      'db_check_interval': 60,
                      'call_timeout': 10}}


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with contextlib.ExitStack() as stack:
        tree = ProcessTree(LAYOUT, tmp_path_factory.mktemp('heal'), stack,
                           extra=_extra)
        tree.provision()
        tree.sync_schemas(cli=False)
        tree.wire(cli=False)
        tree.start()
        yield tree


@pytest.fixture(autouse=True)
def _logs(request, tree):
    tree_support.register_daemons(request, tree)


def _new_row(**values):
    row = dict(uuid=str(uuidlib.uuid4()), display_name='ft-heal',
               project_id='ft-project', user_id='ft-user', vm_state='active',
               task_state=None, host='child-cmp1', memory_mb=512, vcpus=1,
               root_gb=1, ephemeral_gb=0, created_at=timeutils.utcnow(),
               deleted=0)
    row.update(values)
    return row


def _update(url, instance_uuid, **values):
    """An UPDATE straight into a cell's database (no project code); a
    callable value gets the table (for column expressions)."""
    engine = sa.create_engine(url, poolclass=sa_pool.NullPool)
    try:
        tab = sa.Table('instances', sa.MetaData(), autoload_with=engine)
        values = {k: v(tab) if callable(v) else v
                  for k, v in values.items()}
        with engine.begin() as conn:
            conn.execute(sa.update(tab).where(tab.c.uuid == instance_uuid)
                         .values(**values))
    finally:
        engine.dispose()


def _top_row(tree, instance_uuid):
    rows = fixtures.table_rows(tree['api'].db_url, 'instances')
    return {r['uuid']: r for r in rows}.get(instance_uuid)


def _wait_top(tree, instance_uuid, predicate):
    return fixtures.poll_until(lambda: _top_row(tree, instance_uuid),
                               lambda r: r is not None and predicate(r),
                               timeout=HEAL_DEADLINE, interval=0.2)


def _in_both(tree, **values):
    row = _new_row(**values)
    tree_support.insert_rows(tree['child'].db_url, 'instances', [row])
    tree_support.insert_rows(tree['api'].db_url, 'instances',
                             [dict(row, cell_name='api!child')])
    return row['uuid']


def test_heal_puts_changed_fields_right(tree):
    instance_uuid = _in_both(tree)
    _update(tree['child'].db_url, instance_uuid, vm_state='stopped',
            task_state='powering-on', host='child-cmp2',
            updated_at=timeutils.utcnow())
    row = _wait_top(tree, instance_uuid,
                    lambda r: r['vm_state'] == 'stopped')
    assert row is not None and row['vm_state'] == 'stopped', tree.logs()
    assert (row['task_state'], row['host'], row['cell_name']) == (
        'powering-on', 'child-cmp2', 'api!child')


def test_heal_recreates_a_row_the_top_never_got(tree):
    row = _new_row(display_name='ft-lost')
    tree_support.insert_rows(tree['child'].db_url, 'instances', [row])
    found = _wait_top(tree, row['uuid'], lambda r: True)
    assert found is not None, tree.logs()
    assert (found['display_name'], found['host'], found['cell_name'],
            found['deleted']) == ('ft-lost', 'child-cmp1', 'api!child', 0)


def test_heal_deletes_at_the_top(tree):
    instance_uuid = _in_both(tree)
    _update(tree['child'].db_url, instance_uuid,
            deleted=lambda tab: tab.c.id, deleted_at=timeutils.utcnow(),
            vm_state='deleted')
    row = _wait_top(tree, instance_uuid, lambda r: r['deleted'] != 0)
    assert row is not None and row['deleted'] != 0, tree.logs()


def test_instance_delete_everywhere_through_cells_api(tree):
    instance_uuid = _in_both(tree)
    with tree_support.cells_api(tree['api'].url) as (api, ctxt):
        api.instance_delete_everywhere(
            ctxt, instance_obj.Instance(uuid=instance_uuid), 'hard')
    row = _wait_top(tree, instance_uuid, lambda r: r['deleted'] != 0)
    assert row is not None and row['deleted'] != 0, tree.logs()
    below = [r for r in fixtures.table_rows(tree['child'].db_url,
                                            'instances')
             if r['uuid'] == instance_uuid]
    assert below[0]['deleted'] != 0


def test_sync_instances_through_cells_api(tree):
    # An old row (outside the heal window) that the top has wrong: only a
    # sync without updated_since repairs it.
    long_ago = timeutils.utcnow().replace(year=2020)
    instance_uuid = _in_both(tree, created_at=long_ago, updated_at=long_ago)
    _update(tree['child'].db_url, instance_uuid, vm_state='error',
            updated_at=long_ago)
    with tree_support.cells_api(tree['api'].url) as (api, ctxt):
        api.sync_instances(ctxt)
    row = _wait_top(tree, instance_uuid, lambda r: r['vm_state'] == 'error')
    assert row is not None and row['vm_state'] == 'error', tree.logs()
