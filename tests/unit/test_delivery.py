"""Durable forwarding (nova_cells.messaging.delivery, nova_cells.db.outbox).

First the ``cell_outbox`` / ``cell_inbox`` queries on SQLite, then the
Outbox with a fake driver (recorded before sending, sent in order per link,
kept and resent until confirmed, resent after a restart), the Inbox on a
stand-alone runner (a copy applied once, a database failure asks for a
resend, another failure does not), and end to end in an in-process tree
(outboxes drained, inboxes filled, a build delivered twice placed once, a
failing link skipped by the scheduler and its queue delivered later).
"""

import datetime
import json
import logging
import threading
import time
import uuid

from oslo_db import exception as db_exc
from oslo_serialization import jsonutils
from oslo_utils import timeutils
import pytest
import sqlalchemy as sa
import sqlalchemy.exc as sa_exc

from nova_cells import context
from nova_cells.db import instances as db_instances
from nova_cells.db import models
from nova_cells.db import outbox as db_outbox
from nova_cells.messaging import delivery
from nova_cells import exception
from nova_cells.scheduler import core as scheduler
from nova_cells.cells import state
from nova_cells.transport import ordering
from tests.unit import sched_support as ss
from tests.unit import tree_support

_OUTBOX = models.CellOutbox.__table__
_INBOX = models.CellInbox.__table__
_NODES = models.ComputeNode.__table__


def new_uuid():
    return str(uuid.uuid4())


def outbox_rows(db):
    return db_outbox.outbox_all(db)


def inbox_uuids(db):
    with db.reader() as session:
        return {row[0] for row in session.execute(
            sa.select(_INBOX.c.message_uuid))}


# -- the database layer -------------------------------------------------------

def test_outbox_add_returns_an_id_and_a_uuid_is_added_once(db):
    message_uuid = new_uuid()
    first = db_outbox.outbox_add(db, message_uuid, 'child1', 'down', '{}', 10)
    again = db_outbox.outbox_add(db, message_uuid, 'child1', 'down', '{}', 10)
    other = db_outbox.outbox_add(db, new_uuid(), 'child1', 'down', '{}', 10)
    assert isinstance(first, int)
    assert again == first
    assert other != first
    rows = outbox_rows(db)
    assert [r['id'] for r in rows] == [first, other]
    assert rows[0]['message_uuid'] == message_uuid
    assert (rows[0]['neighbour'], rows[0]['direction'],
            rows[0]['attempts']) == ('child1', 'down', 0)
    assert rows[0]['next_attempt_at'] > rows[0]['created_at']


def test_received_uuid_is_remembered_with_the_outbox_row(db):
    received = new_uuid()
    db_outbox.outbox_add(db, new_uuid(), 'api', 'up', '{}', 10,
                         received_uuid=received)
    assert db_outbox.inbox_contains(db, received)
    # Another delivery of the same received message forwards nothing.
    with pytest.raises(db_outbox.Duplicate):
        db_outbox.outbox_add(db, new_uuid(), 'api', 'up', '{}', 10,
                             received_uuid=received)
    assert len(outbox_rows(db)) == 1
    with pytest.raises(db_outbox.Duplicate):
        db_outbox.inbox_add(db, received)
    assert inbox_uuids(db) == {received}


def test_duplicate_received_uuid_rolls_back_nothing_else(db):
    received = new_uuid()
    db_outbox.inbox_add(db, received)
    message_uuid = new_uuid()
    with pytest.raises(db_outbox.Duplicate):
        db_outbox.outbox_add(db, message_uuid, 'api', 'up', '{}', 10,
                             received_uuid=received)
    assert outbox_rows(db) == []
    # The database is still usable afterwards.
    row_id = db_outbox.outbox_add(db, message_uuid, 'api', 'up', '{}', 10)
    assert [r['id'] for r in outbox_rows(db)] == [row_id]


def test_outbox_add_many_records_all_or_none(db):
    received = new_uuid()
    first, second = new_uuid(), new_uuid()
    ids = db_outbox.outbox_add_many(
        db, [(first, 'child1', 'down', '{"a": 1}'),
             (second, 'child2', 'down', '{"b": 2}')], 10,
        received_uuid=received)
    rows = outbox_rows(db)
    assert [r['id'] for r in rows] == ids
    assert [(r['message_uuid'], r['neighbour']) for r in rows] == [
        (first, 'child1'), (second, 'child2')]
    assert db_outbox.inbox_contains(db, received)
    # Another delivery of the same received message adds neither part.
    with pytest.raises(db_outbox.Duplicate):
        db_outbox.outbox_add_many(
            db, [(new_uuid(), 'child1', 'down', '{}'),
                 (new_uuid(), 'child2', 'down', '{}')], 10,
            received_uuid=received)
    assert [r['id'] for r in outbox_rows(db)] == ids


def test_outbox_postpone_and_delete(db):
    row_id = db_outbox.outbox_add(db, new_uuid(), 'child1', 'down', '{}', 0)
    before = outbox_rows(db)[0]['next_attempt_at']
    db_outbox.outbox_postpone(db, row_id, 60)
    db_outbox.outbox_postpone(db, row_id, 60)
    row = outbox_rows(db)[0]
    assert row['attempts'] == 2
    assert row['next_attempt_at'] >= before + datetime.timedelta(seconds=59)
    db_outbox.outbox_delete(db, [row_id])
    assert outbox_rows(db) == []


def test_inbox_purge_removes_only_old_rows(db):
    old, recent = new_uuid(), new_uuid()
    with db.writer() as session:
        session.execute(_INBOX.insert().values(
            message_uuid=old,
            created_at=timeutils.utcnow() - datetime.timedelta(hours=2)))
    db_outbox.inbox_add(db, recent)
    assert db_outbox.inbox_purge(db, 3600) == 1
    assert inbox_uuids(db) == {recent}
    assert delivery.Inbox(db).purge() == 0
    assert inbox_uuids(db) == {recent}


# -- the Outbox with a fake driver ------------------------------------------

ONE_INSTANCE = '11111111-2222-3333-4444-555555555555'


class FakeMessage(object):
    """What Outbox.post reads of a message."""

    def __init__(self, tag, neighbour='child1', direction='down',
                 instance_uuid=ONE_INSTANCE, scope=None):
        self.uuid = new_uuid()
        # Made while a received message is applied when ``scope`` holds
        # its receipt.
        self.scope = scope or delivery.Scope()
        self.tag = tag
        # All about one instance unless told: one lane, one order.
        self.method_kwargs = {'instance': {'uuid': instance_uuid}}
        self.direction = direction
        self.message_type = 'targeted'
        self.method_name = 'build_instances'
        self.ctxt = ss.ADMIN
        self.neighbour = neighbour

    def outgoing_context(self):
        return self.ctxt.for_other_cell()

    def to_json(self):
        return jsonutils.dumps({'message_type': self.message_type,
                                'ctxt': self.ctxt.to_dict(),
                                'method_name': self.method_name,
                                'uuid': self.uuid, 'tag': self.tag,
                                'method_kwargs': self.method_kwargs})

    def describe(self):
        return 'message %s' % self.tag


