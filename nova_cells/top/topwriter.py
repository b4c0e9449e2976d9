"""Group commit of the updates that reach the top (``instance_update_at_top``).

Every instance change in the tree ends as one update of the top's
``instances`` table; applied one per transaction, the top spent three
database round trips and a commit on each and could not absorb a busy
tree (``tools/bench/sync.py``: ~540 updates/s on PostgreSQL here, where the
server commits ~2,000 single-row transactions a second).

:class:`TopWriter` keeps the handler's synchronous contract (it returns
once its update is committed, with the same result as
:func:`nova_cells.top.instances.update_at_top`) but lets concurrent handlers
share a transaction (:mod:`nova_cells.db.group_commit`), with one SELECT for
all rows.

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

from oslo_log import log as logging

from nova_cells.db import instances as db_instances
from nova_cells.db import outbox as db_outbox
from nova_cells.messaging import delivery
from nova_cells import exception
from nova_cells.db import group_commit
from nova_cells.top import instances

__all__ = ['TopWriter']

LOG = logging.getLogger(__name__)

_GUARD_ERRORS = (exception.UnexpectedVMStateError,
                 exception.UnexpectedTaskStateError)


class _Update(object):
    __slots__ = ('instance', 'cell_name', 'receipt', 'whole')

    def __init__(self, instance, cell_name, receipt=None, whole=None):
        self.instance = instance
        self.cell_name = cell_name
        self.receipt = receipt
        self.whole = whole


class TopWriter(object):
    """Apply updates at the top, many per transaction when they come
    together (:class:`~nova_cells.db.group_commit.GroupCommit`).

    :param db: the top cell's :class:`~nova_cells.db.api.Database`.
    :param max_batch: most updates in one transaction (bounds its length
        and the time its row locks are held).
    """

    def __init__(self, db, max_batch=200):
        self.db = db
        self._group = group_commit.GroupCommit(self._apply, max_batch)

    def update_at_top(self, instance, cell_name, scope=None, whole=None):
        """As :func:`nova_cells.top.instances.update_at_top` (the row, or None
        when dropped as out of order), committed before it returns, with
        the mark of the ``instance_update_at_top`` applied in ``scope``
        (:class:`~nova_cells.messaging.delivery.Scope`), if any.

        :param whole: ``() -> Instance``, when ``instance`` holds only
            what the update reads (see
            :func:`~nova_cells.top.instances.top_update`).
        """
        return self._group.submit(_Update(
            instance, cell_name,
            delivery.receipt_to_record(scope, 'instance_update_at_top'),
            whole))

    def _apply(self, batch):
        updates = [pending.item for pending in batch]
        receipts = [u.receipt for u in updates if u.receipt is not None]
        try:
            results = db_instances.apply_top_updates(
                self.db, [instances.top_update(u.instance, u.cell_name,
                                               u.whole) for u in updates],
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
            pending.result = self._row_or_dropped(pending.item, result)

    def _apply_one_by_one(self, batch):
        handled = set()
        for pending in batch:
            receipt = pending.item.receipt
            try:
                if receipt is not None and receipt.uuid in handled:
                    # A second copy in this batch: the first may have taken
                    # nova's path, whose mark the inbox writes only later.
                    pending.result = self._already_applied(receipt)
                    continue
                pending.result = self._apply_alone(pending.item)
            except Exception as exc:  # noqa - the caller sees its own error
                pending.error = exc     # (a copy may still apply it)
                continue
            if receipt is not None:
                handled.add(receipt.uuid)

    def _apply_alone(self, update):
        """One update in a transaction of its own, with its mark.

        The inbox does not look an update up before it comes here
        (``records_its_receipt``): a second copy of a message already
        applied is found by its mark, here, and not applied again.  An
        update that fails even alone (a row created meanwhile by another
        writer) takes nova's path, after a look at the inbox.
        """
        receipt = update.receipt
        if receipt is None:
            return instances.update_at_top(self.db, update.instance,
                                           update.cell_name, update.whole)
        try:
            result, = db_instances.apply_top_updates(
                self.db, [instances.top_update(update.instance,
                                               update.cell_name,
                                               update.whole)],
                marks=[receipt.uuid])
        except db_outbox.Duplicate:
            return self._already_applied(receipt)
        except Exception:  # noqa - nova's path below
            if db_outbox.inbox_contains(self.db, receipt.uuid):
                return self._already_applied(receipt)
            return instances.update_at_top(self.db, update.instance,
                                           update.cell_name, update.whole)
        receipt.recorded = True
        return self._row_or_dropped(update, result)

    @staticmethod
    def _row_or_dropped(update, result):
        """An update's result from ``apply_top_updates``: its row, or None
        (logged) when its guard dropped it as out of order."""
        if isinstance(result, _GUARD_ERRORS):
            LOG.info('Dropping out-of-order update of %s from %s: %s',
                     update.instance.uuid, update.cell_name, result)
            return None
        return result

    @staticmethod
    def _already_applied(receipt):
        LOG.info('Update %s was already applied here; confirming it again',
                 receipt.uuid)
        receipt.recorded = True
        return None
