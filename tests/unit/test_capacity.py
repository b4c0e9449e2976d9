"""Own capacity (reference §3.5), worked by hand.

Formula: per eligible host (enabled service, up), for each slot size s,
``units = int(max(0, free - total * reserve) / s)``; units are summed over
hosts, keys are the slot size as a string; ``total_mb`` is the plain sum of
free MB (not reduced by the reserve).  RAM slots are flavor ``memory_mb``;
disk slots are ``(root_gb + ephemeral_gb) * 1024``; host free disk is
``free_disk_gb * 1024`` and total disk ``local_gb * 1024``.

The three-host case used throughout (service_down_time 60 s):

=========  ========  ==========  ===========  ==========  ============
host       service   memory_mb   free_ram_mb  local_gb    free_disk_gb
=========  ========  ==========  ===========  ==========  ============
up         enabled,  16384       10240        200         150
           fresh
disabled   disabled  8192        8192         100         100
down       2 h old   8192        8192         100         100
=========  ========  ==========  ===========  ==========  ============

Flavors: ``small`` 2048 MB, 20 GB root -> disk slot 20 * 1024 = 20480 MB;
``large`` 4096 MB, 30 GB root + 10 GB ephemeral -> disk slot 40960 MB.
Only host ``up`` counts.

reserve 10 %:
  RAM  free 10240, total 16384, reserve 1638.4 -> 8601.6 left
       8601.6 / 2048 = 4.2 -> 4 ;  8601.6 / 4096 = 2.1 -> 2
  disk free 150*1024 = 153600, total 200*1024 = 204800, reserve 20480
       -> 133120 left;  133120 / 20480 = 6.5 -> 6 ;  133120 / 40960 = 3.25 -> 3
reserve 0 %:
  RAM  10240 / 2048 = 5 ;  10240 / 4096 = 2.5 -> 2
  disk 153600 / 20480 = 7.5 -> 7 ;  153600 / 40960 = 3.75 -> 3
reserve 100 %:
  RAM  10240 - 16384 < 0 -> 0 units ;  disk 153600 - 204800 < 0 -> 0 units
total_mb is 10240 (RAM) and 153600 (disk) whatever the reserve.
"""

import datetime

import pytest
from oslo_utils import timeutils

from nova_cells.cells import capacity
from nova_cells.cells import servicegroup
from nova_cells.cells import state
from tests.unit import helpers

NOW = datetime.datetime(2019, 4, 4, 12, 0, 0)
DOWN_TIME = 60


def _service(host, disabled=False, age_s=0, forced_down=False):
    return {'host': host, 'binary': 'nova-compute', 'disabled': disabled,
            'forced_down': forced_down,
            'last_seen_up': NOW - datetime.timedelta(seconds=age_s)}


def _node(host, memory_mb, free_ram_mb, local_gb, free_disk_gb):
    return {'host': host, 'memory_mb': memory_mb, 'free_ram_mb': free_ram_mb,
            'local_gb': local_gb, 'free_disk_gb': free_disk_gb}


def _is_up(service):
    return servicegroup.is_up(service, DOWN_TIME, NOW)


THREE_HOST_SERVICES = {
    'up': _service('up'),
    'disabled': _service('disabled', disabled=True),
    'down': _service('down', age_s=2 * 3600),
}
THREE_HOST_NODES = [
    _node('up', 16384, 10240, 200, 150),
    _node('disabled', 8192, 8192, 100, 100),
    _node('down', 8192, 8192, 100, 100),
]
FLAVORS = [
    {'memory_mb': 2048, 'root_gb': 20, 'ephemeral_gb': 0},
    {'memory_mb': 4096, 'root_gb': 30, 'ephemeral_gb': 10},
]


def _expected(ram_units, disk_units, ram_total=10240, disk_total=153600,
              vcpu=None):
    expected = {
        'ram_free': {'total_mb': ram_total,
                     'units_by_mb': {'2048': ram_units[0],
                                     '4096': ram_units[1]}},
        'disk_free': {'total_mb': disk_total,
                      'units_by_mb': {'20480': disk_units[0],
                                      '40960': disk_units[1]}},
    }
    if vcpu is not None:
        # (total free vcpus, units of the 1-vcpu flavors)
        expected['vcpu_free'] = {'total': vcpu[0],
                                 'units_by_vcpus': {'1': vcpu[1]}}
    return expected


# (reserve_percent, expected) -- numbers from the module docstring.
RESERVE_CASES = [
    pytest.param(10.0, _expected((4, 2), (6, 3)), id='reserve-10pct'),
    pytest.param(0.0, _expected((5, 2), (7, 3)), id='reserve-0pct'),
    pytest.param(100.0, _expected((0, 0), (0, 0)), id='reserve-100pct'),
]


