"""``cell_outbox``, ``cell_inbox`` and ``cell_claims``: what a cell has sent
and not yet seen confirmed, what it has already applied (revision 0004),
and what it is applying now (0007).

Rows leave as plain tuples/dicts; nothing here reads configuration.
"""

import datetime

from oslo_db import exception as db_exc
from oslo_utils import timeutils
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as sa_postgresql
from sqlalchemy.dialects import sqlite as sa_sqlite

from nova_cells.db import models

__all__ = ['outbox_add', 'outbox_add_many', 'outbox_add_in',
           'outbox_add_batch', 'outbox_delete',
           'outbox_postpone', 'outbox_set_attempts', 'outbox_all',
           'outbox_owners', 'outbox_adopt',
           'inbox_contains', 'inbox_add', 'inbox_insert', 'inbox_purge',
           'Duplicate', 'claim', 'claims_in', 'claims_renew',
           'claim_release', 'Claim']

_OUTBOX = models.CellOutbox.__table__
_INBOX = models.CellInbox.__table__
_CLAIMS = models.CellClaim.__table__

# The statements of every durable hop, built once with bound parameters:
# building an expression and its cache key for each message cost more CPU
# than running it (tools/bench/route.py's builds).
_OUTBOX_INSERT = _OUTBOX.insert()
_OUTBOX_INSERT_IDS = _OUTBOX.insert().returning(_OUTBOX.c.id,
                                                sort_by_parameter_order=True)
_INBOX_INSERT = _INBOX.insert()
_INBOX_LOOKUP = sa.select(_INBOX.c.message_uuid).where(
    _INBOX.c.message_uuid == sa.bindparam('i_uuid'))
_OUTBOX_DELETE = _OUTBOX.delete().where(
    _OUTBOX.c.id.in_(sa.bindparam('o_ids', expanding=True)))


class Duplicate(Exception):
    """The received message uuid is already in the inbox: it was applied
    (or is being applied) by another delivery."""


def inbox_insert(conn, message_uuids, now=None):
    """Mark ``message_uuids`` applied within ``conn``'s transaction, with
    the write that applied them (one statement).

    No savepoint: a duplicate ends the whole transaction (its callers let
    :class:`Duplicate` out, which rolls it back), so there is nothing to
    keep; a savepoint cost two more statements on every durable hop.

    :raises Duplicate: one of them was already marked.
    """
    now = now or timeutils.utcnow()
    try:
        conn.execute(_INBOX_INSERT, [
            {'message_uuid': message_uuid, 'created_at': now}
            for message_uuid in message_uuids])
    except db_exc.DBDuplicateEntry:
        raise Duplicate(', '.join(message_uuids))


def outbox_add(db, message_uuid, neighbour, direction, message, retry_in,
               received_uuid=None, owner=None):
    """Record a message to send; returns its row id.

    With ``received_uuid``, that received message is marked applied in the
    same transaction: forwarding it and remembering it happen together, so
    a resent copy can neither be forwarded twice nor lost.  A message uuid
    already in the outbox for that neighbour is not added again (its id is
    returned); a broadcast has one row per neighbour.

    :raises Duplicate: ``received_uuid`` was already applied.
    """
    return outbox_add_many(db, [(message_uuid, neighbour, direction,
                                 message)], retry_in, received_uuid,
                           owner)[0]


def outbox_add_many(db, entries, retry_in, received_uuid=None, owner=None):
    """Record several messages in one transaction (a split build's parts:
    all or none), as :func:`outbox_add` does one; returns their row ids.

    :param entries: ``[(message_uuid, neighbour, direction, message)]``.
    :param owner: the host of the daemon that will send them.
    """
    now = timeutils.utcnow()
    try:
        with db.connection_writer() as conn:
            return outbox_add_in(conn, entries, retry_in, received_uuid,
                                 owner, now)
    except db_exc.DBDuplicateEntry:
        # A row is already there: this is the retry of a transaction whose
        # commit did commit (its answer lost with the connection).  Rare,
        # so the usual path does not look first.
        pass
    with db.connection_writer() as conn:
        if received_uuid is not None:
            inbox_insert(conn, [received_uuid], now)
        return [_existing_outbox_id(conn, entry) or
                _insert_outbox(conn, entry, now, retry_in, owner)
                for entry in entries]


def outbox_add_in(conn, entries, retry_in, received_uuid=None, owner=None,
                  now=None):
    """:func:`outbox_add_many` within the caller's transaction ``conn``
    (its own write and the messages it sends: all or none).

    :raises Duplicate: ``received_uuid`` was already applied (the caller's
        transaction must end: roll it back).
    """
    return outbox_add_batch(conn, [(entries, received_uuid)], retry_in,
                            owner, now)[0]


