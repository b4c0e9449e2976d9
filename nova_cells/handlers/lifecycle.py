"""Intercell handlers: instance lifecycle actions, run in the instance's
cell (reference §4.11); all in the targeted table.

Each action does what nova's compute API did in that cell: refresh the
instance from this cell's database (gone -> ``instance_destroy_at_top`` and
re-raise ``InstanceNotFound``), check its ``vm_state`` (nova's
``check_instance_state``), set the task state the compute API sets (saved
with its expected-task-state guard, so two racing actions cannot both
start), send that up, then hand the action to the instance's host through
:mod:`nova_cells.handoff.compute` with nova's compute RPC method name.

``run_compute_api_method`` reaches the same actions by compute API name
(``start``, ``stop``, ``reboot``, ``delete``, ...); any other name raises
``CellServiceAPIMethodNotFound``.
"""

import collections

from oslo_log import log as logging

from nova_cells.db import instances as db_instances
from nova_cells import exception
from nova_cells.handlers import targeted
from nova_cells.top import instances as cells_instances
from nova_cells.handoff import compute
from nova_cells.objects import instance as instance_obj
from nova_cells.top import topsync

__all__ = ['ACTIONS', 'COMPUTE_API_METHODS']

LOG = logging.getLogger(__name__)

_ACTIVE, _STOPPED, _PAUSED = 'active', 'stopped', 'paused'
_SUSPENDED, _RESCUED, _ERROR = 'suspended', 'rescued', 'error'
_RESIZED, _SOFT_DELETED = 'resized', 'soft-delete'

Action = collections.namedtuple(
    'Action', 'task_state vm_states expected_task_state compute_method')

#: compute API name -> (task state it sets, vm_states it accepts (None:
#: any), the task states it expects, the compute RPC method).
ACTIONS = {
    'start': Action('powering-on', [_STOPPED], [None], 'start_instance'),
    'stop': Action('powering-off', [_ACTIVE, _RESCUED, _ERROR], [None],
                   'stop_instance'),
    'reboot': Action('rebooting', [_ACTIVE, _STOPPED, _PAUSED, _SUSPENDED,
                                   _ERROR], [None], 'reboot_instance'),
    'reboot_hard': Action('rebooting_hard', [_ACTIVE, _STOPPED, _PAUSED,
                                             _SUSPENDED, _ERROR],
                          [None, 'rebooting', 'reboot_pending',
                           'reboot_started', 'rebooting_hard', 'resuming',
                           'unpausing', 'suspending'], 'reboot_instance'),
    'suspend': Action('suspending', [_ACTIVE], [None], 'suspend_instance'),
    'resume': Action('resuming', [_SUSPENDED], [None], 'resume_instance'),
    'pause': Action('pausing', [_ACTIVE], [None], 'pause_instance'),
    'unpause': Action('unpausing', [_PAUSED], [None], 'unpause_instance'),
    'delete': Action('deleting', None, None, 'terminate_instance'),
    'force_delete': Action('deleting', None, None, 'terminate_instance'),
    'soft_delete': Action('soft-deleting', None, None,
                          'soft_delete_instance'),
    'restore': Action('restoring', [_SOFT_DELETED], None,
                      'restore_instance'),
    'rescue': Action('rescuing', [_ACTIVE, _STOPPED, _ERROR], None,
                     'rescue_instance'),
    'unrescue': Action('unrescuing', [_RESCUED], None, 'unrescue_instance'),
    'snapshot': Action('image_snapshot_pending', [_ACTIVE, _STOPPED,
                                                  _PAUSED, _SUSPENDED],
                       [None], 'snapshot_instance'),
    'backup': Action('image_backup', [_ACTIVE, _STOPPED, _PAUSED,
                                      _SUSPENDED], [None], 'backup_instance'),
    'rebuild': Action('rebuilding', [_ACTIVE, _STOPPED, _ERROR], [None],
                      'rebuild_instance'),
    'set_admin_password': Action('updating_password', [_ACTIVE], [None],
                                 'set_admin_password'),
    'resize': Action('resize_prep', [_ACTIVE, _STOPPED], [None],
                     'migrate_server'),
    'live_migrate': Action('migrating', [_ACTIVE, _PAUSED], [None],
                           'migrate_server'),
    'revert_resize': Action('resize_reverting', [_RESIZED], [None],
                            'revert_resize'),
    'confirm_resize': Action(None, [_RESIZED], None, 'confirm_resize'),
    'reset_network': Action(None, None, None, 'reset_network'),
    'inject_network_info': Action(None, None, None, 'inject_network_info'),
}

