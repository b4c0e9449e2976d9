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
the SELECT and the INSERT, or a second copy of a message in the same
batch), its updates are applied again one by one, so one bad update cannot
take the others down with it; their marks are then left to the inbox.
"""

import threading

from oslo_log import log as logging

from nova_cells.db import instances as db_instances
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
            if isinstance(result, _GUARD_ERRORS):
                LOG.info('Dropping out-of-order update of %s from %s: %s',
                         pending.instance.uuid, pending.cell_name, result)
                result = None
            pending.result = result

    def _apply_one_by_one(self, batch):
        for pending in batch:
            try:
                pending.result = instances.update_at_top(
                    self.db, pending.instance, pending.cell_name)
            except Exception as exc:  # noqa - the caller sees its own error
                pending.error = exc
