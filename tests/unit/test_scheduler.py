"""CellsScheduler (reference §6, §10.24-25; STYLE.md items 5-6).

First on a stand-alone runner whose driver records the wire JSON (which
cell gets the build, with which hints, what goes up when it fails), then
end to end in an in-process tree (api -> child1 (gc1, gc2), child2 (gc3,
gc4)) with the builtin hand-off: builds through the API cell's manager and
through CellsAPI land at the top with the full path of their cell, hints
steer them, and failures reach the top as ERROR with a fault saying why.
"""

import contextlib
import json
import random
import re

from oslo_db import exception as db_exc
import pytest

from nova_cells import conf as nc_conf
from nova_cells.db import api as db_api
from nova_cells.db import bdm as db_bdm
from nova_cells.db import outbox as db_outbox
from nova_cells.db import instances as db_instances
from nova_cells.db import migration
from nova_cells.messaging import delivery
from nova_cells.filters import different_cell
from nova_cells.filters import image_properties
from nova_cells.filters import target_cell
from nova_cells.handoff import BaseHandoff
from nova_cells.objects import block_device
from nova_cells.objects import instance as instance_obj
from nova_cells.messaging import messages
from nova_cells.transport import rpc
from nova_cells import rpcapi
from nova_cells.scheduler import core as scheduler
from nova_cells.weights import mute_child
from nova_cells.weights import ram_by_instance_type
from nova_cells.weights import weight_offset
from tests.unit import sched_support as ss
from tests.unit import tree_support

NO_CELLS = 'No cells available matching scheduling criteria.'


class RecordingHandoff(BaseHandoff):
    """Takes the build when this cell picks itself; may fail on demand."""

    def __init__(self, error=None):
        self.calls = []
        self.error = error

    def build_instances(self, ctxt, build_inst_kwargs):
        self.calls.append((ctxt, build_inst_kwargs))
        if self.error is not None:
            raise self.error


def standalone(db, name='api', parents=(), children=(), retries=0,
               delay=0, handoff=None, offsets=None):
    """A real runner + scheduler over ``db``; the driver records sends.

    :param offsets: child name -> weight_offset (the best child wins, as
        the children have no capacities and are all equally mute).
    """
    runner = tree_support.make_runner(db, name, parents=parents,
                                      children=children)
    for child, offset in (offsets or {}).items():
        db_api.cell_update(db, child, {'weight_offset': offset})
    runner.state_manager.sync(force=True)
    runner.services.db = db
    sleeps = []
    sched = scheduler.CellsScheduler(
        runner,
        [target_cell.TargetCellFilter(), different_cell.DifferentCellFilter(),
         image_properties.ImagePropertiesFilter()],
        [ram_by_instance_type.RamByInstanceTypeWeigher(10.0),
         weight_offset.WeightOffsetWeigher(1.0),
         mute_child.MuteChildWeigher(-10000.0, 300)],
        handoff or RecordingHandoff(), ss.cell_policy(),
        scheduler.SchedulerSettings(retries, delay),
        rng=random.Random(0), sleep=sleeps.append)
    runner.services.scheduler = sched
    return runner, sched, sleeps


def start_build(runner, db, count=1, ctxt=ss.USER, hints=None, image=None):
    """What the manager does: the rows exist, then a targeted message to
    myself runs the scheduler here."""
    the_flavor = ss.flavor()
    made = [ss.new_instance(db, the_flavor, 'vm-%d' % i, ctxt)
            for i in range(count)]
    kwargs = ss.build_kwargs(made, the_flavor, hints, image)
    runner.targeted(ctxt, runner.state_manager.get_my_state(),
                    'build_instances', {'build_inst_kwargs': kwargs})
    return [i.uuid for i in made], kwargs


def sent(runner):
    """[(neighbour, type, message dict)] the driver was asked to send."""
    return [(name, kind, json.loads(text))
            for name, kind, text in runner.driver.sent]


def forwarded_builds(runner):
    return [(name, m['target_cell'], m['method_kwargs']['build_inst_kwargs'])
            for name, kind, m in sent(runner)
            if kind == 'targeted' and m['method_name'] == 'build_instances']


def fault_messages(db, uuids):
    return {u: [f['message'] for f in
                db_instances.instance_fault_get_by_instance(db, u)]
            for u in uuids}


# -- candidates and the request spec ------------------------------------------

@pytest.mark.parametrize('children, my_capacities, expected', [
    pytest.param(('c1', 'c2'), {}, ['api!c1', 'api!c2'],
                 id='api-with-children-never-itself'),
    pytest.param(('c1', 'c2'), {'ram_free': {'total_mb': 1}},
                 ['api!c1', 'api!c2', 'api'],
                 id='children-plus-me-with-own-capacity'),
    pytest.param((), {}, ['api'], id='leaf-always-itself-even-empty'),
])
def test_candidates(db, children, my_capacities, expected):
    runner, sched, _sleeps = standalone(db, children=children)
    runner.state_manager.my_cell_state.capacities = my_capacities
    assert [c.path for c in sched.candidates('api')] == expected


