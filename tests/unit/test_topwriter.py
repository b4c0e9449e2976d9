"""TopWriter: group commit of instance updates at the top.

Same results as applying each update alone (nova_cells.top.instances
.update_at_top), committed before the handler returns, but concurrent
updates share transactions.
"""

import threading
import uuid as uuidlib

import pytest

from nova_cells.db import instances as db_instances
from nova_cells.top import instances
from nova_cells.objects import instance as instance_obj
from nova_cells.top import topwriter


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

    def counting(db, updates, marks=()):
        sizes.append(len(updates))
        return real(db, updates, marks)
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
    def broken(db, updates, marks=()):
        raise RuntimeError('batch refused')
    monkeypatch.setattr(db_instances, 'apply_top_updates', broken)
    writer = topwriter.TopWriter(db)
    uuid = str(uuidlib.uuid4())
    row = writer.update_at_top(_instance(uuid, host='h9'), 'api!c2')
    assert row['host'] == 'h9' and _row(db, uuid)['cell_name'] == 'api!c2'


def test_a_failure_of_one_update_reaches_its_caller(db, monkeypatch):
    def broken(db, updates, marks=()):
        raise RuntimeError('batch refused')

    def failing(db, instance, cell_name, whole=None):
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


# -- the inbox mark rides in the batch's transaction ----------------------


class _UpdateAtTop(object):
    """What Inbox.receive reads of a received ``instance_update_at_top``
    whose processing is the TopWriter's update."""

    method_name = 'instance_update_at_top'

    def __init__(self, writer, instance, cell_name='api!c1'):
        self.uuid = str(uuidlib.uuid4())
        self.writer = writer
        self.instance = instance
        self.cell_name = cell_name
        self.scope = None

    def apply_in(self, scope):
        self.scope = scope

    def finds_its_copies(self):
        # As the real message at a top with a TopWriter (records_its_receipt)
        return True

    def claims_late(self):
        return False

    def describe(self):
        return 'update %s' % self.uuid

    def process(self):
        return self.writer.update_at_top(self.instance, self.cell_name,
                                         self.scope)


def _write_transactions(db):
    """A list that counts the write transactions begun on ``db``."""
    import sqlalchemy as sa
    begun = []
    sa.event.listen(db.engine, 'begin', lambda conn: begun.append(1))
    return begun


def test_the_mark_commits_with_the_update(db):
    from nova_cells.db import outbox as db_outbox
    from nova_cells.messaging import delivery
    writer = topwriter.TopWriter(db)
    inbox = delivery.Inbox(db)
    uuid = str(uuidlib.uuid4())
    message = _UpdateAtTop(writer, _instance(uuid, host='h1'))
    begun = _write_transactions(db)
    assert inbox.receive(message)['host'] == 'h1'
    # The update with its mark, and nothing else: no lookup first, no
    # transaction of the mark's own.
    assert len(begun) == 1, begun
    assert db_outbox.inbox_contains(db, message.uuid)
    # A second copy is recognised and not applied again.
    again = _UpdateAtTop(writer, _instance(uuid, host='h2'))
    again.uuid = message.uuid
    assert inbox.receive(again) is None
    assert _row(db, uuid)['host'] == 'h1'


def test_a_copy_already_marked_is_not_applied_again(db, monkeypatch):
    """A copy of a message another delivery applied (the inbox does not
    look first): the mark refuses the batch, the update alone refuses it
    again, and the copy is confirmed without being applied over the newer
    state."""
    from nova_cells.messaging import delivery
    writer = topwriter.TopWriter(db)
    uuid = str(uuidlib.uuid4())
    inbox = delivery.Inbox(db)
    first = _UpdateAtTop(writer, _instance(uuid, host='h1'))
    assert inbox.receive(first)['host'] == 'h1'
    writer.update_at_top(_instance(uuid, host='h2'), 'api!c1')   # newer
    calls = []
    monkeypatch.setattr(instances, 'update_at_top',
                        lambda *args: calls.append(args))
    monkeypatch.setattr(delivery.Inbox, '_claim', lambda self, m: 1 / 0)

    assert inbox.receive(first) is None
    assert _row(db, uuid)['host'] == 'h2'
    assert calls == []


