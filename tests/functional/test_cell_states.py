"""``nova-cells-manage cell disable|drain|enable`` against real daemons.

api -> child1 (gc1), child2 (gc3, gc4): five ``nova-cells`` processes with
the builtin host scheduler and hosts in every leaf.  The operator disables
child1 in the API cell and drains gc3 in child2 (``db_check_interval = 0``
here, so the daemons read the change at once); builds sent through
``CellsAPI`` must then land in gc4 only, ``tree`` and ``explain`` must say
why, a ``target_cell`` pin through the disabled child must end in ERROR,
and with every child out no build may go anywhere.  The tests share the
tree and run in order (each leaves the states the next one expects).
"""

import collections
import contextlib
import json
import uuid as uuidlib

import pytest

from tests.functional import fixtures
from tests.functional import tree_support
from tests.functional.tree_support import Flavor
from tests.functional.tree_support import ProcessTree

from nova_cells import context as cells_context

pytestmark = pytest.mark.functional

LAYOUT = {'api': {'child1': {'gc1': {}}, 'child2': {'gc3': {}, 'gc4': {}}}}
FLAVORS = [Flavor(1, 'm1.tiny', 512, 1, 1),
           Flavor(2, 'm1.small', 2048, 1, 20)]
SMALL = FLAVORS[1]
LEAF_HOSTS = {name: [('%s-cmp1' % name, 131072, 64, 1280)]
              for name in ('gc1', 'gc3', 'gc4')}
BUILDS = 20
BUILD_TIMEOUT = 30

EXTRA = {
    'DEFAULT': {'service_down_time': 3600},
    'cells': {'local_scheduler_driver': 'builtin',
              'db_check_interval': 0,
              'parent_update_interval': 1,
              'call_timeout': 5,
              'scheduler_retries': 0,
              'scheduler_retry_delay': 1},
}

USER = cells_context.RequestContext(user_id='ft-user',
                                    project_id='ft-project')
ADMIN = cells_context.RequestContext(user_id='ft-user',
                                     project_id='ft-project', is_admin=True,
                                     roles=['admin'])


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with contextlib.ExitStack() as stack:
        tree = ProcessTree(LAYOUT, tmp_path_factory.mktemp('states'), stack,
                           extra=EXTRA)
        yield tree.start_seeded(FLAVORS, LEAF_HOSTS)


@pytest.fixture(autouse=True)
def _attach_logs(request, tree):
    tree_support.register_daemons(request, tree)


def _manage(commands):
    """Run ``{key: (cell, [args])}`` side by side; all must succeed."""
    results = fixtures.run_many_confs(
        {key: (cell.conf, args) for key, (cell, args) in commands.items()})
    for key, result in results.items():
        assert result.returncode == 0, (key, result.stdout, result.stderr)
    return {key: r.stdout for key, r in results.items()}


def _build(tree, count, ctxt=USER, hints=None):
    """nova-api: the rows at the top, then one cast per instance."""
    api = tree['api']
    requests = [(str(uuidlib.uuid4()), 'ft-state-vm-%d' % i, SMALL)
                for i in range(count)]
    tree_support.create_api_instances(api.db_url, requests)
    with tree_support.cells_api(api.url) as (cells_api, _admin):
        for uuid, name, flavor in requests:
            kwargs = tree_support.build_kwargs(
                tree_support.instance_object(uuid, name, flavor), flavor)
            kwargs['filter_properties']['scheduler_hints'] = dict(
                hints or {})
            cells_api.build_instances(ctxt, **kwargs)
    return [u for u, _n, _f in requests]


def _settled_rows(tree, uuids):
    def fetch():
        rows = tree_support.rows_by_uuid(tree['api'].db_url)
        return {u: rows.get(u) for u in uuids}
    return fixtures.poll_until(
        fetch, lambda rows: all(r is not None and r['vm_state'] != 'building'
                                for r in rows.values()),
        timeout=BUILD_TIMEOUT, interval=0.3)


def _faults(tree, uuids):
    def fetch():
        found = collections.defaultdict(list)
        for row in fixtures.live_rows(tree['api'].db_url, 'instance_faults'):
            if row['instance_uuid'] in uuids:
                found[row['instance_uuid']].append(row['message'])
        return found
    return fixtures.poll_until(fetch, lambda f: len(f) == len(uuids),
                               timeout=10, interval=0.3)


def _placement(rows):
    return collections.Counter((r or {}).get('vm_state', 'missing') + '@' +
                               str((r or {}).get('cell_name'))
                               for r in rows.values())


def test_disabled_and_draining_cells_get_no_builds(tree):
    out = _manage({
        'disable': (tree['api'], ['cell', 'disable', '--cell_name', 'child1',
                                  '--reason', 'maintenance']),
        'drain': (tree['child2'], ['cell', 'drain', '--cell_name', 'gc3'])})
    assert 'child1' in out['disable'] and 'disabled' in out['disable']
    assert 'gc3' in out['drain'] and 'draining' in out['drain']

    uuids = _build(tree, BUILDS)
    rows = _settled_rows(tree, uuids)
    placement = _placement(rows)
    assert placement == {'active@api!child2!gc4': BUILDS}, (
        placement, tree.logs()[-20000:])
    assert not [r for r in rows.values()
                if r['cell_name'].startswith('api!child1')]
    assert tree_support.rows_by_uuid(tree['gc1'].db_url) == {}
    assert tree_support.rows_by_uuid(tree['gc3'].db_url) == {}
    assert len(tree_support.rows_by_uuid(tree['gc4'].db_url)) == BUILDS