def test_build_request_spec_is_novas():
    the_flavor = ss.flavor()
    first = instance_obj.Instance(uuid='u-1', project_id='p', user_id='u',
                                  image_ref='img', display_name='x')
    second = instance_obj.Instance(uuid='u-2')
    spec = scheduler.build_request_spec({'id': 'img'}, [first, second],
                                        the_flavor)
    assert spec['image'] == {'id': 'img'}
    assert spec['instance_properties'] == {
        'uuid': 'u-1', 'project_id': 'p', 'user_id': 'u', 'image_ref': 'img'}
    assert spec['num_instances'] == 2
    assert spec['instance_type']['memory_mb'] == 2048
    assert spec['instance_type']['name'] == 'm1.small'
    assert scheduler.build_request_spec(None, [], None) == {
        'image': {}, 'instance_properties': {}, 'instance_type': {},
        'num_instances': 0}


# -- forwarding ---------------------------------------------------------------

def test_build_goes_to_the_best_child(db):
    runner, _sched, _sleeps = standalone(db, children=('c1', 'c2'),
                                         offsets={'c2': 5.0})
    uuids, _kwargs = start_build(runner, db)
    (name, target, kwargs), = forwarded_builds(runner)
    assert (name, target) == ('c2', 'api!c2')
    assert kwargs['instances'][0]['nova_object.data']['uuid'] == uuids[0]
    message = sent(runner)[0][2]
    assert (message['routing_path'], message['hop_count'],
            message['direction']) == ('api', 1, 'down')


def test_a_burst_is_weighed_on_what_the_builds_before_it_left(db):
    """No report arrives during a burst of single-instance builds: each
    one sent is counted against its child's last report, so the burst
    is spread by what is left (nova sent them all to the child that had
    reported the most room, and the last ones found none there)."""
    runner, _sched, _sleeps = standalone(db, children=('c1', 'c2'))
    for name, units in (('c1', 5), ('c2', 3)):
        runner.state_manager.get_child_cell(name).update_capacities(
            {'ram_free': {'total_mb': units * 2048,
                          'units_by_mb': {'2048': units}}})
    for _build in range(6):
        start_build(runner, db)
    targets = [name for name, _target, _kwargs in forwarded_builds(runner)]
    # c1 until it has no more room than c2, then in turn.
    assert targets.count('c1') == 4 and targets.count('c2') == 2
    assert targets[:2] == ['c1', 'c1']
    c1 = runner.state_manager.get_child_cell('c1')
    assert c1.capacities['ram_free'] == {'total_mb': 2048,
                                         'units_by_mb': {'2048': 1}}


@pytest.mark.parametrize('ctxt, hints, expected_target, forwarded_hints', [
    # A pin below a child goes as nova's top cell sent it: one message to
    # the full pinned path, through the child, hint dropped (nova's filter
    # popped it); the child only routes it.
    pytest.param(ss.ADMIN, {'target_cell': 'api!c1!g3',
                            'different_cell': ['api!c2']},
                 ('c1', 'api!c1!g3'), {'different_cell': ['api!c2']},
                 id='admin-pinned-below-child-full-path'),
    pytest.param(ss.ADMIN, {'target_cell': 'api!c1',
                            'different_cell': ['api!c2']},
                 ('c1', 'api!c1'), {'different_cell': ['api!c2']},
                 id='admin-pinned-child-hint-dropped-others-kept'),
    pytest.param(ss.USER, {'target_cell': 'api!c1!g3'}, ('c2', 'api!c2'),
                 None, id='non-admin-hint-ignored-best-child'),
])
def test_target_cell_pin_is_acted_on_by_the_scheduler(db, ctxt, hints,
                                                      expected_target,
                                                      forwarded_hints):
    runner, sched, _sleeps = standalone(db, children=('c1', 'c2'),
                                        offsets={'c2': 5.0})
    start_build(runner, db, ctxt=ctxt, hints=hints)
    (name, target, kwargs), = forwarded_builds(runner)
    assert (name, target) == expected_target
    if forwarded_hints is not None:
        assert kwargs['filter_properties']['scheduler_hints'] == \
            forwarded_hints
    assert sched.handoff.calls == []


def test_ignored_target_cell_hint_never_reaches_the_children(db):
    # nova's TargetCellFilter popped the hint *before* its policy check,
    # "so that in case this fails, 'target_cell' is not left in the dict
    # when child cells go to schedule" (reference §7.2): a child whose
    # policy differs must not honour a hint the first cell refused.
    runner, _sched, _sleeps = standalone(db, children=('c1', 'c2'),
                                         offsets={'c2': 5.0})
    start_build(runner, db, ctxt=ss.USER,
                hints={'target_cell': 'api!c1!g3', 'group': 'g'})
    (_name, _target, kwargs), = forwarded_builds(runner)
    assert kwargs['filter_properties']['scheduler_hints'] == {'group': 'g'}


