"""At-least-once forwarding with an exactly-once effect (beyond nova).

nova cast a build or an instance update to the next cell and forgot it:
a daemon killed at the wrong moment, or a broker restart, lost it and the
instance stayed in "scheduling" forever.  Here, for the methods in
:data:`DURABLE_METHODS`:

* the sender writes the message to its ``cell_outbox`` before sending it
  (:meth:`Outbox.post`), and a sender thread of the neighbour link sends
  it as an RPC *call* of the same ``process_message`` (the wire body is the
  original's; an original nova-cells answers a call too).  The row is
  deleted when the neighbour answers; otherwise it is sent again every
  ``outbox_resend_interval`` seconds, after a restart too.  A link has
  :data:`~nova_cells.transport.ordering.LANES` sender threads; the
  messages of one instance always take the same lane, which sends in
  order, one at a time, so the updates of an instance are never reordered
  while different instances travel side by side.
* the receiver (:meth:`Inbox.receive`) applies a message uuid once: it
  remembers it in ``cell_inbox``, in the same transaction as the onward
  ``cell_outbox`` row when it forwards, and answers a copy it has already
  applied without applying it again.  When applying fails because its own
  database is unusable, it answers with an error, so the sender keeps the
  message and sends it again later.
"""

import collections
import contextlib
import threading
import time

from oslo_db import exception as db_exc
from oslo_log import log as logging
from oslo_serialization import jsonutils
from oslo_utils import uuidutils
import sqlalchemy.exc as sa_exc

from nova_cells import api_methods
from nova_cells import context as cells_context
from nova_cells.db import outbox as db_outbox
from nova_cells import exception
from nova_cells.db import group_commit
from nova_cells.transport import errors as transport_errors
from nova_cells.transport import ordering

__all__ = ['DURABLE_METHODS', 'SECRET_ARGUMENTS', 'for_storage',
           'is_durable', 'Outbox', 'Inbox', 'SELF', 'Scope', 'scope_of',
           'note_failure', 'receipt_to_record', 'AppliedAlready',
           'claim_late', 'pending_claim']

LOG = logging.getLogger(__name__)

# The methods whose loss leaves an instance wrong for good: builds going
# down, instance state going up, deletes (declared with the RPC methods
# that send them).
DURABLE_METHODS = api_methods.DURABLE_METHODS

# Errors that mean "this cell cannot apply anything right now" (its own
# database is down), as opposed to "this message is wrong".
_RETRIABLE = (db_exc.DBConnectionError, db_exc.DBDeadlock,
              sa_exc.OperationalError, sa_exc.InterfaceError)

# Sender threads per neighbour link (messages of one instance share one).
# The "direction" of the journal's rows: messages a cell sent itself.
SELF = 'self'


# How long an unusable database may hold a post before it gives up.
_DB_WAIT_SECONDS = 60.0
# Applied uuids are remembered this long (a resend comes within minutes).
INBOX_KEEP_SECONDS = 24 * 3600
# A claim not renewed for this long is its dead daemon's (renewed every
# third of it while the message is applied).
CLAIM_STALE_SECONDS = 60


# Arguments that hold a secret of the user's: kept in memory for the sends,
# never written to cell_outbox (doc/reliability.rst, "Secrets").
SECRET_ARGUMENTS = ('admin_password', 'new_pass')


