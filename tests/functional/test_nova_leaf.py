"""Our daemon as the leaf of a Stein cloud, on the databases nova created.

Issue 20: nova-conductor and nova-compute read what a cells v1 leaf wrote
before its conductor cast, so our leaf must leave exactly that.  Here the
leaf's cell database and API database are made by nova 19.3.2's own
schema (``tests/nova_stein.py``; the cell database then adopted by our
``db sync``), its flavor lives only in the API database, and its hand-off
is nova's (``conductor``): a test-side nova-conductor receives the cast.
The top is ours, on a nova-made database too.

The build is the original's own (wire sample ``targeted/build_instances/
down``: two instances of a nova-api request, an image-backed root disk,
the default security group), sent through ``CellsAPI.build_instances`` at
the top after nova-api's rows, as nova-api does.  The same build reached an
original leaf, whose cast is sample ``oslo/conductor/build_instances``;
another original leaf's rows are ``nova_stein/leaf_rows_after_build.json``.
Checked, on SQLite and PostgreSQL:

* the leaf reports capacity units of the API database's flavor;
* per instance, the same tables, row counts and non-null columns as the
  original's leaf;
* the conductor cast equals the original's, field for field (only the
  info cache's creation time is this run's);
* ``actions_get`` at the top answers the leaf's ``create`` action.
"""

import copy
import queue

import pytest
import sqlalchemy as sa
from sqlalchemy import pool as sa_pool

from tests.functional import fixtures
from tests.functional import tree_support
from tests.functional.tree_support import ProcessTree
from tests import nova_stein

from nova_cells import context as cells_context
from nova_cells.objects import base as objects_base
from nova_cells.objects import instance as instance_obj

pytestmark = pytest.mark.functional

objects_base.register_all()
BUILD = nova_stein.wire_sample('targeted/build_instances/down')
CAST = nova_stein.wire_sample('oslo/conductor/build_instances')
FLAVOR = CAST['args']['filter_properties']['instance_type'][
    'nova_object.data']
HOSTS = [('stein-cmp1', 32768, 16, 400)]
CHANGES = 'nova_object.changes'


def _api_database(url):
    nova_stein.create_database(url, 'api')
    tree_support.insert_rows(url, 'flavors', [
        {k: FLAVOR[k] for k in ('id', 'name', 'flavorid', 'memory_mb',
                                'vcpus', 'root_gb', 'ephemeral_gb', 'swap',
                                'rxtx_factor', 'vcpu_weight', 'disabled',
                                'is_public', 'description')}])


def _tree(request, tmp_path, stack, backend):
    api_db = stack.enter_context(fixtures.throwaway_database(
        backend, tmp_path))
    _api_database(api_db)
    tree = ProcessTree(
        {'api': {'leaf': {}}}, tmp_path, stack,
        backends={'api': backend, 'leaf': backend},
        extra=lambda cell: {
            'cells': {'local_scheduler_driver': 'conductor'},
            'api_database': {'connection': api_db},
        } if cell.name == 'leaf' else None, request=request)
    tree.provision()
    for cell in tree.cells.values():
        nova_stein.create_database(cell.db_url, 'main')
    tree.sync_schemas(cli=False)
    tree.wire(cli=False)
    tree_support.seed_compute_hosts(tree['leaf'].db_url, HOSTS)
    return tree


def _nova_api_rows(url, instances):
    """What nova-api wrote at the top before its cast: the instances."""
    columns = {c.name for c in _table(url, 'instances').columns}
    rows = []
    for instance in instances:
        values = {k: v for k, v in instance.obj_to_primitive()[
            'nova_object.data'].items() if k in columns}
        values.update(deleted=0, cleaned=0,
                      created_at=instance.created_at.replace(tzinfo=None))
        rows.append(values)
    tree_support.insert_rows(url, 'instances', rows)


def _table(url, name):
    engine = sa.create_engine(url, poolclass=sa_pool.NullPool)
    try:
        return sa.Table(name, sa.MetaData(), autoload_with=engine)
    finally:
        engine.dispose()


def _build_kwargs():
    return objects_base.NovaObjectSerializer().deserialize_entity(
        None, copy.deepcopy(BUILD['method_kwargs']['build_inst_kwargs']))


def _rows_naming(url, uuid):
    engine = sa.create_engine(url, poolclass=sa_pool.NullPool)
    found = {}
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                key = ('uuid' if table.name == 'instances' else
                       'instance_uuid' if 'instance_uuid' in table.c
                       else None)
                if key is None:
                    continue
                rows = [dict(r._mapping) for r in conn.execute(
                    sa.select(table).where(table.c[key] == uuid))]
                if rows:
                    found[table.name] = rows
    finally:
        engine.dispose()
    return found


def _non_null(rows):
    return sorted(sorted(k for k, v in r.items() if v is not None)
                  for r in rows)


def _normalized(node, path=()):
    """Change lists as sets; the info cache's creation time aside."""
    if isinstance(node, dict):
        return {k: (sorted(v) if k == CHANGES else
                    _normalized(v, path + (k,)))
                for k, v in node.items()
                if not (k == 'created_at' and path[-2:] == (
                    'info_cache', 'nova_object.data'))}
    if isinstance(node, list):
        return [_normalized(v, path) for v in node]
    return node