def test_pin_to_myself_builds_here_without_the_hint(db):
    runner, sched, _sleeps = standalone(db, name='gc', children=())
    uuids, _kwargs = start_build(runner, db, ctxt=ss.ADMIN,
                                 hints={'target_cell': 'gc'})
    (ctxt, kwargs), = sched.handoff.calls
    assert ctxt.is_admin
    assert kwargs['filter_properties']['scheduler_hints'] == {}
    created, = kwargs['instances']
    assert created.uuid == uuids[0]
    assert (created.vm_state, created.task_state, created.host) == (
        'building', 'scheduling', None)
    row = db_instances.instance_get(db, uuids[0])
    assert created.id == row['id']
    assert row['cell_name'] == 'gc', 'the top (me) knows where it is'
    assert forwarded_builds(runner) == []


def test_leaf_builds_here_and_tells_the_top(db):
    runner, sched, _sleeps = standalone(db, name='gc', parents=('child',))
    uuids, _kwargs = start_build(runner, db, count=2)
    (_ctxt, kwargs), = sched.handoff.calls
    assert [i.uuid for i in kwargs['instances']] == uuids
    ups = [(m['method_name'],
            m['method_kwargs']['instance']['nova_object.data']['uuid'])
           for _n, kind, m in sent(runner) if kind == 'broadcast']
    assert ups == [('instance_update_at_top', u) for u in uuids]


def test_a_volume_backed_build_keeps_its_volume_and_tells_the_top(db):
    """Boot from volume: the leaf writes the volume's block device (with
    the size the API cell set), hands the instance off, and sends the
    disk up (it has a device name, so nova's compute cell sent it)."""
    runner, sched, _sleeps = standalone(db, name='gc', parents=('child',))
    the_flavor = ss.flavor()
    # Not in this database yet (a leaf's rows are its own, not the API's).
    made = [instance_obj.Instance(
        uuid='9a0dbd3e-8f64-4c35-a8c5-0f7bbf3b7f21', display_name='vm-bfv',
        project_id=ss.USER.project_id, user_id=ss.USER.user_id,
        vm_state='building', task_state='scheduling', flavor=the_flavor,
        metadata={}, system_metadata={}, image_ref='')]
    kwargs = ss.build_kwargs(made, the_flavor)
    volume = '0b5a1d93-93e5-4bb9-9d64-4a3d8f2a1c11'
    kwargs['block_device_mapping'] = block_device.BlockDeviceMappingList(
        objects=[block_device.BlockDeviceMapping(
            source_type='volume', destination_type='volume',
            volume_id=volume, volume_size=8, boot_index=0,
            device_name='/dev/vda', delete_on_termination=False)])
    runner.targeted(ss.USER, runner.state_manager.get_my_state(),
                    'build_instances', {'build_inst_kwargs': kwargs})
    (_ctxt, handed), = sched.handoff.calls
    assert [i.uuid for i in handed['instances']] == [made[0].uuid]
    stored, = db_bdm.bdm_get_all_by_instance(db, made[0].uuid)
    assert (stored['volume_id'], stored['volume_size'],
            stored['device_name'], stored['source_type']) == (
        volume, 8, '/dev/vda', 'volume')
    ups = [m['method_kwargs'] for _n, kind, m in sent(runner)
           if kind == 'broadcast' and
           m['method_name'] == 'bdm_update_or_create_at_top']
    assert [(u['create'], u['bdm']['volume_id'], u['bdm']['instance_uuid'])
            for u in ups] == [(True, volume, made[0].uuid)]


# -- the journal: a build nova-api cast, durable before anything else --------

@contextlib.contextmanager
def durable_leaf(db):
    """A leaf-like top cell (it builds here) with durable forwarding:
    ``(runner, scheduler)``."""
    runner, sched, _sleeps = standalone(db, name='gc')
    runner.inbox = delivery.Inbox(db)
    runner.outbox = delivery.Outbox(db, runner.driver, runner.neighbour,
                                    0.05, loopback=runner.process_own)
    try:
        yield runner, sched
    finally:
        runner.outbox.stop()
        runner.inbox.stop()


@pytest.fixture
def journalled(db):
    """A durable leaf-like top: its builds from nova-api are
    journalled."""
    with durable_leaf(db) as parts:
        yield parts


def _api_build(db, count=1):
    the_flavor = ss.flavor()
    made = [ss.new_instance(db, the_flavor, 'vm-%d' % i) for i in range(count)]
    return ss.build_kwargs(made, the_flavor)


def _journal(db):
    return [r for r in db_outbox.outbox_all(db)
            if r['direction'] == delivery.SELF]