class FakeDriver(object):
    """deliver_message_to_cell that records each attempt (and whether the
    message was in the outbox then) and fails while asked to."""

    def __init__(self, db=None, fail_times=None):
        self.db = db
        self.fail_times = dict(fail_times or {})  # tag -> failures left
        self.failing = set()                      # neighbour names
        self.attempts = []                        # (neighbour, tag, ok)
        self.recorded_first = []
        self.lock = threading.Lock()

    def is_ours(self, cell_state):
        return True

    def deliver_message_to_cell(self, cell_state, message_type, text, ctxt,
                                timeout):
        data = json.loads(text)
        assert message_type == data['message_type']
        assert ctxt.to_dict() == ss.ADMIN.to_dict()
        if self.db is not None:
            self.recorded_first.append(data['uuid'] in {
                r['message_uuid'] for r in outbox_rows(self.db)})
        with self.lock:
            left = self.fail_times.get(data['tag'], 0)
            fail = left > 0 or cell_state.name in self.failing
            if left > 0:
                self.fail_times[data['tag']] = left - 1
            self.attempts.append((cell_state.name, data['tag'], not fail))
        if fail:
            raise IOError('%s unreachable' % cell_state.name)

    def delivered(self, name=None):
        with self.lock:
            return [tag for cell, tag, ok in self.attempts
                    if ok and name in (None, cell)]

    def tried(self):
        with self.lock:
            return [tag for _cell, tag, _ok in self.attempts]


def neighbours(direction, name):
    if name == 'gone':
        return None
    cell_state = state.CellState(name)
    cell_state.update_db_info({'transport_url': 'fake:///' + name,
                               'is_parent': direction == 'up'})
    return cell_state


@pytest.fixture
def outboxes(db):
    made = []

    def make(driver, resend_interval=0.05):
        outbox = delivery.Outbox(db, driver, neighbours, resend_interval)
        made.append(outbox)
        return outbox
    yield make
    for outbox in made:
        stop_and_join(outbox)


def stop_and_join(outbox):
    outbox.stop()
    for link in list(outbox._links.values()):
        link.thread.join(5)
        assert not link.thread.is_alive()


def post_all(outbox, messages):
    for message in messages:
        outbox.post(neighbours(message.direction, message.neighbour),
                    message)


def test_posted_message_is_recorded_sent_by_call_then_cleared(db, outboxes):
    driver = FakeDriver(db)
    outbox = outboxes(driver)
    message = FakeMessage('A')
    post_all(outbox, [message])
    assert tree_support.wait_until(lambda: not outbox_rows(db))
    assert driver.attempts == [('child1', 'A', True)]
    assert driver.recorded_first == [True]
    assert outbox.pending() == {'child1': 0}
    assert not outbox.link_failing('down', 'child1')


def test_confirmed_rows_are_deleted_in_batches(db, outboxes, monkeypatch):
    deletes = []
    real_delete = db_outbox.outbox_delete

    def counting(database, row_ids):
        deletes.append(len(row_ids))
        return real_delete(database, row_ids)
    monkeypatch.setattr(db_outbox, 'outbox_delete', counting)
    driver = FakeDriver(db)
    outbox = outboxes(driver)
    # Thirty instances: thirty lanes' worth of confirmations at once.
    post_all(outbox, [FakeMessage(str(i), instance_uuid=new_uuid())
                      for i in range(30)])
    assert tree_support.wait_until(lambda: not outbox_rows(db))
    assert sum(deletes) == 30
    # Batched: one DELETE for many rows (how many depends on the timing).
    assert len(deletes) < 15, deletes


def test_failed_sends_are_kept_retried_and_never_reordered(db, outboxes):
    driver = FakeDriver(db, fail_times={'A': 3})
    outbox = outboxes(driver)
    post_all(outbox, [FakeMessage('A'), FakeMessage('B'),
                      FakeMessage('C')])
    assert tree_support.wait_until(lambda: driver.delivered() ==
                                   ['A', 'B', 'C'])
    assert driver.tried() == ['A', 'A', 'A', 'A', 'B', 'C']
    assert all(driver.recorded_first)
    assert tree_support.wait_until(lambda: not outbox_rows(db))


class BrokerConfirmedDriver(FakeDriver):
    """A driver whose send returns once the broker confirmed it (kombu):
    also records the thread of each attempt."""

    confirms_sends = True

    def __init__(self, *args, **kwargs):
        super(BrokerConfirmedDriver, self).__init__(*args, **kwargs)
        self.threads = []

    def deliver_message_to_cell(self, *args):
        self.threads.append(threading.current_thread())
        return super(BrokerConfirmedDriver, self).deliver_message_to_cell(
            *args)


def test_an_idle_lane_sends_in_the_posting_thread(db, outboxes):
    driver = BrokerConfirmedDriver(db)
    outbox = outboxes(driver)
    post_all(outbox, [FakeMessage('A'), FakeMessage('B')])
    # Sent before post returned, recorded first, by this very thread.
    assert driver.delivered() == ['A', 'B']
    assert all(driver.recorded_first)
    assert driver.threads == [threading.current_thread()] * 2
    assert tree_support.wait_until(lambda: not outbox_rows(db))


def test_a_send_now_not_confirmed_is_retried_first_and_in_order(
        db, outboxes):
    driver = BrokerConfirmedDriver(db, fail_times={'A': 2})
    outbox = outboxes(driver, resend_interval=0.2)
    started = time.monotonic()
    post_all(outbox, [FakeMessage('A')])
    # Not confirmed: A waits at the head of its lane; B, posted behind
    # it, waits too (not sent now, which would overtake A).
    assert outbox.link_failing('down', 'child1')
    post_all(outbox, [FakeMessage('B')])
    assert tree_support.wait_until(lambda: driver.delivered() == ['A', 'B'])
    assert driver.tried() == ['A', 'A', 'A', 'B']
    # The sender thread kept the interval after the first failure.
    assert time.monotonic() - started >= 0.4
    assert driver.threads[0] is threading.current_thread()
    assert threading.current_thread() not in driver.threads[1:]
    assert tree_support.wait_until(lambda: not outbox_rows(db))


def test_links_are_independent(db, outboxes):
    driver = FakeDriver()
    driver.failing.add('child1')
    outbox = outboxes(driver)
    post_all(outbox, [FakeMessage('A'), FakeMessage('B', 'child2'),
                      FakeMessage('C', 'api', 'up')])
    assert tree_support.wait_until(
        lambda: sorted(driver.delivered()) == ['B', 'C'])
    assert tree_support.wait_until(
        lambda: outbox.link_failing('down', 'child1'))
    assert not outbox.link_failing('down', 'child2')
    assert not outbox.link_failing('up', 'api')
    assert tree_support.wait_until(lambda: len(outbox_rows(db)) == 1)
    assert outbox_rows(db)[0]['neighbour'] == 'child1'