def _without_secrets(value):
    """A copy of ``value`` with every :data:`SECRET_ARGUMENTS` key set to
    None, at any depth (a build's ``build_inst_kwargs``, each part of a
    split build)."""
    if isinstance(value, dict):
        return {k: None if k in SECRET_ARGUMENTS and v is not None
                else _without_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def for_storage(json_message):
    """The message JSON as ``cell_outbox`` may keep it: the user's
    ``admin_password`` stripped (nova-api passed it in clear; it must not
    sit in a database).  Most messages hold none and are returned as
    they are, unparsed."""
    if not any('"%s"' % key in json_message for key in SECRET_ARGUMENTS):
        return json_message
    data = jsonutils.loads(json_message)
    data['method_kwargs'] = _without_secrets(data.get('method_kwargs'))
    return jsonutils.dumps(data)


def is_durable(message):
    """True for a cast whose loss would leave an instance wrong."""
    return (message.method_name in DURABLE_METHODS
            and not message.need_response and not message.fanout
            and message.message_type in ('targeted', 'broadcast'))


def is_retriable(exc):
    return isinstance(exc, _RETRIABLE + (exception.MessageNotTaken,))


class AppliedAlready(Exception):
    """Raised inside a transaction that claims a message found applied
    (:class:`PendingClaim`): the transaction must not commit, and there
    is nothing left to do."""


class _Receipt(object):
    """A received message being applied.

    ``held``: its delivery stays unacknowledged until it is processed (the
    kombu consumer): the broker delivers it again if this daemon dies
    first.  ``claimed``: it was claimed here (its claim is given back if
    it cannot be applied now).  ``late``: not claimed on arrival; its
    handler claims it before its first effect, whichever path it takes
    (:func:`claim_late`, :func:`pending_claim`).
    """

    __slots__ = ('uuid', 'method_name', 'recorded', 'error', 'held',
                 'inbox', 'claimed', 'late')

    def __init__(self, uuid, method_name, inbox=None, held=False):
        self.uuid = uuid
        self.method_name = method_name
        self.recorded = False
        self.error = None
        self.inbox = inbox
        self.held = held
        self.claimed = False
        self.late = False


class Scope(object):
    """What the effects of one message are recorded with, carried by the
    message and by the request context its handler passes on (so every
    message the handler makes carries it too,
    :attr:`nova_cells.context.RequestContext.delivery_scope`).

    ``receipt``: the received message being applied (None when the
    message was made here, or once it has been applied).  ``posts``: the
    outbox posts held for one transaction (:meth:`Outbox.together`,
    :meth:`Outbox.collecting`), or None when each post is recorded at
    once.  One thread applies a message; its scope is not shared with
    another thread's.
    """

    __slots__ = ('receipt', 'posts')

    def __init__(self, receipt=None):
        self.receipt = receipt
        self.posts = None

    def unmarked_receipt(self):
        """The receipt, when it is not marked applied yet (else None)."""
        receipt = self.receipt
        if receipt is None or receipt.recorded:
            return None
        return receipt


def scope_of(ctxt):
    """The scope a request context carries (None: none)."""
    return getattr(ctxt, 'delivery_scope', None)


def note_failure(scope, exc):
    """Called where a handler's error is caught: if it means the message
    of ``scope`` could not be applied for now, the receipt will ask for a
    resend."""
    receipt = scope.receipt if scope is not None else None
    if receipt is not None and receipt.error is None and is_retriable(exc):
        receipt.error = exc


def receipt_to_record(scope, method_name):
    """The receipt in ``scope``, for a write that is that message's whole
    effect to mark it applied in its own transaction (then set
    ``recorded``); None when there is none to mark.

    Only when the write is of the received message's method (a build
    passed down, an update passed up or applied at the top).  A message
    the handler sends along the way (a leaf reporting the first of several
    instances it builds) is not the whole effect, so the receipt waits for
    the handler to finish.
    """
    receipt = scope.unmarked_receipt() if scope is not None else None
    if receipt is None or receipt.method_name != method_name:
        return None
    return receipt


def relays_directly(message):
    """True when ``message`` is the one being applied, passing through,
    and its delivery is held by the broker until processed: then sending
    it on, confirmed, before the acknowledgement is durable enough (a
    daemon dying between the two gets it again and sends it again; the
    cell that applies it finds the copy), and no outbox row is needed."""
    receipt = message.scope.unmarked_receipt()
    return (receipt is not None and receipt.held
            and receipt.uuid == message.uuid and message.passes_through())


def relayed(message):
    """``message`` was sent on (:func:`relays_directly`): its whole
    effect here, with nothing to mark."""
    receipt = message.scope.unmarked_receipt()
    if receipt is not None and receipt.uuid == message.uuid:
        receipt.recorded = True


def _unclaimed(scope):
    """The receipt of ``scope`` when it can be claimed and is not yet."""
    receipt = scope.receipt if scope is not None else None
    if receipt is None or receipt.claimed or receipt.inbox is None:
        return None
    return receipt


def claim_late(scope):
    """Claim the message of ``scope`` alone, when its handler claims it
    late (:attr:`_Receipt.late`) and it was not claimed yet, on a path
    other than the one that claims it with its first write (a leaf that
    gained a child and sends the build on, or fails it).  One left
    unclaimed on arrival because its effect's own transaction finds a
    copy (an onward row with the mark) stays so.

    :returns: False when it was applied already (nothing to do).
    :raises MessageNotTaken: a copy is being applied.
    """
    receipt = _unclaimed(scope)
    if receipt is None or not receipt.late:
        return True
    return receipt.inbox.claim_for(receipt)


def pending_claim(scope):
    """The claim the message of ``scope`` still needs, to be taken in the
    transaction of its first write (a :class:`PendingClaim`); None when
    there is none to take (claimed already, or not a received durable
    message)."""
    receipt = _unclaimed(scope)
    return None if receipt is None else PendingClaim(receipt)


class PendingClaim(object):
    """A received message's claim, taken with its handler's first write
    (a leaf claims a build in the transaction of the first instance's
    rows): one transaction less than claiming it on arrival, and a copy
    that arrives meanwhile is refused all the same, since that transaction
    cannot commit past a live claim."""

    __slots__ = ('receipt',)

    def __init__(self, receipt):
        self.receipt = receipt

    def within(self, conn):
        """Claim in the caller's transaction ``conn``.

        :raises AppliedAlready: the message was applied (roll back).
        :raises MessageNotTaken: a copy is being applied.
        """
        if not self.receipt.inbox.claim_in(conn, self.receipt):
            raise AppliedAlready(self.receipt.uuid)

    def forget(self):
        """The transaction of :meth:`within` was rolled back: the claim it
        counted is not held."""
        self.receipt.inbox.forget(self.receipt)

    def alone(self):
        """Claim in a transaction of its own (the caller's, which may
        have claimed it, was rolled back); raises as :meth:`within`.
        The rolled-back claim is forgotten first, or this delivery would
        find itself applying the message (a claim this daemon left over
        from an earlier delivery is taken over only when none of its
        deliveries applies it)."""
        self.forget()
        if not self.receipt.inbox.claim_for(self.receipt):
            raise AppliedAlready(self.receipt.uuid)


def _retry_db(action, what, wait=_DB_WAIT_SECONDS, sleep=time.sleep):
    """Run ``action`` until the database answers, for up to ``wait`` s."""
    deadline = time.monotonic() + wait
    delay = 0.25
    while True:
        try:
            return action()
        except _RETRIABLE as exc:
            if time.monotonic() >= deadline:
                raise exception.MessageNotTaken(
                    uuid=what, reason='database: %s' % exc.__class__.__name__)
            LOG.warning('Database unusable while recording %s (%s); '
                        'retrying', what, exc.__class__.__name__)
            sleep(delay)
            delay = min(delay * 2, 5.0)


class Inbox(object):
    """Applies each received durable message once.

    Before a message whose effect is not one transaction is applied here
    (a build this cell schedules, with its retries; a leaf's rows and
    hand-off), it is *claimed* (``cell_claims``, one transaction with the
    look at the inbox), and the claim is renewed while it is applied.  A
    copy that arrives meanwhile (the sender gave up waiting and sent it
    again) finds the live claim and is not applied: it is refused with
    :class:`~nova_cells.exception.MessageNotTaken`, so its sender keeps it
    and finds it applied later.  A claim no longer renewed (its daemon
    died) is taken over after ``stale_after`` seconds; one left by this
    daemon, by a delivery that no thread is applying any more, at once.

    :param owner: this daemon's claim token (a fresh one by default).
    :param stale_after: seconds without renewal after which a claim is
        another daemon's no more.
    """

    def __init__(self, db, owner=None, stale_after=CLAIM_STALE_SECONDS):
        self.db = db
        self.owner = owner or 'nova-cells-%s' % uuidutils.generate_uuid()
        self.stale_after = stale_after
        self._applying = collections.Counter()
        self._lock = threading.Lock()
        self._keeper = None
        self._stopping = threading.Event()
        # Claims asked at once share a transaction (a cell with children
        # that may build itself claims every build it receives).
        self._claims = group_commit.GroupCommit(self._claim_batch)

    def receive(self, message, held=False):
        """Process ``message`` unless already applied.

        A message that only passes through, or whose handler here writes
        its mark with its effect (:meth:`finds_its_copies`), is neither
        looked up nor claimed first: a copy already applied is refused
        when the mark is written, in the effect's own transaction.  One
        whose handler claims it late (:meth:`claims_late`: a leaf's build)
        is claimed by the handler, with its first write.

        :param held: its delivery is acknowledged only once processed
            (see :func:`relays_directly`).
        :raises MessageNotTaken: it could not be applied now (the sender
            keeps it and sends it again), or a copy is being applied here.
        """
        receipt = _Receipt(message.uuid, message.method_name, self, held)
        scope = Scope(receipt)
        message.apply_in(scope)
        # The messages that find their copies (updates at the top, and
        # whatever passes through: most of them) are asked nothing more.
        if not message.finds_its_copies():
            receipt.late = message.claims_late()
            if not receipt.late and not self.claim_for(receipt):
                LOG.info('%s was already applied here; confirming it '
                         'again', message.describe())
                return None
        try:
            return self._apply(message, scope)
        except exception.MessageNotTaken:
            if receipt.claimed:
                self._release(message.uuid)
            raise
        finally:
            if receipt.claimed:
                self._let_go(message.uuid)

    def claim_for(self, receipt):
        """Claim the receipt's message (:func:`claim_late`); False when
        it was applied already.  :raises MessageNotTaken: a live claim of
        another delivery holds it."""
        return self._claimed(receipt, self._claim(receipt.uuid))

    def forget(self, receipt):
        """A claim counted by :meth:`claim_in` whose transaction was
        rolled back is not held: not counted, not given back (the row
        there, if any, is another delivery's)."""
        if receipt.claimed:
            receipt.claimed = False
            self._let_go(receipt.uuid)

    def claim_in(self, conn, receipt):
        """:meth:`claim_for` in the caller's transaction ``conn`` (which
        then must not commit when this returns False or raises).  The
        delivery counts as applying the message from here on, so that a
        copy in this daemon finds the claim live even before ``conn``
        commits.

        :raises MessageNotTaken: a copy holds the claim (its insert was
            refused: ``conn`` must end).
        """
        try:
            claim, = db_outbox.claims_in(conn, [receipt.uuid], self.owner,
                                         self.stale_after, self._left_over)
        except db_exc.DBDuplicateEntry:
            raise exception.MessageNotTaken(
                uuid=receipt.uuid, reason='a copy claimed it meanwhile')
        return self._claimed(receipt, claim)

    def _claimed(self, receipt, claim):
        """Bookkeeping of a claim found or taken: the delivery counts as
        applying the message once (a claim taken again, after the
        transaction that took it first was rolled back, is not counted
        twice)."""
        if claim.applied:
            receipt.recorded = True
            return False
        if not claim.mine:
            LOG.info('Message %s is being applied here by %s; its copy '
                     'waits', receipt.uuid, claim.holder)
            raise exception.MessageNotTaken(uuid=receipt.uuid,
                                            reason='a copy is being applied')
        if not receipt.claimed:
            receipt.claimed = True
            with self._lock:
                self._applying[receipt.uuid] += 1
                self._start_keeper()
        return True

    def _let_go(self, message_uuid):
        with self._lock:
            self._applying[message_uuid] -= 1
            if not self._applying[message_uuid]:
                del self._applying[message_uuid]

    def _apply(self, message, scope):
        receipt = scope.receipt
        try:
            result = message.process()
        finally:
            # Applied: what the handler's messages still do (a thread it
            # started) is not this message's effect.
            scope.receipt = None
        if receipt.error is not None:
            raise exception.MessageNotTaken(
                uuid=message.uuid, reason=receipt.error.__class__.__name__)
        if not receipt.recorded:
            self._remember(message.uuid)
        return result

    def _claim(self, message_uuid):
        try:
            return self._claims.submit(message_uuid)
        except _RETRIABLE as exc:
            raise exception.MessageNotTaken(
                uuid=message_uuid,
                reason='database: %s' % exc.__class__.__name__)

    def _claim_batch(self, batch):
        """Claims asked at once, in one transaction; a copy of a message
        claimed earlier in the batch is held by it.  If the transaction
        fails (a claim taken meanwhile by another daemon), each alone."""
        group_commit.together_or_alone(
            batch, self._claim_together,
            lambda message_uuid: db_outbox.claim(
                self.db, message_uuid, self.owner, self.stale_after,
                self._left_over),
            keep=_RETRIABLE, log=lambda count, exc: LOG.info(
                'Claiming %d messages together failed (%s); claiming '
                'them one by one', count, exc.__class__.__name__))

    def _claim_together(self, uuids):
        """One transaction, two statements for new claims; a copy of a
        message earlier in the batch is held by it."""
        distinct = list(dict.fromkeys(uuids))
        with self.db.connection_writer() as conn:
            found = dict(zip(distinct, db_outbox.claims_in(
                conn, distinct, self.owner, self.stale_after,
                self._left_over)))
        claims, seen = [], set()
        for message_uuid in uuids:
            claims.append(db_outbox.Claim(holder=self.owner)
                          if message_uuid in seen else found[message_uuid])
            seen.add(message_uuid)
        return claims

    def _left_over(self, message_uuid):
        """A claim of this daemon that none of its threads is applying
        (a delivery that ended without a mark: taken over at once)."""
        with self._lock:
            return not self._applying[message_uuid]

    def _start_keeper(self):
        """The thread renewing this daemon's live claims (started with
        the first claim; caller holds the lock)."""
        if self._keeper is None and not self._stopping.is_set():
            self._keeper = threading.Thread(target=self._keep, daemon=True,
                                            name='inbox-claims')
            self._keeper.start()

    def _keep(self):
        while not self._stopping.wait(self.stale_after / 3.0):
            with self._lock:
                uuids = list(self._applying)
            if not uuids:
                continue
            try:
                db_outbox.claims_renew(self.db, self.owner, uuids)
            except Exception as exc:  # noqa - tried again next round
                LOG.warning('Could not renew %d claim(s): %s', len(uuids),
                            exc.__class__.__name__)

    def _release(self, message_uuid):
        try:
            db_outbox.claim_release(self.db, message_uuid, self.owner)
        except Exception as exc:  # noqa - taken over when stale anyway
            LOG.warning('Could not release the claim of %s: %s',
                        message_uuid, exc.__class__.__name__)

    def stop(self, timeout=5.0):
        """Stop renewing claims (the daemon is stopping)."""
        self._stopping.set()
        keeper = self._keeper
        if keeper is not None:
            keeper.join(timeout)

    def _remember(self, message_uuid):
        try:
            _retry_db(lambda: db_outbox.inbox_add(self.db, message_uuid),
                      message_uuid)
        except db_outbox.Duplicate:
            pass

    def purge(self, keep_seconds=INBOX_KEEP_SECONDS):
        return db_outbox.inbox_purge(self.db, keep_seconds)


def _too_large(exc):
    """The message is too large for the neighbour: refused there (its
    remote error through oslo.messaging), or here, before the send, for
    its limit or ours (the kombu driver's ``MessageTooLarge``)."""
    return (isinstance(exc, (exception.MessageTooLarge,
                             transport_errors.MessageTooLarge)) or
            getattr(exc, 'exc_type', None) == 'MessageTooLarge')


class _Item(object):
    __slots__ = ('row_id', 'uuid', 'message_type', 'json', 'ctxt', 'lane',
                 'reported', 'attempts', 'once', 'queued_at')

    def __init__(self, row_id, uuid, message_type, json_message, ctxt,
                 lane=0, attempts=0):
        self.row_id = row_id
        self.uuid = uuid
        self.message_type = message_type
        self.json = json_message
        self.ctxt = ctxt
        self.lane = lane
        self.reported = False
        # Sends begun; for an original neighbour (``once``), where one
        # that may have been taken is never begun again.
        self.attempts = attempts
        self.once = False
        # When it joined its link's queue (time.monotonic()).
        self.queued_at = None

    @classmethod
    def from_row(cls, row):
        data = jsonutils.loads(row['message'])
        ctxt = cells_context.WireContext(data.get('ctxt') or {})
        kwargs = data.get('method_kwargs')
        key = (ordering.order_key(kwargs) if isinstance(kwargs, dict)
               else None)
        lane = ordering.lane_of(key)
        return cls(row['id'], row['message_uuid'], data['message_type'],
                   row['message'], ctxt, lane, row.get('attempts') or 0)


def _stored(entries):
    """The rows keep no secret; the first sends (from memory) carry it."""
    return [entry[:3] + (for_storage(entry[3]),) for entry in entries]


class _Recorded(object):
    """Posts recorded in the outbox, to send once committed."""

    __slots__ = ('receipt', 'posts', 'entries', 'row_ids')

    def __init__(self, receipt, posts, entries, row_ids):
        self.receipt = receipt
        self.posts = posts
        self.entries = entries
        self.row_ids = row_ids


class _Link(object):
    """The ordered queue and sender thread of one neighbour link.

    A message whose lane is idle (nothing queued, nothing being sent) may
    be sent at once by the thread that recorded it (:meth:`send_now`);
    meanwhile the sender thread waits, and a send that is not confirmed
    goes back to the head of the queue, so the lane's order holds.
    """

    def __init__(self, outbox, direction, name, lane=0):
        self.outbox = outbox
        self.direction = direction
        self.name = name
        self.queue = collections.deque()
        self.cond = threading.Condition()
        self.failures = 0
        # A message is being sent by another thread (send_now).
        self.sending = False
        # No attempt before (time.monotonic()): send_now's failed.
        self.not_before = 0.0
        self.thread = threading.Thread(
            target=self._run,
            name='outbox-%s-%s-%d' % (direction, name, lane), daemon=True)
        self.thread.start()

    def push(self, item):
        item.queued_at = time.monotonic()
        with self.cond:
            self.queue.append(item)
            self.cond.notify()

    def send_now(self, item):
        """Send ``item`` in the caller's thread when the lane is idle;
        False when it is not (the caller pushes it instead).  Not
        confirmed, it is queued first, for the sender thread."""
        with self.cond:
            if self.busy() or self.outbox.stopping:
                return False
            self.sending = True
        item.queued_at = time.monotonic()
        confirmed = False
        try:
            confirmed = self.outbox.deliver(self, item)
        finally:
            with self.cond:
                self.sending = False
                if not confirmed:
                    self.failures += 1
                    self.not_before = (time.monotonic() +
                                       self.outbox.resend_interval)
                    self.queue.appendleft(item)
                # The sender thread has work only when something waits
                # (pushed meanwhile, or this item back): waking it for
                # an empty queue cost a thread switch per message.
                if self.queue:
                    self.cond.notify()
        return True

    def busy(self):
        """True while a message waits or is being sent on this lane."""
        return bool(self.queue) or self.sending

    def oldest_age(self, now):
        """Seconds the first message in the queue has waited (0: none)."""
        with self.cond:
            first = self.queue[0] if self.queue else None
        return now - first.queued_at if first is not None else 0.0

    def _next(self):
        with self.cond:
            while (not self.queue or self.sending) and \
                    not self.outbox.stopping:
                self.cond.wait()
            return None if self.outbox.stopping else self.queue[0]

    def _pause(self, seconds):
        with self.cond:
            self.cond.wait_for(lambda: self.outbox.stopping, seconds)

    def _run(self):
        while True:
            item = self._next()
            if item is None:
                return
            wait = self.not_before - time.monotonic()
            if wait > 0:
                # Its attempt by send_now was not confirmed: the next one
                # comes after the usual interval, as for the thread's own.
                self._pause(wait)
                continue
            if self.outbox.deliver(self, item):
                self.failures = 0
                with self.cond:
                    self.queue.popleft()
            else:
                self.failures += 1
                self._pause(self.outbox.resend_interval)


class _Clearer(object):
    """Deletes confirmed rows in batches, off the senders' path.

    A confirmed row not yet deleted when the daemon dies is sent again
    after the restart and dropped by the neighbour as a copy: clearing
    late is safe, and one DELETE for many rows saves a transaction per
    message.  Every half second at most: under load, one DELETE every
    0.1 s still cost each daemon a transaction for every build or two.
    """

    def __init__(self, db, interval=0.5):
        self.db = db
        self.interval = interval
        self._ids = []
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='outbox-clearer')
        self._thread.start()

    def clear(self, row_id):
        """Delete ``row_id`` with the next batch.  Only the first row of
        a batch wakes the thread (which waits for one): the others join
        it, instead of waking the thread in its pause for every
        message."""
        with self._cond:
            self._ids.append(row_id)
            if len(self._ids) == 1:
                self._cond.notify()

    def _take(self):
        with self._cond:
            while not self._ids and not self._stopping:
                self._cond.wait()
            ids, self._ids = self._ids, []
            return ids

    def _run(self):
        while True:
            ids = self._take()
            if ids:
                self._delete(ids)
            elif self._stopping:
                return
            self._pause()

    def _pause(self):
        """Let confirmations gather for ``interval`` s; a stop ends the
        pause at once (the rows confirmed by then are still deleted)."""
        with self._cond:
            self._cond.wait_for(lambda: self._stopping, self.interval)

    def _delete(self, ids):
        try:
            _retry_db(lambda: db_outbox.outbox_delete(self.db, ids),
                      '%d confirmed rows' % len(ids))
        except Exception as exc:  # noqa - sent again, dropped as copies
            LOG.warning('Could not clear %d confirmed outbox rows (%s); '
                        'they will be sent again and dropped as copies',
                        len(ids), exc)

    def stop(self, timeout=5.0):
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)