def test_a_build_from_nova_api_is_journalled_applied_and_cleared(
        db, journalled):
    runner, sched = journalled
    kwargs = _api_build(db)
    recorded = []
    real_journal = runner.outbox.journal

    def journal(message):
        recorded.append(message.uuid)
        assert sched.handoff.calls == [], 'journalled before anything'
        return real_journal(message)
    runner.outbox.journal = journal
    runner.targeted_to_myself_durably(ss.USER, 'build_instances',
                                      {'build_inst_kwargs': kwargs})
    assert len(sched.handoff.calls) == 1
    assert db_outbox.inbox_contains(db, recorded[0])
    assert tree_support.wait_until(lambda: not _journal(db))


def test_a_journalled_build_left_by_a_killed_daemon_is_applied_once(
        db, journalled):
    runner, sched = journalled
    kwargs = _api_build(db)
    message = messages.TargetedMessage(
        runner, ss.USER, 'build_instances', {'build_inst_kwargs': kwargs},
        'down', runner.state_manager.get_my_state())
    runner.outbox.journal(message)          # ... and the daemon died
    runner.outbox.start()                   # the next start
    assert tree_support.wait_until(lambda: len(sched.handoff.calls) == 1)
    assert tree_support.wait_until(lambda: not _journal(db))
    runner.process_own(message.to_json())   # a replay once more
    assert len(sched.handoff.calls) == 1


def test_a_build_not_applied_now_is_applied_later_from_the_journal(
        db, journalled):
    runner, sched = journalled
    sched.handoff.error = db_exc.DBConnectionError()
    runner.targeted_to_myself_durably(ss.USER, 'build_instances',
                                      {'build_inst_kwargs': _api_build(db)})
    assert len(_journal(db)) == 1
    sched.handoff.error = None
    assert tree_support.wait_until(lambda: len(sched.handoff.calls) >= 2)
    assert tree_support.wait_until(lambda: not _journal(db))


# -- retries and failure ------------------------------------------------------

@pytest.mark.parametrize('retries, delay, sleeps_expected', [
    pytest.param(0, 5, [], id='no-retry'),
    pytest.param(2, 0, [1, 1], id='delay-at-least-one-second'),
    pytest.param(1, 3, [3], id='one-retry-three-seconds'),
    pytest.param(-1, 2, [], id='negative-retries-is-zero'),
])
def test_no_cell_retries_then_error_with_fault_at_top(db, retries, delay,
                                                      sleeps_expected):
    runner, sched, sleeps = standalone(db, children=('c1', 'c2'),
                                       retries=retries, delay=delay)
    uuids, _kwargs = start_build(
        runner, db, count=2, ctxt=ss.ADMIN,
        hints={'different_cell': ['api!c1', 'api!c2']})
    assert sleeps == sleeps_expected
    assert forwarded_builds(runner) == [] and sched.handoff.calls == []
    expected = ('%s 0/2 cells are available: 2 excluded by hint '
                'different_cell (DifferentCellFilter).' % NO_CELLS)
    for instance_uuid in uuids:
        row = db_instances.instance_get(db, instance_uuid)
        assert (row['vm_state'], row['task_state']) == ('error', None)
    assert fault_messages(db, uuids) == {u: [expected] for u in uuids}


def test_failure_below_the_top_is_sent_up_with_a_fault(db):
    runner, _sched, _sleeps = standalone(db, name='child',
                                         parents=('api',),
                                         children=('gc1',))
    uuids, _kwargs = start_build(runner, db, ctxt=ss.ADMIN,
                                 hints={'different_cell': 'child!gc1'})
    ups = [m for _n, kind, m in sent(runner) if kind == 'broadcast']
    assert [(m['method_name'], m['direction']) for m in ups] == [
        ('instance_update_at_top', 'up'),
        ('instance_fault_create_at_top', 'up')]
    update = ups[0]['method_kwargs']['instance']['nova_object.data']
    assert update == {'uuid': uuids[0], 'vm_state': 'error',
                      'task_state': None}
    fault = ups[1]['method_kwargs']['instance_fault']
    assert fault['instance_uuid'] == uuids[0]
    assert fault['message'] == (
        '%s 0/1 cells are available: 1 excluded by hint different_cell '
        '(DifferentCellFilter).' % NO_CELLS)
    assert isinstance(fault['created_at'], str), 'ISO date on the wire'


def test_failed_send_falls_through_to_the_next_cell(db):
    runner, sched, sleeps = standalone(db, children=('c1', 'c2'),
                                       offsets={'c1': 5.0})

    def down(cell_name, message):
        if cell_name == 'c1':
            raise IOError('broker of c1 unreachable')
    runner.driver.on_send = down
    start_build(runner, db)
    assert [(n, t) for n, t, _k in forwarded_builds(runner)] == [
        ('c1', 'api!c1'), ('c2', 'api!c2')], 'c1 first (offset), then c2'
    assert sleeps == [] and sched.handoff.calls == []


