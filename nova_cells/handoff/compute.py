"""Hand an instance action to the instance's compute host (reference §4.11).

Once the target cell has set the task state the compute API sets (see
:mod:`nova_cells.handlers.lifecycle`), the action goes to the host.  Which
hand-off follows ``[cells] local_scheduler_driver``:

* ``conductor`` (default, as nova): :class:`ComputeRPCHandoff` casts (or
  calls) nova's compute RPC method (``start_instance``, ``stop_instance``,
  ...) on topic ``compute``, ``server=<instance.host>``, version 5.0, on
  the cell's own broker, with nova Stein's argument names; resize and live
  migration go to the cell's nova-conductor (``migrate_server``), as nova's
  compute API sends them;
* ``builtin``: :class:`BuiltinComputeHandoff` plays the compute side: the
  instance reaches the action's end state in the cell's database and the
  change goes to the top (``instance_update_at_top``, or
  ``instance_destroy_at_top`` for a delete; a delete also gives the node's
  resources back).  Since the end state follows the task state at once,
  the caller waits until the top has the task state before asking for it
  (``updates_at_once``; a broadcast up with responses, a nova-cells
  addition, as builtin itself is).

:func:`for_runner` gives a cell's (``runner.services.compute``, made by
the assembly beside the build hand-off, whose broker it shares).
"""

from oslo_log import log as logging
import oslo_messaging
from oslo_utils import timeutils
import sqlalchemy as sa

from nova_cells.db import instances as db_instances
from nova_cells.db import models
from nova_cells.cells import propagation
from nova_cells.transport import rpc
from nova_cells.top import topsync

__all__ = ['ComputeRPCHandoff', 'BuiltinComputeHandoff', 'for_runner',
           'TOPIC', 'VERSION', 'END_STATES', 'POWER_STATES']

LOG = logging.getLogger(__name__)

TOPIC = 'compute'
VERSION = '5.0'
CONDUCTOR_TOPIC = 'conductor'
CONDUCTOR_NAMESPACE = 'compute_task'
MIGRATE_SERVER_VERSION = '1.15'

# nova.compute.power_state
POWER_STATES = {'nostate': 0, 'running': 1, 'paused': 3, 'shutdown': 4,
                'crashed': 6, 'suspended': 7}
_RUNNING = POWER_STATES['running']
_SHUTDOWN = POWER_STATES['shutdown']


def _end(vm_state=None, power_state=None):
    values = {'task_state': None}
    if vm_state is not None:
        values['vm_state'] = vm_state
    if power_state is not None:
        values['power_state'] = power_state
    return values


#: compute RPC method -> the instance's values once the host has done it
#: (what the builtin hand-off applies).
END_STATES = {
    'start_instance': _end('active', _RUNNING),
    'stop_instance': _end('stopped', _SHUTDOWN),
    'reboot_instance': _end('active', _RUNNING),
    'suspend_instance': _end('suspended', POWER_STATES['suspended']),
    'resume_instance': _end('active', _RUNNING),
    'pause_instance': _end('paused', POWER_STATES['paused']),
    'unpause_instance': _end('active', _RUNNING),
    'soft_delete_instance': _end('soft-delete', _SHUTDOWN),
    'restore_instance': _end('active', _RUNNING),
    'rescue_instance': _end('rescued', _RUNNING),
    'unrescue_instance': _end('active', _RUNNING),
    'snapshot_instance': _end(),
    'backup_instance': _end(),
    'rebuild_instance': _end('active', _RUNNING),
    'set_admin_password': _end(),
    'reset_network': {},
    'inject_network_info': {},
    'revert_resize': _end('active', _RUNNING),
    'confirm_resize': _end('active'),
    'migrate_server': _end(),
}


class ComputeRPCHandoff(object):
    """nova's compute RPC API towards the instance's host (and conductor
    for migrations), on the cell's own broker."""

    #: The host reports the end state later, by itself.
    updates_at_once = False

    def __init__(self, get_transport, serializer, exchange=None):
        self._get_transport = get_transport
        self._serializer = serializer
        self._exchange = exchange
        self._clients = {}

    def _client(self, topic, version, namespace=None):
        key = (topic, namespace)
        if key not in self._clients:
            target = oslo_messaging.Target(topic=topic, version=version,
                                           namespace=namespace,
                                           exchange=self._exchange)
            self._clients[key] = rpc.get_client(
                self._get_transport(), target,
                serializer=rpc.RequestContextSerializer(self._serializer))
        return self._clients[key]

    def perform(self, ctxt, instance, method, call=False, host=None,
                **kwargs):
        """Cast (or call) compute ``method`` on ``host`` (default: the
        instance's), with ``instance`` and ``kwargs`` as nova sends them."""
        if method == 'migrate_server':
            return self._migrate_server(ctxt, instance, **kwargs)
        cctxt = self._client(TOPIC, VERSION).prepare(
            server=host or instance.host, version=VERSION)
        LOG.debug('%s %s of instance %s to compute host %s',
                  'Calling' if call else 'Casting', method, instance.uuid,
                  host or instance.host)
        if call:
            return cctxt.call(ctxt, method, instance=instance, **kwargs)
        cctxt.cast(ctxt, method, instance=instance, **kwargs)
        return None

    def _migrate_server(self, ctxt, instance, **kwargs):
        """Resize / live migration: nova's compute API hands them to the
        conductor (ComputeTaskAPI.migrate_server)."""
        kw = {'instance': instance, 'scheduler_hint': None, 'live': False,
              'rebuild': False, 'flavor': None, 'block_migration': None,
              'disk_over_commit': None, 'reservations': None,
              'clean_shutdown': True, 'request_spec': None}
        kw.update(kwargs)
        cctxt = self._client(CONDUCTOR_TOPIC, MIGRATE_SERVER_VERSION,
                             CONDUCTOR_NAMESPACE).prepare(
            version=MIGRATE_SERVER_VERSION)
        cctxt.cast(ctxt, 'migrate_server', **kw)
        return None


