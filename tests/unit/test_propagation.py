"""Capabilities and capacities flowing up the tree (reference §8.1, §4.11):
nova_cells.cells.propagation on the ten-cell tree over fake://."""

import json

import pytest

from nova_cells import context
from nova_cells.cells import propagation
from tests.unit import helpers
from tests.unit import tree_support

# g5 (under c3): two hosts of 8 GiB / 100 GiB, flavor 2048 MB + 20 GB.
# Per host with the 10 % reserve: RAM (8192 - 819.2) / 2048 = 3 units,
# disk (102400 - 10240) / 20480 = 4 units.
G5_CAPACITIES = {
    'ram_free': {'total_mb': 16384, 'units_by_mb': {'2048': 6}},
    'disk_free': {'total_mb': 204800, 'units_by_mb': {'20480': 8}},
    # 2 live hosts x 8 vcpus, 10 % reserve: int(8 - 0.8) x 2
    'vcpu_free': {'total': 16, 'units_by_vcpus': {'1': 14}},
}


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with tree_support.running_tree(tmp_path_factory.mktemp('prop')) as t:
        yield t


@pytest.fixture
def ctxt():
    return context.get_admin_context()


def _fill_g5(db):
    for host in ('g5-cmp1', 'g5-cmp2'):
        helpers.add_compute_service(db, host)
        helpers.add_compute_node(db, host, memory_mb=8192, free_ram_mb=8192,
                                 local_gb=100, free_disk_gb=100)
    # a dead host is not counted
    helpers.add_compute_service(db, 'g5-dead',
                                last_seen_up=helpers.hours_ago(2))
    helpers.add_compute_node(db, 'g5-dead', memory_mb=8192, free_ram_mb=8192,
                             local_gb=100, free_disk_gb=100)
    helpers.add_flavor(db, 'm1.small', 2048, 20)


def test_grandchild_capacities_and_capabilities_reach_api(tree, ctxt):
    g5 = tree.cells['g5']
    c3 = tree.cells['c3']
    api = tree.cells['api']
    _fill_g5(g5.db)
    g5.state_manager.sync(force=True)  # recompute own capacity from rows
    assert g5.state_manager.get_our_capacities() == G5_CAPACITIES
    g5.state_manager.my_cell_state.capabilities = {
        'hypervisor': {'g5-hv'}, 'os': {'linux'}}

    propagation.update_our_parents(g5.runner, ctxt)

    # c3 learns g5's numbers and, at once, tells api its aggregate.
    assert tree_support.wait_until(
        lambda: api.state_manager.get_capacities('c3') == G5_CAPACITIES)
    assert c3.state_manager.get_capacities('g5') == G5_CAPACITIES
    assert api.state_manager.get_our_capacities() == G5_CAPACITIES, \
        'api has no hosts of its own; c1, c2 reported nothing'

    assert tree_support.wait_until(
        lambda: 'g5-hv' in api.state_manager.get_child_cell(
            'c3').capabilities.get('hypervisor', set()))
    caps = api.state_manager.get_child_cell('c3').capabilities
    assert all(isinstance(v, set) for v in caps.values()), \
        'lists on the wire, sets in the state'
    assert {'g5-hv'} <= caps['hypervisor']
    assert 'g5-hv' in api.state_manager.get_our_capabilities()['hypervisor']
    assert c3.state_manager.get_child_cell('g5').capabilities == {
        'hypervisor': {'g5-hv'}, 'os': {'linux'}}


def test_parent_asks_children_to_announce(tree, ctxt):
    c1 = tree.cells['c1']
    g1 = c1.state_manager.get_child_cell('g1')
    g2 = c1.state_manager.get_child_cell('g2')
    before = (g1.last_seen, g2.last_seen)
    propagation.ask_children_for_capabilities(c1.runner, ctxt)
    propagation.ask_children_for_capacities(c1.runner, ctxt)
    assert tree_support.wait_until(
        lambda: g1.last_seen > before[0] and g2.last_seen > before[1])
    # the default [cells] capabilities of every cell, as sets, and the
    # message size limit cells of ours announce
    assert g1.capabilities == {'hypervisor': {'xenserver', 'kvm'},
                               'os': {'linux', 'windows'},
                               'nova_cells_max_message_size': {'8388608'}}


def test_leaf_without_parents_sends_nothing(tree, ctxt):
    api = tree.cells['api']
    sent = []
    real_send = api.runner.send
    api.runner.send = lambda cell, message: sent.append(cell.name)
    try:
        propagation.update_our_parents(api.runner, ctxt)
    finally:
        api.runner.send = real_send
    assert sent == [], 'the API cell has no parents'