def _context_keys(message):
    return {k[len('_context_'):] for k in message if
            k.startswith('_context_')}


@pytest.mark.parametrize('backend', ['sqlite', 'postgresql'])
def test_a_stein_leaf_writes_and_casts_as_the_original(
        backend, request, tmp_path, stack):
    tree = _tree(request, tmp_path, stack, backend)
    conductor = stack.enter_context(
        tree_support.fake_conductor(tree['leaf'].url))
    tree.start()
    kwargs = _build_kwargs()
    _nova_api_rows(tree['api'].db_url, kwargs['instances'])
    ctxt = cells_context.RequestContext.from_dict(BUILD['ctxt'])

    # Capacity units of the API database's flavor (4096 MB, 20 GB), with
    # nova's 10 % reserve: int(32768 * 0.9 / 4096), int(409600 * 0.9 /
    # 20480).
    caps = tree.wait_for_top_capacities(
        {'ram_free': {'total_mb': 32768, 'units_by_mb': {'4096': 7}},
         'disk_free': {'total_mb': 409600, 'units_by_mb': {'20480': 18}},
         'vcpu_free': {'total': 16, 'units_by_vcpus': {'1': 14}}})
    assert caps['ram_free']['units_by_mb'] == {'4096': 7}, tree.logs()

    with tree_support.cells_api(tree['api'].url) as (cells_api, _admin):
        cells_api.build_instances(ctxt, **kwargs)
        try:
            wire_ctxt, cast = conductor.calls.get(timeout=30)
        except queue.Empty:
            pytest.fail('no conductor cast; logs:\n%s' % tree.logs())
        assert conductor.calls.empty()

        # The cast, field for field.
        assert set(cast) == set(CAST['args'])
        assert _normalized(cast) == _normalized(CAST['args'])
        # client_timeout: what the receiving oslo.messaging adds from the
        # message's _timeout (none in a cast), not a key on the wire.
        assert set(wire_ctxt) - {'client_timeout'} == _context_keys(CAST)
        assert wire_ctxt['request_id'] == BUILD['ctxt']['request_id']

        # The rows, instance by instance.
        reference = nova_stein.leaf_rows()
        for instance in kwargs['instances']:
            ours = _rows_naming(tree['leaf'].db_url, instance.uuid)
            assert set(ours) == set(reference), instance.uuid
            for table, rows in reference.items():
                assert len(ours[table]) == len(rows), table
                assert _non_null(ours[table]) == _non_null(rows), table

        # The top learnt where they are, and asks the leaf their actions.
        first = kwargs['instances'][0]
        top = fixtures.poll_until(
            lambda: tree_support.rows_by_uuid(tree['api'].db_url).get(
                first.uuid),
            lambda row: row and row['cell_name'] == 'api!leaf', timeout=10)
        assert top['cell_name'] == 'api!leaf', tree.logs()
        actions = cells_api.actions_get(
            ctxt, instance_obj.Instance(uuid=first.uuid,
                                        cell_name='api!leaf'))
    assert [(a['action'], a['request_id'], a['instance_uuid'])
            for a in actions] == [('create', BUILD['ctxt']['request_id'],
                                   first.uuid)]
    tree.assert_running()


@pytest.mark.parametrize('backend', ['postgresql', 'mysql'])
def test_real_nova_instances_go_active(backend, request, tmp_path, stack):
    """The original's own instances (every field nova 19.3.2 sets:
    booleans, datetimes with a zone, nested objects) land in each cell's
    database and go ACTIVE (PostgreSQL refused them before: a boolean in
    the integer ``cleaned``)."""
    tree = ProcessTree(
        {'api': {'leaf': {}}}, tmp_path, stack,
        backends={'api': backend, 'leaf': backend},
        extra={'cells': {'local_scheduler_driver': 'builtin'}},
        request=request)
    tree.prepare([tree_support.Flavor(FLAVOR['id'], FLAVOR['name'],
                                      FLAVOR['memory_mb'], FLAVOR['vcpus'],
                                      FLAVOR['root_gb'])],
                 {'leaf': HOSTS})
    tree.start()
    kwargs = _build_kwargs()
    uuids = [i.uuid for i in kwargs['instances']]
    _nova_api_rows(tree['api'].db_url, kwargs['instances'])
    with tree_support.cells_api(tree['api'].url) as (cells_api, _admin):
        cells_api.build_instances(
            cells_context.RequestContext.from_dict(BUILD['ctxt']), **kwargs)
    rows = fixtures.poll_until(
        lambda: tree_support.rows_by_uuid(tree['api'].db_url),
        lambda found: all(found.get(u, {}).get('vm_state') == 'active'
                          for u in uuids), timeout=30)
    assert [(rows[u]['vm_state'], rows[u]['host'], rows[u]['cell_name'])
            for u in uuids] == [('active', HOSTS[0][0], 'api!leaf')] * 2, \
        tree.logs()
    leaf = tree_support.rows_by_uuid(tree['leaf'].db_url)
    assert [leaf[u]['display_name'] for u in uuids] == [
        'peer-vm-0-1', 'peer-vm-0-2']
    tree.assert_running()
