"""Group commit of the updates that reach the top (``instance_update_at_top``).

Every instance change in the tree ends as one update of the top's
``instances`` table; applied one per transaction, the top spent three
database round trips and a commit on each and could not absorb a busy
tree (``tools/bench/sync.py``: ~540 updates/s on PostgreSQL here, where the
server commits ~2,000 single-row transactions a second).

:class:`TopWriter` keeps the handler's synchronous contract (it returns
once its update is committed, with the same result as
:func:`nova_cells.instances.update_at_top`) but lets concurrent handlers
share a transaction: the first to arrive becomes the leader and applies
everything queued meanwhile, in arrival order, in one transaction with one
SELECT for all rows; the others wait for their result.  Under no load a
batch is one update, so nothing waits for a batch to fill.

The inbox marks of the received messages (durable forwarding) are
written in the batch's transaction too: an update and the record that it
was applied commit together, and the top spends no transaction of its own
on each mark.

If a batch fails as a whole (say a row created by someone else between
the SELECT and the INSERT, or a second copy of a message already applied,
which the inbox did not look up first), its updates are applied again one
by one, each with its mark, so one bad update cannot take the others down
with it and a copy is found and not applied twice.
"""

import threading

from oslo_log import log as logging

from nova_cells.db import instances as db_instances
from nova_cells.db import outbox as db_outbox
from nova_cells import delivery
from nova_cells import exception
from nova_cells import instances

__all__ = ['TopWriter']

LOG = logging.getLogger(__name__)

_GUARD_ERRORS = (exception.UnexpectedVMStateError,
                 exception.UnexpectedTaskStateError)


class _Pending(object):
    __slots__ = ('instance', 'cell_name', 'receipt', 'done', 'result',
                 'error')

    def __init__(self, instance, cell_name, receipt=None):
        self.instance = instance
        self.cell_name = cell_name
        self.receipt = receipt
        self.done = threading.Event()
        self.result = None
        self.error = None


class TopWriter(object):
    """Apply updates at the top, many per transaction when they come
    together.

    :param db: the top cell's :class:`~nova_cells.db.api.Database`.
    :param max_batch: most updates in one transaction (bounds its length
        and the time its row locks are held).
    """

    def __init__(self, db, max_batch=200):
        self.db = db
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue = []
        self._leading = False

    def update_at_top(self, instance, cell_name):
        """As :func:`nova_cells.instances.update_at_top` (the row, or None
        when dropped as out of order), committed before it returns, with
        the mark of the ``instance_update_at_top`` this thread applies."""
        pending = _Pending(instance, cell_name, delivery.receipt_to_record(
            'instance_update_at_top'))
        with self._lock:
            self._queue.append(pending)
            lead = not self._leading
            self._leading = True
        if lead:
            self._lead()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _lead(self):
        """Apply batches until the queue is empty, then step down."""
        while True:
            with self._lock:
                batch = self._queue[:self.max_batch]
                del self._queue[:self.max_batch]
                if not batch:
                    self._leading = False
                    return
            try:
                self._apply(batch)
            finally:
                for pending in batch:
                    pending.done.set()

    def _apply(self, batch):
        receipts = [p.receipt for p in batch if p.receipt is not None]
        try:
            results = db_instances.apply_top_updates(
                self.db, [instances.top_update(p.instance, p.cell_name)
                          for p in batch],
                marks=[receipt.uuid for receipt in receipts])
        except Exception as exc:  # noqa - retried one by one below
            if len(batch) > 1:
                LOG.info('A batch of %d updates at the top failed (%s); '
                         'applying them one by one', len(batch), exc)
            self._apply_one_by_one(batch)
            return
        for receipt in receipts:
            receipt.recorded = True
        for pending, result in zip(batch, results):
            pending.result = self._row_or_dropped(pending, result)

    def _apply_one_by_one(self, batch):
        handled = set()
        for pending in batch:
            receipt = pending.receipt
            try:
                if receipt is not None and receipt.uuid in handled:
                    # A second copy in this batch: the first may have taken
                    # nova's path, whose mark the inbox writes only later.
                    pending.result = self._already_applied(receipt)
                    continue
                pending.result = self._apply_alone(pending)
            except Exception as exc:  # noqa - the caller sees its own error
                pending.error = exc     # (a copy may still apply it)
                continue
            if receipt is not None:
                handled.add(receipt.uuid)

    def _apply_alone(self, pending):
        """One update in a transaction of its own, with its mark.

        The inbox does not look an update up before it comes here
        (``records_its_receipt``): a second copy of a message already
        applied is found by its mark, here, and not applied again.  An
        update that fails even alone (a row created meanwhile by another
        writer) takes nova's path, after a look at the inbox.
        """
        receipt = pending.receipt
        if receipt is None:
            return instances.update_at_top(self.db, pending.instance,
                                           pending.cell_name)
        try:
            result, = db_instances.apply_top_updates(
                self.db, [instances.top_update(pending.instance,
                                               pending.cell_name)],
                marks=[receipt.uuid])
        except db_outbox.Duplicate:
            return self._already_applied(receipt)
        except Exception:  # noqa - nova's path below
            if db_outbox.inbox_contains(self.db, receipt.uuid):
                return self._already_applied(receipt)
            return instances.update_at_top(self.db, pending.instance,
                                           pending.cell_name)
        receipt.recorded = True
        return self._row_or_dropped(pending, result)

    @staticmethod
    def _row_or_dropped(pending, result):
        """An update's result from ``apply_top_updates``: its row, or None
        (logged) when its guard dropped it as out of order."""
        if isinstance(result, _GUARD_ERRORS):
            LOG.info('Dropping out-of-order update of %s from %s: %s',
                     pending.instance.uuid, pending.cell_name, result)
            return None
        return result

    @staticmethod
    def _already_applied(receipt):
        LOG.info('Update %s was already applied here; confirming it again',
                 receipt.uuid)
        receipt.recorded = True
        return None
