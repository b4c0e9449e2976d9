"""TopWriter: group commit of instance updates at the top.

Same results as applying each update alone (nova_cells.instances
.update_at_top), committed before the handler returns, but concurrent
updates share transactions.
"""

import threading
import uuid as uuidlib

import pytest

from nova_cells.db import instances as db_instances
from nova_cells import instances
from nova_cells.objects import instance as instance_obj
from nova_cells import topwriter


def _instance(uuid, **fields):
    fields.setdefault('vm_state', 'active')
    return instance_obj.Instance(uuid=uuid, **fields)


def _row(db, uuid):
    return db_instances.instance_get(db, uuid, read_deleted='yes')


def test_one_update_creates_then_updates(db):
    writer = topwriter.TopWriter(db)
    uuid = str(uuidlib.uuid4())
    row = writer.update_at_top(_instance(uuid, vm_state='building',
                                         task_state='scheduling'),
                               'api!c1')
    assert (row['uuid'], row['cell_name'], row['vm_state']) == (
        uuid, 'api!c1', 'building')
    row = writer.update_at_top(_instance(uuid, host='h1', task_state=None),
                               'api!c1!gc')
    stored = _row(db, uuid)
    assert (stored['vm_state'], stored['host'], stored['cell_name']) == (
        'active', 'h1', 'api!c1!gc')
    assert row['host'] == 'h1'


def test_out_of_order_update_is_dropped_alone(db):
    writer = topwriter.TopWriter(db)
    uuid = str(uuidlib.uuid4())
    writer.update_at_top(_instance(uuid, vm_state='active', host='h1'),
                         'api!c1')
    # A late "building" update must not roll the row back.
    assert writer.update_at_top(_instance(uuid, vm_state='building',
                                          host=None), 'api!c1') is None
    assert _row(db, uuid)['vm_state'] == 'active'


def _count_batches(monkeypatch):
    sizes = []
    real = db_instances.apply_top_updates

    def counting(db, updates):
        sizes.append(len(updates))
        return real(db, updates)
    monkeypatch.setattr(db_instances, 'apply_top_updates', counting)
    return sizes


def test_concurrent_updates_share_transactions(db, monkeypatch):
    sizes = _count_batches(monkeypatch)
    writer = topwriter.TopWriter(db)
    uuids = [str(uuidlib.uuid4()) for _ in range(60)]
    start = threading.Barrier(len(uuids))
    results = {}

    def submit(uuid):
        start.wait()
        results[uuid] = writer.update_at_top(_instance(uuid, host='h-' +
                                                       uuid[:4]), 'api!c1')
    threads = [threading.Thread(target=submit, args=(u,)) for u in uuids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(sizes) == 60
    assert len(sizes) < 60, sizes          # some batched
    for uuid in uuids:
        assert results[uuid]['uuid'] == uuid
        assert _row(db, uuid)['host'] == 'h-' + uuid[:4]


def test_a_failing_batch_is_applied_one_by_one(db, monkeypatch):
    def broken(db, updates):
        raise RuntimeError('batch refused')
    monkeypatch.setattr(db_instances, 'apply_top_updates', broken)
    writer = topwriter.TopWriter(db)
    uuid = str(uuidlib.uuid4())
    row = writer.update_at_top(_instance(uuid, host='h9'), 'api!c2')
    assert row['host'] == 'h9' and _row(db, uuid)['cell_name'] == 'api!c2'


def test_a_failure_of_one_update_reaches_its_caller(db, monkeypatch):
    def broken(db, updates):
        raise RuntimeError('batch refused')

    def failing(db, instance, cell_name):
        raise RuntimeError('no database')
    monkeypatch.setattr(db_instances, 'apply_top_updates', broken)
    monkeypatch.setattr(instances, 'update_at_top', failing)
    writer = topwriter.TopWriter(db)
    with pytest.raises(RuntimeError, match='no database'):
        writer.update_at_top(_instance(str(uuidlib.uuid4())), 'api!c2')
    # The writer is not stuck: the next update leads a batch again.
    monkeypatch.undo()
    uuid = str(uuidlib.uuid4())
    assert writer.update_at_top(_instance(uuid), 'api')['uuid'] == uuid


def test_updates_of_one_instance_in_one_batch_apply_in_order(db):
    uuid = str(uuidlib.uuid4())
    updates = [instances.top_update(_instance(uuid, vm_state='building',
                                              task_state='scheduling'),
                                    'api!c1'),
               instances.top_update(_instance(uuid, host='h1',
                                              task_state=None), 'api!c1'),
               instances.top_update(_instance(uuid, vm_state='building'),
                                    'api!c1')]
    results = db_instances.apply_top_updates(db, updates)
    assert results[0]['vm_state'] == 'building'
    assert results[1]['host'] == 'h1' and results[1]['vm_state'] == 'active'
    assert not isinstance(results[2], dict)   # dropped: out of order
    assert _row(db, uuid)['vm_state'] == 'active'
