"""Intercell handlers: sync (registered in the broadcast table; see
:mod:`nova_cells.handlers`).

``instance_update_at_top``, ``instance_destroy_at_top`` and
``instance_fault_create_at_top`` live in :mod:`.broadcast`; here are the
two broadcasts down that make cells send their instances back up
(reference §4.12): ``sync_instances`` and ``instance_delete_everywhere``.
"""

from oslo_log import log as logging
from oslo_utils import timeutils

from nova_cells.db import instances as db_instances
from nova_cells import exception
from nova_cells.top import heal
from nova_cells.handlers import broadcast
from nova_cells.handlers import targeted  # noqa: F401
from nova_cells.top import instances
from nova_cells.top import topsync

__all__ = ['SOFT_DELETED']

LOG = logging.getLogger(__name__)

# nova.compute.vm_states.SOFT_DELETED
SOFT_DELETED = 'soft-delete'


def _healer(runner):
    healer = runner.services.healer
    return healer if healer is not None else heal.Healer(runner)


def _parse_time(value):
    if value is None or not isinstance(value, str):
        return value
    return timeutils.normalize_time(timeutils.parse_isotime(value))


@broadcast.TABLE.method
def sync_instances(runner, message, project_id=None, updated_since=None,
                   deleted=False):
    """Send this cell's instances up (``updated_since``: an ISO string)."""
    try:
        since = _parse_time(updated_since)
    except ValueError as exc:
        raise exception.MalformedMessage(
            uuid=message.uuid, reason='bad updated_since: %s' % exc)
    return _healer(runner).sync(message.ctxt, project_id=project_id,
                                updated_since=since, deleted=deleted)


def _soft_delete(runner, ctxt, row):
    """nova's soft delete: kept, restorable, marked ``soft-delete``."""
    now = timeutils.utcnow()
    _old, new = db_instances.instance_update(
        runner.services.db, row['uuid'],
        {'vm_state': SOFT_DELETED, 'task_state': None, 'deleted_at': now})
    update = instances.from_db_row(new)
    update.vm_state, update.task_state = SOFT_DELETED, None
    update.deleted_at = now
    topsync.instance_update_at_top(runner, ctxt, update)


def _hard_delete(runner, ctxt, row):
    """nova's local delete: the end state saved (sent up), then the
    instance destroyed (the top soft-deletes its copy)."""
    gone = db_instances.instance_destroy(runner.services.db, row['uuid'],
                                         compute_deleted=True)
    update = instances.from_db_row(row)
    for key in ('vm_state', 'task_state', 'terminated_at'):
        setattr(update, key, gone[key])
    topsync.instance_update_at_top(runner, ctxt, update)
    topsync.instance_destroy_at_top(runner, ctxt,
                                    instances.from_db_row(gone))


@broadcast.TABLE.method
def instance_delete_everywhere(runner, message, instance, delete_type):
    """Delete the instance here if this cell has it, and tell the top.

    ``delete_type`` ``'soft'``: soft delete (the top sees ``soft-delete``);
    anything else: a hard delete (the top's row is destroyed).
    """
    instance_uuid = instance['uuid'] if isinstance(instance, dict) \
        else instance.uuid
    try:
        row = db_instances.instance_get(runner.services.db, instance_uuid)
    except exception.InstanceNotFound:
        return None
    LOG.info('instance_delete_everywhere: %s delete of %s in %s',
             delete_type, instance_uuid, runner.our_name)
    if delete_type == 'soft':
        _soft_delete(runner, message.ctxt, row)
    else:
        _hard_delete(runner, message.ctxt, row)
    return instance_uuid