def test_every_send_failing_is_an_error_with_fault(db):
    runner, _sched, sleeps = standalone(db, children=('c1', 'c2'),
                                        retries=1, offsets={'c1': 5.0})

    def down(cell_name, message):
        if message.method_name == 'build_instances':
            raise IOError('no broker')
    runner.driver.on_send = down
    uuids, _kwargs = start_build(runner, db)
    assert len(forwarded_builds(runner)) == 4, '2 cells x 2 attempts'
    assert sleeps == [1]
    assert fault_messages(db, uuids) == {uuids[0]: [
        '%s every chosen cell failed: api!c1 (no broker), api!c2 '
        '(no broker)' % NO_CELLS]}
    assert db_instances.instance_get(db, uuids[0])['vm_state'] == 'error'


def test_failed_pinned_send_is_an_error_with_fault(db):
    runner, _sched, _sleeps = standalone(db, children=('c1',))

    def down(cell_name, message):
        raise IOError('no broker')
    runner.driver.on_send = down
    uuids, _kwargs = start_build(runner, db, ctxt=ss.ADMIN,
                                 hints={'target_cell': 'api!c1!g1'})
    message, = fault_messages(db, uuids)[uuids[0]]
    assert message.startswith('%s target_cell api!c1!g1: ' % NO_CELLS)
    assert 'no broker' in message


def test_failed_hand_off_is_an_error_with_fault(db):
    handoff = RecordingHandoff(error=RuntimeError('conductor unreachable'))
    runner, _sched, sleeps = standalone(db, name='gc', retries=1,
                                        handoff=handoff)
    uuids, _kwargs = start_build(runner, db)
    assert len(handoff.calls) == 2 and sleeps == [1]
    assert fault_messages(db, uuids) == {uuids[0]: [
        '%s every chosen cell failed: gc (conductor unreachable)'
        % NO_CELLS]}
    rows = [r for r in db_instances.instance_get_all(db)
            if r['uuid'] == uuids[0]]
    assert len(rows) == 1, 'a retried build finds its row (idempotent)'


# -- a pinned build passing through a middle cell ---------------------------

@pytest.fixture
def top(tmp_path):
    """A stand-alone api cell (child ``child``) over its own database: what
    it casts is what a middle cell ``child`` receives."""
    api_db = db_api.Database('sqlite:///' + str(tmp_path / 'api.sqlite'))
    migration.db_sync(api_db)
    yield tree_support.make_runner(api_db, 'api', children=('child',))
    api_db.dispose()


def cast_by(top, target, method_name, method_kwargs, max_hop_count=10,
            need_response=False):
    """The JSON ``top`` casts to ``target`` (as nova's top cell sends a
    pinned build: one message to the full path)."""
    top.settings.max_hop_count = max_hop_count
    top.targeted(ss.ADMIN, target, method_name, method_kwargs,
                 need_response=need_response)
    return top.driver.sent[-1][2]


def middle_cell(db, gc1_state=None, reason=None):
    """``child`` between ``api`` and ``gc1`` (in state ``gc1_state``)."""
    runner, sched, _sleeps = standalone(db, name='child', parents=('api',),
                                        children=('gc1',))
    if gc1_state is not None:
        db_api.cell_update(db, 'gc1', {'state': gc1_state,
                                       'state_reason': reason})
        runner.state_manager.sync(force=True)
    return runner, sched


def one_build(db):
    the_flavor = ss.flavor()
    made = [ss.new_instance(db, the_flavor, 'vm-0', ss.ADMIN)]
    return made[0].uuid, ss.build_kwargs(made, the_flavor)


def test_a_pinned_build_passing_through_is_only_routed(db, top):
    """Appended to the path, one more hop, nothing else changed: the
    middle cell neither schedules nor touches the build."""
    runner, sched = middle_cell(db)
    _uuid, kwargs = one_build(db)
    text = cast_by(top, 'api!child!gc1!ggc', 'build_instances',
                   {'build_inst_kwargs': kwargs})
    runner.process_json(text)
    (name, kind, forwarded), = sent(runner)
    assert (name, kind) == ('gc1', 'targeted')
    assert forwarded == dict(json.loads(text), routing_path='api!child',
                             hop_count=2)
    assert sched.handoff.calls == []