def outbox_add_batch(conn, batch, retry_in, owner=None, now=None):
    """What several senders posted at once (a group commit), within
    ``conn``'s transaction: one INSERT for all their received messages'
    marks and one for all their rows, whatever the batch's size, where the
    database returns the ids of a multi-row INSERT (PostgreSQL, MariaDB,
    SQLite); a row at a time elsewhere.

    :param batch: ``[(entries, received_uuid or None)]``, as
        :func:`outbox_add_in` takes each.
    :returns: the row ids of each item's entries, in order.
    :raises Duplicate: a received message was already applied (the
        transaction must end; its items are then recorded one by one).
    """
    now = now or timeutils.utcnow()
    received = [uuid for _entries, uuid in batch if uuid is not None]
    if received:
        inbox_insert(conn, received, now)
    entries = [entry for item_entries, _uuid in batch
               for entry in item_entries]
    if not entries:
        return [[] for _item in batch]
    if conn.dialect.insert_executemany_returning_sort_by_parameter_order:
        ids = list(conn.execute(_OUTBOX_INSERT_IDS, [
            _outbox_values(entry, now, retry_in, owner)
            for entry in entries]).scalars())
    else:
        ids = [_insert_outbox(conn, entry, now, retry_in, owner)
               for entry in entries]
    found, start = [], 0
    for item_entries, _uuid in batch:
        found.append(ids[start:start + len(item_entries)])
        start += len(item_entries)
    return found


def _outbox_values(entry, now, retry_in, owner):
    message_uuid, neighbour, direction, message = entry
    return {'message_uuid': message_uuid, 'neighbour': neighbour,
            'direction': direction, 'message': message, 'attempts': 0,
            'created_at': now, 'owner': owner,
            'next_attempt_at': now + datetime.timedelta(seconds=retry_in)}


def _insert_outbox(conn, entry, now, retry_in, owner=None):
    result = conn.execute(_OUTBOX_INSERT,
                          _outbox_values(entry, now, retry_in, owner))
    return result.inserted_primary_key[0]


def _existing_outbox_id(conn, entry):
    message_uuid, neighbour = entry[0], entry[1]
    return conn.execute(sa.select(_OUTBOX.c.id).where(
        _OUTBOX.c.message_uuid == message_uuid,
        _OUTBOX.c.neighbour == neighbour)).scalar()


def outbox_delete(db, row_ids):
    """Delete the rows with the given ids, in one statement."""
    with db.connection_writer() as conn:
        conn.execute(_OUTBOX_DELETE, {'o_ids': list(row_ids)})


def outbox_postpone(db, row_id, retry_in):
    """Count a failed attempt and push the next one ``retry_in`` s away."""
    with db.connection_writer() as conn:
        conn.execute(_OUTBOX.update().where(_OUTBOX.c.id == row_id).values(
            attempts=_OUTBOX.c.attempts + 1,
            next_attempt_at=timeutils.utcnow() + datetime.timedelta(
                seconds=retry_in)))


def outbox_set_attempts(db, row_id, attempts):
    """Record how many sends of a row have begun (for an original
    neighbour, one that may have been taken is never begun again)."""
    with db.connection_writer() as conn:
        conn.execute(_OUTBOX.update().where(_OUTBOX.c.id == row_id).values(
            attempts=attempts))


def outbox_all(db, owner=None):
    """Every unconfirmed message, oldest first, as dicts; with ``owner``,
    only that daemon's and those of no daemon (rows of before 0008)."""
    query = sa.select(_OUTBOX).order_by(_OUTBOX.c.id)
    if owner is not None:
        query = query.where(sa.or_(_OUTBOX.c.owner == owner,
                                   _OUTBOX.c.owner.is_(None)))
    with db.connection_reader() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def outbox_owners(db):
    """The daemons (hosts) that own rows, but NULL."""
    with db.connection_reader() as conn:
        return set(conn.execute(sa.select(_OUTBOX.c.owner).where(
            _OUTBOX.c.owner.isnot(None)).distinct()).scalars())


def outbox_adopt(db, owner, gone):
    """Take over the rows of the daemons ``gone`` (their heartbeat
    stopped); returns them, oldest first.  Two daemons adopting at once
    take each row once (the UPDATE names its old owner)."""
    with db.connection_writer() as conn:
        rows = [dict(row._mapping) for row in conn.execute(
            sa.select(_OUTBOX).where(_OUTBOX.c.owner.in_(list(gone)))
            .order_by(_OUTBOX.c.id))]
        taken = []
        for row in rows:
            updated = conn.execute(_OUTBOX.update().where(
                _OUTBOX.c.id == row['id'],
                _OUTBOX.c.owner == row['owner']).values(owner=owner))
            if updated.rowcount == 1:
                taken.append(dict(row, owner=owner))
        return taken