def test_an_update_that_fails_alone_takes_novas_path_unless_marked(
        db, monkeypatch):
    """An update whose batch and single write both fail for another
    reason goes through nova's update_at_top, after a look at the inbox:
    applied when unmarked, skipped when its mark is there."""
    from nova_cells.db import outbox as db_outbox
    from nova_cells.messaging import delivery

    def failing(*_args, **_kwargs):
        raise RuntimeError('row created meanwhile')
    monkeypatch.setattr(topwriter.db_instances, 'apply_top_updates', failing)
    writer = topwriter.TopWriter(db)
    inbox = delivery.Inbox(db)
    uuid = str(uuidlib.uuid4())
    fresh = _UpdateAtTop(writer, _instance(uuid, host='h1'))
    assert inbox.receive(fresh)['host'] == 'h1'
    assert db_outbox.inbox_contains(db, fresh.uuid)    # marked by the inbox
    marked = _UpdateAtTop(writer, _instance(uuid, host='h9'))
    db_outbox.inbox_add(db, marked.uuid)
    assert inbox.receive(marked) is None
    assert _row(db, uuid)['host'] == 'h1'


def test_updates_outside_a_received_message_are_not_marked(db):
    from nova_cells.db import outbox as db_outbox
    writer = topwriter.TopWriter(db)
    uuid = str(uuidlib.uuid4())
    writer.update_at_top(_instance(uuid, host='h1'), 'api!c1')
    with db.connection_reader() as conn:
        import sqlalchemy as sa
        count = conn.execute(sa.select(sa.func.count()).select_from(
            db_outbox._INBOX)).scalar()
    assert count == 0


def test_marks_written_by_another_threads_batch_reach_their_receivers(
        db, monkeypatch):
    """Concurrent receivers share batches: the leader writes the others'
    marks, and none of them marks its message again afterwards."""
    from nova_cells.db import outbox as db_outbox
    from nova_cells.messaging import delivery
    sizes = _count_batches(monkeypatch)
    plain_marks = []
    monkeypatch.setattr(db_outbox, 'inbox_add',
                        lambda db_, message_uuid: plain_marks.append(
                            message_uuid))
    writer = topwriter.TopWriter(db)
    inbox = delivery.Inbox(db)
    messages = [_UpdateAtTop(writer, _instance(str(uuidlib.uuid4()),
                                               host='h1'))
                for _ in range(30)]
    start = threading.Barrier(len(messages))

    def receive(message):
        start.wait()
        inbox.receive(message)
    threads = [threading.Thread(target=receive, args=(m,))
               for m in messages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(sizes) == 30 and len(sizes) < 30, sizes
    assert plain_marks == []
    assert all(db_outbox.inbox_contains(db, m.uuid) for m in messages)


def _copies(instance_uuid, hosts, message_uuid):
    from nova_cells.messaging import delivery
    from nova_cells.db import group_commit
    return [group_commit.Pending(topwriter._Update(
        _instance(instance_uuid, host=host), 'api!c1',
        delivery._Receipt(message_uuid, 'instance_update_at_top')))
        for host in hosts]


def _on_novas_path_only(monkeypatch, fail_first=False):
    """Batches and single writes fail; nova's path counts its calls (and
    fails the first, if asked)."""
    def failing(*_args, **_kwargs):
        raise RuntimeError('row created meanwhile')
    monkeypatch.setattr(topwriter.db_instances, 'apply_top_updates', failing)
    calls = []
    real = instances.update_at_top

    def counting(db_, instance, cell_name, whole=None):
        calls.append(instance.host)
        if fail_first and len(calls) == 1:
            raise RuntimeError('database went away')
        return real(db_, instance, cell_name, whole)
    monkeypatch.setattr(instances, 'update_at_top', counting)
    return calls


def test_two_copies_in_one_batch_apply_once_on_novas_path(db, monkeypatch):
    calls = _on_novas_path_only(monkeypatch)
    writer = topwriter.TopWriter(db)
    uuid = str(uuidlib.uuid4())
    batch = _copies(uuid, ['h1', 'h1'], str(uuidlib.uuid4()))

    writer._apply_one_by_one(batch)

    assert calls == ['h1']
    assert [p.error for p in batch] == [None, None]
    assert batch[1].result is None and batch[1].item.receipt.recorded


def test_a_copy_after_one_that_failed_is_applied(db, monkeypatch):
    # The failed first copy is resent by its sender: the second, confirmed
    # as applied without being so, would have lost the update.
    calls = _on_novas_path_only(monkeypatch, fail_first=True)
    writer = topwriter.TopWriter(db)
    uuid = str(uuidlib.uuid4())
    batch = _copies(uuid, ['h1', 'h1'], str(uuidlib.uuid4()))

    writer._apply_one_by_one(batch)

    assert calls == ['h1', 'h1']
    assert isinstance(batch[0].error, RuntimeError)
    assert batch[1].error is None and batch[1].result['host'] == 'h1'