# Deletes of an instance that never reached a host happen right here.
_DELETES = ('delete', 'force_delete', 'soft_delete')


def _refresh(runner, ctxt, instance):
    """The instance as this cell's database has it now."""
    try:
        row = db_instances.instance_get(runner.services.db, instance.uuid)
    except exception.InstanceNotFound:
        with _logged('instance_destroy_at_top', instance.uuid):
            topsync.instance_destroy_at_top(runner, ctxt, instance)
        raise
    return cells_instances.from_db_row(row)


class _logged(object):
    """Best-effort sending: log and carry on."""

    def __init__(self, what, uuid):
        self.what, self.uuid = what, uuid

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is not None and isinstance(exc, Exception):
            LOG.warning('Could not send %s for %s: %s', self.what, self.uuid,
                        exc)
            return True
        return False


def _local_delete(runner, ctxt, instance):
    """An instance with no host: delete the row here and at the top."""
    LOG.info('Instance %s has no host: deleting it locally', instance.uuid)
    compute.BuiltinComputeHandoff(runner, runner.services.db).destroy(
        ctxt, instance)


def run_action(runner, message, instance, name, call=False, host=None,
               **compute_kwargs):
    """Do compute API action ``name`` on ``instance`` in this cell."""
    ctxt = message.ctxt
    action = ACTIONS[name]
    handoff = compute.for_runner(runner)
    instance = _refresh(runner, ctxt, instance)
    if action.vm_states is not None and \
            instance.vm_state not in action.vm_states:
        raise exception.InstanceInvalidState(
            attr='vm_state', instance_uuid=instance.uuid,
            state=instance.vm_state, method=name)
    if not instance.host and action.compute_method != 'migrate_server':
        if name in _DELETES:
            return _local_delete(runner, ctxt, instance)
        raise exception.InstanceNotReady(instance_id=instance.uuid)
    if action.task_state is not None:
        try:
            db_instances.instance_update(
                runner.services.db, instance.uuid,
                {'task_state': action.task_state},
                expected_vm_state=action.vm_states,
                expected_task_state=action.expected_task_state)
        except exception.UnexpectedVMStateError as exc:
            raise exception.InstanceInvalidState(
                attr='vm_state', instance_uuid=instance.uuid,
                state=exc.kwargs.get('actual'), method=name)
        instance.task_state = action.task_state
        with _logged('instance_update_at_top', instance.uuid):
            _send_up(runner, ctxt, instance, handoff.updates_at_once)
    return handoff.perform(ctxt, instance, action.compute_method, call=call,
                           host=host, **compute_kwargs)


def _send_up(runner, ctxt, instance, confirmed):
    """The new task state to the top.  ``confirmed`` (a hand-off whose end
    state follows at once, i.e. the builtin one): wait until the top has
    applied it, so that it cannot overtake the end state on the way (the
    top handles messages concurrently and would keep the stale task
    state)."""
    if not confirmed or topsync.is_top(runner):
        return topsync.instance_update_at_top(runner, ctxt, instance)
    for response in runner.broadcast(
            ctxt, 'instance_update_at_top', {'instance': instance},
            direction='up', run_locally=False, need_response=True):
        response.value_or_raise()


# -- the compute API, by name (run_compute_api_method) ------------------------

def _start(runner, message, instance):
    return run_action(runner, message, instance, 'start')


def _stop(runner, message, instance, do_cast=True, clean_shutdown=True):
    return run_action(runner, message, instance, 'stop', call=not do_cast,
                      clean_shutdown=clean_shutdown)


