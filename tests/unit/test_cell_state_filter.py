"""Cell states (``cells.state``): CellStateFilter's verdicts, the scheduler
always running it first, the cells_config file's ``state`` entries, and
``explain`` on an in-process tree showing the filter's verdict."""

import json
import uuid

import pytest

from nova_cells import conf as nc_conf
from nova_cells import context
from nova_cells.db import api as db_api
from nova_cells.scheduler import explain
from nova_cells.filters import cell_state
from nova_cells.filters import different_cell
from nova_cells.filters import target_cell
from nova_cells.objects import instance as instance_obj
from nova_cells.scheduler import core as scheduler
from nova_cells import scheduling
from nova_cells.cells import state
from tests.unit import sched_support as ss

PASS, REJECT = scheduling.PASS, scheduling.REJECT


def _cell(name, row_state=None, reason=None, is_me=False):
    cell = ss.cell(name, ram_units=4, is_me=is_me)
    if row_state is not None or reason is not None:
        cell.update_db_info(dict(cell.db_info, state=row_state,
                                 state_reason=reason))
    return cell


def _verdict(cell, routing_path='api'):
    plugin = cell_state.CellStateFilter()
    verdict = plugin.filter_cell(ss.candidate(cell, routing_path),
                                 ss.request(routing_path))
    return verdict.code, verdict.reasons


# -- the filter ---------------------------------------------------------------

@pytest.mark.parametrize('row_state, reason, expected', [
    pytest.param(None, None, (PASS, ()), id='null-is-enabled'),
    pytest.param('enabled', None, (PASS, ()), id='enabled'),
    pytest.param('enabled', 'stale reason', (PASS, ()),
                 id='enabled-with-reason'),
    pytest.param('disabled', 'maintenance',
                 (REJECT, ('cell disabled: maintenance',)),
                 id='disabled-with-reason'),
    pytest.param('disabled', None, (REJECT, ('cell disabled',)),
                 id='disabled-no-reason'),
    pytest.param('disabled', '', (REJECT, ('cell disabled',)),
                 id='disabled-empty-reason'),
    pytest.param('draining', 'moving to rack 7',
                 (REJECT, ('cell draining: moving to rack 7',)),
                 id='draining-with-reason'),
    pytest.param('draining', None, (REJECT, ('cell draining',)),
                 id='draining-no-reason'),
    pytest.param('paused', 'ignored',
                 (REJECT, ("cell disabled: unknown state 'paused' in the "
                           "cells table",)), id='unknown-state'),
    pytest.param('', None, (PASS, ()), id='empty-string-is-enabled'),
])
def test_filter_verdicts(row_state, reason, expected):
    assert _verdict(_cell('c1', row_state, reason)) == expected


def test_filter_state_properties():
    cell = _cell('c1', 'draining', 'x')
    assert (cell.admin_state, cell.admin_state_reason,
            cell.accepts_builds) == ('draining', 'x', False)
    cell = _cell('c1')
    assert (cell.admin_state, cell.admin_state_reason,
            cell.accepts_builds) == ('enabled', None, True)
    odd = _cell('c1', 'Disabled')
    assert odd.admin_state == 'disabled' and not odd.accepts_builds


@pytest.mark.parametrize('row_state', ['disabled', 'draining', 'bogus'])
def test_filter_always_passes_me(row_state):
    me = _cell('api', is_me=True)
    # Even if "my" info somehow carried a state: only a parent can take a
    # cell out of service.
    me.db_info = {'state': row_state, 'state_reason': 'r'}
    assert _verdict(me, 'api!c1') == (PASS, ())


def test_filter_from_conf_and_name():
    plugin = cell_state.CellStateFilter.from_conf(nc_conf.new_config())
    assert isinstance(plugin, cell_state.CellStateFilter)
    assert plugin.name == 'CellStateFilter'


def test_selection_summary_counts_the_state_rejections():
    from nova_cells.scheduler import selection

    cells = [_cell('c1', 'disabled', 'maintenance'),
             _cell('c2', 'disabled', 'maintenance'),
             _cell('c3', 'draining')]
    result = selection.select(
        ss.candidates(*cells), ss.request(),
        scheduler.with_cell_state_filter([]), [], None)
    assert result.ordered == []
    summary = result.summary()
    assert summary.startswith('0/3 cells are available: '), summary
    assert '2 cell disabled: maintenance (CellStateFilter)' in summary
    assert '1 cell draining (CellStateFilter)' in summary


# -- with_cell_state_filter ---------------------------------------------------

def test_with_cell_state_filter_prepends_once():
    others = [target_cell.TargetCellFilter(),
              different_cell.DifferentCellFilter()]
    once = scheduler.with_cell_state_filter(others)
    assert [type(f) for f in once] == [cell_state.CellStateFilter,
                                       target_cell.TargetCellFilter,
                                       different_cell.DifferentCellFilter]
    assert once[1:] == others
    assert len(others) == 2   # the caller's list is left alone
    twice = scheduler.with_cell_state_filter(once)
    assert twice == once and twice is not once
    assert [type(f) for f in scheduler.with_cell_state_filter([])] == [
        cell_state.CellStateFilter]


