"""Split builds and cell-level server groups in the scheduler (issue 9).

First the pure parts: reading a server group from a build's filter
properties (:mod:`nova_cells.scheduler.server_groups`) and planning a request
one
instance at a time (:mod:`nova_cells.scheduler.split_plan`); then an in-process
tree (api -> child1 (gc1, gc2), child2 (gc3, gc4)) with the builtin hand-off,
where a multi-instance build is split by free units, anti-affinity keeps
members apart, and a plan that does not fit fails every instance with a
fault saying how many fitted.
"""

import uuid

import pytest

from nova_cells.db import instances as db_instances
from nova_cells.db import outbox
from nova_cells import exception
from nova_cells.scheduler import explain
from nova_cells.filters import free_units
from nova_cells.objects import instance as instance_obj
from nova_cells.scheduler import selection
from nova_cells.scheduler import server_groups
from nova_cells.scheduler import split_plan
from nova_cells.weights import ram_by_instance_type
from tests.unit import sched_support as ss
from tests.unit import tree_support

GROUP = '6b1c2f9e-4a53-4e3c-9d55-1f2e3a4b5c6d'


# -- server groups from filter properties -------------------------------------

@pytest.mark.parametrize('policies, cell_level, expected', [
    (['cell-anti-affinity'], False, ('anti-affinity', False)),
    (['soft-cell-affinity'], False, ('affinity', True)),
    (['anti-affinity'], False, None),            # a host policy, not ours
    (['anti-affinity'], True, ('anti-affinity', False)),
    (['soft-anti-affinity'], True, ('anti-affinity', True)),
    (['something-else'], True, None),
])
def test_policy_of(policies, cell_level, expected):
    assert server_groups.policy_of(policies, cell_level) == expected


def test_group_spec_from_a_request_spec_group():
    spec = server_groups.group_spec(
        {'instance_group': {'uuid': GROUP, 'policy': 'cell-affinity',
                            'members': ['m1']},
         'group_member_cells': ['api!child1!gc1']}, cell_level=False)
    assert spec.to_dict() == {'uuid': GROUP, 'policy': 'affinity',
                              'soft': False,
                              'member_paths': ['api!child1!gc1']}


def test_group_spec_from_novas_legacy_keys():
    spec = server_groups.group_spec(
        {'scheduler_hints': {'group': GROUP},
         'group_policies': ['anti-affinity'], 'group_members': ['m1']},
        cell_level=True)
    assert (spec.uuid, spec.policy, spec.soft) == (GROUP, 'anti-affinity',
                                                   False)
    assert spec.member_paths == ()          # not resolved by the top yet


def test_no_group_spec_without_a_group_or_a_cell_policy():
    assert server_groups.group_spec({'scheduler_hints': {}}, True) is None
    assert server_groups.group_spec(
        {'instance_group': {'uuid': GROUP, 'policies': ['affinity']}},
        cell_level=False) is None


def test_the_top_resolves_members_to_cells_once():
    asked = []

    def lookup(uuids):
        asked.append(list(uuids))
        return {'m1': 'api!child1!gc1', 'm2': None}

    building = instance_obj.Instance(uuid=str(uuid.uuid4()))
    kwargs = {'instances': [building], 'filter_properties': {
        'instance_group': {'uuid': GROUP, 'policy': 'cell-anti-affinity',
                           'members': ['m1', 'm2', 'm3', building.uuid]}}}
    resolved = server_groups.with_member_cells(kwargs, lookup)
    # The build's own instance is not a member yet; m2 has no cell yet
    # and m3 no row: only m1 counts.
    assert asked == [['m1', 'm2', 'm3']]
    assert resolved['filter_properties']['group_member_cells'] == [
        'api!child1!gc1']
    assert 'group_member_cells' not in kwargs['filter_properties']
    assert server_groups.with_member_cells(resolved, lookup) is resolved
    assert asked == [['m1', 'm2', 'm3']]


# -- planning -----------------------------------------------------------------

def _planner(units, num_instances, weighers=None):
    cells = [ss.cell(name, ram_units=n) for name, n in units]
    candidates = ss.candidates(*cells)
    filters = [free_units.FreeUnitsFilter()]
    weighers = weighers or [
        ram_by_instance_type.RamByInstanceTypeWeigher(1.0)]
    request = ss.request(planning=True, num_instances=num_instances)

    def select(req):
        return selection.select(candidates, req, filters, weighers,
                                record_all=False)
    return request, select