def test_link_failing_while_unconfirmed_then_attempts_counted(db, outboxes):
    driver = FakeDriver()
    driver.failing.add('child1')
    outbox = outboxes(driver)
    assert not outbox.link_failing('down', 'child1')
    post_all(outbox, [FakeMessage('A'), FakeMessage('B')])
    assert tree_support.wait_until(
        lambda: outbox.link_failing('down', 'child1'))
    assert tree_support.wait_until(
        lambda: outbox_rows(db)[0]['attempts'] >= 2)
    rows = outbox_rows(db)
    assert [r['attempts'] for r in rows][1] == 0, 'B is never tried first'
    assert outbox.pending() == {'child1': 2}
    assert set(driver.tried()) == {'A'}
    driver.failing.clear()
    assert tree_support.wait_until(lambda: not outbox_rows(db))
    assert driver.delivered() == ['A', 'B']
    assert not outbox.link_failing('down', 'child1')
    assert outbox.pending() == {'child1': 0}


def test_unknown_neighbour_is_kept(db, outboxes):
    driver = FakeDriver()
    outbox = outboxes(driver)
    # Known when posted, removed from the neighbours before it is sent.
    outbox.post(state.CellState('gone'), FakeMessage('A', 'gone'))
    assert tree_support.wait_until(
        lambda: outbox.link_failing('down', 'gone'))
    assert driver.attempts == []
    assert len(outbox_rows(db)) == 1


class TooLargeDriver(FakeDriver):
    """The neighbour refuses every message for its size."""

    def deliver_message_to_cell(self, cell_state, message_type, text, ctxt,
                                timeout):
        with self.lock:
            self.attempts.append((cell_state.name, 'refused', False))
        raise exception.MessageTooLarge(size=len(text), limit=64)


def test_a_message_refused_as_too_large_stays_and_is_reported(db, outboxes,
                                                              caplog):
    """Never counted as delivered: kept, sent again, one ERROR line."""
    driver = TooLargeDriver()
    outbox = outboxes(driver)
    with caplog.at_level(
            logging.ERROR, logger='nova_cells.messaging.delivery'):
        message = FakeMessage('A')
        post_all(outbox, [message])
        assert tree_support.wait_until(lambda: len(driver.attempts) >= 3)
    assert [r['message_uuid'] for r in outbox_rows(db)] == [message.uuid]
    lines = [r.getMessage() for r in caplog.records
             if r.levelno == logging.ERROR]
    assert len(lines) == 1 and 'too large for child1' in lines[0]


class OriginalNeighbourDriver(FakeDriver):
    """The neighbour runs the original nova-cells: recorded messages go
    as casts (``cast_recorded_message``), which fail as told."""

    def __init__(self, errors=()):
        super(OriginalNeighbourDriver, self).__init__()
        self.errors = list(errors)
        self.casts = []

    def is_ours(self, cell_state):
        return False

    def cast_recorded_message(self, cell_state, message_type, text, ctxt,
                              timeout):
        with self.lock:
            self.casts.append(json.loads(text)['tag'])
            error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error


class Unknown(Exception):
    outcome_unknown = True


def test_an_original_neighbour_gets_one_cast(db, outboxes):
    driver = OriginalNeighbourDriver()
    outbox = outboxes(driver)
    post_all(outbox, [FakeMessage('A')])
    assert tree_support.wait_until(lambda: not outbox_rows(db))
    time.sleep(0.2)
    assert (driver.casts, driver.attempts) == (['A'], [])


def test_a_cast_its_broker_refused_is_sent_again(db, outboxes):
    driver = OriginalNeighbourDriver(errors=[IOError('refused')] * 2)
    outbox = outboxes(driver)
    post_all(outbox, [FakeMessage('A')])
    assert tree_support.wait_until(lambda: not outbox_rows(db))
    assert driver.casts == ['A', 'A', 'A']


def test_a_cast_that_may_have_been_taken_is_not_sent_again(db, outboxes,
                                                           caplog):
    driver = OriginalNeighbourDriver(errors=[Unknown('no confirmation')])
    outbox = outboxes(driver)
    with caplog.at_level(
            logging.ERROR, logger='nova_cells.messaging.delivery'):
        post_all(outbox, [FakeMessage('A')])
        assert tree_support.wait_until(lambda: not outbox_rows(db))
    time.sleep(0.2)
    assert driver.casts == ['A']
    assert any('is not sent again' in r.getMessage()
               for r in caplog.records)


def test_after_a_restart_a_begun_cast_is_not_sent_again(db, outboxes):
    """The daemon died while casting to an original: its broker may have
    the message, so the next start does not send it again."""
    dead = outboxes(OriginalNeighbourDriver())
    dead.stopping = True            # a killed daemon sends nothing more
    message = FakeMessage('A')
    post_all(dead, [message])
    row, = outbox_rows(db)
    db_outbox.outbox_set_attempts(db, row['id'], 1)
    driver = OriginalNeighbourDriver()
    outboxes(driver).start()
    assert tree_support.wait_until(lambda: not outbox_rows(db))
    assert driver.casts == []


def test_a_daemon_sends_only_its_own_rows_while_the_other_lives(
        db, outboxes):
    """Two daemons of one cell on one database (active/active)."""
    failing = FakeDriver()
    failing.failing.add('child1')
    first = delivery.Outbox(db, failing, neighbours, 0.05, owner='host-a',
                            alive=lambda: {'host-a', 'host-b'},
                            adopt_every=0.05)
    post_all(first, [FakeMessage('A')])
    other = FakeDriver()
    second = outboxes(other)
    second.owner, second.alive = 'host-b', lambda: {'host-a', 'host-b'}
    second.adopt_every = 0.05
    second.start()
    time.sleep(0.3)
    assert other.attempts == [] and second.adopt() == 0
    stop_and_join(first)


def test_the_rows_of_a_stopped_daemon_are_taken_over(db, outboxes, caplog):
    failing = FakeDriver()
    failing.failing.add('child1')
    dead = delivery.Outbox(db, failing, neighbours, 0.05, owner='host-a')
    post_all(dead, [FakeMessage('A'), FakeMessage('B')])
    stop_and_join(dead)                 # host-a stopped beating
    survivor_driver = FakeDriver()
    survivor = outboxes(survivor_driver)
    survivor.owner, survivor.alive = 'host-b', lambda: {'host-b'}
    survivor.adopt_every = 0.05
    with caplog.at_level(
            logging.WARNING, logger='nova_cells.messaging.delivery'):
        survivor.start()
        assert tree_support.wait_until(lambda: not outbox_rows(db))
    assert survivor_driver.delivered() == ['A', 'B']
    assert any('Took over 2 unconfirmed message(s) of stopped daemon(s) '
               'host-a' in r.getMessage() for r in caplog.records)


def test_a_new_outbox_resends_what_a_stopped_one_left(db, outboxes):
    first_driver = FakeDriver()
    first = outboxes(first_driver)
    first.stop()
    messages = [FakeMessage('A'), FakeMessage('B', 'api', 'up'),
                FakeMessage('C')]
    post_all(first, messages)
    stop_and_join(first)
    assert first_driver.attempts == []
    assert [r['message_uuid'] for r in outbox_rows(db)] == \
        [m.uuid for m in messages]

    driver = FakeDriver(db, fail_times={'A': 1})
    second = outboxes(driver)
    second.start()
    assert tree_support.wait_until(lambda: not outbox_rows(db))
    assert driver.delivered('child1') == ['A', 'C']
    assert driver.delivered('api') == ['B']
    assert all(driver.recorded_first)