def _reboot(runner, message, instance, reboot_type='SOFT'):
    name = 'reboot_hard' if reboot_type == 'HARD' else 'reboot'
    return run_action(runner, message, instance, name,
                      block_device_info=None, reboot_type=reboot_type)


def _simple(name):
    def action(runner, message, instance):
        return run_action(runner, message, instance, name)
    action.__name__ = '_' + name
    return action


def _delete(name):
    def action(runner, message, instance):
        return run_action(runner, message, instance, name, bdms=[])
    action.__name__ = '_' + name
    return action


def _rescue(runner, message, instance, rescue_password=None,
            rescue_image_ref=None, clean_shutdown=True):
    return run_action(runner, message, instance, 'rescue',
                      rescue_password=rescue_password,
                      rescue_image_ref=rescue_image_ref,
                      clean_shutdown=clean_shutdown)


def _set_admin_password(runner, message, instance, password=None):
    return run_action(runner, message, instance, 'set_admin_password',
                      new_pass=password)


def _snapshot(runner, message, instance, image_id):
    return run_action(runner, message, instance, 'snapshot',
                      image_id=image_id)


def _backup(runner, message, instance, image_id, backup_type, rotation):
    return run_action(runner, message, instance, 'backup', image_id=image_id,
                      backup_type=backup_type, rotation=rotation)


def _resize_like(name):
    def action(runner, message, instance):
        return run_action(runner, message, instance, name, migration=None)
    action.__name__ = '_' + name
    return action


#: compute API method name -> implementation(runner, message, instance,
#: *args, **kwargs), for run_compute_api_method.
COMPUTE_API_METHODS = {
    'start': _start,
    'stop': _stop,
    'reboot': _reboot,
    'suspend': _simple('suspend'),
    'resume': _simple('resume'),
    'pause': _simple('pause'),
    'unpause': _simple('unpause'),
    'delete': _delete('delete'),
    'force_delete': _delete('force_delete'),
    'soft_delete': _simple('soft_delete'),
    'restore': _simple('restore'),
    'rescue': _rescue,
    'unrescue': _simple('unrescue'),
    'reset_network': _simple('reset_network'),
    'inject_network_info': _simple('inject_network_info'),
    'set_admin_password': _set_admin_password,
    'snapshot': _snapshot,
    'backup': _backup,
    'revert_resize': _resize_like('revert_resize'),
    'confirm_resize': _resize_like('confirm_resize'),
}


@targeted.TABLE.method
def run_compute_api_method(runner, message, method_info):
    """``method_info = {method, method_args, method_kwargs}``; the first
    argument is the instance uuid."""
    method = method_info['method']
    implementation = COMPUTE_API_METHODS.get(method)
    if implementation is None:
        raise exception.CellServiceAPIMethodNotFound(method_name=method)
    args = list(method_info.get('method_args') or [])
    kwargs = dict(method_info.get('method_kwargs') or {})
    if not args:
        raise exception.InstanceNotFound(instance_id=None)
    instance_uuid = args.pop(0)
    # Only the uuid: run_action refreshes it from this cell's database.
    instance = instance_obj.Instance(uuid=instance_uuid)
    return implementation(runner, message, instance, *args, **kwargs)


# -- the targeted methods (reference §4.11) -----------------------------------

@targeted.TABLE.method
def start_instance(runner, message, instance):
    return _start(runner, message, instance)


@targeted.TABLE.method
def stop_instance(runner, message, instance, clean_shutdown=True):
    """A call when the API asked with ``do_cast=False``."""
    return _stop(runner, message, instance,
                 do_cast=not message.need_response,
                 clean_shutdown=clean_shutdown)


@targeted.TABLE.method
def reboot_instance(runner, message, instance, reboot_type):
    return _reboot(runner, message, instance, reboot_type)


@targeted.TABLE.method
def suspend_instance(runner, message, instance):
    return run_action(runner, message, instance, 'suspend')


@targeted.TABLE.method
def resume_instance(runner, message, instance):
    return run_action(runner, message, instance, 'resume')