def inbox_contains(db, message_uuid):
    with db.connection_reader() as conn:
        return conn.execute(_INBOX_LOOKUP,
                            {'i_uuid': message_uuid}).first() is not None


def inbox_add(db, message_uuid):
    """Mark a received message applied. :raises Duplicate: already was."""
    with db.connection_writer() as conn:
        inbox_insert(conn, [message_uuid])


def inbox_purge(db, older_than_seconds):
    """Forget applied uuids, and claims, older than the given age; returns
    how many uuids."""
    limit = timeutils.utcnow() - datetime.timedelta(seconds=older_than_seconds)
    with db.connection_writer() as conn:
        conn.execute(_CLAIMS.delete().where(_CLAIMS.c.claimed_at < limit))
        return conn.execute(_INBOX.delete().where(
            _INBOX.c.created_at < limit)).rowcount


# -- claims: what is being applied, and by whom -----------------------------

class Claim(object):
    """What :func:`claim` found: ``applied`` (the message is in the
    inbox), ``mine`` (this owner may apply it now), or ``holder`` (whose
    live claim it is; the copy must wait)."""

    __slots__ = ('applied', 'mine', 'holder')

    def __init__(self, applied=False, mine=False, holder=None):
        self.applied = applied
        self.mine = mine
        self.holder = holder


_CLAIM_INSERT = _CLAIMS.insert()
_CLAIM_TAKE = _CLAIMS.update().where(
    _CLAIMS.c.message_uuid == sa.bindparam('c_uuid'),
    _CLAIMS.c.claimed_by == sa.bindparam('c_old_owner'),
    _CLAIMS.c.claimed_at == sa.bindparam('c_old_at')).values(
    claimed_by=sa.bindparam('c_owner'), claimed_at=sa.bindparam('c_now'))
_CLAIMS_RENEW = _CLAIMS.update().where(
    _CLAIMS.c.claimed_by == sa.bindparam('c_owner'),
    _CLAIMS.c.message_uuid.in_(sa.bindparam('c_uuids', expanding=True))
).values(claimed_at=sa.bindparam('c_now'))
_CLAIM_DELETE = _CLAIMS.delete().where(
    _CLAIMS.c.message_uuid == sa.bindparam('c_uuid'),
    _CLAIMS.c.claimed_by == sa.bindparam('c_owner'))


def claim(db, message_uuid, owner, stale_after, is_stale_mine):
    """Claim a received message before applying it, in one transaction
    that also looks at the inbox.

    :param owner: this daemon's claim token.
    :param stale_after: seconds after which another owner's claim that
        was not renewed is taken over (its daemon died).
    :param is_stale_mine: ``(uuid) -> bool``: whether a claim of this very
        owner is left over (not being applied by any of its threads).
    :returns: a :class:`Claim`.
    """
    try:
        return _claim(db, message_uuid, owner, stale_after, is_stale_mine)
    except db_exc.DBDuplicateEntry:
        # Claimed by another delivery between the look and the insert
        # (rolled back, PostgreSQL's transaction being over): look again.
        return _claim(db, message_uuid, owner, stale_after, is_stale_mine)


def _claim(db, message_uuid, owner, stale_after, is_stale_mine):
    with db.connection_writer() as conn:
        return claims_in(conn, [message_uuid], owner, stale_after,
                         is_stale_mine)[0]


# What is known of some uuids, in one statement: applied (in the inbox)
# or claimed, by whom and when.
# (The claims first: the result's column types are the first SELECT's.)
_CLAIM_LOOK = sa.union_all(
    sa.select(_CLAIMS.c.message_uuid, sa.literal('claimed'),
              _CLAIMS.c.claimed_by, _CLAIMS.c.claimed_at).where(
        _CLAIMS.c.message_uuid.in_(sa.bindparam('c_uuids2',
                                                expanding=True))),
    sa.select(_INBOX.c.message_uuid, sa.literal('applied'),
              sa.cast(sa.null(), _CLAIMS.c.claimed_by.type),
              sa.cast(sa.null(), _CLAIMS.c.claimed_at.type)).where(
        _INBOX.c.message_uuid.in_(sa.bindparam('c_uuids', expanding=True))))