def test_a_broadcast_to_two_children_survives_a_restart_for_each(
        db, outboxes):
    """One message uuid sent to two children is two rows: when child1
    confirms, child2's copy stays recorded, and a restart resends it
    (with one row, child2's copy lived only in memory and was lost)."""
    driver = FakeDriver(db)
    driver.failing.add('child2')
    first = outboxes(driver)
    message = FakeMessage('A')
    for child in ('child1', 'child2'):
        first.post(neighbours('down', child), message)
    assert tree_support.wait_until(
        lambda: [r['neighbour'] for r in outbox_rows(db)] == ['child2'])
    assert driver.delivered('child1') == ['A']
    stop_and_join(first)

    resend = FakeDriver(db)
    second = outboxes(resend)
    second.start()
    assert tree_support.wait_until(lambda: not outbox_rows(db))
    assert resend.delivered('child2') == ['A']
    assert resend.delivered('child1') == []


def test_start_drops_an_unreadable_row(db, outboxes):
    db_outbox.outbox_add(db, new_uuid(), 'child1', 'down', 'not json', 10)
    good = FakeMessage('A')
    db_outbox.outbox_add(db, good.uuid, 'child1', 'down', good.to_json(), 10)
    driver = FakeDriver()
    outboxes(driver).start()
    assert tree_support.wait_until(lambda: not outbox_rows(db))
    assert driver.delivered() == ['A']


def test_post_of_an_already_forwarded_received_message_sends_nothing(
        db, outboxes):
    driver = FakeDriver()
    outbox = outboxes(driver)
    received = new_uuid()
    db_outbox.inbox_add(db, received)
    receipt = delivery._Receipt(received, 'build_instances')
    post_all(outbox, [FakeMessage('A', scope=delivery.Scope(receipt))])
    assert receipt.recorded
    assert outbox_rows(db) == []
    assert outbox.pending() == {}


def test_a_message_sent_along_the_way_does_not_record_the_receipt(
        db, outboxes):
    # A leaf building several instances reports the first before it has
    # built the others: that report must not mark the build applied.
    driver = FakeDriver(db)
    outbox = outboxes(driver)
    received = new_uuid()
    receipt = delivery._Receipt(received, 'build_instances')
    report = FakeMessage('report', scope=delivery.Scope(receipt))
    report.method_name = 'instance_update_at_top'
    post_all(outbox, [report])
    assert not receipt.recorded
    assert not db_outbox.inbox_contains(db, received)
    assert tree_support.wait_until(lambda: driver.delivered() == ['report'])


def test_posts_together_are_recorded_at_the_end_in_one_go(db, outboxes):
    # A split build's parts: recorded with the received build's mark only
    # when the last part is posted, so a crash in between forwards none.
    driver = FakeDriver(db)
    outbox = outboxes(driver)
    received = new_uuid()
    receipt = delivery._Receipt(received, 'build_instances')
    scope = delivery.Scope(receipt)
    parts = [FakeMessage('part1', 'child1', scope=scope),
             FakeMessage('part2', 'child2', scope=scope)]
    with outbox.together(scope):
        post_all(outbox, parts[:1])
        with outbox.together(scope):            # nested: the same block
            post_all(outbox, parts[1:])
        assert outbox_rows(db) == []
        assert not db_outbox.inbox_contains(db, received)
    assert receipt.recorded
    assert db_outbox.inbox_contains(db, received)
    assert tree_support.wait_until(
        lambda: sorted(driver.delivered()) == ['part1', 'part2'])
    assert driver.recorded_first == [True, True]


def test_posts_together_are_dropped_when_the_block_fails(db, outboxes):
    driver = FakeDriver(db)
    outbox = outboxes(driver)
    scope = delivery.Scope()
    with pytest.raises(RuntimeError):
        with outbox.together(scope):
            post_all(outbox, [FakeMessage('part1', scope=scope)])
            raise RuntimeError('planning failed half way')
    assert outbox_rows(db) == []
    assert outbox.pending() == {}
    post_all(outbox, [FakeMessage('after', scope=scope)])   # block is over
    assert tree_support.wait_until(lambda: driver.delivered() == ['after'])


# -- the Inbox on a stand-alone runner --------------------------------------

class Handler(object):
    def __init__(self):
        self.calls = []
        self.error = None

    def __call__(self, runner, message, tag=None):
        self.calls.append(tag)
        if self.error is not None:
            raise self.error
        return tag


@pytest.fixture
def receiver(db, tmp_path):
    """(child runner with an Inbox, handler, make_json): make_json(tag)
    is the wire JSON of a durable cast from its parent to it."""
    from nova_cells.db import api as db_api
    from nova_cells.db import migration

    handler = Handler()
    tables = tree_support.tables_factory()()
    tables.table('targeted').method('terminate_instance')(handler)
    child = tree_support.make_runner(db, 'child', parents=['api'],
                                     tables=tables)
    child.services.db = db
    child.inbox = delivery.Inbox(db)
    parent_db = db_api.Database('sqlite:///' + str(tmp_path / 'api.sqlite'))
    migration.db_sync(parent_db)
    parent = tree_support.make_runner(parent_db, 'api', children=['child'])

    def make_json(tag):
        parent.targeted(context.get_admin_context(), 'api!child',
                        'terminate_instance', {'tag': tag})
        return parent.driver.sent[-1][2]
    yield child, handler, make_json
    child.inbox.stop()
    parent_db.dispose()


def test_a_durable_copy_is_applied_once(receiver, db):
    child, handler, make_json = receiver
    text = make_json('one')
    assert delivery.is_durable(child.message_from_json(text))
    child.process_json(text)
    child.process_json(text)
    assert handler.calls == ['one']
    assert json.loads(text)['uuid'] in inbox_uuids(db)
    child.process_json(make_json('two'))
    assert handler.calls == ['one', 'two']


@pytest.mark.parametrize('error', [
    db_exc.DBConnectionError(), db_exc.DBDeadlock(),
    sa_exc.OperationalError('SELECT 1', {}, Exception('gone'))])
def test_database_failure_asks_for_a_resend(receiver, db, error):
    child, handler, make_json = receiver
    text = make_json('one')
    handler.error = error
    with pytest.raises(exception.MessageNotTaken):
        child.process_json(text)
    assert json.loads(text)['uuid'] not in inbox_uuids(db)
    handler.error = None
    child.process_json(text)
    assert handler.calls == ['one', 'one']
    assert json.loads(text)['uuid'] in inbox_uuids(db)
    child.process_json(text)
    assert handler.calls == ['one', 'one']


def test_other_failure_is_remembered_not_retried(receiver, db):
    child, handler, make_json = receiver
    text = make_json('one')
    handler.error = ValueError('bad message')
    assert child.process_json(text) is None
    assert json.loads(text)['uuid'] in inbox_uuids(db)
    handler.error = None
    child.process_json(text)
    assert handler.calls == ['one']


def test_unreadable_inbox_asks_for_a_resend(receiver, db, monkeypatch):
    child, handler, make_json = receiver
    text = make_json('one')

    def broken(*args):
        raise db_exc.DBConnectionError()
    # The look at the inbox is in the claim's transaction.
    monkeypatch.setattr(db_outbox, 'claim', broken)
    with pytest.raises(exception.MessageNotTaken):
        child.process_json(text)
    assert handler.calls == []


