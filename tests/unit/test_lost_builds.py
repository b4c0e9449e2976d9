"""Builds lost on the way end visibly at the top (issue 21: "no gap at the
top"): an instance in scheduling with no cell past the timeout, whose
build no outbox row holds, goes to ERROR with a fault; anything else is
left alone."""

import datetime
import uuid

from oslo_utils import timeutils
import pytest

from nova_cells.db import instances as db_instances
from nova_cells.db import outbox as db_outbox
from nova_cells.top import lost_builds

TIMEOUT = 600


def _instance(db, age, **values):
    row = dict(uuid=str(uuid.uuid4()), vm_state='building',
               task_state='scheduling', cell_name=None,
               created_at=timeutils.utcnow() - datetime.timedelta(
                   seconds=age))
    row.update(values)
    db_instances.instance_create(db, row)
    return row['uuid']


def _state(db, instance_uuid):
    row = db_instances.instance_get(db, instance_uuid)
    faults = db_instances.instance_fault_get_by_instance(db, instance_uuid)
    return row['vm_state'], row['task_state'], [f['message'] for f in faults]


@pytest.mark.parametrize('age, values, lost', [
    pytest.param(TIMEOUT + 60, {}, True, id='old-no-cell-lost'),
    pytest.param(TIMEOUT - 60, {}, False, id='young-waits'),
    pytest.param(TIMEOUT + 60, {'cell_name': 'api!c1'}, False,
                 id='reported-by-a-cell'),
    pytest.param(TIMEOUT + 60, {'task_state': None, 'vm_state': 'active'},
                 False, id='active'),
    pytest.param(TIMEOUT + 60, {'vm_state': 'error', 'task_state': None},
                 False, id='already-error'),
], )
def test_which_builds_are_lost(db, age, values, lost):
    instance_uuid = _instance(db, age, **values)
    sweep = lost_builds.LostBuilds(db, TIMEOUT)
    assert sweep.sweep() == int(lost)
    vm_state, task_state, faults = _state(db, instance_uuid)
    if lost:
        assert (vm_state, task_state) == ('error', None)
        assert faults == [(lost_builds.FAULT_MESSAGE % TIMEOUT)[:255]]
    else:
        assert faults == []
        assert vm_state == values.get('vm_state', 'building')


def test_a_build_still_in_the_outbox_waits(db):
    """Its neighbour may come back: the build is not lost, it is queued."""
    instance_uuid = _instance(db, TIMEOUT + 60)
    db_outbox.outbox_add(db, str(uuid.uuid4()), 'child', 'down',
                         '{"build_inst_kwargs": {"instances": [{"uuid": '
                         '"%s"}]}}' % instance_uuid, 10)
    assert lost_builds.LostBuilds(db, TIMEOUT).sweep() == 0
    assert _state(db, instance_uuid)[0] == 'building'


def test_zero_disables_the_sweep(db):
    instance_uuid = _instance(db, 10 ** 6)
    assert lost_builds.LostBuilds(db, 0).sweep() == 0
    assert _state(db, instance_uuid)[0] == 'building'


def test_a_sweep_is_bounded_and_oldest_first(db):
    ages = [TIMEOUT + 10 * (i + 1) for i in range(lost_builds.BATCH + 5)]
    made = {_instance(db, age): age for age in ages}
    found = lost_builds.LostBuilds(db, TIMEOUT).lost()
    assert len(found) == lost_builds.BATCH
    assert [made[u] for u in found] == sorted(made.values(),
                                              reverse=True)[:len(found)]