@targeted.TABLE.method
def pause_instance(runner, message, instance):
    return run_action(runner, message, instance, 'pause')


@targeted.TABLE.method
def unpause_instance(runner, message, instance):
    return run_action(runner, message, instance, 'unpause')


@targeted.TABLE.method
def terminate_instance(runner, message, instance, delete_type='delete'):
    """``compute_api.<delete_type>`` (``delete`` or ``force_delete``)."""
    if delete_type not in ('delete', 'force_delete'):
        raise exception.CellServiceAPIMethodNotFound(method_name=delete_type)
    return run_action(runner, message, instance, delete_type, bdms=[])


@targeted.TABLE.method
def soft_delete_instance(runner, message, instance):
    return run_action(runner, message, instance, 'soft_delete')


@targeted.TABLE.method
def resize_instance(runner, message, instance, flavor,
                    extra_instance_updates=None, clean_shutdown=True):
    return run_action(runner, message, instance, 'resize', flavor=flavor,
                      clean_shutdown=clean_shutdown,
                      scheduler_hint={'filter_properties': {}})


@targeted.TABLE.method
def live_migrate_instance(runner, message, instance, block_migration,
                          disk_over_commit, host_name):
    return run_action(runner, message, instance, 'live_migrate', live=True,
                      block_migration=block_migration,
                      disk_over_commit=disk_over_commit,
                      scheduler_hint={'host': host_name})


@targeted.TABLE.method
def revert_resize(runner, message, instance):
    return run_action(runner, message, instance, 'revert_resize',
                      migration=None)


@targeted.TABLE.method
def confirm_resize(runner, message, instance):
    return run_action(runner, message, instance, 'confirm_resize',
                      migration=None)


@targeted.TABLE.method
def reset_network(runner, message, instance):
    return run_action(runner, message, instance, 'reset_network')


@targeted.TABLE.method
def inject_network_info(runner, message, instance):
    return run_action(runner, message, instance, 'inject_network_info')


@targeted.TABLE.method
def snapshot_instance(runner, message, instance, image_id):
    return _snapshot(runner, message, instance, image_id)


@targeted.TABLE.method
def backup_instance(runner, message, instance, image_id, backup_type,
                    rotation):
    return _backup(runner, message, instance, image_id, backup_type,
                   rotation)


@targeted.TABLE.method
def rebuild_instance(runner, message, instance, image_href, admin_password,
                     files_to_inject, preserve_ephemeral, kwargs=None):
    return run_action(runner, message, instance, 'rebuild',
                      new_pass=admin_password,
                      injected_files=files_to_inject, image_ref=image_href,
                      orig_image_ref=None, orig_sys_metadata=None, bdms=[],
                      recreate=False, on_shared_storage=False,
                      preserve_ephemeral=preserve_ephemeral)


@targeted.TABLE.method
def set_admin_password(runner, message, instance, new_pass):
    return _set_admin_password(runner, message, instance, new_pass)


@targeted.TABLE.method
def instance_update_from_api(runner, message, instance, expected_vm_state,
                             expected_task_state, admin_state_reset):
    """Apply an edit made in the API cell: its changes, except vm_state /
    task_state (unless an admin reset them) and the metadata dicts, saved
    with the expected states; not sent back up (nova's
    ``skip_cells_sync``)."""
    changes = set(instance.obj_what_changed())
    if not admin_state_reset:
        changes -= {'vm_state', 'task_state'}
    changes -= {'metadata', 'system_metadata', 'cell_name', 'id'}
    values = cells_instances.to_db_values(instance, sorted(changes))
    values.pop('deleted', None)
    for key in [k for k in values if k not in changes]:
        values.pop(key)
    if not values:
        return None
    try:
        db_instances.instance_update(
            runner.services.db, instance.uuid, values,
            expected_vm_state=expected_vm_state,
            expected_task_state=expected_task_state)
    except exception.InstanceNotFound:
        with _logged('instance_destroy_at_top', instance.uuid):
            topsync.instance_destroy_at_top(runner, message.ctxt, instance)
        raise
    return None
