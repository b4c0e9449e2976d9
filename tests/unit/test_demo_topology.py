"""The demo's topology files: generated and explicit trees, and the one-line
errors a bad file gets before anything is built."""

import json
import os

import pytest

from nova_cells.demo import topology as demo_topology
from nova_cells.demo.topology import TopologyError

ETC_DEMO = os.path.join(os.path.dirname(__file__), '..', '..', 'etc', 'demo')


def _error(data):
    with pytest.raises(TopologyError) as info:
        demo_topology.from_dict(data)
    message = str(info.value)
    assert '\n' not in message
    return message


def test_default_is_the_seven_cell_tree():
    topology = demo_topology.default()
    assert topology.top == 'api'
    assert len(topology) == 7
    assert topology.leaves() == ['gc1', 'gc2', 'gc3', 'gc4']
    assert topology.levels() == [['api'], ['child1', 'child2'],
                                 ['gc1', 'gc2', 'gc3', 'gc4']]
    assert topology.paths()['gc3'] == 'api!child2!gc3'
    assert topology.instances is None


def test_generated_tree_names_say_where_a_cell_is():
    topology = demo_topology.from_dict({'depth': 2, 'fanout': 2})
    assert [path for _n, _p, path in topology.cells()] == [
        'api', 'api!c1', 'api!c2', 'api!c1!c1-1', 'api!c1!c1-2',
        'api!c2!c2-1', 'api!c2!c2-2']


def test_generated_1_4_16_64():
    topology = demo_topology.from_dict({'depth': 3, 'fanout': 4})
    assert [len(level) for level in topology.levels()] == [1, 4, 16, 64]
    assert len(topology) == 85
    assert 'api!c4!c4-4!c4-4-4' in topology.paths().values()
    for name in topology.paths():
        demo_topology.check_name(name, 'generated')


def test_depth_zero_is_the_api_cell_alone():
    topology = demo_topology.from_dict({'depth': 0, 'fanout': 3,
                                        'top': 'top'})
    assert topology.layout == {'top': {}}
    assert topology.leaves() == ['top']


def test_hosts_cycle_through_the_sizes():
    topology = demo_topology.from_dict({
        'layout': {'api': {'a': {}}}, 'hosts_per_leaf': 3,
        'host_sizes': [[4096, 4, 40], [8192, 8, 80]], 'instances': 7})
    assert topology.hosts('a') == [('a-host1', 4096, 4, 40),
                                   ('a-host2', 8192, 8, 80),
                                   ('a-host3', 4096, 4, 40)]
    assert topology.total_ram_mb() == 16384
    assert topology.instances == 7


def test_explicit_layout_with_null_leaves():
    topology = demo_topology.from_dict(
        {'layout': {'api': {'x': None, 'y': {'z': {}}}}})
    assert topology.leaves() == ['x', 'z']
    assert topology.layout == {'api': {'x': {}, 'y': {'z': {}}}}


def test_the_sample_files_load():
    small = demo_topology.load(os.path.join(ETC_DEMO, 'small.json'))
    large = demo_topology.load(os.path.join(ETC_DEMO, 'large.json'))
    assert len(small) == 7
    assert len(large) >= 40


@pytest.mark.parametrize('data, expected', [
    ([1, 2], 'a topology is a JSON object, not list'),
    ({'depth': 2}, 'give "layout", or both "depth" and "fanout"'),
    ({'depth': 2, 'fanout': 2, 'layout': {'api': {}}},
     'give either "layout" or "depth"/"fanout", not both'),
    ({'depth': 2, 'fanout': 'x'}, '"fanout" must be an integer, not "x"'),
    ({'depth': True, 'fanout': 2}, '"depth" must be an integer, not true'),
    ({'depth': -1, 'fanout': 2}, '"depth" must be between 0 and 8, not -1'),
    ({'depth': 2, 'fanout': 0}, '"fanout" must be between 1 and 50, not 0'),
    ({'depth': 8, 'fanout': 50}, 'cells: at most 2000'),
    ({'depth': 1, 'fanout': 1, 'colour': 'red'},
     'unknown key "colour" (known: '),
    ({'layout': {}}, '"layout" must be an object with exactly one key'),
    ({'layout': {'a': {}, 'b': {}}}, 'exactly one key, the API cell'),
    ({'layout': {'api': {'a!b': {}}}}, 'cell name "a!b" under "api"'),
    ({'layout': {'api': {'a.b': {}}}}, 'no "!", "."'),
    ({'layout': {'api': {'': {}}}}, 'cell name ""'),
    ({'layout': {'api': {'x' * 41: {}}}}, 'use 1-40 letters'),
    ({'layout': {'api': {'a': {'b': {}}, 'c': {'b': {}}}}},
     'cell name "b" appears twice'),
    ({'layout': {'api': {'a': []}}},
     'the children of "a" must be an object ({} for a leaf), not []'),
    ({'layout': {'api': {}}, 'top': 'x'},
     '"top" only goes with "depth"/"fanout"'),
    ({'depth': 1, 'fanout': 1, 'top': 'a!b'}, 'cell name "a!b" at the top'),
    ({'depth': 1, 'fanout': 1, 'hosts_per_leaf': 0},
     '"hosts_per_leaf" must be between 1 and 1000, not 0'),
    ({'depth': 1, 'fanout': 1, 'host_sizes': []},
     '"host_sizes" must be a non-empty list'),
    ({'depth': 1, 'fanout': 1, 'host_sizes': [[1, 2]]},
     '"host_sizes": [1, 2] is not [memory_mb, vcpus, local_gb]'),
    ({'depth': 1, 'fanout': 1, 'host_sizes': [[1024, 1, 10]]},
     'cannot hold the smallest flavor (2048 MB, 1 vCPU, 20 GB)'),
    ({'depth': 1, 'fanout': 1, 'instances': -5},
     '"instances" must be between 0 and 100000, not -5'),
])
def test_bad_topologies_are_one_line(data, expected):
    assert expected in _error(data)


def test_load_prefixes_the_file_name(tmp_path):
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps({'depth': 1}))
    with pytest.raises(TopologyError) as info:
        demo_topology.load(str(path))
    assert str(info.value) == '%s: give "layout", or both "depth" and ' \
        '"fanout"' % path


def test_load_not_json(tmp_path):
    path = tmp_path / 'bad.json'
    path.write_text('{"depth": ')
    with pytest.raises(TopologyError) as info:
        demo_topology.load(str(path))
    assert str(info.value).startswith('%s: not JSON: ' % path)


def test_load_missing_file(tmp_path):
    with pytest.raises(TopologyError) as info:
        demo_topology.load(str(tmp_path / 'nope.json'))
    assert 'No such file or directory' in str(info.value)
