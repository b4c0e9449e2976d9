"""``nova-cells-manage tree`` and ``capacities`` against seven real daemons.

api -> child1 (gc1, gc2), child2 (gc3, gc4): one ``nova-cells`` process,
one vhost and one SQLite database per cell.  The leaves hold compute hosts
of different sizes, so that the free RAM each leaf reports (and the sums
above it) tell the cells apart.  The tree is shared by the module; the last
test SIGKILLs gc3 and checks that ``tree`` still answers, on time, with gc3
shown as unreachable.  The daemons' call_timeout is long (30 s): a
``tree --timeout 2`` must still answer, the dead cell marked, because the
command's wait is handed down the tree (RPC 1.41) instead of each level
waiting its own call_timeout.
"""

import contextlib
import json
import time

import pytest

from tests.functional import fixtures
from tests.functional import tree_support
from tests.functional.tree_support import Flavor
from tests.functional.tree_support import ProcessTree

pytestmark = pytest.mark.functional

LAYOUT = {'api': {'child1': {'gc1': {}, 'gc2': {}},
                  'child2': {'gc3': {}, 'gc4': {}}}}
PATHS = {'api': 'api', 'child1': 'api!child1', 'child2': 'api!child2',
         'gc1': 'api!child1!gc1', 'gc2': 'api!child1!gc2',
         'gc3': 'api!child2!gc3', 'gc4': 'api!child2!gc4'}
CALL_TIMEOUT = 30
# A hang guard for ``tree --timeout 2`` (interpreter start-up included);
# without the wait handed down it would take CALL_TIMEOUT at every level.
TREE_GUARD = 15

FLAVORS = [Flavor(1, 'm1.tiny', 512, 1, 1),
           Flavor(2, 'm1.small', 2048, 1, 20)]
# (host, memory_mb, vcpus, local_gb): a different total per leaf.
HOSTS = {
    'gc1': [('gc1-cmp1', 16384, 8, 200)],
    'gc2': [('gc2-cmp1', 32768, 16, 400), ('gc2-cmp2', 8192, 4, 100)],
    'gc3': [('gc3-cmp1', 65536, 32, 800)],
    'gc4': [('gc4-cmp1', 24576, 12, 300)],
}

EXTRA = {
    'DEFAULT': {'service_down_time': 3600},
    'cells': {'call_timeout': CALL_TIMEOUT,
              'mute_child_interval': 20,
              'parent_update_interval': 1,
              'db_check_interval': 60},
}


def _leaf_ram(names):
    return sum(h[1] for name in names for h in HOSTS[name])


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with contextlib.ExitStack() as stack:
        tree = ProcessTree(LAYOUT, tmp_path_factory.mktemp('tree'), stack,
                           extra=EXTRA)
        tree.expected = tree.prepare(FLAVORS, HOSTS)
        tree.start()
        caps = tree.wait_for_top_capacities(tree.expected)
        assert caps == tree.expected, tree.logs()[-20000:]
        yield tree


@pytest.fixture(autouse=True)
def _attach_logs(request, tree):
    tree_support.register_daemons(request, tree)