def test_with_cell_state_filter_keeps_an_explicit_position():
    explicit = cell_state.CellStateFilter()
    others = [target_cell.TargetCellFilter(), explicit]
    assert scheduler.with_cell_state_filter(others) == others


# -- the cells_config file ----------------------------------------------------

def _write(path, data):
    path.write_text(json.dumps(data))
    return str(path)


def _entry(**extra):
    entry = {'transport_url': 'rabbit://u:p@host:5672/vh',
             'is_parent': False, 'weight_offset': 0.0, 'weight_scale': 1.0}
    entry.update(extra)
    return entry


def test_cells_config_states_are_read(tmp_path):
    path = _write(tmp_path / 'cells.json', {
        'c1': _entry(state='disabled', state_reason='maintenance'),
        'c2': _entry(state='draining'),
        'c3': _entry()})
    cells = state.FileCellSource(path).load()
    assert (cells['c1']['state'], cells['c1']['state_reason']) == (
        'disabled', 'maintenance')
    assert cells['c2']['state'] == 'draining'
    assert 'state' not in cells['c3']
    cell = state.CellState('c1')
    cell.update_db_info(cells['c1'])
    assert cell.admin_state == 'disabled' and not cell.accepts_builds


def test_cells_config_unknown_state_refuses_the_file(tmp_path):
    path = _write(tmp_path / 'cells.json', {
        'c1': _entry(state='paused'), 'c2': _entry()})
    with pytest.raises(ValueError) as caught:
        state.FileCellSource(path).load()
    assert "c1: state 'paused' is not one of enabled, disabled, " \
        "draining" in str(caught.value)


def test_cells_config_bad_state_later_keeps_the_last_good_file(tmp_path):
    path = tmp_path / 'cells.json'
    _write(path, {'c1': _entry(state='draining')})
    source = state.FileCellSource(str(path))
    assert source.load()['c1']['state'] == 'draining'
    _write(path, {'c1': _entry(state='off'), 'c2': _entry()})
    assert source.load(force=True) is None
    # Still the good content; not re-read until the file changes again.
    assert source.load() is None
    _write(path, {'c1': _entry(state='enabled'), 'c2': _entry()})
    assert sorted(source.load(force=True)) == ['c1', 'c2']


def test_make_state_manager_refuses_a_bad_state_at_start(tmp_path, db,
                                                         make_conf):
    path = _write(tmp_path / 'cells.json', {'c1': _entry(state='nope')})
    conf = make_conf('[cells]\ncells_config = %s\nname = top\n' % path)
    manager = state.make_state_manager(conf, db)
    with pytest.raises(ValueError):
        manager.sync(force=True)


# -- the scheduler and explain on an in-process tree --------------------------

HOSTS = {leaf: [(65536, 32, 800)] for leaf in ('gc1', 'gc2', 'gc3', 'gc4')}


@pytest.fixture(scope='module')
def harness(tmp_path_factory):
    with ss.building_tree(tmp_path_factory.mktemp('states'), HOSTS) as h:
        yield h


def _set_state(harness, parent, child, row_state, reason=None):
    cell = harness.cell(parent)
    db_api.cell_update(cell.db, child, {'state': row_state,
                                        'state_reason': reason})
    cell.state_manager.sync(force=True)


@pytest.fixture
def disabled_child1(harness):
    _set_state(harness, 'api', 'child1', 'disabled', 'maintenance')
    _set_state(harness, 'child2', 'gc3', 'draining')
    yield harness
    _set_state(harness, 'api', 'child1', None)
    _set_state(harness, 'child2', 'gc3', None)


def _explain(harness, hints=None, ctxt=ss.ADMIN):
    the_flavor = ss.flavor()
    instance = instance_obj.Instance(uuid=str(uuid.uuid4()),
                                     flavor=the_flavor, vm_state='building',
                                     metadata={}, system_metadata={})
    return harness.top.manager.explain_build(
        ctxt, explain.request_kwargs(instance, the_flavor, hints=hints))


def test_the_scheduler_runs_the_state_filter_first(harness):
    for name in ('api', 'child1', 'child2', 'gc1'):
        filters = harness.cell(name).scheduler.filters
        assert isinstance(filters[0], cell_state.CellStateFilter), filters
        assert sum(isinstance(f, cell_state.CellStateFilter)
                   for f in filters) == 1