def test_non_durable_messages_skip_the_inbox(receiver, db):
    child, handler, make_json = receiver
    tables = child.handlers
    tables.table('targeted').method('record')(handler)
    parent_json = make_json('x')
    data = json.loads(parent_json)
    data['method_name'] = 'record'
    text = json.dumps(data)
    assert not delivery.is_durable(child.message_from_json(text))
    child.process_json(text)
    child.process_json(text)
    assert handler.calls == ['x', 'x']
    assert inbox_uuids(db) == set()


# -- end to end in an in-process tree ---------------------------------------

# child1's leaves are much bigger: the weigher prefers them.
HOSTS = {
    'gc1': [(16384, 16, 400)] * 2,
    'gc2': [(16384, 16, 400)] * 2,
    'gc3': [(8192, 8, 200)],
    'gc4': [(8192, 8, 200)],
}
CHILD1_LEAVES = {ss.PATHS['gc1'], ss.PATHS['gc2']}
CHILD2_LEAVES = {ss.PATHS['gc3'], ss.PATHS['gc4']}


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with ss.building_tree(tmp_path_factory.mktemp('delivery'), HOSTS,
                          overrides={'outbox_resend_interval': 1}) as harness:
        yield harness


class Wire(object):
    """Every durable delivery between cells of the tree, and a switch to
    make chosen links fail."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = []         # (sender, receiver, data, text, ok)
        self.failing = set()   # (sender, receiver)

    def wrap(self, sender, driver):
        original = driver.deliver_message_to_cell

        def deliver(cell_state, message_type, text, ctxt, timeout):
            fail = (sender, cell_state.name) in self.failing
            with self.lock:
                self.sent.append((sender, cell_state.name, json.loads(text),
                                  text, not fail))
            if fail:
                raise IOError('link %s -> %s down' % (sender,
                                                      cell_state.name))
            return original(cell_state, message_type, text, ctxt, timeout)
        return deliver

    def delivered(self, method=None):
        with self.lock:
            return [(s, r, d, t) for s, r, d, t, ok in self.sent
                    if ok and method in (None, d['method_name'])]


@pytest.fixture
def wire(tree, monkeypatch):
    wire = Wire()
    for name, cell in tree.tree.cells.items():
        assert cell.runner.outbox is not None, 'durable_forwarding is on'
        assert cell.runner.outbox.driver is cell.driver
        monkeypatch.setattr(cell.driver, 'deliver_message_to_cell',
                            wire.wrap(name, cell.driver))
    yield wire
    wire.failing.clear()
    assert drained(tree), 'every outbox empties once the links work'


def drained(tree, timeout=10.0):
    return tree_support.wait_until(
        lambda: all(not outbox_rows(c.db)
                    for c in tree.tree.cells.values()), timeout=timeout)


def usage(db):
    with db.reader() as session:
        return sorted(tuple(row) for row in session.execute(sa.select(
            _NODES.c.host, _NODES.c.memory_mb_used, _NODES.c.vcpus_used,
            _NODES.c.local_gb_used, _NODES.c.running_vms)))


def test_builds_leave_every_outbox_empty_and_every_inbox_filled(tree, wire):
    uuids = tree.build(3)
    rows = tree.wait(uuids)
    assert all(r['vm_state'] == 'active' for r in rows), rows
    assert drained(tree)
    delivered = wire.delivered()
    methods = {d['method_name'] for _s, _r, d, _t in delivered}
    assert {'build_instances', 'instance_update_at_top'} <= methods
    assert methods <= delivery.DURABLE_METHODS
    for sender, receiver, data, _text in delivered:
        assert data['uuid'] in inbox_uuids(tree.cell(receiver).db), \
            (sender, receiver, data['method_name'])
    # Each build went api -> child -> leaf: one message a hop, each hop's
    # to one neighbour (a call that timed out on a busy machine sends the
    # same message again; the inbox above shows it applied).
    builds = wire.delivered('build_instances')
    hops = {d['uuid']: (s, r) for s, r, d, _t in builds}
    assert len(hops) == 2 * len(uuids)
    assert len({(d['uuid'], s, r) for s, r, d, _t in builds}) == len(hops)
    assert sorted(s for s, _r in hops.values()).count('api') == len(uuids)


def test_a_build_delivered_twice_is_placed_once(tree, wire):
    [instance_uuid] = tree.build(1)
    [row] = tree.wait([instance_uuid])
    assert row['vm_state'] == 'active'
    assert drained(tree)
    [(sender, leaf_name, data, text)] = [
        b for b in wire.delivered('build_instances')
        if b[1] in tree.leaves()]
    leaf = tree.cell(leaf_name)
    assert row['cell_name'] == ss.PATHS[leaf_name]
    before = usage(leaf.db)

    # A resend the inbox knows: confirmed, not applied.
    assert leaf.runner.process_json(text) is None
    # A resend the inbox forgot (purged): the placed row is reported again.
    with leaf.db.writer() as session:
        session.execute(_INBOX.delete().where(
            _INBOX.c.message_uuid == data['uuid']))
    leaf.runner.process_json(text)
    assert data['uuid'] in inbox_uuids(leaf.db), 'applied again'
    assert drained(tree)

    assert usage(leaf.db) == before
    placed = [r for r in db_instances.instance_get_all(
        leaf.db, read_deleted='yes') if r['uuid'] == instance_uuid]
    assert len(placed) == 1
    assert (placed[0]['host'], placed[0]['vm_state']) == (row['host'],
                                                          'active')
    [top] = tree.rows([instance_uuid])
    assert (top['host'], top['vm_state'], top['cell_name']) == (
        row['host'], 'active', row['cell_name'])


def test_builds_avoid_a_failing_link_and_its_queue_arrives_later(tree,
                                                                 wire):
    wire.failing.add(('api', 'child1'))
    outbox = tree.top.runner.outbox
    [stuck] = tree.build(1)
    assert tree_support.wait_until(
        lambda: outbox.link_failing('down', 'child1'), timeout=5)
    later = tree.build(2)
    rows = tree.wait(later)
    assert all(r['vm_state'] == 'active' for r in rows), rows
    assert {r['cell_name'] for r in rows} <= CHILD2_LEAVES
    [row] = tree.rows([stuck])
    assert row['vm_state'] == 'building'
    failed = {d['uuid'] for s, r, d, _t, ok in wire.sent
              if (s, r, ok) == ('api', 'child1', False)}
    assert len(failed) == 1, 'only the first build was queued for child1'
    # Confirmed rows are cleared in batches, a moment later.
    assert tree_support.wait_until(
        lambda: [r['neighbour'] for r in outbox_rows(tree.top.db)]
        == ['child1'], timeout=5), outbox_rows(tree.top.db)

    wire.failing.clear()
    [row] = tree.wait([stuck])
    assert row['vm_state'] == 'active'
    assert row['cell_name'] in CHILD1_LEAVES
    assert drained(tree)
    assert not outbox.link_failing('down', 'child1')
    assert failed <= {d['uuid'] for s, r, d, _t in wire.delivered()
                      if (s, r) == ('api', 'child1')}


def _two_lanes():
    """Two instance uuids whose messages take different lanes."""
    first = ONE_INSTANCE
    for index in range(100):
        other = '00000000-0000-0000-0000-%012d' % index
        if ordering.lane_of(other) != ordering.lane_of(first):
            return first, other
    raise AssertionError('no second lane found')


def test_an_instance_stuck_in_one_lane_does_not_hold_back_another(db):
    stuck, free = _two_lanes()
    driver = FakeDriver(db, fail_times={'A': 1000})
    outbox = delivery.Outbox(db, driver, neighbours, resend_interval=60)
    child1 = neighbours('down', 'child1')
    try:
        outbox.post(child1, FakeMessage('A', instance_uuid=stuck))
        outbox.post(child1, FakeMessage('B', instance_uuid=stuck))
        outbox.post(child1, FakeMessage('C', instance_uuid=free))
        # C's lane does not wait for A's: C gets through while A fails
        # (each lane's thread runs when it runs: wait for both).
        assert tree_support.wait_until(
            lambda: 'C' in driver.delivered() and
            outbox.link_failing('down', 'child1'), timeout=10)
        # B waits behind A: same instance, same lane, in order.
        assert 'B' not in driver.tried()
    finally:
        outbox.stop()


def test_order_key_finds_the_instance_in_every_durable_shape():
    uuid = ONE_INSTANCE
    primitive = {'nova_object.name': 'Instance',
                 'nova_object.data': {'uuid': uuid}}
    assert ordering.order_key({'instance': primitive}) == uuid
    assert ordering.order_key({'instance_fault': {'instance_uuid': uuid,
                                                  'id': 3}}) == uuid
    assert ordering.order_key({'build_inst_kwargs': {
        'instances': [primitive]}}) == uuid
    assert ordering.order_key({'something': 1}) is None
    assert ordering.lane_of(None) == 0
    assert ordering.lane_of(uuid) == ordering.lane_of(uuid)


# -- a cell between two others: messages that only pass through -------------

class ConfirmingDriver(tree_support.RecordingDriver):
    """Confirms every durable delivery and records it."""

    def __init__(self):
        super(ConfirmingDriver, self).__init__()
        self.delivered = []

    def deliver_message_to_cell(self, cell_state, message_type, text, ctxt,
                                timeout):
        self.delivered.append((cell_state.name, json.loads(text)['uuid']))


@pytest.fixture
def middle(db, tmp_path, monkeypatch):
    """(child runner between api and gc with an Inbox and an Outbox, its
    driver, a list of its inbox lookups, {'api': runner, 'gc': runner},
    the child's terminate_instance handler)."""
    from nova_cells.db import api as db_api
    from nova_cells.db import migration

    handler = Handler()
    tables = tree_support.tables_factory()()
    tables.table('targeted').method('terminate_instance')(handler)
    child = tree_support.make_runner(db, 'child', parents=['api'],
                                     children=['gc'], tables=tables)
    child.services.db = db
    child.inbox = delivery.Inbox(db)
    driver = ConfirmingDriver()
    child.outbox = delivery.Outbox(db, driver, child.neighbour, 0.05)
    child.outbox.start()
    lookups = []
    real_contains = db_outbox.inbox_contains
    real_claim = db_outbox.claim

    def counting_contains(database, message_uuid):
        lookups.append(message_uuid)
        return real_contains(database, message_uuid)

    def counting_claim(database, message_uuid, *args):
        lookups.append(message_uuid)
        return real_claim(database, message_uuid, *args)
    monkeypatch.setattr(db_outbox, 'inbox_contains', counting_contains)
    monkeypatch.setattr(db_outbox, 'claim', counting_claim)
    others, databases = {}, []
    for name, kwargs in (('api', {'children': ['child']}),
                         ('gc', {'parents': ['child']})):
        other_db = db_api.Database('sqlite:///' + str(
            tmp_path / ('%s.sqlite' % name)))
        migration.db_sync(other_db)
        databases.append(other_db)
        others[name] = tree_support.make_runner(other_db, name, **kwargs)
    yield child, driver, lookups, others, handler
    stop_and_join(child.outbox)
    for other_db in databases:
        other_db.dispose()


def _sent_by(runner):
    return runner.driver.sent[-1][2]


def _wait_delivered(driver, count):
    assert tree_support.wait_until(lambda: len(driver.delivered) >= count)
    time.sleep(0.1)          # nothing more arrives
    return list(driver.delivered)


def test_a_targeted_message_passing_through_is_forwarded_once_unlooked_up(
        middle, db):
    child, driver, lookups, others, _handler = middle
    others['api'].targeted(ss.ADMIN, 'api!child!gc', 'terminate_instance',
                           {'tag': 'x'})
    text = _sent_by(others['api'])
    message_uuid = json.loads(text)['uuid']
    assert child.message_from_json(text).passes_through()
    child.process_json(text)
    assert _wait_delivered(driver, 1) == [('gc', message_uuid)]
    assert message_uuid in inbox_uuids(db)
    # A second copy (the api did not see the confirmation) is refused when
    # its onward row would be written: nothing is sent twice.
    assert child.process_json(text) is None
    assert _wait_delivered(driver, 1) == [('gc', message_uuid)]
    assert lookups == []


def test_a_message_for_this_cell_is_still_looked_up(middle, db):
    child, driver, lookups, others, handler = middle
    others['api'].targeted(ss.ADMIN, 'api!child', 'terminate_instance',
                           {'tag': 'here'})
    text = _sent_by(others['api'])
    assert not child.message_from_json(text).passes_through()
    child.process_json(text)
    child.process_json(text)
    assert handler.calls == ['here']
    assert lookups == [json.loads(text)['uuid']] * 2


def test_an_update_passing_up_is_forwarded_once_unlooked_up(middle, db):
    child, driver, lookups, others, _handler = middle
    others['gc'].broadcast(ss.ADMIN, 'instance_update_at_top',
                           {'instance': {'uuid': ONE_INSTANCE}}, 'up',
                           run_locally=False)
    text = _sent_by(others['gc'])
    message_uuid = json.loads(text)['uuid']
    assert delivery.is_durable(child.message_from_json(text))
    assert child.message_from_json(text).passes_through()
    child.process_json(text)
    child.process_json(text)
    assert _wait_delivered(driver, 1) == [('api', message_uuid)]
    assert lookups == []


def test_a_forward_that_cannot_be_recorded_is_not_marked(
        middle, db, monkeypatch):
    child, driver, lookups, others, _handler = middle

    def database_gone(*args, **kwargs):
        raise exception.MessageNotTaken(uuid='x', reason='database: gone')
    monkeypatch.setattr(db_outbox, 'outbox_add_many', database_gone)
    others['api'].targeted(ss.ADMIN, 'api!child!gc', 'terminate_instance',
                           {'tag': 'x'})
    text = _sent_by(others['api'])
    with pytest.raises(exception.MessageNotTaken):
        child.process_json(text)
    # Not marked: the api's resend will be forwarded.
    assert json.loads(text)['uuid'] not in inbox_uuids(db)
    monkeypatch.undo()
    child.process_json(text)
    assert _wait_delivered(driver, 1) == [('gc', json.loads(text)['uuid'])]


# -- a pinned build passing through a middle cell --------------------------

@pytest.fixture
def build_middle(middle, monkeypatch):
    """``middle`` with a scheduler, as every daemon has (a pinned build
    passes through it); yields (child, driver, inbox lookups, [(received
    uuid, [neighbours])] per outbox transaction, a function casting a
    build from the api cell to a target and returning its JSON)."""
    child, driver, lookups, others, _handler = middle
    child.services.scheduler = scheduler.CellsScheduler(
        child, [], [], None, ss.cell_policy())
    carried = []
    real_add_many = db_outbox.outbox_add_many

    def add_many(database, entries, retry_in, received_uuid=None,
                 owner=None):
        carried.append((received_uuid, [entry[1] for entry in entries]))
        return real_add_many(database, entries, retry_in, received_uuid,
                             owner)
    monkeypatch.setattr(db_outbox, 'outbox_add_many', add_many)

    def cast(target):
        the_flavor = ss.flavor()
        made = [ss.new_instance(child.services.db, the_flavor, 'vm',
                                ss.ADMIN)]
        others['api'].targeted(ss.ADMIN, target, 'build_instances',
                               {'build_inst_kwargs': ss.build_kwargs(
                                   made, the_flavor)})
        return _sent_by(others['api'])
    return child, driver, lookups, carried, cast


def test_a_pinned_build_passing_through_is_recorded_and_sent_on_once(
        build_middle, db):
    child, driver, lookups, carried, cast = build_middle
    text = cast('api!child!gc!ggc')
    message_uuid = json.loads(text)['uuid']
    child.process_json(text)
    child.process_json(text)
    assert _wait_delivered(driver, 1) == [('gc', message_uuid)]
    assert carried[0] == (message_uuid, ['gc'])
    assert lookups == []


def test_a_pinned_build_that_cannot_go_on_fails_its_instances_once(
        build_middle, db):
    """The failure's two updates up carry the build's mark in their one
    transaction: a second copy of the build (its sender saw no
    confirmation) finds the mark and sends nothing again."""
    child, driver, lookups, carried, cast = build_middle
    text = cast('api!child!nope!ggc')
    message_uuid = json.loads(text)['uuid']
    child.process_json(text)
    assert carried == [(message_uuid, ['api', 'api'])]
    assert message_uuid in inbox_uuids(db)
    first = _wait_delivered(driver, 2)
    child.process_json(text)
    assert _wait_delivered(driver, 2) == first
    assert [name for name, _uuid in first] == ['api', 'api']
    assert lookups == []


# -- what a handler sends along the way, and the mark ----------------------

class PostingHandler(Handler):
    """A terminate_instance that reports to the top (a durable message of
    another method) before it ends, or fails."""

    def __call__(self, runner, message, tag=None):
        self.calls.append(tag)
        runner.broadcast(message.ctxt, 'instance_update_at_top',
                         {'instance': {'uuid': ONE_INSTANCE}}, 'up',
                         run_locally=False)
        if self.error is not None:
            raise self.error
        return tag


@pytest.fixture
def posting(middle, monkeypatch):
    """``middle`` whose child's handler posts an update up, with the
    received uuids each outbox transaction carried and the plain marks."""
    child, driver, _lookups, others, _handler = middle
    handler = PostingHandler()
    child.handlers.table('targeted').method('terminate_instance')(handler)
    carried, plain_marks = [], []
    real_add_many, real_inbox_add = (db_outbox.outbox_add_many,
                                     db_outbox.inbox_add)

    def add_many(database, entries, retry_in, received_uuid=None,
                 owner=None):
        carried.append(received_uuid)
        return real_add_many(database, entries, retry_in, received_uuid,
                             owner)

    def inbox_add(database, message_uuid):
        plain_marks.append(message_uuid)
        return real_inbox_add(database, message_uuid)
    monkeypatch.setattr(db_outbox, 'outbox_add_many', add_many)
    monkeypatch.setattr(db_outbox, 'inbox_add', inbox_add)

    def receive():
        others['api'].targeted(ss.ADMIN, 'api!child', 'terminate_instance',
                               {'tag': 'x'})
        return _sent_by(others['api'])
    return child, driver, handler, receive, carried, plain_marks


def test_what_a_handler_sends_along_the_way_does_not_carry_the_mark(
        posting, db):
    """A message of another method is not the received message's whole
    effect: it is recorded when sent, and the mark once the handler has
    returned."""
    child, driver, handler, receive, carried, plain_marks = posting
    text = receive()
    message_uuid = json.loads(text)['uuid']
    child.process_json(text)
    assert carried == [None]
    assert plain_marks == [message_uuid]
    assert message_uuid in inbox_uuids(db)
    assert [name for name, _uuid in _wait_delivered(driver, 1)] == ['api']
    # A second copy is not applied again: nothing more goes up.
    child.process_json(text)
    assert handler.calls == ['x']
    assert len(_wait_delivered(driver, 1)) == 1


def test_a_handler_failing_for_now_sends_its_posts_unmarked(posting, db):
    child, driver, handler, receive, carried, plain_marks = posting
    text = receive()
    handler.error = db_exc.DBConnectionError()
    with pytest.raises(exception.MessageNotTaken):
        child.process_json(text)
    assert carried == [None]
    assert json.loads(text)['uuid'] not in inbox_uuids(db)
    # The resend applies it and marks it.
    handler.error = None
    child.process_json(text)
    assert carried == [None, None]
    assert json.loads(text)['uuid'] in inbox_uuids(db)


def test_a_handler_posting_nothing_is_marked_alone(posting, db):
    child, driver, handler, receive, carried, plain_marks = posting
    child.handlers.table('targeted').method('terminate_instance')(Handler())
    text = receive()
    child.process_json(text)
    assert carried == []
    assert plain_marks == [json.loads(text)['uuid']]


def test_stopping_the_clearer_does_not_wait_out_its_pause(db):
    clearer = delivery._Clearer(db, interval=30)
    row_id = db_outbox.outbox_add(db, new_uuid(), 'child1', 'down', '{}', 10)
    clearer.clear(row_id)
    assert tree_support.wait_until(lambda: not outbox_rows(db))
    # Now pausing for 30 s; confirmed meanwhile, then stopped.
    later = db_outbox.outbox_add(db, new_uuid(), 'child1', 'down', '{}', 10)
    clearer.clear(later)
    clearer.stop(timeout=10)
    # Ended well before its 30 s pause would have.
    assert not clearer._thread.is_alive()
    assert outbox_rows(db) == []


class CountingCondition(object):
    """A threading.Condition that counts its notify() calls."""

    def __init__(self, cond):
        self._cond = cond
        self.notified = 0

    def notify(self, n=1):
        self.notified += 1
        self._cond.notify(n)

    def __getattr__(self, name):
        return getattr(self._cond, name)

    def __enter__(self):
        return self._cond.__enter__()

    def __exit__(self, *exc):
        return self._cond.__exit__(*exc)


def test_the_clearer_is_woken_once_per_batch_not_per_row(db):
    """Rows confirmed while the clearer pauses join the next batch
    without waking it, each: a thread switch per message saved."""
    clearer = delivery._Clearer(db, interval=0.5)
    try:
        first = db_outbox.outbox_add(db, new_uuid(), 'child1', 'down', '{}',
                                     10)
        clearer.clear(first)
        assert tree_support.wait_until(lambda: not outbox_rows(db))
        counting = clearer._cond = CountingCondition(clearer._cond)
        rows = [db_outbox.outbox_add(db, new_uuid(), 'child1', 'down',
                                     '{}', 10) for _ in range(10)]
        for row_id in rows:
            clearer.clear(row_id)
        assert counting.notified == 1
        assert tree_support.wait_until(lambda: not outbox_rows(db))
    finally:
        clearer.stop(timeout=10)


def test_a_send_now_confirmed_on_an_idle_lane_wakes_no_sender(db, outboxes):
    driver = BrokerConfirmedDriver(db)
    outbox = outboxes(driver)
    post_all(outbox, [FakeMessage('A')])
    links = list(outbox._links.values())
    counting = [CountingCondition(link.cond) for link in links]
    for link, cond in zip(links, counting):
        link.cond = cond
    post_all(outbox, [FakeMessage('B'), FakeMessage('C')])
    assert driver.delivered() == ['A', 'B', 'C']
    assert driver.threads == [threading.current_thread()] * 3
    assert len(outbox._links) == 1
    assert [cond.notified for cond in counting] == [0]


# -- claims: a copy arriving while the first is being applied ----------------

class BlockingHandler(Handler):
    """Applies slowly: waits until the test lets it go on."""

    def __init__(self):
        super(BlockingHandler, self).__init__()
        self.started = threading.Event()
        self.go_on = threading.Event()

    def __call__(self, runner, message, tag=None):
        self.started.set()
        assert self.go_on.wait(10)
        return super(BlockingHandler, self).__call__(runner, message, tag)


@pytest.fixture
def slow_receiver(receiver):
    child, _handler, make_json = receiver
    handler = BlockingHandler()
    child.handlers.table('targeted').method('terminate_instance')(handler)
    yield child, handler, make_json
    handler.go_on.set()


def test_a_copy_arriving_while_the_first_is_applied_waits(slow_receiver):
    """The sender's resend comes while the first delivery is still being
    applied (a build held by the scheduler's retries): the copy is refused
    for now, and confirmed without a second effect once the first is
    done."""
    child, handler, make_json = slow_receiver
    text = make_json('one')
    first = threading.Thread(target=child.process_json, args=(text,))
    first.start()
    assert handler.started.wait(5)
    with pytest.raises(exception.MessageNotTaken):
        child.process_json(text)
    handler.go_on.set()
    first.join(5)
    assert child.process_json(text) is None
    assert handler.calls == ['one']


def test_a_claim_is_renewed_while_the_message_is_applied(slow_receiver, db):
    child, handler, make_json = slow_receiver
    child.inbox.stale_after = 0.3
    text = make_json('one')
    message_uuid = json.loads(text)['uuid']
    first = threading.Thread(target=child.process_json, args=(text,))
    first.start()
    assert handler.started.wait(5)
    time.sleep(0.8)                     # past stale_after, renewed twice
    other = db_outbox.claim(db, message_uuid, 'another daemon', 0.3,
                            lambda _uuid: False)
    assert (other.mine, other.holder) == (False, child.inbox.owner)
    handler.go_on.set()
    first.join(5)
    assert handler.calls == ['one']


@pytest.mark.parametrize('holder_age, taken', [
    pytest.param(5, False, id='live-claim-waits'),
    pytest.param(120, True, id='dead-daemons-claim-taken-over'),
])
def test_another_daemons_claim(receiver, db, holder_age, taken):
    child, handler, make_json = receiver
    text = make_json('one')
    message_uuid = json.loads(text)['uuid']
    with db.connection_writer() as conn:
        conn.execute(models.CellClaim.__table__.insert(), {
            'message_uuid': message_uuid, 'claimed_by': 'a dead daemon',
            'claimed_at': timeutils.utcnow() - datetime.timedelta(
                seconds=holder_age)})
    if taken:
        child.process_json(text)
        assert handler.calls == ['one']
    else:
        with pytest.raises(exception.MessageNotTaken):
            child.process_json(text)
        assert handler.calls == []


def test_a_delivery_that_could_not_apply_gives_its_claim_back(receiver,
                                                              db):
    child, handler, make_json = receiver
    text = make_json('one')
    handler.error = db_exc.DBConnectionError()
    with pytest.raises(exception.MessageNotTaken):
        child.process_json(text)
    assert _claims(db) == []
    handler.error = None
    child.process_json(text)
    assert handler.calls == ['one', 'one']
    child.process_json(text)
    assert handler.calls == ['one', 'one'], 'applied once it worked'


def test_this_daemons_left_over_claim_is_taken_at_once(receiver, db):
    """A claim this daemon left (a delivery ended without a mark, say a
    thread killed with its database) is not waited for."""
    child, handler, make_json = receiver
    text = make_json('one')
    with db.connection_writer() as conn:
        conn.execute(models.CellClaim.__table__.insert(), {
            'message_uuid': json.loads(text)['uuid'],
            'claimed_by': child.inbox.owner,
            'claimed_at': timeutils.utcnow()})
    child.process_json(text)
    assert handler.calls == ['one']


def _claims(db):
    with db.connection_reader() as conn:
        return conn.execute(
            models.CellClaim.__table__.select()).fetchall()


# -- issue 23: no user secret is stored in the outbox ------------------------

SECRET = 'Us3r-Adm1n-pw'


def test_the_outbox_row_holds_no_admin_password_but_the_send_does(
        db, outboxes):
    driver = FakeDriver(db)
    driver.failing.add('child1')
    sent = []
    real = driver.deliver_message_to_cell

    def recording(cell_state, message_type, text, ctxt, timeout):
        sent.append(text)
        return real(cell_state, message_type, text, ctxt, timeout)
    driver.deliver_message_to_cell = recording
    outbox = outboxes(driver)
    message = FakeMessage('A')
    message.method_kwargs = {'build_inst_kwargs': {
        'admin_password': SECRET, 'instances': [{'uuid': ONE_INSTANCE}],
        'parts': [{'admin_password': SECRET}]}}
    post_all(outbox, [message])
    assert tree_support.wait_until(lambda: len(sent) >= 2)
    rows = outbox_rows(db)
    assert len(rows) == 1
    assert SECRET not in rows[0]['message']
    stored = json.loads(rows[0]['message'])['method_kwargs']
    assert stored['build_inst_kwargs']['admin_password'] is None
    assert stored['build_inst_kwargs']['parts'][0]['admin_password'] is None
    assert stored['build_inst_kwargs']['instances'] == [
        {'uuid': ONE_INSTANCE}]
    # the sends from memory carry it to the neighbour
    assert all(SECRET in text for text in sent)


def test_for_storage_leaves_a_message_without_secrets_untouched():
    text = json.dumps({'method_kwargs': {'x': 'admin'}, 'uuid': 'u'})
    assert delivery.for_storage(text) is text