@pytest.mark.parametrize('target, gc1_state, reason, max_hops, why', [
    pytest.param('api!child!nope!ggc', None, None, 10,
                 'target_cell api!child!nope!ggc: api!child has no child '
                 'nope', id='unknown-child'),
    pytest.param('api!child!gc1!ggc', 'disabled', 'maintenance', 10,
                 'target_cell api!child!gc1!ggc: gc1 is disabled in '
                 'api!child: maintenance', id='disabled-child'),
    pytest.param('api!child!gc1', 'draining', None, 10,
                 'target_cell api!child!gc1: gc1 is draining in api!child',
                 id='draining-child-is-the-target'),
    pytest.param('api!child!gc1!ggc', None, None, 2,
                 'target_cell api!child!gc1!ggc: Cell message has reached '
                 'maximum hop count: 2', id='hop-limit'),
])
def test_a_pinned_build_that_cannot_go_on_fails_at_the_top(
        db, top, target, gc1_state, reason, max_hops, why):
    """nova's middle cell logged it and the instance stayed building."""
    runner, sched = middle_cell(db, gc1_state, reason)
    instance_uuid, kwargs = one_build(db)
    runner.process_json(cast_by(top, target, 'build_instances',
                                {'build_inst_kwargs': kwargs},
                                max_hop_count=max_hops))
    assert forwarded_builds(runner) == [] and sched.handoff.calls == []
    ups = [(n, m) for n, kind, m in sent(runner) if kind == 'broadcast']
    assert [(n, m['method_name'], m['direction']) for n, m in ups] == [
        ('api', 'instance_update_at_top', 'up'),
        ('api', 'instance_fault_create_at_top', 'up')]
    update = ups[0][1]['method_kwargs']['instance']['nova_object.data']
    assert update == {'uuid': instance_uuid, 'vm_state': 'error',
                      'task_state': None}
    fault = ups[1][1]['method_kwargs']['instance_fault']
    assert (fault['instance_uuid'], fault['message']) == (
        instance_uuid, '%s %s' % (NO_CELLS, why))


def test_other_messages_still_pass_a_disabled_child(db, top):
    """Only builds are kept out of a disabled child: actions and queries
    for what it already holds still reach it."""
    runner, _sched = middle_cell(db, 'disabled', 'maintenance')
    runner.process_json(cast_by(top, 'api!child!gc1', 'record',
                                {'tag': 'x'}))
    (name, kind, forwarded), = sent(runner)
    assert (name, kind, forwarded['method_name']) == ('gc1', 'targeted',
                                                      'record')


def test_explain_passing_a_disabled_child_is_answered_why(db, top):
    """explain travels as the build does, with the same check on the way:
    it never promises what the build would be refused."""
    runner, _sched = middle_cell(db, 'disabled', 'maintenance')
    _uuid, kwargs = one_build(db)
    runner.process_json(cast_by(
        top, 'api!child!gc1!ggc', 'explain_build',
        {'build_inst_kwargs': kwargs, 'full_path': 'api!child!gc1!ggc'},
        need_response=True))
    (name, kind, answer), = sent(runner)
    assert (name, kind) == ('api', 'response')
    (response,) = [json.loads(r) for r in
                   answer['method_kwargs']['responses']]
    assert response['failure'] and response['cell_name'] == 'api!child'
    assert 'gc1 is disabled in api!child: maintenance' in json.dumps(
        response['value'])


# -- end to end in a tree -----------------------------------------------------

MED, BIG, SMALL = (65536, 32, 800), (131072, 64, 1600), (32768, 16, 400)
# child1's leaves have 3 hosts each, child2's one: for m1.small (2048 MB)
# child1 has 2 x (28 + 57 + 14) = 198 units, child2 2 x 28 = 56, so an
# unhinted build always goes to child1 (ram weight 10 vs 0).
HOSTS = {'gc1': [MED, BIG, SMALL], 'gc2': [MED, BIG, SMALL], 'gc3': [MED],
         'gc4': [MED]}
_CAPS = ['hypervisor=kvm', 'os=linux']
CAPABILITIES = {
    'gc1': _CAPS + ['prominent_hypervisor_version=6.2'],
    'gc2': _CAPS + ['prominent_hypervisor_version=6.2'],
    'gc3': _CAPS + ['prominent_hypervisor_version=7.0'],
    'gc4': _CAPS + ['prominent_hypervisor_version=6.2'],
}
CHILD1_LEAVES = {ss.PATHS['gc1'], ss.PATHS['gc2']}
CHILD2_LEAVES = {ss.PATHS['gc3'], ss.PATHS['gc4']}


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with ss.building_tree(tmp_path_factory.mktemp('sched'), HOSTS,
                          CAPABILITIES) as harness:
        harness.tree.start_cells_rpc('api')
        yield harness


@pytest.fixture
def sleeps(tree):
    del tree.sleeps[:]
    return tree.sleeps


def assert_active_in(tree, rows, cells):
    for row in rows:
        assert row['vm_state'] == 'active', row
        assert row['cell_name'] in cells, row['cell_name']
        leaf = row['cell_name'].rsplit('!', 1)[1]
        assert row['host'].startswith(leaf + '-host'), \
            'the host is in the cell named by cell_name'
        assert (row['node'], row['task_state'], row['power_state']) == (
            row['host'], None, 1)
        assert row['launched_at'] is not None