class BuiltinComputeHandoff(object):
    """Plays the compute host: the action's end state, here, sent up."""

    #: The end state follows the task state at once (the caller makes sure
    #: the top has the task state first).
    updates_at_once = True

    def __init__(self, runner, db):
        self.runner = runner
        self.db = db

    def perform(self, ctxt, instance, method, call=False, host=None,
                **kwargs):
        if method == 'terminate_instance':
            return self.destroy(ctxt, instance)
        values = dict(END_STATES.get(method, {'task_state': None}))
        if method == 'rebuild_instance' and kwargs.get('image_ref'):
            values['image_ref'] = kwargs['image_ref']
        if method == 'migrate_server':
            values.update(self._migrated(instance, **kwargs))
        if not values:
            return None
        self.save(ctxt, instance, values)
        return None

    def _migrated(self, instance, live=False, flavor=None,
                  scheduler_hint=None, **_kwargs):
        if live:
            host = (scheduler_hint or {}).get('host')
            values = {'host': host, 'node': host} if host else {}
            return values
        values = {'vm_state': 'resized'}
        if flavor:
            get = (flavor.get if isinstance(flavor, dict)
                   else lambda k, d=None: getattr(flavor, k, d))
            for column in ('memory_mb', 'vcpus', 'root_gb', 'ephemeral_gb'):
                if get(column) is not None:
                    values[column] = get(column)
            if get('id') is not None:
                values['instance_type_id'] = get('id')
        return values

    def save(self, ctxt, instance, values):
        db_instances.instance_update(self.db, instance.uuid, values)
        for key, value in values.items():
            setattr(instance, key, value)
        LOG.info('Instance %s: %s', instance.uuid, values)
        topsync.instance_update_at_top(self.runner, ctxt, instance)

    def destroy(self, ctxt, instance):
        """As nova-compute: the instance's end state is saved (and so sent
        to the top), then it is destroyed (and the top destroys its copy,
        which only soft-deletes it)."""
        row = db_instances.instance_destroy(self.db, instance.uuid,
                                            compute_deleted=True)
        for key in ('vm_state', 'task_state', 'terminated_at'):
            setattr(instance, key, row[key])
        LOG.info('Instance %s deleted', instance.uuid)
        topsync.instance_update_at_top(self.runner, ctxt, instance)
        instance.deleted = True
        instance.deleted_at = row['deleted_at'] or timeutils.utcnow()
        topsync.instance_destroy_at_top(self.runner, ctxt, instance)
        if row.get('host'):
            self._release(ctxt, row)

    def _release(self, ctxt, row):
        """Give the deleted instance's resources back to its node (what
        the builtin build claimed) and tell the parents soon."""
        node = models.ComputeNode
        ram = row.get('memory_mb') or 0
        disk = (row.get('root_gb') or 0) + (row.get('ephemeral_gb') or 0)
        vcpus = row.get('vcpus') or 0
        statement = (sa.update(node)
                     .where(node.host == row['host'], node.deleted == 0,
                            node.hypervisor_hostname == (row.get('node') or
                                                         row['host']))
                     .values(free_ram_mb=node.free_ram_mb + ram,
                             free_disk_gb=node.free_disk_gb + disk,
                             memory_mb_used=node.memory_mb_used - ram,
                             local_gb_used=node.local_gb_used - disk,
                             vcpus_used=node.vcpus_used - vcpus,
                             running_vms=sa.case(
                                 (node.running_vms > 0,
                                  node.running_vms - 1), else_=0),
                             updated_at=timeutils.utcnow()))
        try:
            with self.db.writer() as session:
                session.execute(statement)
            self.runner.state_manager.refresh_own_capacity()
            propagation.tell_parents_our_capacities(self.runner, ctxt)
        except Exception:  # noqa - the periodic push will catch up
            LOG.exception('Could not release the resources of %s',
                          row['uuid'])


def for_runner(runner):
    """The compute hand-off of a cell: the one its assembly made
    (``runner.services.compute``); a runner built by hand without one (a
    test's) plays compute here, builtin, made once."""
    if runner.services.compute is None:
        runner.services.compute = BuiltinComputeHandoff(runner,
                                                        runner.services.db)
    return runner.services.compute