def test_cell_list_shows_the_state_and_parents_are_refused(tree):
    results = fixtures.run_many_confs({
        'list': (tree['api'].conf, ['cell', 'list', '--format', 'json']),
        'parent': (tree['child1'].conf, ['cell', 'disable', '--cell_name',
                                         'api', '--reason', 'nope'])})
    assert results['list'].returncode == 0, results['list'].stderr
    listing = {r['Name'] if 'Name' in r else r['name']: r
               for r in json.loads(results['list'].stdout)}
    state_key = 'State' if 'State' in listing['child1'] else 'state'
    assert listing['child1'][state_key] == 'disabled'
    assert listing['child2'][state_key] == 'enabled'
    refused = results['parent']
    assert refused.returncode != 0
    assert 'parent' in (refused.stdout + refused.stderr)
    # Nothing changed in child1's table.
    (row,) = [r for r in fixtures.live_rows(tree['child1'].db_url, 'cells')
              if r['name'] == 'api']
    assert (row['state'], row['state_reason']) in ((None, None),
                                                   ('enabled', None)), row


def test_tree_and_explain_say_why(tree):
    results = fixtures.run_many_confs({
        'tree': (tree['api'].conf, ['tree', '--format', 'json']),
        'explain': (tree['api'].conf, ['explain', '--flavor', 'm1.small',
                                       '--format', 'json'])})
    for key, result in results.items():
        assert result.returncode == 0, (key, result.stdout, result.stderr)
    answer = json.loads(results['tree'].stdout)
    nodes = {}

    def walk(node):
        nodes[node['path']] = node
        for child in node['children']:
            walk(child)
    for root in answer['tree']:
        walk(root)
    assert (nodes['api!child1']['state'],
            nodes['api!child1']['state_reason']) == ('disabled',
                                                     'maintenance')
    assert (nodes['api!child2!gc3']['state'],
            nodes['api!child2!gc3']['state_reason']) == ('draining', None)
    assert nodes['api!child2']['state'] == 'enabled'
    assert nodes['api!child2!gc4']['state'] == 'enabled'
    assert nodes['api!child1!gc1']['state'] == 'enabled'
    assert nodes['api!child2!gc4']['instances'] == BUILDS
    assert nodes['api!child2!gc4']['instances_by_state'] == {
        'active': BUILDS}

    explained = json.loads(results['explain'].stdout)
    assert explained['action'] == 'forward to api!child2', explained
    candidates = {c['path']: c for c in
                  explained['selection']['candidates']}
    child1 = candidates['api!child1']
    assert child1['verdicts'][0]['plugin'] == 'CellStateFilter'
    rejected = [v for v in child1['verdicts'] if v['code'] == 'reject']
    assert [(v['plugin'], v['reasons']) for v in rejected] == [
        ('CellStateFilter', ['cell disabled: maintenance'])]
    assert candidates['api!child2']['verdicts'][0] == {
        **candidates['api!child2']['verdicts'][0], 'code': 'pass',
        'plugin': 'CellStateFilter'}
    below = explained['next']
    assert below['action'] == 'forward to api!child2!gc4', below
    below_candidates = {c['path']: c for c in
                        below['selection']['candidates']}
    gc3 = [v for v in below_candidates['api!child2!gc3']['verdicts']
           if v['code'] == 'reject']
    assert [(v['plugin'], v['reasons']) for v in gc3] == [
        ('CellStateFilter', ['cell draining'])]


def test_target_cell_through_a_disabled_child_ends_in_error(tree):
    uuids = _build(tree, 1, ctxt=ADMIN,
                   hints={'target_cell': 'api!child1!gc1'})
    rows = _settled_rows(tree, uuids)
    (row,) = rows.values()
    assert row['vm_state'] == 'error', row
    # Refused at the top: never handed to child1.
    assert row['cell_name'] in (None, 'api'), row
    faults = _faults(tree, uuids)
    (messages,) = faults.values()
    assert any('disabled' in m and 'child1' in m for m in messages), faults
    assert tree_support.rows_by_uuid(tree['gc1'].db_url) == {}


def test_every_child_out_means_error_with_the_reasons(tree):
    _manage({'disable': (tree['api'], [
        'cell', 'disable', '--cell_name', 'child2', '--reason',
        'maintenance'])})
    uuids = _build(tree, 2)
    rows = _settled_rows(tree, uuids)
    assert set(_placement(rows)) <= {'error@None', 'error@api'}, rows
    faults = _faults(tree, uuids)
    for messages in faults.values():
        assert any('0/2 cells are available' in m and
                   'cell disabled: maintenance' in m and
                   'CellStateFilter' in m for m in messages), faults


def test_enable_brings_builds_back(tree):
    _manage({'enable': (tree['api'], ['cell', 'enable', '--cell_name',
                                      'child1'])})
    row = [r for r in fixtures.live_rows(tree['api'].db_url, 'cells')
           if r['name'] == 'child1'][0]
    assert (row['state'], row['state_reason']) == ('enabled', None)
    # child2 is still disabled: everything must go to child1's gc1.
    uuids = _build(tree, 4)
    rows = _settled_rows(tree, uuids)
    assert _placement(rows) == {'active@api!child1!gc1': 4}, (
        rows, tree.logs()[-20000:])
    assert len(tree_support.rows_by_uuid(tree['gc1'].db_url)) == 4
    tree.assert_running()