def test_a_plan_follows_free_units_and_takes_what_it_planned_off():
    request, select = _planner([('a', 5), ('b', 2), ('c', 0)], 6)
    plan = split_plan.plan_build(request, select)
    # Most free units first, each instance taking one off: a gets 4,
    # then a and b tie at 1 each... never over a cell's units.
    counts = dict((c.path, n) for c, n in plan.items())
    assert sum(counts.values()) == 6
    assert counts.get('api!c', 0) == 0
    assert counts['api!a'] <= 5 and counts['api!b'] <= 2
    assert counts['api!a'] >= 4
    assert plan.to_dict()[0]['cell'] == 'api!a'


def test_a_plan_keeps_its_picks_only_when_asked():
    request, select = _planner([('a', 5), ('b', 2)], 3)
    assert split_plan.plan_build(request, select).selections == []
    request, select = _planner([('a', 5), ('b', 2)], 3)
    kept = split_plan.plan_build(request, select, keep_selections=True)
    picked = [s.picked.path for s in kept.selections]
    assert len(picked) == 3
    assert {p: picked.count(p) for p in picked} == dict(
        (c.path, n) for c, n in kept.items())


def test_a_plan_that_does_not_fit_is_refused_whole():
    request, select = _planner([('a', 2), ('b', 1)], 4)
    with pytest.raises(exception.NoCellsAvailable) as caught:
        split_plan.plan_build(request, select)
    message = caught.value.format_message()
    assert 'split: only 3 of 4 instances fit' in message
    assert 'no free unit of m1.test left' in message
    assert 'FreeUnitsFilter' in message


def test_partition_slices_in_plan_order():
    request, select = _planner([('a', 1), ('b', 3)], 4)
    plan = split_plan.plan_build(request, select)
    parts = split_plan.partition(['i1', 'i2', 'i3', 'i4'], plan)
    assert [(c.path, items) for c, items in parts] == [
        ('api!b', ['i1', 'i2', 'i3']), ('api!a', ['i4'])]


def test_free_units_filter_is_inert_outside_planning():
    plugin = free_units.FreeUnitsFilter()
    full = ss.candidate(ss.cell('full', ram_units=0))
    request = ss.request()
    assert not plugin.is_applicable(request)
    assert plugin.filter_cell(full, request).passed
    request.planning = True
    assert plugin.filter_cell(full, request).reasons == (
        'no free unit of m1.test left',)


# -- in a tree ----------------------------------------------------------------

# gc1: 3 x 2 GiB; gc2: 1 x 2 GiB; gc3: 2 x 2 GiB; gc4: nothing.  With the
# reserve at 0 the m1.small (2048 MB) units are 3 + 1 + 2 = 6.
HOSTS = {'gc1': [(6144, 16, 200)], 'gc2': [(2048, 16, 200)],
         'gc3': [(4096, 16, 200)], 'gc4': []}


@pytest.fixture
def tree(tmp_path):
    """A fresh tree per test: each build uses up units."""
    with ss.building_tree(tmp_path, HOSTS,
                          overrides={'split_builds_by_capacity': True,
                                     'reserve_percent': 0.0,
                                     'scheduler_retries': 0}) as harness:
        yield harness


def _build(harness, count, filter_properties=None):
    the_flavor = ss.flavor()
    made = harness.instances_for(count, the_flavor)
    kwargs = ss.build_kwargs(made, the_flavor)
    kwargs['filter_properties'].update(filter_properties or {})
    harness.top.manager.build_instances(ss.USER, kwargs)
    return [i.uuid for i in made]


def _explain(harness, count, filter_properties=None):
    the_flavor = ss.flavor()
    made = [instance_obj.Instance(uuid=str(uuid.uuid4()), flavor=the_flavor,
                                  vm_state='building', metadata={},
                                  system_metadata={})
            for _ in range(count)]
    kwargs = explain.request_kwargs(made[0], the_flavor)
    kwargs['instances'] = made
    kwargs['filter_properties'].update(filter_properties or {})
    return harness.top.manager.explain_build(ss.ADMIN, kwargs)