class Outbox(object):
    """Records durable messages before sending them and sends them until a
    neighbour confirms.

    :param db: this cell's :class:`~nova_cells.db.api.Database`.
    :param driver: the intercell driver (``deliver_message_to_cell``).
    :param find_neighbour: ``(direction, name) -> CellState or None``.
    :param resend_interval: seconds to wait for a confirmation, and
        between two attempts.
    """

    def __init__(self, db, driver, find_neighbour, resend_interval=10,
                 loopback=None, owner=None, alive=None, adopt_every=10.0):
        self.db = db
        self.driver = driver
        self.find_neighbour = find_neighbour
        self.resend_interval = resend_interval
        self.loopback = loopback
        self.owner = owner
        self.alive = alive
        self.adopt_every = adopt_every
        self.stopping = False
        self._links = {}
        self._lock = threading.Lock()
        self._clearer = _Clearer(db)
        # Concurrent posts share a transaction (issue 21: a busy middle
        # cell spent one per build on its onward rows).
        self._recorder = group_commit.GroupCommit(self._record_batch)
        self._adopter = None
        self._stopped = threading.Event()

    def _link(self, direction, name, lane=0):
        key = (direction, name, lane)
        with self._lock:
            link = self._links.get(key)
            if link is None:
                link = self._links[key] = _Link(self, direction, name, lane)
            return link

    def start(self):
        """Queue what an earlier run of this daemon left unconfirmed,
        oldest first; then, now and then, what daemons of this cell whose
        heartbeat stopped left (:meth:`adopt`)."""
        rows = _retry_db(lambda: db_outbox.outbox_all(self.db, self.owner),
                         'outbox')
        self._queue_rows(rows)
        if rows:
            LOG.info('Resending %d unconfirmed message(s) from the outbox',
                     len(rows))
        if self.owner is not None and self.alive is not None:
            self._adopter = threading.Thread(target=self._adopt_now_and_then,
                                             name='outbox-adopter',
                                             daemon=True)
            self._adopter.start()

    def _adopt_now_and_then(self):
        while not self._stopped.wait(self.adopt_every):
            try:
                self.adopt()
            except Exception as exc:  # noqa - tried again next round
                LOG.warning('Could not look for rows of stopped daemons: '
                            '%s', exc.__class__.__name__)

    def adopt(self):
        """Take over and send the rows of this cell's other daemons whose
        heartbeat stopped (active/active); returns how many."""
        gone = db_outbox.outbox_owners(self.db) - {self.owner} - \
            set(self.alive())
        if not gone:
            return 0
        rows = db_outbox.outbox_adopt(self.db, self.owner, gone)
        self._queue_rows(rows)
        if rows:
            LOG.warning('Took over %d unconfirmed message(s) of stopped '
                        'daemon(s) %s', len(rows), ', '.join(sorted(gone)))
        return len(rows)

    def _queue_rows(self, rows):
        for row in rows:
            try:
                item = _Item.from_row(row)
            except Exception as exc:  # noqa - one bad row must not block
                LOG.error('Dropping unreadable outbox row %s: %s',
                          row['id'], exc)
                db_outbox.outbox_delete(self.db, [row['id']])
                continue
            self._link(row['direction'], row['neighbour'],
                       item.lane).push(item)

    def stop(self):
        self.stopping = True
        self._stopped.set()
        with self._lock:
            links = list(self._links.values())
        for link in links:
            with link.cond:
                link.cond.notify_all()
        self._clearer.stop()

    def post(self, cell_state, message):
        """Record ``message`` for ``cell_state``, then queue it to send.

        The received message of its scope (if any, and not yet marked) is
        marked applied in the same transaction.  Inside :meth:`together`,
        the recording waits for the end of the block.
        """
        scope = message.scope
        if scope.posts is not None:
            scope.posts.append((cell_state, message))
            return
        self._post_all(scope, [(cell_state, message)])

    @contextlib.contextmanager
    def together(self, scope, as_effect=False):
        """Record every message of ``scope`` posted inside the block in one
        transaction when the block ends (with the received message's
        mark), so that they are forwarded all or none: a split build sent
        as several parts is never half forwarded when the daemon dies.
        Nothing is recorded when the block raises (the received message
        stays unapplied, and its sender sends it again).

        ``as_effect``: the block's messages are the received message's
        whole effect here even though their method is another (a build
        that cannot go on fails its instances at the top): they carry its
        mark, so that a second copy finds it and sends nothing again.
        """
        if scope.posts is not None:
            yield                       # already inside a block
            return
        scope.posts = posts = []
        try:
            yield
        finally:
            scope.posts = None
        if posts:
            self._post_all(scope, posts, as_effect)

    def _post_all(self, scope, posts, as_effect=False):
        receipt = self._receipt_for(scope, posts, as_effect)
        entries = self._entries(posts)
        received = receipt.uuid if receipt is not None else None
        try:
            row_ids = self._recorder.submit((_stored(entries), received))
        except db_outbox.Duplicate:
            # Another delivery of the received message got here first.
            LOG.info('%s already applied by another delivery of %s',
                     ', '.join(m.describe() for _c, m in posts), received)
            if receipt is not None:
                receipt.recorded = True
            return
        self.queue(_Recorded(receipt, posts, entries, row_ids))

    def _record_batch(self, batch):
        """Record what several threads posted at once in one transaction
        (:class:`~nova_cells.db.group_commit.GroupCommit`); if that fails
        for anything but an unusable database (a copy's mark refused, a
        row a lost commit did write), each alone, as one thread would."""
        group_commit.together_or_alone(
            batch, lambda items: _retry_db(
                lambda: self._record_together(items),
                '%d messages' % len(items)),
            lambda item: self._record_alone(*item),
            keep=exception.MessageNotTaken, log=lambda count, exc: LOG.info(
                'Recording %d messages together failed (%s); recording '
                'them one by one', count, exc.__class__.__name__))

    def _record_together(self, items):
        with self.db.connection_writer() as conn:
            return db_outbox.outbox_add_batch(conn, items,
                                              self.resend_interval,
                                              owner=self.owner)

    def _record_alone(self, stored, received):
        return _retry_db(lambda: db_outbox.outbox_add_many(
            self.db, stored, self.resend_interval, received_uuid=received,
            owner=self.owner), stored[0][0] if stored else received)

    @staticmethod
    def _receipt_for(scope, posts, as_effect):
        """The receipt the posts' record marks applied, if any."""
        if as_effect:
            return scope.unmarked_receipt()
        return next((r for r in (receipt_to_record(scope, m.method_name)
                                 for _c, m in posts) if r is not None), None)

    @staticmethod
    def _entries(posts):
        return [(message.uuid, cell_state.name, message.direction,
                 message.to_json()) for cell_state, message in posts]

    @staticmethod
    @contextlib.contextmanager
    def collecting(scope):
        """Collect what is posted in ``scope`` inside the block (for
        :meth:`record_in`), whether or not a :meth:`together` block is
        open around it."""
        outer = scope.posts
        scope.posts = posts = []
        try:
            yield posts
        finally:
            scope.posts = outer

    def record_in(self, conn, scope, posts, as_effect=False):
        """Record ``posts`` (from :meth:`collecting`) in the caller's own
        transaction ``conn``: a write here and the messages that tell of
        it, all or none (a leaf's placement and its update for the top),
        with the received message's mark when ``as_effect``.  Hand the
        result to :meth:`queue` once that transaction is committed.

        :raises db_outbox.Duplicate: the mark was there (roll back).
        """
        receipt = self._receipt_for(scope, posts, as_effect)
        entries = self._entries(posts)
        row_ids = db_outbox.outbox_add_in(
            conn, _stored(entries), self.resend_interval,
            received_uuid=receipt.uuid if receipt is not None else None,
            owner=self.owner)
        return _Recorded(receipt, posts, entries, row_ids)

    def queue(self, recorded):
        """Send what was recorded (its transaction committed).

        With a driver whose send returns once the neighbour's broker
        confirmed it (kombu), a message whose lane is idle is sent at once
        in this thread (:meth:`_Link.send_now`): a hand-over to the
        sender thread, and its wake-up, less per message.  With one whose
        send waits for the neighbour to apply it (an RPC call), the
        sender threads send, never the thread of the message applied
        here.
        """
        if recorded.receipt is not None:
            recorded.receipt.recorded = True
        at_once = getattr(self.driver, 'confirms_sends', False)
        for row_id, entry, (_cell, message) in zip(
                recorded.row_ids, recorded.entries, recorded.posts):
            lane = ordering.lane_of(ordering.order_key(message.method_kwargs))
            link = self._link(message.direction, entry[1], lane)
            item = _Item(row_id, message.uuid, message.message_type,
                         entry[3], message.outgoing_context(), lane)
            if not (at_once and link.send_now(item)):
                link.push(item)

    # -- the journal: messages this cell sends itself ------------------------

    def journal(self, message):
        """Record ``message``, which this cell originated for itself (a
        build nova-api cast), before anything happens to it: a daemon
        killed while applying it finds it again at start, and applies it
        then (:meth:`start`; the inbox refuses it if it was applied).
        Returns the row's id, for :meth:`journal_done` or
        :meth:`journal_retry`."""
        entry = (message.uuid, message.runner.our_name, SELF,
                 for_storage(message.to_json()))
        return _retry_db(lambda: db_outbox.outbox_add_many(
            self.db, [entry], self.resend_interval, owner=self.owner),
            message.uuid)[0]

    def journal_done(self, row_id):
        """The journalled message was applied (or found applied)."""
        self._clearer.clear(row_id)

    def journal_retry(self, row_id, message):
        """It could not be applied now: apply it again later, from here."""
        lane = ordering.lane_of(ordering.order_key(message.method_kwargs))
        self._link(SELF, message.runner.our_name, lane).push(_Item(
            row_id, message.uuid, message.message_type, message.to_json(),
            message.outgoing_context(), lane))

    def deliver(self, link, item):
        """One attempt; True when the neighbour confirmed (for the
        journal, when this cell applied it)."""
        try:
            if link.direction == SELF:
                self.loopback(item.json)
                self._clearer.clear(item.row_id)
                return True
            cell = self.find_neighbour(link.direction, link.name)
            if cell is None:
                raise exception.CellNotFound(cell_name=link.name)
            if not self.driver.is_ours(cell):
                return self._deliver_once(link, item, cell)
            self.driver.deliver_message_to_cell(
                cell, item.message_type, item.json, item.ctxt,
                self.resend_interval)
        except Exception as exc:  # noqa - kept and sent again
            self._not_confirmed(link, item, exc)
            return False
        self._clearer.clear(item.row_id)
        return True

    def _deliver_once(self, link, item, cell):
        """To an original nova-cells, which does not deduplicate: sent
        once, as the original sends it, and never again once its broker
        may have taken it.  The attempt is recorded before the send (a
        restart then knows), undone when the broker surely refused it
        (tried again later); an unknown outcome is reported and dropped.
        True when done with the row."""
        item.once = True
        if item.attempts:
            return self._dropped(link, item, 'an earlier attempt may have '
                                 'reached it (the daemon stopped meanwhile)')
        _retry_db(lambda: db_outbox.outbox_set_attempts(
            self.db, item.row_id, 1), item.uuid)
        item.attempts = 1
        try:
            self.driver.cast_recorded_message(
                cell, item.message_type, item.json, item.ctxt,
                self.resend_interval)
        except Exception as exc:  # noqa - sorted out below
            if getattr(exc, 'outcome_unknown', False):
                return self._dropped(link, item, str(exc))
            _retry_db(lambda: db_outbox.outbox_set_attempts(
                self.db, item.row_id, 0), item.uuid)
            item.attempts = 0
            raise
        self._clearer.clear(item.row_id)
        return True

    def _dropped(self, link, item, why):
        LOG.error('Message %s to %s, an original nova-cells, is not sent '
                  'again: %s (the original does not deduplicate; a copy '
                  'would be applied twice)', item.uuid, link.name, why)
        self._clearer.clear(item.row_id)
        return True

    def _not_confirmed(self, link, item, exc):
        if _too_large(exc) and not item.reported:
            item.reported = True
            LOG.error('Message %s is too large for %s (%s); it stays in '
                      'the outbox, tried again every %d s, until the limit '
                      'takes it ([cells] max_message_size of the cells on '
                      'its way) or an operator removes it',
                      item.uuid, link.name, str(exc).splitlines()[0],
                      self.resend_interval)
        log = LOG.warning if link.failures % 30 == 0 else LOG.debug
        log('Message %s to %s not confirmed (%s: %s); sending it again in '
            '%d s', item.uuid, link.name, exc.__class__.__name__,
            str(exc).splitlines()[0] if str(exc) else '',
            self.resend_interval)
        if item.once:
            return      # its attempts count sends begun: not a failure
        try:
            db_outbox.outbox_postpone(self.db, item.row_id,
                                      self.resend_interval)
        except _RETRIABLE:
            pass

    def holds_for(self, direction, name, message):
        """True while a message of ``message``'s instance (its lane)
        waits here for that neighbour: a message relayed at once would
        overtake it."""
        lane = ordering.lane_of(ordering.order_key(message.method_kwargs))
        link = self._links.get((direction, name, lane))
        return link is not None and link.busy()

    def link_failing(self, direction, name):
        """True while messages to that neighbour go unconfirmed: the
        scheduler sends new builds elsewhere meanwhile."""
        lanes = [self._links.get((direction, name, lane))
                 for lane in range(ordering.LANES)]
        return any(link is not None and link.failures > 0 and link.queue
                   for link in lanes)

    def links(self):
        """Each neighbour link's queue, for operators: ``{(direction,
        name): {'messages': waiting, 'oldest_seconds': the first one's
        wait, 'failing': unconfirmed sends in a row}}`` over its lanes."""
        now = time.monotonic()
        with self._lock:
            links = list(self._links.items())
        figures = {}
        for (direction, name, _lane), link in links:
            entry = figures.setdefault((direction, name), {
                'messages': 0, 'oldest_seconds': 0.0, 'failing': 0})
            entry['messages'] += len(link.queue)
            entry['oldest_seconds'] = max(entry['oldest_seconds'],
                                          link.oldest_age(now))
            entry['failing'] = max(entry['failing'], link.failures)
        return figures

    def pending(self):
        """How many messages wait for a confirmation, per link name."""
        counts = collections.Counter()
        with self._lock:
            for (_d, name, _lane), link in self._links.items():
                counts[name] += len(link.queue)
        return dict(counts)
