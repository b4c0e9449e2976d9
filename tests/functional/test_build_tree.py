"""Building instances through a tree of real ``nova-cells`` processes.

Issue 4 acceptance: api -> 2 children -> 2 grandchildren each, one daemon
per cell (7 processes, 7 vhosts, 7 databases: PostgreSQL for the API cell,
SQLite files below), ``[cells] local_scheduler_driver = builtin``
everywhere.  The grandchildren hold compute hosts of varied sizes; every
cell has the same flavors.  Once the top knows the capacities, 200
instances are requested through ``CellsAPI.build_instances`` exactly as
nova-api does it (the row in the API database first, then the cast), and
all of them must land:

* in the API cell's database with a host and ``cell_name`` = the full path
  of the grandchild that holds them, within 60 s;
* in that grandchild's database with the same host;
* with no compute node over-committed.

Also the conductor hand-off (nova's own way): a child with
``local_scheduler_driver = conductor`` casts ``build_instances`` to the
``conductor`` topic of its broker with nova's argument names; a test-side
oslo.messaging RPC server plays nova-conductor and receives it.
"""

import collections
import queue
import time
import uuid as uuidlib

import pytest

from tests.functional import fixtures
from tests.functional import tree_support
from tests.functional.tree_support import Flavor
from tests.functional.tree_support import ProcessTree

from nova_cells import context as cells_context

pytestmark = pytest.mark.functional

LAYOUT = {'api': {'child1': {'gc1': {}, 'gc2': {}},
                  'child2': {'gc3': {}, 'gc4': {}}}}
INSTANCES = 200
BUILD_DEADLINE = 60

FLAVORS = [Flavor(1, 'm1.tiny', 512, 1, 1),
           Flavor(2, 'm1.small', 2048, 1, 20),
           Flavor(3, 'm1.medium', 4096, 2, 40)]
TINY, SMALL = FLAVORS[0], FLAVORS[1]
# (memory_mb, vcpus, local_gb) of each grandchild's hosts: varied, and
# together room for 208 m1.small, so that even if every request went to
# the same grandchild (the top weighs cells on capacities reported a
# moment ago), none would fail.
HOST_SIZES = [(98304, 48, 960), (131072, 64, 1280), (196608, 96, 1920)]

# db_check_interval is nova's default (60 s) here, not the 0 the fixtures
# use: with 0 every state access re-reads four tables under the state
# manager's lock, which serialises each daemon's message handling (200
# builds then take ~40 s instead of ~8 s on 2 CPUs).  Nothing here needs
# it: children report capacities by message, and the builtin host
# scheduler reads compute_nodes itself.
EXTRA = {
    'DEFAULT': {'service_down_time': 3600},
    'cells': {'local_scheduler_driver': 'builtin',
              'db_check_interval': 60,
              'parent_update_interval': 5,
              'call_timeout': 10,
              'scheduler_retries': 2,
              'scheduler_retry_delay': 1},
}


def _hosts(cell_name):
    return [('%s-cmp%d' % (cell_name, i + 1), ram, vcpus, disk)
            for i, (ram, vcpus, disk) in enumerate(HOST_SIZES)]


def _report(what, value):
    print('MEASURED %s = %s' % (what, value))


def _flavor_of(index):
    return TINY if index % 4 == 3 else SMALL


def _wait_for_capacities(tree, expected, timeout=30):
    with tree_support.cells_api(tree[tree.top].url) as (api, ctxt):
        return fixtures.poll_until(lambda: api.get_capacities(ctxt),
                                   lambda caps: caps == expected,
                                   timeout=timeout, interval=0.2)


def _api_rows(url, uuids):
    rows = tree_support.rows_by_uuid(url)
    return {u: rows.get(u) for u in uuids}


def _settled(rows):
    return all(r is not None and r['vm_state'] != 'building'
               for r in rows.values())