def _built_where(result, count):
    """{leaf path: instances} that a dry run would build where."""
    if result.get('parts'):
        found = {}
        for part in result['parts']:
            below = (_built_where(part['next'], part['count'])
                     if part['next'] else {part['cell']: part['count']})
            for cell, n in below.items():
                found[cell] = found.get(cell, 0) + n
        return found
    if result.get('next'):
        return _built_where(result['next'], count)
    assert result['action'].startswith('build here'), result['action']
    return {result['cell']: count}


def test_explain_shows_the_plan_and_each_part(tree):
    result = _explain(tree, 5)
    assert result['action'].startswith('split: ')
    parts = {p['cell']: p['count'] for p in result['parts']}
    assert sum(parts.values()) == 5
    assert set(parts) <= {'api!child1', 'api!child2'}
    # each child explains its own part, down to the leaves
    leaf_parts = _built_where(result, 5)
    assert sum(leaf_parts.values()) == 5
    assert leaf_parts.get('api!child1!gc1', 0) <= 3
    assert leaf_parts.get('api!child1!gc2', 0) <= 1
    assert 'api!child2!gc4' not in leaf_parts
    text = explain.render_text(result)
    assert 'part api!child1: ' in text
    assert '=> split: api!child1 x' in text
    assert ' => build here' in text


def test_explain_of_a_plan_that_does_not_fit(tree):
    result = _explain(tree, 7)
    assert result['action'].startswith(
        'fail: No cells available matching scheduling criteria. '
        'split: only 6 of 7 instances fit')
    assert 'parts' not in result


def test_a_build_is_split_by_free_units_and_all_parts_reach_the_top(tree):
    uuids = _build(tree, 6)
    rows = tree.wait(uuids)
    assert [r['vm_state'] for r in rows] == ['active'] * 6
    cells = [r['cell_name'] for r in rows]
    assert sorted(cells) == sorted(
        ['api!child1!gc1'] * 3 + ['api!child1!gc2'] + ['api!child2!gc3'] * 2)
    assert all(r['host'] for r in rows)


def test_a_build_that_does_not_fit_fails_whole_with_a_fault(tree):
    uuids = _build(tree, 7)
    rows = tree.wait(uuids)
    assert [r['vm_state'] for r in rows] == ['error'] * 7
    faults = tree.wait_faults(uuids)
    assert all('split: only 6 of 7 instances fit' in m
               for m in faults.values()), faults


def test_anti_affinity_puts_each_member_in_another_cell(tree):
    group = {'instance_group': {'uuid': GROUP,
                                'policy': 'cell-anti-affinity',
                                'members': []}}
    uuids = _build(tree, 2, group)
    rows = tree.wait(uuids)
    assert [r['vm_state'] for r in rows] == ['active'] * 2
    # one member below each child of the top: they share no cell at any
    # level
    children = {r['cell_name'].split('!')[1] for r in rows}
    assert children == {'child1', 'child2'}
    # a third member finds both children holding one: refused, with why
    group['instance_group']['members'] = uuids
    third = _build(tree, 1, group)
    assert tree.wait(third)[0]['vm_state'] == 'error'
    fault = tree.wait_faults(third)[third[0]]
    assert 'ServerGroupCellFilter' in fault


# -- a resent build (durable forwarding) -------------------------------------

@pytest.fixture
def middle_with_hosts(tmp_path):
    """api -> child1 (2 small units of its own) -> gc1 (4 units)."""
    layout = {'api': {'child1': {'gc1': {}}}}
    hosts = {'child1': [(4096, 16, 200)], 'gc1': [(8192, 16, 200)]}
    with ss.building_tree(tmp_path, hosts, layout=layout,
                          overrides={'split_builds_by_capacity': True,
                                     'reserve_percent': 0.0,
                                     'scheduler_retries': 0}) as harness:
        yield harness


