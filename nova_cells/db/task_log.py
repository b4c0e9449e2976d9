"""Queries on a cell's ``task_log`` (``os-instance_usage_audit_log``), as
nova's ``task_log_get_all``."""

from oslo_utils import timeutils

from nova_cells.db.api import _live
from nova_cells.db import models

__all__ = ['task_log_begin_task', 'task_log_get_all']

_T = models.TaskLog


def _as_datetime(value):
    """A naive UTC datetime from a datetime or an ISO 8601 string (the
    RPC layer turns datetimes into strings)."""
    if isinstance(value, str):
        value = timeutils.parse_isotime(value)
    return timeutils.normalize_time(value)


def task_log_begin_task(db, task_name, period_beginning, period_ending, host,
                        task_items=None, message=None):
    """Record a running task (what nova-compute's audit does)."""
    with db.writer() as session:
        row = _T(task_name=task_name, host=host, state='RUNNING',
                 period_beginning=_as_datetime(period_beginning),
                 period_ending=_as_datetime(period_ending),
                 message=message or '', task_items=task_items or 0,
                 errors=0)
        session.add(row)
        session.flush()
        return row.as_dict()


def task_log_get_all(db, task_name, period_beginning, period_ending,
                     host=None, state=None):
    """Task logs of that task and period, optionally of one host/state."""
    query = _live(_T).where(
        _T.task_name == task_name,
        _T.period_beginning == _as_datetime(period_beginning),
        _T.period_ending == _as_datetime(period_ending)).order_by(_T.id)
    if host is not None:
        query = query.where(_T.host == host)
    if state is not None:
        query = query.where(_T.state == state)
    with db.reader() as session:
        return [row.as_dict() for row in session.execute(query).scalars()]
