"""The outbox and inbox statements on each real database (SQLite,
PostgreSQL, MariaDB): a received message is marked once, a second mark
refuses the whole transaction and leaves the pooled connection usable.

The unit tests check the same on SQLite only; a server database differs
where it matters here (PostgreSQL aborts a transaction at its first error,
MariaDB does not), and the mark runs without a savepoint.
"""

import threading
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import event as sa_event

from nova_cells.db import outbox as db_outbox


@pytest.fixture
def db(one_connection_db):
    return one_connection_db


def _new():
    return str(uuid.uuid4())


def test_a_received_message_is_marked_once_with_its_onward_rows(db):
    received, onward = _new(), _new()
    ids = db_outbox.outbox_add_many(
        db, [(onward, 'child1', 'down', '{"a": 1}'),
             (onward, 'child2', 'down', '{"a": 1}')], 10,
        received_uuid=received)
    assert len(set(ids)) == 2
    assert db_outbox.inbox_contains(db, received)

    with pytest.raises(db_outbox.Duplicate):
        db_outbox.outbox_add_many(
            db, [(_new(), 'child3', 'down', '{}')], 10,
            received_uuid=received)
    # Nothing of the refused transaction stayed, and the same connection
    # takes the next one.
    assert [row['id'] for row in db_outbox.outbox_all(db)] == ids
    later = db_outbox.outbox_add(db, _new(), 'child3', 'down', '{}', 10)
    assert [row['id'] for row in db_outbox.outbox_all(db)] == ids + [later]


def _batch_rows(db, batch):
    with db.connection_writer() as conn:
        return db_outbox.outbox_add_batch(conn, batch, 10, owner='me')


def test_a_batch_of_posts_gets_each_its_own_row_ids_in_order(db):
    marks = [_new(), _new()]
    batch = [([(_new(), 'child1', 'down', '{"n": 1}'),
               (_new(), 'child2', 'down', '{"n": 2}')], marks[0]),
             ([], None),
             ([(_new(), 'child1', 'down', '{"n": 3}')], marks[1])]
    ids = _batch_rows(db, batch)
    rows = {row['id']: row for row in db_outbox.outbox_all(db)}
    assert [len(item_ids) for item_ids in ids] == [2, 0, 1]
    for (entries, _mark), item_ids in zip(batch, ids):
        assert [(rows[i]['message_uuid'], rows[i]['message'])
                for i in item_ids] == [(e[0], e[3]) for e in entries]
    assert all(db_outbox.inbox_contains(db, mark) for mark in marks)
    # One mark already there refuses the whole batch.
    with pytest.raises(db_outbox.Duplicate):
        _batch_rows(db, [([(_new(), 'child1', 'down', '{}')], _new()),
                         ([(_new(), 'child1', 'down', '{}')], marks[1])])
    assert sorted(db_outbox.outbox_all(db), key=lambda r: r['id']) == \
        sorted(rows.values(), key=lambda r: r['id'])


def test_a_second_plain_mark_is_refused_and_the_connection_recovers(db):
    received = _new()
    db_outbox.inbox_add(db, received)
    with pytest.raises(db_outbox.Duplicate):
        db_outbox.inbox_add(db, received)
    other = _new()
    db_outbox.inbox_add(db, other)
    assert db_outbox.inbox_contains(db, received)
    assert db_outbox.inbox_contains(db, other)
    assert not db_outbox.inbox_contains(db, _new())


def test_an_onward_row_already_recorded_is_not_added_again(db):
    message = _new()
    first = db_outbox.outbox_add(db, message, 'child1', 'down', '{}', 10)
    again = db_outbox.outbox_add(db, message, 'child1', 'down', '{}', 10)
    assert again == first
    assert len(db_outbox.outbox_all(db)) == 1