@pytest.mark.parametrize('reserve_percent, expected', RESERVE_CASES)
def test_three_hosts_only_enabled_and_up_counts(reserve_percent, expected):
    result = capacity.compute_capacities(
        THREE_HOST_NODES, THREE_HOST_SERVICES, FLAVORS, reserve_percent,
        _is_up)
    assert result == expected


def test_n_to_1_nodes_on_one_host_are_summed_before_flooring():
    # Two nodes on host "ironic": each 4096 MB (3072 free), 40 GB (30 free).
    # Summed per host: RAM free 6144, total 8192, 10 % reserve 819.2
    #   -> 5324.8 / 2048 = 2.6 -> 2 ; / 4096 = 1.3 -> 1
    #   (per node it would be (3072-409.6)/4096 = 0.65 -> 0 twice = 0)
    # Disk free 61440, total 81920, reserve 8192 -> 53248
    #   / 20480 = 2.6 -> 2 ; / 40960 = 1.3 -> 1  (per node: 0 + 0)
    nodes = [_node('ironic', 4096, 3072, 40, 30),
             _node('ironic', 4096, 3072, 40, 30)]
    result = capacity.compute_capacities(
        nodes, {'ironic': _service('ironic')}, FLAVORS, 10.0, _is_up)
    assert result == _expected((2, 1), (2, 1), ram_total=6144,
                               disk_total=61440)


def test_units_are_floored_per_host_then_summed():
    # Two hosts, each 3072 MB free of 4096, 0 % reserve:
    #   3072 / 2048 = 1.5 -> 1 per host -> 2 (pooling would give 3);
    #   3072 / 4096 -> 0 per host -> 0 (pooling would give 1).
    # Disk: each 30 GB free = 30720 MB: / 20480 -> 1 each -> 2;
    #   / 40960 -> 0 each -> 0.
    nodes = [_node('a', 4096, 3072, 40, 30), _node('b', 4096, 3072, 40, 30)]
    services = {'a': _service('a'), 'b': _service('b')}
    result = capacity.compute_capacities(nodes, services, FLAVORS, 0.0,
                                         _is_up)
    assert result == _expected((2, 0), (2, 0), ram_total=6144,
                               disk_total=61440)


@pytest.mark.parametrize('nodes, services', [
    pytest.param([], {'up': _service('up')}, id='no-compute-nodes'),
    pytest.param([_node('orphan', 4096, 4096, 40, 40)], {},
                 id='node-without-service-row'),
    pytest.param([_node('d', 4096, 4096, 40, 40)],
                 {'d': _service('d', disabled=True)}, id='only-disabled'),
    pytest.param([_node('s', 4096, 4096, 40, 40)],
                 {'s': _service('s', age_s=DOWN_TIME + 1)}, id='only-down'),
    pytest.param([_node('f', 4096, 4096, 40, 40)],
                 {'f': _service('f', forced_down=True)},
                 id='only-forced-down'),
])
def test_no_eligible_host_gives_empty_capacities(nodes, services):
    assert capacity.compute_capacities(nodes, services, FLAVORS, 10.0,
                                       _is_up) == {}


def test_negative_free_values_count_as_zero():
    # Overcommitted host: free_ram_mb -512 and free_disk_gb -5 are clamped
    # to 0 (nova's max(0, ...)), so no units and totals of 0.
    nodes = [_node('over', 4096, -512, 40, -5)]
    result = capacity.compute_capacities(nodes, {'over': _service('over')},
                                         FLAVORS, 0.0, _is_up)
    assert result == _expected((0, 0), (0, 0), ram_total=0, disk_total=0)


def test_no_flavors_gives_totals_and_no_units():
    result = capacity.compute_capacities(
        THREE_HOST_NODES, THREE_HOST_SERVICES, [], 10.0, _is_up)
    assert result == {'ram_free': {'total_mb': 10240, 'units_by_mb': {}},
                      'disk_free': {'total_mb': 153600, 'units_by_mb': {}}}


def test_zero_size_disk_slot_gives_zero_units():
    # A 0 GB root, 0 GB ephemeral flavor has disk slot 0 -> 0 units (no
    # ZeroDivisionError); RAM 512 MB: 10240 / 512 = 20 units at 0 %.
    flavors = [{'memory_mb': 512, 'root_gb': 0, 'ephemeral_gb': 0}]
    result = capacity.compute_capacities(
        THREE_HOST_NODES, THREE_HOST_SERVICES, flavors, 0.0, _is_up)
    assert result['ram_free']['units_by_mb'] == {'512': 20}
    assert result['disk_free']['units_by_mb'] == {'0': 0}