def _first_claim_statement(dialect_name):
    """``INSERT`` of a claim for ``c_uuid`` unless the message is in the
    inbox, that does nothing (instead of failing) when a claim exists:
    a first claim, the usual case, in one statement; or None where the
    dialect has no such INSERT."""
    values = sa.select(
        sa.bindparam('c_uuid', type_=_CLAIMS.c.message_uuid.type),
        sa.bindparam('c_owner', type_=_CLAIMS.c.claimed_by.type),
        sa.bindparam('c_now', type_=_CLAIMS.c.claimed_at.type)).where(
        ~sa.exists().where(_INBOX.c.message_uuid == sa.bindparam('c_uuid')))
    columns = ['message_uuid', 'claimed_by', 'claimed_at']
    if dialect_name == 'postgresql':
        return sa_postgresql.insert(_CLAIMS).from_select(
            columns, values).on_conflict_do_nothing()
    if dialect_name == 'sqlite':
        return sa_sqlite.insert(_CLAIMS).from_select(
            columns, values).on_conflict_do_nothing()
    if dialect_name == 'mysql':
        return _CLAIMS.insert().prefix_with('IGNORE').from_select(
            columns, values.select_from(sa.text('DUAL')))
    return None


_FIRST_CLAIM = {name: _first_claim_statement(name)
                for name in ('postgresql', 'sqlite', 'mysql')}


def _claimed_first(conn, message_uuid, owner, now):
    """Whether a first claim of ``message_uuid`` was taken in one
    statement (no claim and no mark there); False when there was one,
    or when this database cannot say so in one statement (then
    :func:`claims_in` looks)."""
    statement = _FIRST_CLAIM.get(conn.dialect.name)
    if statement is None:
        return False
    return conn.execute(statement, {'c_uuid': message_uuid,
                                    'c_owner': owner,
                                    'c_now': now}).rowcount == 1


def claims_in(conn, message_uuids, owner, stale_after, is_stale_mine,
              now=None):
    """Claim several distinct messages within ``conn``'s transaction:
    one look at the inbox and the claims for all, one INSERT for the
    claims that are new (two statements for a first claim, however many
    there are), a takeover each for stale ones.  Returns their
    :class:`Claim`, in order.

    A single message (a leaf's build, claimed with its first rows) is
    first claimed in one statement that also looks at the inbox; only
    when a claim or a mark is there does the look follow.

    :raises DBDuplicateEntry: one was claimed by another transaction
        meanwhile (this one must end).
    """
    now = now or timeutils.utcnow()
    if len(message_uuids) == 1 and _claimed_first(
            conn, message_uuids[0], owner, now):
        return [Claim(mine=True)]
    applied, held = set(), {}
    for uuid, kind, by, at in conn.execute(_CLAIM_LOOK, {
            'c_uuids': list(message_uuids),
            'c_uuids2': list(message_uuids)}):
        if kind == 'applied':
            applied.add(uuid)
        else:
            held[uuid] = (by, at)
    fresh = [u for u in message_uuids if u not in applied and u not in held]
    if fresh:
        conn.execute(_CLAIM_INSERT, [{'message_uuid': u, 'claimed_by': owner,
                                      'claimed_at': now} for u in fresh])
    return [Claim(applied=True) if u in applied else
            _take_over(conn, u, held[u], owner, stale_after, is_stale_mine,
                       now) if u in held else Claim(mine=True)
            for u in message_uuids]


def _take_over(conn, message_uuid, held, owner, stale_after, is_stale_mine,
               now):
    """A claim that exists: this owner's when stale (or its own left
    over), else whose it is."""
    old_owner, old_at = held
    taken_over = (is_stale_mine(message_uuid) if old_owner == owner
                  else old_at < now - datetime.timedelta(
                      seconds=stale_after))
    if not taken_over:
        return Claim(holder=old_owner)
    updated = conn.execute(_CLAIM_TAKE, {
        'c_uuid': message_uuid, 'c_old_owner': old_owner,
        'c_old_at': old_at, 'c_owner': owner, 'c_now': now}).rowcount
    return Claim(mine=True) if updated == 1 else Claim(holder=old_owner)


def claims_renew(db, owner, message_uuids):
    """Keep this owner's claims of ``message_uuids`` alive."""
    with db.connection_writer() as conn:
        conn.execute(_CLAIMS_RENEW, {'c_owner': owner,
                                     'c_uuids': list(message_uuids),
                                     'c_now': timeutils.utcnow()})


def claim_release(db, message_uuid, owner):
    """Give up a claim (the message was not applied: a copy may go on)."""
    with db.connection_writer() as conn:
        conn.execute(_CLAIM_DELETE, {'c_uuid': message_uuid,
                                     'c_owner': owner})