def test_200_instances_through_seven_daemons(request, tmp_path, stack):
    tree = ProcessTree(LAYOUT, tmp_path, stack,
                       backends={'api': 'postgresql'}, extra=EXTRA,
                       request=request)
    tree.provision()
    tree.sync_schemas(cli=False)
    tree.wire(cli=False)
    for cell in tree.cells.values():
        tree_support.seed_flavors(cell.db_url, FLAVORS)
    all_hosts = []
    for leaf in tree.leaves:
        tree_support.seed_compute_hosts(leaf.db_url, _hosts(leaf.name))
        all_hosts += _hosts(leaf.name)
    started = time.monotonic()
    tree.start()
    _report('7 daemons answering ping', '%.2f s' % (time.monotonic() -
                                                    started))

    expected = tree_support.expected_capacities(all_hosts, FLAVORS)
    caps = _wait_for_capacities(tree, expected)
    assert caps == expected, tree.logs()
    _report('top knows every capacity', '%.2f s after start'
            % (time.monotonic() - started))

    # nova-api: the rows in the API database first, then the casts.
    api = tree[tree.top]
    requests = [(str(uuidlib.uuid4()), 'ft-vm-%03d' % i, _flavor_of(i))
                for i in range(INSTANCES)]
    tree_support.create_api_instances(api.db_url, requests)
    uuids = [u for u, _n, _f in requests]
    ctxt = cells_context.RequestContext(user_id='ft-user',
                                        project_id='ft-project')
    with tree_support.cells_api(api.url) as (cells_api, _admin):
        began = time.monotonic()
        for uuid, name, flavor in requests:
            instance = tree_support.instance_object(uuid, name, flavor)
            cells_api.build_instances(
                ctxt, **tree_support.build_kwargs(instance, flavor))
        cast_for = time.monotonic() - began

    rows = fixtures.poll_until(lambda: _api_rows(api.db_url, uuids),
                               _settled, timeout=BUILD_DEADLINE,
                               interval=0.5)
    took = time.monotonic() - began
    _report('%d casts' % INSTANCES, '%.2f s' % cast_for)
    _report('%d instances settled at the top' % INSTANCES, '%.2f s' % took)
    states = collections.Counter(r['vm_state'] if r else 'missing'
                                 for r in rows.values())
    _report('states at the top', dict(states))
    assert states == {'active': INSTANCES}, (states, tree.logs()[-20000:])
    assert took <= BUILD_DEADLINE

    # Where they are: the top's cell_name is the holder's full path, and
    # the holder has the same row with the same host.
    leaf_paths = {leaf.path: leaf for leaf in tree.leaves}
    leaf_rows = {leaf.path: tree_support.rows_by_uuid(leaf.db_url)
                 for leaf in tree.leaves}
    flavors = {u: f for u, _n, f in requests}
    per_cell = collections.Counter()
    for uuid, row in rows.items():
        assert row['cell_name'] in leaf_paths, row
        assert row['host'], row
        leaf = leaf_paths[row['cell_name']]
        assert row['host'] in {h[0] for h in _hosts(leaf.name)}, row
        below = leaf_rows[row['cell_name']].get(uuid)
        assert below is not None, '%s not in %s' % (uuid, leaf.name)
        assert (below['host'], below['vm_state']) == (row['host'],
                                                      'active'), below
        assert (row['memory_mb'], below['memory_mb']) == \
            (flavors[uuid].memory_mb,) * 2, (row, below)
        per_cell[row['cell_name']] += 1
    _report('instances per cell', dict(sorted(per_cell.items())))
    # No instance anywhere below that the top does not know of.
    assert sum(len(r) for r in leaf_rows.values()) == INSTANCES
    assert fixtures.live_rows(api.db_url, 'instance_faults') == []

    # No host over-committed.
    for leaf in tree.leaves:
        placed = collections.defaultdict(lambda: [0, 0, 0])
        for row in leaf_rows[leaf.path].values():
            used = placed[row['host']]
            used[0] += row['memory_mb']
            used[1] += row['vcpus']
            used[2] += row['root_gb'] + (row['ephemeral_gb'] or 0)
        for node in fixtures.live_rows(leaf.db_url, 'compute_nodes'):
            ram, vcpus, disk = placed[node['host']]
            assert node['free_ram_mb'] >= 0, node
            assert node['free_disk_gb'] >= 0, node
            assert node['memory_mb_used'] <= node['memory_mb'], node
            assert node['vcpus_used'] <= node['vcpus'], node
            assert node['local_gb_used'] <= node['local_gb'], node
            assert ram <= node['memory_mb'], (node, ram)
            # and the node's accounting matches what is on it
            assert (node['memory_mb_used'], node['vcpus_used'],
                    node['local_gb_used']) == (ram, vcpus, disk), node
            assert node['free_ram_mb'] == node['memory_mb'] - ram, node
    tree.assert_running()