def test_the_top_sees_every_subtree(tree):
    api = tree.top.state_manager
    assert api.get_child_cell('child1').capabilities[
        'prominent_hypervisor_version'] == {'6.2'}
    assert api.get_child_cell('child2').capabilities[
        'prominent_hypervisor_version'] == {'6.2', '7.0'}
    units = {name: api.get_child_cell(name).capacities['ram_free'][
        'units_by_mb']['2048'] for name in ('child1', 'child2')}
    assert units['child1'] > 3 * units['child2'], units


def test_builds_land_at_the_top_with_the_full_path(tree):
    uuids = tree.build(4)
    rows = tree.wait(uuids)
    assert_active_in(tree, rows, CHILD1_LEAVES)
    for row in rows:
        leaf = tree.cell(row['cell_name'].rsplit('!', 1)[1])
        below = db_instances.instance_get(leaf.db, row['uuid'])
        assert (below['host'], below['vm_state']) == (row['host'], 'active')
        with pytest.raises(Exception):
            db_instances.instance_get(tree.cell('child1').db, row['uuid'])


@pytest.mark.parametrize('ctxt, check', [
    pytest.param(ss.ADMIN, lambda cell: cell == 'api!child2!gc3',
                 id='admin-honoured-all-in-gc3'),
    pytest.param(ss.USER, lambda cell: cell in CHILD1_LEAVES,
                 id='non-admin-ignored-weighing-decides'),
])
def test_target_cell_hint(tree, ctxt, check):
    uuids = tree.build(3, ctxt=ctxt,
                       hints={'target_cell': 'api!child2!gc3'})
    rows = tree.wait(uuids)
    assert_active_in(tree, rows, CHILD1_LEAVES | CHILD2_LEAVES)
    assert all(check(r['cell_name']) for r in rows), \
        [r['cell_name'] for r in rows]


def test_a_pinned_build_is_not_scheduled_by_the_cell_between(
        tree, monkeypatch):
    """The api cell sends it to api!child2!gc3 in one message; child2
    only routes it (scheduling it there is what lost it when child2 was
    an original nova-cells)."""
    child2 = tree.cell('child2').scheduler
    scheduled = []
    schedule = child2.build_instances

    def spy(message, build_inst_kwargs):
        scheduled.append(str(message.routing_path))
        return schedule(message, build_inst_kwargs)
    monkeypatch.setattr(child2, 'build_instances', spy)
    uuids = tree.build(2, ctxt=ss.ADMIN,
                       hints={'target_cell': 'api!child2!gc3'})
    rows = tree.wait(uuids)
    assert_active_in(tree, rows, {'api!child2!gc3'})
    assert scheduled == []


@pytest.mark.parametrize('path', [
    pytest.param('api!nope', id='unknown-child'),
    pytest.param('api!child2!nope', id='unknown-grandchild'),
])
def test_target_cell_naming_no_cell_is_an_error_with_fault(tree, path):
    # An admin's pin to a path that does not exist must not leave the
    # instance building forever: the top gets ERROR and a fault naming it.
    uuids = tree.build(1, ctxt=ss.ADMIN, hints={'target_cell': path})
    rows = tree.wait(uuids, timeout=3)
    assert rows[0]['vm_state'] == 'error', \
        'still %s: the pinned build was cast into the void' % (
            rows[0]['vm_state'],)
    message = tree.wait_faults(uuids, timeout=3)[uuids[0]]
    assert message.startswith(NO_CELLS) and path in message, message


@pytest.mark.parametrize('ctxt, hint, allowed', [
    pytest.param(ss.ADMIN, ['api!child1', 'api!child2!gc3'],
                 {'api!child2!gc4'}, id='admin-list-only-gc4-left'),
    pytest.param(ss.ADMIN, 'api!child1', CHILD2_LEAVES,
                 id='admin-str-whole-child1-excluded'),
    pytest.param(ss.USER, ['api!child1', 'api!child2!gc3'], CHILD1_LEAVES,
                 id='non-admin-ignored'),
])
def test_different_cell_hint(tree, ctxt, hint, allowed):
    uuids = tree.build(3, ctxt=ctxt, hints={'different_cell': hint})
    rows = tree.wait(uuids)
    assert_active_in(tree, rows, allowed)


def test_different_cell_matches_exact_paths_so_child1_has_nothing(tree,
                                                                  sleeps):
    # 'api!child1!gc1' and '...gc2' do not exclude 'api!child1' itself: the
    # API cell still sends the build there, and child1 has no cell left.
    uuids = tree.build(2, ctxt=ss.ADMIN, hints={
        'different_cell': ['api!child1!gc1', 'api!child1!gc2']})
    rows = tree.wait(uuids)
    assert [r['vm_state'] for r in rows] == ['error', 'error']
    faults = tree.wait_faults(uuids)
    assert faults == {u: '%s 0/2 cells are available: 2 excluded by hint '
                         'different_cell (DifferentCellFilter).' % NO_CELLS
                      for u in uuids}
    assert sleeps == [('child1', 1), ('child1', 1)], \
        'one retry per request, at child1, fake sleep'