def test_a_retried_recording_keeps_the_rows_it_finds_and_adds_the_rest(db):
    # What a retry finds after a commit whose answer was lost: one of its
    # rows is already there.  The retry keeps it, adds the other and marks
    # the received message, all in one transaction.
    received, kept, added = _new(), _new(), _new()
    first = db_outbox.outbox_add(db, kept, 'child1', 'down', '{}', 10)
    ids = db_outbox.outbox_add_many(
        db, [(kept, 'child1', 'down', '{}'), (added, 'child2', 'down', '{}')],
        10, received_uuid=received)
    assert ids[0] == first and ids[1] != first
    assert sorted((row['message_uuid'], row['neighbour'])
                  for row in db_outbox.outbox_all(db)) == sorted(
        [(kept, 'child1'), (added, 'child2')])
    assert db_outbox.inbox_contains(db, received)


def test_rows_of_a_stopped_daemon_are_taken_over_once(db):
    """Active/active: each daemon sends its own rows; those of a daemon
    whose heartbeat stopped are taken over by one other, each row once."""
    mine = db_outbox.outbox_add(db, _new(), 'c', 'down', '{}', 10,
                                owner='host-b')
    theirs = [db_outbox.outbox_add(db, _new(), 'c', 'down', '{}', 10,
                                   owner='host-a') for _ in range(3)]
    assert [r['id'] for r in db_outbox.outbox_all(db, 'host-b')] == [mine]
    assert db_outbox.outbox_owners(db) == {'host-a', 'host-b'}
    taken = db_outbox.outbox_adopt(db, 'host-b', {'host-a'})
    assert [r['id'] for r in taken] == theirs
    assert db_outbox.outbox_adopt(db, 'host-c', {'host-a'}) == []
    assert sorted(r['id'] for r in db_outbox.outbox_all(db, 'host-b')) == \
        sorted([mine] + theirs)


def _statements(db):
    seen = []
    sa_event.listen(db.engine, 'before_cursor_execute',
                    lambda *args: seen.append(args[2]))
    return seen


def _claim(db, message_uuid, owner):
    with db.connection_writer() as conn:
        claim, = db_outbox.claims_in(conn, [message_uuid], owner, 60,
                                     lambda _uuid: False)
    return claim


def test_a_first_claim_is_one_statement_and_copies_are_still_told(db):
    """A leaf claims each build with its first rows: one INSERT that
    also looks at the inbox.  A claim held by another daemon, and a
    message applied already, are still found (by the look after it)."""
    first, applied = _new(), _new()
    db_outbox.inbox_add(db, applied)
    seen = _statements(db)
    claim = _claim(db, first, 'daemon-a')
    assert claim.mine and not claim.applied
    assert [s.split()[0] for s in seen if s.split()[0] in (
        'INSERT', 'SELECT', 'UPDATE')] == ['INSERT']
    held = _claim(db, first, 'daemon-b')
    assert (held.mine, held.applied, held.holder) == (False, False,
                                                      'daemon-a')
    done = _claim(db, applied, 'daemon-b')
    assert done.applied and not done.mine
    # Neither look wrote a claim: the holder is still daemon-a, and the
    # applied message has none.
    with db.connection_reader() as conn:
        rows = sorted(conn.execute(sa.text(
            'SELECT message_uuid, claimed_by FROM cell_claims')).fetchall())
    assert rows == [(first, 'daemon-a')]


def test_a_copy_claimed_while_the_first_claim_commits_is_held(
        synced_database_url):
    """Two deliveries of one message claim it in two transactions at
    once: the second waits for the first (SQLite: for its lock), then
    finds its claim (not an error, not a second claim)."""
    from nova_cells.db import api as db_api
    database = db_api.Database(synced_database_url, max_pool_size=2,
                               max_overflow=0)
    message = _new()
    try:
        with database.connection_writer() as first:
            claim, = db_outbox.claims_in(first, [message], 'daemon-a', 60,
                                         lambda _uuid: False)
            assert claim.mine
            found = []
            copy = threading.Thread(target=lambda: found.append(
                _claim(database, message, 'daemon-b')))
            copy.start()
            copy.join(0.5)
            assert copy.is_alive()      # waits for the first to end
        copy.join(30)
        assert found and found[0].holder == 'daemon-a'
    finally:
        database.dispose()