def _tree_json(conf, *args):
    result = fixtures.run_manage(conf, 'tree', '--format', 'json', *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def _nodes(answer):
    """path -> node of ``tree --format json``, and the parent of each."""
    nodes, parents = {}, {}

    def walk(node, parent):
        nodes[node['path']] = node
        parents[node['path']] = parent
        for child in node['children']:
            walk(child, node['path'])
    for root in answer['tree']:
        walk(root, None)
    return nodes, parents


def _all_ok(answer):
    nodes, _parents = _nodes(answer)
    return len(nodes) == len(PATHS) and all(
        n['health'] == 'ok' for n in nodes.values())


def test_tree_json_from_the_api_shows_every_cell(tree):
    # Children report to their parents every second: once all are seen,
    # none is mute.
    answer = fixtures.poll_until(lambda: _tree_json(tree['api'].conf),
                                 _all_ok, timeout=15, interval=0.5)
    nodes, parents = _nodes(answer)
    assert sorted(nodes) == sorted(PATHS.values()), answer
    assert answer['failures'] == []
    assert [r['path'] for r in answer['tree']] == ['api']
    assert {p: n['health'] for p, n in nodes.items()} == {
        p: 'ok' for p in PATHS.values()}
    for name, parent in (('child1', 'api'), ('child2', 'api'),
                         ('gc1', 'child1'), ('gc2', 'child1'),
                         ('gc3', 'child2'), ('gc4', 'child2')):
        assert parents[PATHS[name]] == PATHS[parent]
        node = nodes[PATHS[name]]
        assert node['name'] == name
        assert node['state'] == 'enabled' and node['state_reason'] is None
        assert node['last_seen'] is not None and not node['mute']
        assert (node['weight_offset'], node['weight_scale']) == (0.0, 1.0)
    assert [c['name'] for c in nodes['api']['children']] == ['child1',
                                                             'child2']
    assert [c['name'] for c in nodes['api!child2']['children']] == [
        'gc3', 'gc4']
    # Free RAM: each leaf what was seeded, each parent the sum below it.
    for name in HOSTS:
        expected = tree_support.expected_capacities(HOSTS[name], FLAVORS)
        node = nodes[PATHS[name]]
        assert node['free_ram_mb'] == _leaf_ram([name]), node
        assert node['free_ram_mb'] == expected['ram_free']['total_mb']
        assert node['capacities'] == expected, node
        assert node['free_disk_mb'] == expected['disk_free']['total_mb']
        assert node['instances'] == 0
    assert nodes['api!child1']['free_ram_mb'] == _leaf_ram(['gc1', 'gc2'])
    assert nodes['api!child2']['free_ram_mb'] == _leaf_ram(['gc3', 'gc4'])
    assert nodes['api']['free_ram_mb'] == _leaf_ram(HOSTS)


def test_tree_text_draws_every_cell(tree):
    result = fixtures.run_manage(tree['api'].conf, 'tree')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ['CELL', 'HEALTH', 'STATE']
    names = [line.replace('|', ' ').replace('`-', ' ').replace('-', ' ')
             .split()[0] for line in lines[1:8]]
    assert names == ['api', 'child1', 'gc1', 'gc2', 'child2', 'gc3', 'gc4']
    assert lines[2].startswith('|- child1')
    assert lines[4].startswith('|  `- gc2')
    assert lines[5].startswith('`- child2')
    assert lines[7].startswith('   `- gc4')
    # 64 GB free at gc3, nothing unreachable.
    assert ' 64 ' in lines[6]
    assert 'UNREACHABLE' not in result.stdout


def test_tree_from_a_middle_cell_shows_its_subtree(tree):
    answer = _tree_json(tree['child1'].conf)
    nodes, parents = _nodes(answer)
    # Routing paths start at the cell asked (its own name), as nova's.
    assert sorted(nodes) == ['child1', 'child1!gc1', 'child1!gc2'], answer
    (root,) = answer['tree']
    assert root['path'] == 'child1' and root['name'] == 'child1'
    assert root['health'] == 'ok'
    # The root has no parent entry here: enabled, never seen by anyone.
    assert root['last_seen'] is None and root['state'] == 'enabled'
    assert parents['child1!gc1'] == parents['child1!gc2'] == 'child1'
    assert root['free_ram_mb'] == _leaf_ram(['gc1', 'gc2'])
    assert nodes['child1!gc2']['free_ram_mb'] == _leaf_ram(['gc2'])
    assert nodes['child1!gc1']['health'] == 'ok'
    assert answer['failures'] == []


def test_capacities_json_is_the_api_aggregate(tree):
    result = fixtures.run_manage(tree['api'].conf, 'capacities', '--format',
                                 'json')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == tree.expected
    table = fixtures.run_manage(tree['api'].conf, 'capacities')
    assert table.returncode == 0, table.stderr
    assert str(_leaf_ram(HOSTS)) in table.stdout
    # Every capacity the cells report, vcpus too.
    resources = {line.split('|')[1].strip()
                 for line in table.stdout.splitlines()[3:-1]}
    assert resources == set(tree.expected) >= {'ram_free', 'disk_free',
                                               'vcpu_free'}
    one = fixtures.run_manage(tree['api'].conf, 'capacities', '--cell_name',
                              'child1', '--format', 'json')
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)['ram_free']['total_mb'] == \
        _leaf_ram(['gc1', 'gc2'])


def test_capacities_of_a_cell_that_is_not_a_neighbour(tree):
    result = fixtures.run_manage(tree['api'].conf, 'capacities',
                                 '--cell_name', 'gc1')
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ''
    assert fixtures.non_empty_lines(result.stderr) == [
        'nova-cells-manage: error: gc1 is not a neighbour of api; '
        'neighbours: child1, child2']


# Last: it kills a daemon of the shared tree.
def test_tree_shows_a_killed_grandchild_unreachable_in_time(tree):
    tree.kill('gc3')
    began = time.monotonic()
    result = fixtures.run_manage(tree['api'].conf, 'tree', '--timeout', '2',
                                 '--format', 'json', timeout=TREE_GUARD)
    took = time.monotonic() - began
    print('MEASURED tree with gc3 down: %.2f s' % took)
    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout)
    nodes, parents = _nodes(answer)
    assert sorted(nodes) == sorted(PATHS.values()), answer
    assert [f['cell_name'] for f in answer['failures']] == [
        'api!child2!gc3'], answer['failures']
    gc3 = nodes['api!child2!gc3']
    assert gc3['health'] == 'UNREACHABLE'
    assert gc3['failure']['class'], gc3
    assert gc3['instances'] is None and gc3['free_ram_mb'] is None
    assert parents['api!child2!gc3'] == 'api!child2'
    assert {p: n['health'] for p, n in nodes.items()
            if p != 'api!child2!gc3'} == {
        p: 'ok' for p in PATHS.values() if p != 'api!child2!gc3'}

    text = fixtures.run_manage(tree['api'].conf, 'tree', '--timeout', '2',
                               timeout=TREE_GUARD)
    assert text.returncode == 0, text.stderr
    assert 'api!child2!gc3 UNREACHABLE: ' in text.stdout
    assert [line for line in text.stdout.splitlines()
            if line.lstrip(' |`-').startswith('gc3 ')][0].split()[2] == \
        'UNREACHABLE'