def test_instances_an_earlier_delivery_built_here_stay_here(
        middle_with_hosts):
    # child1 died after building one instance of a split build itself and
    # before its parts for gc1 were recorded: the resent build finds that
    # instance's row in child1 and keeps it there, and plans only the rest.
    harness = middle_with_hosts
    child1 = harness.cell('child1')
    assert child1.runner.inbox is not None, 'durable forwarding is on'
    the_flavor = ss.flavor()
    made = harness.instances_for(3, the_flavor)
    db_instances.instance_create(child1.db, {
        'uuid': made[2].uuid, 'project_id': 'demo', 'user_id': 'alice',
        'vm_state': 'building', 'task_state': 'scheduling',
        'memory_mb': 2048, 'vcpus': 1, 'root_gb': 20})
    harness.top.manager.build_instances(
        ss.USER, ss.build_kwargs(made, the_flavor))
    rows = harness.wait([i.uuid for i in made])
    assert [r['vm_state'] for r in rows] == ['active'] * 3
    assert rows[2]['cell_name'] == 'api!child1'
    # Every instance exists once, in the cell the top names.
    for row in rows:
        holders = [name for name in ('child1', 'gc1') if any(
            r['uuid'] == row['uuid'] for r in db_instances.instance_get_all(
                harness.cell(name).db))]
        assert holders == [row['cell_name'].split('!')[-1]], row['uuid']


@pytest.fixture
def one_leaf(tmp_path):
    """api -> gc1 (4 units of its own)."""
    with ss.building_tree(tmp_path, {'gc1': [(8192, 16, 200)]},
                          layout={'api': {'gc1': {}}},
                          overrides={'scheduler_retries': 0}) as harness:
        yield harness


def _count_lookups(monkeypatch):
    looked_up = []
    real = db_instances.instance_cells_by_uuid

    def counting(db, uuids):
        looked_up.append(sorted(uuids))
        return real(db, uuids)
    monkeypatch.setattr(db_instances, 'instance_cells_by_uuid', counting)
    return looked_up


def _one_built_earlier(harness, the_flavor, **state):
    """Two instances at the top, the first with a row in gc1 in ``state``
    (an earlier delivery of their build made it)."""
    built, other = harness.instances_for(2, the_flavor)
    db_instances.instance_create(harness.cell('gc1').db, dict(
        state, uuid=built.uuid, project_id='demo', user_id='alice',
        memory_mb=2048, vcpus=1, root_gb=20))
    return built, other


def test_a_leaf_that_cannot_take_a_resent_build_keeps_what_it_built(
        one_leaf, monkeypatch):
    # gc1 built the first instance, then died before it was marked; the
    # build comes again and gc1 can no longer take it: the instance it
    # built stays (ACTIVE at the top), only the other one fails.
    harness = one_leaf
    gc1 = harness.cell('gc1')
    the_flavor = ss.flavor()
    built, other = _one_built_earlier(harness, the_flavor, vm_state='active',
                                      task_state=None, host='gc1-host0')
    looked_up = _count_lookups(monkeypatch)

    def full(request, record_all=False):
        raise exception.NoCellsAvailable()
    monkeypatch.setattr(gc1.scheduler, 'select', full)
    harness.top.manager.build_instances(
        ss.USER, ss.build_kwargs([built, other], the_flavor))
    harness.wait([built.uuid, other.uuid])
    assert harness.wait_faults([other.uuid])
    # Everything sent up has been applied at the top (confirmed, cleared).
    assert tree_support.wait_until(lambda: not any(
        outbox.outbox_all(c.db) for c in harness.tree.cells.values()))
    rows = harness.rows([built.uuid, other.uuid])
    assert [r['vm_state'] for r in rows] == ['active', 'error']
    assert rows[0]['cell_name'] == 'api!gc1'
    assert not db_instances.instance_fault_get_by_instance(harness.top.db,
                                                           built.uuid)
    assert looked_up == [sorted([built.uuid, other.uuid])]


def test_rows_found_here_that_cannot_be_handed_off_again_fail_too(
        one_leaf, monkeypatch):
    harness = one_leaf
    gc1 = harness.cell('gc1')
    the_flavor = ss.flavor()
    built, other = _one_built_earlier(harness, the_flavor,
                                      vm_state='building',
                                      task_state='scheduling')

    def broken(ctxt, build_inst_kwargs):
        raise RuntimeError('hand-off refused')
    monkeypatch.setattr(gc1.scheduler.handoff, 'build_instances', broken)
    harness.top.manager.build_instances(
        ss.USER, ss.build_kwargs([built, other], the_flavor))
    faults = harness.wait_faults([built.uuid, other.uuid])
    assert all('hand-off refused' in m for m in faults.values()), faults
    rows = harness.wait([built.uuid, other.uuid])
    assert [r['vm_state'] for r in rows] == ['error', 'error']