def test_messages_are_fanout_casts_with_lists(db):
    g = tree_support.make_runner(db, 'gc', parents=['p1', 'p2'],
                                 capabilities=['hypervisor=b;a'])
    propagation.update_our_parents(g, context.get_admin_context())
    sent = [(to, json.loads(raw)) for to, _t, raw in g.driver.sent]
    assert [(to, m['method_name']) for to, m in sent] == [
        ('p1', 'update_capabilities'), ('p2', 'update_capabilities'),
        ('p1', 'update_capacities'), ('p2', 'update_capacities')]
    for to, message in sent:
        assert (message['fanout'], message['need_response'],
                message['direction'], message['target_cell']) == (
            True, False, 'up', 'gc!' + to)
    assert sent[0][1]['method_kwargs'] == {
        'cell_name': 'gc', 'capabilities': {'hypervisor': ['a', 'b']}}
    assert sent[2][1]['method_kwargs'] == {'cell_name': 'gc',
                                           'capacities': {}}


def test_pushes_of_a_kind_are_spaced_by_min_interval(monkeypatch):
    """A steady stream of changes is pushed at most every min_interval;
    the first push after a quiet spell waits only ``delay``."""
    import threading
    import time
    pushed = []
    done = threading.Event()

    def record(runner, ctxt):
        pushed.append(time.monotonic())
        if len(pushed) == 3:
            done.set()
    monkeypatch.setitem(propagation.PUSHES, 'test', record)
    pusher = propagation.CoalescingPusher(None, delay=0.01,
                                          min_interval=0.6)
    start = time.monotonic()
    while not done.is_set() and time.monotonic() - start < 10:
        pusher.soon('test', None)
        time.sleep(0.005)
    assert len(pushed) >= 3
    assert pushed[0] - start < 0.4          # not held for min_interval
    gaps = [b - a for a, b in zip(pushed, pushed[1:])]
    assert min(gaps) >= 0.5, gaps           # 0.6 s, less scheduling slack


def test_a_push_after_a_quiet_spell_waits_only_the_delay():
    clock = [100.0]
    pusher = propagation.CoalescingPusher(None, delay=0.05, min_interval=2,
                                          clock=lambda: clock[0])
    assert pusher._wait('capacities') == 0.05      # never pushed
    pusher._last['capacities'] = 100.0
    clock[0] = 100.5
    assert pusher._wait('capacities') == 1.5       # 2 s after the last
    clock[0] = 103.0
    assert pusher._wait('capacities') == 0.05      # quiet long enough


# -- issue 23: reports checked against their schema, attributed to the link ---

def _report(tree, ctxt, sender, method, kwargs):
    runner = tree.cells[sender].runner
    for parent in runner.state_manager.get_parent_cells():
        runner.targeted(ctxt, parent, method, kwargs, direction='up',
                        fanout=True)


def test_a_report_is_attributed_to_the_child_it_came_from(tree, ctxt):
    c1 = tree.cells['c1']
    g2_before = c1.state_manager.get_capacities('g2')
    forged = {'ram_free': {'total_mb': 777, 'units_by_mb': {'1': 777}}}
    _report(tree, ctxt, 'g1', 'update_capacities',
            {'cell_name': 'g2', 'capacities': forged})
    assert tree_support.wait_until(
        lambda: c1.state_manager.get_capacities('g1') == forged)
    assert c1.state_manager.get_capacities('g2') == g2_before


@pytest.mark.parametrize('method, kwargs', [
    ('update_capacities', {'capacities': {'ram_free': {'total_mb': 'lots'}}}),
    ('update_capacities', {'capacities': {'ram_free': {
        'total_mb': float('nan')}}}),
    ('update_capacities', {'capacities': ['not', 'a', 'dict']}),
    ('update_capacities', {'capacities': {'ram_free': {
        'units_by_mb': {'2048': -5}}}}),
    ('update_capabilities', {'capabilities': {'hypervisor': 'kvm'}}),
    ('update_capabilities', {'capabilities': {'hypervisor': [1, 2]}}),
], ids=['string-total', 'nan-total', 'list', 'negative-units',
        'string-not-list', 'numbers-not-strings'])
def test_a_report_off_its_schema_is_dropped_and_the_parent_reports_on(
        tree, ctxt, caplog, method, kwargs):
    c1 = tree.cells['c1']
    g1 = c1.state_manager.get_child_cell('g1')
    before = (g1.capacities, g1.capabilities)
    _report(tree, ctxt, 'g1', method, dict(kwargs, cell_name='g1'))
    assert tree_support.wait_until(
        lambda: 'Dropped %s' % method in caplog.text)
    assert (g1.capacities, g1.capabilities) == before
    # The parent's own aggregate still adds up (a string once broke it).
    total = c1.state_manager.get_our_capacities()
    assert isinstance(total, dict)
    propagation.update_our_parents(c1.runner, ctxt)
