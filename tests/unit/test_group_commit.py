"""Group commit (:mod:`nova_cells.db.group_commit`) and the two writes that
use it besides the top's updates: the outbox's onward rows and the
inbox's claims, shared by the threads that write them at once."""

import threading
import uuid

import pytest

from nova_cells.db import outbox as db_outbox
from nova_cells.messaging import delivery
from nova_cells.db import group_commit
from tests.unit.test_fewer_transactions import claims
from tests.unit.test_fewer_transactions import transactions


class _Gate(object):
    """A ``run_batch`` that holds its first batch until released, so that
    the writes submitted meanwhile queue up behind it."""

    def __init__(self, fail=None):
        self.batches = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail = fail

    def __call__(self, batch):
        self.batches.append([p.item for p in batch])
        if len(self.batches) == 1:
            self.entered.set()
            self.release.wait(10)
        for pending in batch:
            if pending.item == self.fail:
                pending.error = ValueError(pending.item)
            else:
                pending.result = pending.item * 10


def _submit_all(group, items):
    results = {}

    def one(item):
        try:
            results[item] = group.submit(item)
        except Exception as exc:  # noqa - what the caller would see
            results[item] = exc
    threads = [threading.Thread(target=one, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    return threads, results


def test_writes_that_arrive_together_share_one_batch():
    gate = _Gate(fail=3)
    group = group_commit.GroupCommit(gate)
    first, results = _submit_all(group, [1])
    assert gate.entered.wait(10)
    others, more = _submit_all(group, [2, 3, 4])
    while len(group._queue) < 3:
        threading.Event().wait(0.01)
    gate.release.set()
    for thread in first + others:
        thread.join(10)
    results.update(more)
    assert gate.batches[0] == [1]
    assert sorted(gate.batches[1]) == [2, 3, 4], 'one batch for the three'
    assert results[1] == 10 and results[2] == 20 and results[4] == 40
    assert isinstance(results[3], ValueError), 'each caller its own error'


def test_a_batch_that_raises_fails_its_writes_and_the_next_caller_leads():
    calls = []

    def run(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError('bug')
        for pending in batch:
            pending.result = 'ok'
    group = group_commit.GroupCommit(run)
    with pytest.raises(RuntimeError):
        group.submit('a')
    assert group.submit('b') == 'ok', 'not stuck behind the failed leader'
    assert calls == [1, 1]


def test_a_result_of_none_is_returned_as_such():
    def run(batch):
        for pending in batch:
            pending.result = None
    assert group_commit.GroupCommit(run).submit('x') is None


# -- the outbox's rows and the inbox's claims --------------------------------

def _pendings(items):
    return [group_commit.Pending(item) for item in items]


def _outbox(db):
    class _Driver(object):
        def is_ours(self, _cell):
            return True
    outbox = delivery.Outbox(db, _Driver(), lambda d, n: None)
    return outbox


def _row(neighbour='c1'):
    message_uuid = str(uuid.uuid4())
    return [(message_uuid, neighbour, 'down', '{"uuid": "%s"}'
             % message_uuid)]


def test_onward_rows_posted_at_once_are_recorded_in_one_transaction(db):
    outbox = _outbox(db)
    try:
        batch = _pendings([(_row(), str(uuid.uuid4())) for _ in range(5)])
        with transactions(db) as counted:
            outbox._record_batch(batch)
        assert len(counted) == 1
        assert all(len(p.result) == 1 and p.error is None for p in batch)
        assert len(db_outbox.outbox_all(db)) == 5
    finally:
        outbox.stop()


def test_a_copy_in_a_batch_is_refused_alone_and_the_others_recorded(db):
    outbox = _outbox(db)
    try:
        received = str(uuid.uuid4())
        batch = _pendings([(_row(), received), (_row(), str(uuid.uuid4())),
                           (_row(), received)])
        outbox._record_batch(batch)
        assert batch[0].error is None and batch[1].error is None
        assert isinstance(batch[2].error, db_outbox.Duplicate), \
            'the second copy of a message is refused by its mark'
        assert len(db_outbox.outbox_all(db)) == 2
    finally:
        outbox.stop()


def test_claims_asked_at_once_share_a_transaction(db):
    inbox = delivery.Inbox(db, owner='me')
    uuids = [str(uuid.uuid4()) for _ in range(4)]
    batch = _pendings(uuids)
    with transactions(db) as counted:
        inbox._claim_batch(batch)
    assert len(counted) == 1
    assert all(p.result.mine for p in batch)
    assert sorted(claims(db)) == sorted(uuids)


def test_two_copies_claimed_in_one_batch_are_not_both_applied(db):
    """Within the batch, the second copy's look finds the first's fresh
    claim, this daemon's own and not applied by any thread yet: taken for
    left over, it would be claimed twice."""
    inbox = delivery.Inbox(db, owner='me')
    message_uuid = str(uuid.uuid4())
    batch = _pendings([message_uuid, message_uuid])
    inbox._claim_batch(batch)
    assert batch[0].result.mine
    assert not batch[1].result.mine and batch[1].result.holder == 'me'


def test_a_claim_already_applied_is_found_in_a_batch(db):
    inbox = delivery.Inbox(db, owner='me')
    applied = str(uuid.uuid4())
    db_outbox.inbox_add(db, applied)
    batch = _pendings([applied, str(uuid.uuid4())])
    inbox._claim_batch(batch)
    assert batch[0].result.applied and batch[1].result.mine