@pytest.mark.parametrize('flavors, expected', [
    pytest.param(FLAVORS, ([2048, 4096], [20480, 40960]), id='two-flavors'),
    pytest.param([{'memory_mb': 4096, 'root_gb': 40, 'ephemeral_gb': 0},
                  {'memory_mb': 4096, 'root_gb': 20, 'ephemeral_gb': 20},
                  {'memory_mb': 1024, 'root_gb': 10, 'ephemeral_gb': None}],
                 ([1024, 4096], [10240, 40960]),
                 id='duplicates-collapse-none-ephemeral-is-0'),
    pytest.param([], ([], []), id='no-flavors'),
])
def test_flavor_slot_sizes(flavors, expected):
    assert capacity.flavor_slot_sizes(flavors) == expected


# -- end to end: CellStateManager over a real (SQLite) cell database

def _seed_three_hosts(db):
    helpers.add_compute_service(db, 'up')
    helpers.add_compute_service(db, 'disabled', disabled=True)
    helpers.add_compute_service(db, 'down', last_seen_up=helpers.hours_ago(2))
    helpers.add_compute_node(db, 'up', 16384, 10240, 200, 150)
    helpers.add_compute_node(db, 'disabled', 8192, 8192, 100, 100)
    helpers.add_compute_node(db, 'down', 8192, 8192, 100, 100)
    helpers.add_flavor(db, 'small', 2048, 20)
    helpers.add_flavor(db, 'large', 4096, 30, 10)


def _manager(db, reserve_percent=10.0):
    settings = state.StateSettings(reserve_percent=reserve_percent,
                                   service_down_time=DOWN_TIME)
    return state.CellStateManager('me', [], state.DBCellSource(db), db,
                                  settings)


# The database rows add vcpus (helpers: 8 per node, flavors of 1 vcpu):
# host 'up' alone, 8 free -> int(8 - 0.8) = 7 / 8 / 0 units by reserve.
DB_VCPUS = {10.0: (8, 7), 0.0: (8, 8), 100.0: (8, 0)}


@pytest.mark.parametrize('reserve_percent, expected', RESERVE_CASES)
def test_state_manager_computes_own_capacity_from_db(db, reserve_percent,
                                                     expected):
    expected = dict(expected, vcpu_free=_expected(
        (0, 0), (0, 0), vcpu=DB_VCPUS[reserve_percent])['vcpu_free'])
    _seed_three_hosts(db)
    manager = _manager(db, reserve_percent)
    before = timeutils.utcnow()
    assert manager.get_our_capacities() == expected
    assert manager.get_my_state().capacities == expected
    assert manager.get_capacities() == expected
    assert manager.my_cell_state.last_seen >= before


def test_state_manager_sums_n_to_1_nodes_from_db(db):
    # Same numbers as test_n_to_1_nodes_on_one_host_are_summed_before_flooring
    helpers.add_compute_service(db, 'ironic')
    helpers.add_compute_node(db, 'ironic', 4096, 3072, 40, 30, node='n1')
    helpers.add_compute_node(db, 'ironic', 4096, 3072, 40, 30, node='n2')
    helpers.add_flavor(db, 'small', 2048, 20)
    helpers.add_flavor(db, 'large', 4096, 30, 10)
    # vcpus: 2 nodes x 8 on one host, 16 free -> int(16 - 1.6) = 14.
    assert _manager(db).get_our_capacities() == _expected(
        (2, 1), (2, 1), ram_total=6144, disk_total=61440, vcpu=(16, 14))


def test_vcpus_count_the_allocation_ratio_and_what_is_used():
    # 4 vcpus x ratio 2.0 = 8, 3 used -> 5 free; 2-vcpu flavor -> 2 units
    # (reserve 0); a ratio of 0.0 or None counts as 1.0 -> 4 - 1 = 3 free,
    # 1 unit.  A flavor without vcpus adds no slot.
    services = {'a': _service('a'), 'b': _service('b')}
    nodes = [dict(_node('a', 4096, 4096, 40, 40), vcpus=4, vcpus_used=3,
                  cpu_allocation_ratio=2.0),
             dict(_node('b', 4096, 4096, 40, 40), vcpus=4, vcpus_used=1,
                  cpu_allocation_ratio=0.0)]
    flavors = [{'memory_mb': 512, 'root_gb': 1, 'vcpus': 2},
               {'memory_mb': 256, 'root_gb': 1}]
    result = capacity.compute_capacities(nodes, services, flavors, 0.0,
                                         _is_up)
    assert result['vcpu_free'] == {'total': 8, 'units_by_vcpus': {'2': 3}}
    assert capacity.vcpus_free(nodes[0]) == 5
    assert capacity.vcpus_free(nodes[1]) == 3


def test_no_vcpu_key_when_no_host_reports_vcpus():
    result = capacity.compute_capacities(
        THREE_HOST_NODES, THREE_HOST_SERVICES, FLAVORS, 0.0, _is_up)
    assert 'vcpu_free' not in result


def test_state_manager_without_compute_hosts_has_empty_capacity(db):
    # The API cell: flavors but no compute nodes -> {}.
    helpers.add_flavor(db, 'small', 2048, 20)
    assert _manager(db).get_our_capacities() == {}
