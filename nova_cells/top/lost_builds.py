"""Builds lost on the way, ended visibly at the top.

nova-api creates an instance in the top cell's database and casts its
build; the cell that builds it reports it up (its ``cell_name`` is set at
the top).  With durable forwarding, a build is in some cell's outbox until
the next cell has taken it, so it is not lost between cells of ours; but
it can still be lost where nothing durable holds it: an original
nova-cells on the way that cannot route it, or a cast nova-api sent to a
daemon that died before it journalled it.  nova left such instances in
``building``/``scheduling`` for good.

Here the top, every run of a periodic task, looks for instances still in
``scheduling`` with no cell after ``[cells] scheduling_timeout`` seconds
whose build no message of this cell carries any more (no ``cell_outbox``
row names them), sets them to ERROR with a fault saying so, and logs how
many.  A build still in an outbox waits (its neighbour may come back).
"""

import datetime

from oslo_log import log as logging
from oslo_utils import timeutils
import sqlalchemy as sa

from nova_cells.db import instances as db_instances
from nova_cells.db import models

__all__ = ['LostBuilds', 'FAULT_MESSAGE']

LOG = logging.getLogger(__name__)

FAULT_MESSAGE = ('Build request lost: no cell reported the instance within '
                 '%d seconds of its creation, and no cell below this one '
                 'still holds its build.')

_I = models.Instance.__table__
_OUTBOX = models.CellOutbox.__table__
_END = (sa.update(_I)
        .where(_I.c.uuid == sa.bindparam('l_uuid'), _I.c.deleted == 0,
               _I.c.vm_state == 'building', _I.c.task_state == 'scheduling',
               _I.c.cell_name.is_(None))
        .values(vm_state='error', task_state=None,
                updated_at=sa.bindparam('l_now')))
# One sweep looks at this many instances at most (the oldest first).
BATCH = 100


def _stuck(conn, older_than, limit):
    return conn.execute(
        sa.select(_I.c.uuid).where(
            _I.c.deleted == 0, _I.c.vm_state == 'building',
            _I.c.task_state == 'scheduling', _I.c.cell_name.is_(None),
            _I.c.created_at < older_than)
        .order_by(_I.c.created_at).limit(limit)).scalars().all()


def _in_outbox(conn, uuid):
    return conn.execute(sa.select(_OUTBOX.c.id).where(
        _OUTBOX.c.message.contains(uuid)).limit(1)).first() is not None


class LostBuilds(object):
    """The sweep (a top cell's periodic task).

    :param db: the top cell's database.
    :param timeout: ``[cells] scheduling_timeout`` (0: never).
    """

    def __init__(self, db, timeout):
        self.db = db
        self.timeout = timeout

    def lost(self, now=None):
        """The uuids of the instances whose build was lost (oldest first,
        at most :data:`BATCH`)."""
        now = now or timeutils.utcnow()
        older_than = now - datetime.timedelta(seconds=self.timeout)
        with self.db.connection_reader() as conn:
            return [uuid for uuid in _stuck(conn, older_than, BATCH)
                    if not _in_outbox(conn, uuid)]

    def sweep(self):
        """End the lost builds in ERROR with a fault; returns how many."""
        if self.timeout <= 0:
            return 0
        ended = 0
        for uuid in self.lost():
            if self._end(uuid):
                ended += 1
        if ended:
            LOG.warning('%d build(s) lost on the way set to ERROR (in '
                        'scheduling with no cell for over %d s)', ended,
                        self.timeout)
        return ended

    def _end(self, uuid):
        """ERROR with the fault, in one transaction, unless a cell reported
        it meanwhile (the UPDATE is guarded by all it was found in)."""
        message = FAULT_MESSAGE % self.timeout
        now = timeutils.utcnow()
        with self.db.connection_writer() as conn:
            ended = conn.execute(_END, {'l_uuid': uuid, 'l_now': now})
            if ended.rowcount != 1:
                return False
            db_instances.add_error_fault(conn, uuid, message, now)
        LOG.warning('Instance %s: %s', uuid, message)
        return True