@pytest.mark.parametrize('requires, allowed', [
    pytest.param('>=7.0', {'api!child2!gc3'}, id='only-gc3-has-7.0'),
    pytest.param('<7.0', CHILD1_LEAVES | {'api!child2!gc4'},
                 id='gc3-removed'),
])
def test_image_hypervisor_version_requirement(tree, requires, allowed):
    image = dict(ss.IMAGE, properties={
        'hypervisor_version_requires': requires})
    uuids = tree.build(3, image=image)
    rows = tree.wait(uuids)
    assert_active_in(tree, rows, allowed)


def test_no_cell_satisfies_the_image_error_with_fault(tree, sleeps):
    image = dict(ss.IMAGE, properties={
        'hypervisor_version_requires': '>=9.0'})
    uuids = tree.build(1, image=image)
    rows = tree.wait(uuids)
    assert (rows[0]['vm_state'], rows[0]['host']) == ('error', None)
    assert tree.wait_faults(uuids) == {uuids[0]: (
        '%s 0/2 cells are available: '
        '1 hypervisor version 6.2 does not satisfy >=9.0 '
        '(ImagePropertiesFilter), '
        '1 hypervisor version 6.2, 7.0 does not satisfy >=9.0 '
        '(ImagePropertiesFilter).' % NO_CELLS)}
    assert sleeps == [('api', 1)]


def test_flavor_bigger_than_every_host_error_with_fault(tree):
    huge = ss.flavor('m1.huge', 10 ** 6, 1, 20, flavor_id=9)
    uuids = tree.build(2, the_flavor=huge)
    rows = tree.wait(uuids)
    assert [r['vm_state'] for r in rows] == ['error', 'error']
    for instance_uuid, message in tree.wait_faults(uuids).items():
        assert re.match(r'^No valid host was found\. 0/(\d) hosts are '
                        r'available: \1 not enough free RAM$', message), \
            message


def test_child_whose_send_fails_falls_through(tree, monkeypatch):
    # Casts as nova's (durable forwarding off at the top): a send that
    # fails at once falls through to the next cell.  With the outbox, see
    # tests/unit/test_delivery.py.
    monkeypatch.setattr(tree.top.runner, 'outbox', None)
    driver = tree.top.driver
    original = driver.send_message_to_cell

    def flaky(cell_state, message):
        if cell_state.name == 'child1' and \
                message.method_name == 'build_instances':
            raise IOError('broker of child1 unreachable')
        return original(cell_state, message)
    monkeypatch.setattr(driver, 'send_message_to_cell', flaky)
    uuids = tree.build(3)
    rows = tree.wait(uuids)
    assert_active_in(tree, rows, CHILD2_LEAVES)


@pytest.mark.parametrize('cap', [
    pytest.param(None, id='no-cap-1.34'),
    pytest.param('kilo', id='kilo-1.34'),
    pytest.param('1.33', id='1.32'),
    pytest.param('1.31', id='1.30'),
    pytest.param('juno', id='juno-1.8'),
])
def test_build_through_cells_api_at_every_version(tree, cap):
    conf = nc_conf.new_config()
    url = tree.tree.url_of('api')
    conf.set_override('transport_url', url)
    if cap:
        conf.set_override('cells', cap, 'upgrade_levels')
    transport = rpc.get_transport(conf)
    try:
        client = rpcapi.CellsAPI(conf, transport,
                                 serializer=tree.top.runner.serializer,
                                 exchange=tree.tree.exchange_for_url(url))
        the_flavor = ss.flavor()
        instance, = tree.instances_for(1, the_flavor)
        client.build_instances(ss.USER, **ss.build_kwargs([instance],
                                                          the_flavor))
        rows = tree.wait([instance.uuid])
        assert_active_in(tree, rows, CHILD1_LEAVES)
    finally:
        transport.cleanup()
        conf.reset()


# -- nothing to build on anywhere ---------------------------------------------

def test_no_hosts_anywhere_error_with_fault(tmp_path):
    layout = {'api': {'lonely': {}}}
    with ss.building_tree(tmp_path, {}, layout=layout) as harness:
        uuids = harness.build(2)
        rows = harness.wait(uuids)
        assert [(r['vm_state'], r['cell_name']) for r in rows] == [
            ('error', 'api!lonely')] * 2
        assert harness.wait_faults(uuids) == {
            u: 'No valid host was found. 0/0 hosts are available'
            for u in uuids}
        assert harness.top.state_manager.get_our_capacities() == {}, \
            'nothing to report from below either'