def test_explain_lists_the_state_filter_verdicts(disabled_child1):
    result = _explain(disabled_child1)
    json.dumps(result)
    assert result['cell'] == 'api'
    assert result['action'] == 'forward to api!child2', result
    by_path = {c['path']: c for c in result['selection']['candidates']}
    child1 = by_path['api!child1']
    assert child1['verdicts'][0]['plugin'] == 'CellStateFilter'
    assert [(v['plugin'], v['code'], v['reasons'])
            for v in child1['verdicts'] if v['code'] != PASS] == [
        ('CellStateFilter', REJECT, ['cell disabled: maintenance'])]
    assert child1['weight'] is None
    child2 = by_path['api!child2']
    assert child2['verdicts'][0]['plugin'] == 'CellStateFilter'
    assert all(v['code'] == PASS for v in child2['verdicts'])
    assert '1 cell disabled: maintenance (CellStateFilter)' in \
        result['selection']['summary']
    below = result['next']
    assert below['cell'] == 'api!child2'
    assert below['action'] == 'forward to api!child2!gc4', below
    gc3 = {c['path']: c for c in below['selection']['candidates']}[
        'api!child2!gc3']
    assert [(v['plugin'], v['reasons']) for v in gc3['verdicts']
            if v['code'] != PASS] == [('CellStateFilter', ['cell draining'])]
    text = explain.render_text(result)
    assert 'reject by CellStateFilter: cell disabled: maintenance' in text
    assert 'reject by CellStateFilter: cell draining' in text


def test_builds_avoid_disabled_and_draining_cells(disabled_child1):
    uuids = disabled_child1.build(6)
    rows = disabled_child1.wait(uuids)
    assert {(r['vm_state'], r['cell_name']) for r in rows} == {
        ('active', 'api!child2!gc4')}, rows


def test_pin_through_a_disabled_child_is_refused(disabled_child1):
    uuids = disabled_child1.build(1, ctxt=ss.ADMIN,
                                  hints={'target_cell': 'api!child1!gc1'})
    (row,) = disabled_child1.wait(uuids)
    assert row['vm_state'] == 'error', row
    (message,) = disabled_child1.wait_faults(uuids).values()
    assert 'target_cell api!child1!gc1' in message
    assert 'child1 is disabled in api: maintenance' in message


def test_every_child_out_fails_with_the_summary(harness):
    _set_state(harness, 'api', 'child1', 'disabled', 'maintenance')
    _set_state(harness, 'api', 'child2', 'draining', 'rack move')
    try:
        result = _explain(harness)
        action = result['action']
        assert action.startswith('fail: 0/2 cells are available'), result
        uuids = harness.build(1)
        (row,) = harness.wait(uuids)
        assert row['vm_state'] == 'error'
        (message,) = harness.wait_faults(uuids).values()
        assert '0/2 cells are available' in message
        assert 'cell disabled: maintenance (CellStateFilter)' in message
        assert 'cell draining: rack move (CellStateFilter)' in message
    finally:
        _set_state(harness, 'api', 'child1', None)
        _set_state(harness, 'api', 'child2', None)
    result = _explain(harness)
    assert result['action'] in ('forward to api!child1',
                                'forward to api!child2'), result


def test_user_context_gets_the_same_state_verdicts(disabled_child1):
    result = _explain(disabled_child1, ctxt=context.RequestContext(
        user_id='alice', project_id='demo'))
    assert result['action'] == 'forward to api!child2'


def test_explain_of_a_pin_through_a_disabled_child_says_fail(
        disabled_child1):
    """explain checks a pin as the build does (here the api cell's own
    child on the path): it never promises a build that would be
    refused."""
    result = _explain(disabled_child1, hints={'target_cell':
                                              'api!child1!gc1'})
    assert result['next'] is None
    assert result['action'].startswith('fail: '), result
    assert 'child1 is disabled in api: maintenance' in result['action']


def test_explain_of_a_pin_goes_straight_to_the_pinned_cell(harness):
    """As the build: one message to the full pinned path, which child2
    only routes (no dry run of its own there)."""
    result = _explain(harness, hints={'target_cell': 'api!child2!gc4'})
    assert result['action'] == 'forward to api!child2!gc4', result
    below = result['next']
    assert (below['cell'], below['action']) == ('api!child2!gc4',
                                                'build here'), below


def test_pin_to_a_draining_grandchild_is_refused_by_the_middle_cell(
        disabled_child1):
    """The api cell sends the build to api!child2!gc3; child2, which
    drains gc3, does not route it on and says why at the top."""
    uuids = disabled_child1.build(1, ctxt=ss.ADMIN,
                                  hints={'target_cell': 'api!child2!gc3'})
    (row,) = disabled_child1.wait(uuids)
    assert row['vm_state'] == 'error', row
    (message,) = disabled_child1.wait_faults(uuids).values()
    assert message == ('No cells available matching scheduling criteria. '
                       'target_cell api!child2!gc3: gc3 is draining in '
                       'api!child2'), message


def test_explain_of_a_pin_refused_by_a_middle_cell_says_why(
        disabled_child1):
    result = _explain(disabled_child1, hints={'target_cell':
                                              'api!child2!gc3'})
    assert result['action'] == 'forward to api!child2!gc3', result
    below = result['next']
    assert below['cell'] == 'api!child2!gc3'
    assert 'gc3 is draining in api!child2' in below['error'], below
