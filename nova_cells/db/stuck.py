"""Instances stuck in ``building``, for operators to list and end.

A build handed to a nova-conductor that is not running, or lost where
nothing durable held it, leaves its instance in ``building`` (nova showed
it so for good).  ``nova-cells-manage instances list --stuck`` lists
those older than a given age in this cell's database, and ``instances
fail`` sets them to ERROR with a fault saying why: one guarded UPDATE and
the fault in one transaction, so an instance that moved on meanwhile (a
late conductor built it) is left alone.  At the top the error is what
nova-api shows; in a lower cell the row changes there, and the heal
(``[cells] heal_interval``) brings it to the top.
"""

import datetime

from oslo_utils import timeutils
import sqlalchemy as sa

from nova_cells.db import instances as db_instances
from nova_cells.db import models

__all__ = ['stuck_instances', 'fail_stuck', 'FAULT_MESSAGE']

FAULT_MESSAGE = 'Failed by an operator: stuck in building/%s since %s (%s)'

_I = models.Instance.__table__
_COLUMNS = (_I.c.uuid, _I.c.display_name, _I.c.cell_name, _I.c.host,
            _I.c.vm_state, _I.c.task_state, _I.c.created_at,
            _I.c.updated_at)


def stuck_instances(db, older_than, now=None, limit=100):
    """Live instances in ``building`` created more than ``older_than``
    seconds ago, oldest first, as dicts of :data:`_COLUMNS`."""
    now = now or timeutils.utcnow()
    since = now - datetime.timedelta(seconds=older_than)
    with db.connection_reader() as conn:
        rows = conn.execute(
            sa.select(*_COLUMNS).where(
                _I.c.deleted == 0, _I.c.vm_state == 'building',
                _I.c.created_at < since)
            .order_by(_I.c.created_at, _I.c.id).limit(limit)).mappings()
        return [dict(row) for row in rows]


def fail_stuck(db, uuids, reason, now=None):
    """Set each instance still in ``building`` to ERROR with a fault
    (``reason`` in it); returns the uuids it changed."""
    now = now or timeutils.utcnow()
    failed = []
    for uuid in uuids:
        with db.connection_writer() as conn:
            row = conn.execute(sa.select(_I.c.task_state, _I.c.created_at)
                               .where(_I.c.uuid == uuid, _I.c.deleted == 0,
                                      _I.c.vm_state == 'building')).first()
            if row is None:
                continue
            changed = conn.execute(
                sa.update(_I).where(_I.c.uuid == uuid, _I.c.deleted == 0,
                                    _I.c.vm_state == 'building')
                .values(vm_state='error', task_state=None, updated_at=now))
            if changed.rowcount != 1:
                continue
            message = FAULT_MESSAGE % (row.task_state, row.created_at,
                                       reason)
            db_instances.add_error_fault(conn, uuid, message, now)
        failed.append(uuid)
    return failed
