"""Queries on a cell's ``instance_actions`` and ``instance_actions_events``
(``os-instance-actions`` through the cells API), as nova's db API ran them.
Rows leave as plain dicts, newest first.
"""

import sqlalchemy as sa

from nova_cells.db.api import _live
from nova_cells.db import models

__all__ = ['action_start', 'action_event_start', 'actions_get',
           'action_get_by_request_id', 'action_events_get']

_A = models.InstanceAction
_E = models.InstanceActionEvent


def _create(db, model, values):
    with db.writer() as session:
        row = model(**values)
        session.add(row)
        session.flush()
        return row.as_dict()


def action_start(db, values):
    """Record an action (what nova-api does before casting it)."""
    return _create(db, _A, values)


def action_event_start(db, values):
    """Record an event of an action (what nova-compute does)."""
    return _create(db, _E, values)


def actions_get(db, instance_uuid):
    """Every action on the instance, newest first."""
    query = _live(_A).where(_A.instance_uuid == instance_uuid).order_by(
        sa.desc(_A.created_at), sa.desc(_A.id))
    with db.reader() as session:
        return [row.as_dict() for row in session.execute(query).scalars()]


def action_get_by_request_id(db, instance_uuid, request_id):
    """The newest action of that request on the instance, or None."""
    query = _live(_A).where(_A.instance_uuid == instance_uuid,
                            _A.request_id == request_id).order_by(
        sa.desc(_A.created_at), sa.desc(_A.id))
    with db.reader() as session:
        row = session.execute(query).scalars().first()
        return row.as_dict() if row else None


def action_events_get(db, action_id):
    """Every event of the action, newest first."""
    query = _live(_E).where(_E.action_id == action_id).order_by(
        sa.desc(_E.created_at), sa.desc(_E.id))
    with db.reader() as session:
        return [row.as_dict() for row in session.execute(query).scalars()]