# -- the conductor hand-off ---------------------------------------------------

# nova's ComputeTaskManager.build_instances, as the cells v1 child cast it
# (reference §6.5; wire sample oslo/conductor/build_instances).
CONDUCTOR_ARGS = {'instances', 'image', 'filter_properties',
                  'admin_password', 'injected_files', 'requested_networks',
                  'security_groups', 'request_spec', 'host_lists'}


def test_child_hands_the_build_to_its_conductor(request, tmp_path, stack):
    tree = ProcessTree(
        {'api': {'child': {}}}, tmp_path, stack,
        backends={'api': 'postgresql'},
        extra=lambda cell: {'cells': {'local_scheduler_driver': 'conductor'}}
        if cell.name == 'child' else None, request=request)
    tree.provision()
    tree.sync_schemas(cli=False)
    tree.wire(cli=False)
    for cell in tree.cells.values():
        tree_support.seed_flavors(cell.db_url, FLAVORS)
    conductor = stack.enter_context(
        tree_support.fake_conductor(tree['child'].url))
    tree.start()

    api = tree['api']
    uuid = str(uuidlib.uuid4())
    tree_support.create_api_instances(api.db_url,
                                      [(uuid, 'ft-conductor-vm', SMALL)])
    ctxt = cells_context.RequestContext(user_id='ft-user',
                                        project_id='ft-project')
    instance = tree_support.instance_object(uuid, 'ft-conductor-vm', SMALL)
    with tree_support.cells_api(api.url) as (cells_api, _admin):
        began = time.monotonic()
        cells_api.build_instances(ctxt,
                                  **tree_support.build_kwargs(instance, SMALL))
    try:
        wire_ctxt, kwargs = conductor.calls.get(timeout=20)
    except queue.Empty:
        pytest.fail('nova-conductor got no build_instances; logs:\n%s'
                    % tree.logs())
    _report('api cast -> conductor cast received',
            '%.2f s' % (time.monotonic() - began))

    assert set(kwargs) == CONDUCTOR_ARGS, sorted(kwargs)
    (sent,) = kwargs['instances']
    assert sent['nova_object.name'] == 'Instance', sent
    assert sent['nova_object.data']['uuid'] == uuid
    flavor = kwargs['filter_properties']['instance_type']
    assert flavor['nova_object.name'] == 'Flavor', flavor
    assert (flavor['nova_object.data']['name'],
            flavor['nova_object.data']['memory_mb']) == ('m1.small', 2048)
    assert kwargs['filter_properties']['scheduler_hints'] == {}
    assert kwargs['image'] == tree_support.IMAGE
    assert kwargs['security_groups'] == ['default']
    assert (kwargs['admin_password'], kwargs['injected_files'],
            kwargs['requested_networks'], kwargs['request_spec'],
            kwargs['host_lists']) == (None, [], None, None, None)
    assert (wire_ctxt['user_id'], wire_ctxt['project_id']) == \
        ('ft-user', 'ft-project'), wire_ctxt
    assert conductor.calls.empty()

    # The child created the row and told the top where the instance is.
    top_row = fixtures.poll_until(
        lambda: tree_support.rows_by_uuid(api.db_url).get(uuid),
        lambda row: row and row['cell_name'] == 'api!child', timeout=10)
    assert top_row['cell_name'] == 'api!child', top_row
    child_row = tree_support.rows_by_uuid(tree['child'].db_url).get(uuid)
    assert child_row is not None
    assert (child_row['vm_state'], child_row['host']) == ('building', None)
    tree.assert_running()
