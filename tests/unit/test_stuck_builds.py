"""Instances stuck in building: listed by age, failed visibly, once."""

import datetime

from oslo_utils import timeutils

from nova_cells.db import instances as db_instances
from nova_cells.db import stuck

NOW = datetime.datetime(2026, 12, 7, 12, 0, 0)


def _instance(db, uuid, minutes_old, vm_state='building',
              task_state='scheduling'):
    db_instances.instance_create(db, {
        'uuid': uuid, 'display_name': 'vm-' + uuid[:4],
        'vm_state': vm_state, 'task_state': task_state,
        'created_at': NOW - datetime.timedelta(minutes=minutes_old)})


def test_only_building_instances_older_than_the_age_are_listed(db):
    _instance(db, 'aaaa0000-0000-0000-0000-000000000001', 90)
    _instance(db, 'bbbb0000-0000-0000-0000-000000000002', 30,
              task_state='spawning')
    _instance(db, 'cccc0000-0000-0000-0000-000000000003', 5)
    _instance(db, 'dddd0000-0000-0000-0000-000000000004', 90,
              vm_state='active', task_state=None)
    rows = stuck.stuck_instances(db, 600, now=NOW)
    assert [r['uuid'][:4] for r in rows] == ['aaaa', 'bbbb']
    assert rows[1]['task_state'] == 'spawning'
    assert [r['uuid'][:4] for r in
            stuck.stuck_instances(db, 3600, now=NOW)] == ['aaaa']


def test_failing_sets_error_with_a_fault_and_leaves_moved_ones(db):
    _instance(db, 'aaaa0000-0000-0000-0000-000000000001', 90)
    _instance(db, 'dddd0000-0000-0000-0000-000000000004', 90,
              vm_state='active', task_state=None)
    failed = stuck.fail_stuck(db, ['aaaa0000-0000-0000-0000-000000000001',
                                   'dddd0000-0000-0000-0000-000000000004',
                                   'eeee0000-0000-0000-0000-000000000005'],
                              'no conductor', now=timeutils.utcnow())
    assert failed == ['aaaa0000-0000-0000-0000-000000000001']
    row = db_instances.instance_get(db, failed[0])
    assert (row['vm_state'], row['task_state']) == ('error', None)
    (fault,) = db_instances.instance_fault_get_by_instance(db, failed[0])
    assert fault['code'] == 500
    assert fault['message'].startswith(
        'Failed by an operator: stuck in building/scheduling since ')
    assert fault['message'].endswith('(no conductor)')
    # Once: a second run finds nothing to fail.
    assert stuck.fail_stuck(db, failed, 'again') == []
    assert len(db_instances.instance_fault_get_by_instance(db,
                                                           failed[0])) == 1
    assert db_instances.instance_get(
        db, 'dddd0000-0000-0000-0000-000000000004')['vm_state'] == 'active'
