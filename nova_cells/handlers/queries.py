"""Intercell handlers: queries (registered in the targeted and broadcast
tables; see :mod:`nova_cells.handlers`).

Each runs in the cell a message reaches, on that cell's own database
(``runner.services.db``), and returns nova's objects so that the
answer's JSON is what an original nova-cells would send (reference §4.11,
§4.12).  Wire kwargs are nova's.
"""

import datetime

from oslo_log import log as logging
import oslo_messaging

from oslo_serialization import jsonutils
from oslo_utils import timeutils
from oslo_utils import uuidutils

from nova_cells.db import actions as db_actions
from nova_cells.db import bdm as db_bdm
from nova_cells.db import bw_usage as db_bw_usage
from nova_cells.db import instances as db_instances
from nova_cells.db import keypairs as db_keypairs
from nova_cells.db import migrations_api as db_migrations
from nova_cells.db import services as db_services
from nova_cells.db import task_log as db_task_log
from nova_cells import exception
from nova_cells.handlers import broadcast
from nova_cells.handlers import targeted
from nova_cells.objects import compute_node as compute_node_obj
from nova_cells.objects import keypair as keypair_obj
from nova_cells.objects import migration as migration_obj
from nova_cells.objects import service as service_obj
from nova_cells.top import instances
from nova_cells import routing
from nova_cells.transport import rpc
from nova_cells.top import topsync

__all__ = ['object_from_row', 'local_client']

LOG = logging.getLogger(__name__)


def object_from_row(cls, row):
    """A nova object from a DB row dict: known fields only, and a None is
    left unset where the field may not be None (nova's ``_from_db_object``
    for the columns we keep)."""
    obj = cls()
    for name, field in cls.fields.items():
        if name not in row:
            continue
        value = row[name]
        if value is None and not field.nullable:
            continue
        setattr(obj, name, value)
    obj.obj_reset_changes()
    return obj


def _service(row):
    return object_from_row(service_obj.Service, row)


def _node(row):
    row = dict(row)
    stats = row.get('stats')
    if isinstance(stats, str):
        try:
            stats = jsonutils.loads(stats)
        except ValueError:
            stats = {}
        row['stats'] = {k: None if v is None else str(v)
                        for k, v in (stats or {}).items()}
    return object_from_row(compute_node_obj.ComputeNode, row)


def _db(runner):
    return runner.services.db


# -- services -----------------------------------------------------------------

@broadcast.TABLE.method
def service_get_all(runner, message, filters=None):
    """``disabled`` filters in the query; any other key must equal the
    service's attribute (nova's semantics)."""
    filters = dict(filters or {})
    disabled = filters.pop('disabled', None)
    services = [_service(row) for row in
                db_services.service_get_all(_db(runner), disabled)]
    return [s for s in services
            if all(s.obj_attr_is_set(k) and getattr(s, k) == v
                   for k, v in filters.items())]


@targeted.TABLE.method
def service_get_by_compute_host(runner, message, host_name):
    """:raises ComputeHostNotFound:."""
    return _service(db_services.service_get_by_compute_host(_db(runner),
                                                            host_name))


@targeted.TABLE.method
def service_update(runner, message, host_name, binary, params_to_update):
    """e.g. ``{'disabled': True, 'disabled_reason': '...'}``;
    :raises HostBinaryNotFound:."""
    return _service(db_services.service_update(
        _db(runner), host_name, binary, dict(params_to_update or {})))


@targeted.TABLE.method
def service_delete(runner, message, service_id):
    """:raises ServiceNotFound:."""
    db_services.service_destroy(_db(runner), service_id)


def _delta(seconds):
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return '%d day%s, %2d:%02d' % (days, '' if days == 1 else 's', hours,
                                   rest // 60)


@targeted.TABLE.method
def get_host_uptime(runner, message, host_name):
    """The host's uptime line, in ``uptime``'s format.

    NOTE(nova-cells): nova asked the compute driver of the host (a compute
    RPC call).  The builtin cells have no hypervisor to ask, so the line is
    built from the host's nova-compute service record: "up" counts from
    when the service was created, and the heartbeat is appended, e.g.
    `` 12:00:05 up 2 days,  3:04, last heartbeat 2026-03-01T12:00:00``.
    :raises ComputeHostNotFound: when the host has no compute service.
    """
    service = db_services.service_get_by_compute_host(_db(runner), host_name)
    now = timeutils.utcnow()
    since = service.get('created_at') or now
    seen = service.get('last_seen_up') or service.get('updated_at')
    line = ' %s up %s' % (now.strftime('%H:%M:%S'),
                          _delta(max(0, (now - since).total_seconds())))
    if isinstance(seen, datetime.datetime):
        line += ', last heartbeat %s' % seen.isoformat()
    return line


# -- compute nodes ------------------------------------------------------------

@targeted.TABLE.method
def compute_node_get(runner, message, compute_id):
    """By UUID when ``compute_id`` looks like one, else by integer id;
    :raises ComputeHostNotFound:."""
    if uuidutils.is_uuid_like(compute_id):
        row = db_services.compute_node_get_by_uuid(_db(runner), compute_id)
    else:
        row = db_services.compute_node_get(_db(runner), compute_id)
    return _node(row)


@broadcast.TABLE.method
def compute_node_get_all(runner, message, hypervisor_match=None):
    db = _db(runner)
    if hypervisor_match is not None:
        rows = db_services.compute_node_search_by_hypervisor(
            db, hypervisor_match)
    else:
        rows = db_services.compute_node_get_all(db)
    return [_node(row) for row in rows]


@broadcast.TABLE.method
def compute_node_stats(runner, message):
    return db_services.compute_node_statistics(_db(runner))


# -- task logs, instance actions, migrations, keypairs ------------------------

@targeted.TABLE.method
@broadcast.TABLE.method
def task_log_get_all(runner, message, task_name, period_beginning,
                     period_ending, host=None, state=None):
    """Both a targeted (one cell) and a broadcast method, as in nova;
    rows as primitives (datetimes as strings)."""
    return jsonutils.to_primitive(db_task_log.task_log_get_all(
        _db(runner), task_name, period_beginning, period_ending, host=host,
        state=state))


@targeted.TABLE.method
def actions_get(runner, message, instance_uuid):
    return jsonutils.to_primitive(
        db_actions.actions_get(_db(runner), instance_uuid))


@targeted.TABLE.method
def action_get_by_request_id(runner, message, instance_uuid, request_id):
    return jsonutils.to_primitive(db_actions.action_get_by_request_id(
        _db(runner), instance_uuid, request_id))


@targeted.TABLE.method
def action_events_get(runner, message, action_id):
    return jsonutils.to_primitive(
        db_actions.action_events_get(_db(runner), action_id))


@targeted.TABLE.method
@broadcast.TABLE.method
def get_migrations(runner, message, filters):
    """This cell's migrations as a MigrationList."""
    rows = db_migrations.migration_get_all_by_filters(_db(runner), filters)
    return migration_obj.MigrationList(objects=[
        object_from_row(migration_obj.Migration, row) for row in rows])


@broadcast.TABLE.method
def get_keypair_at_top(runner, message, user_id, name):
    """Top only: the user's keypair of that name, or None."""
    if runner.state_manager.get_parent_cells():
        return None
    row = db_keypairs.key_pair_get(_db(runner), user_id, name)
    return object_from_row(keypair_obj.KeyPair, row) if row else None


# -- at the top: BDMs and bandwidth usage from below --------------------------

@broadcast.TABLE.method
def bdm_update_or_create_at_top(runner, message, bdm, create=None):
    """Top only.  ``create`` None: update (same device name) or create;
    True: create; False: update the BDM of the instance with the same
    device name or volume id (none: a warning), as nova."""
    if not topsync.is_top(runner):
        return
    db = _db(runner)
    bdm = dict(bdm)
    bdm.pop('id', None)
    if create is None:
        db_bdm.bdm_update_or_create(db, bdm)
    elif create:
        db_bdm.bdm_create(db, bdm)
    else:
        _bdm_update_matching(db, bdm)


def _bdm_update_matching(db, bdm):
    device_name, volume_id = bdm.get('device_name'), bdm.get('volume_id')
    for row in db_bdm.bdm_get_all_by_instance(db, bdm.get('instance_uuid')):
        if (device_name and row['device_name'] == device_name) or \
                (volume_id and row['volume_id'] == volume_id):
            db_bdm.bdm_update(db, row['id'], bdm)
            return
    LOG.warning('No match when trying to update BDM: %s', bdm)


@broadcast.TABLE.method
def bdm_destroy_at_top(runner, message, instance_uuid, device_name=None,
                       volume_id=None):
    """Top only: by device name, else by volume id."""
    if not topsync.is_top(runner):
        return
    if device_name:
        db_bdm.bdm_destroy_by_instance_and_device(_db(runner), instance_uuid,
                                                  device_name)
    elif volume_id:
        db_bdm.bdm_destroy_by_instance_and_volume(_db(runner), instance_uuid,
                                                  volume_id)


@broadcast.TABLE.method
def bw_usage_update_at_top(runner, message, bw_update_info):
    """Top only: ``bw_usage_cache`` (no cast back to the cells service,
    §10.30)."""
    if topsync.is_top(runner):
        db_bw_usage.bw_usage_update(_db(runner), **bw_update_info)


# -- the cell's own services over its own broker ------------------------------


def local_client(runner, topic, version, server=None, namespace=None,
                 timeout=None):
    """An RPC client (prepared) on the cell's own broker.

    ``runner.services.local_rpc`` is a ``(get_transport, exchange)``
    pair the assembly wires (the cell's own transport, made on first use,
    and the exchange the in-process tree names on fake://).
    """
    get_transport, exchange = runner.services.local_rpc
    transport = get_transport()
    target = oslo_messaging.Target(topic=topic, version=version,
                                   namespace=namespace, exchange=exchange)
    client = rpc.get_client(
        transport, target,
        serializer=rpc.RequestContextSerializer(runner.serializer))
    return client.prepare(server=server, version=version, timeout=timeout)


@targeted.TABLE.method
def proxy_rpc_to_manager(runner, message, host_name, rpc_message, topic,
                         timeout=None):
    """Call (when answered) or cast ``rpc_message`` to a host's service.

    ``topic`` is ``<topic>.<server>``, e.g. ``compute.api!c1@host1``;
    the server is the bare host (nova kept the cell path: §10.31).
    :raises ComputeHostNotFound: when the host has no compute service.
    """
    db_services.service_get_by_compute_host(_db(runner), host_name)
    topic, _sep, server = topic.partition('.')
    server = routing.split_cell_and_item(server)[1] if server else None
    cctxt = local_client(runner, topic, rpc_message.get('version'),
                         server=server or host_name,
                         namespace=rpc_message.get('namespace'),
                         timeout=timeout)
    method, args = rpc_message['method'], rpc_message.get('args') or {}
    if message.need_response:
        return cctxt.call(message.ctxt, method, **args)
    cctxt.cast(message.ctxt, method, **args)


CONSOLEAUTH_TOPIC = 'consoleauth'
CONSOLEAUTH_VERSION = '2.1'
COMPUTE_TOPIC = 'compute'
COMPUTE_VERSION = '5.0'


@broadcast.TABLE.method
def consoleauth_delete_tokens(runner, message, instance_uuid):
    """Top only: nova-consoleauth's ``delete_tokens_for_instance`` (a
    cast on the top cell's own broker)."""
    if not topsync.is_top(runner):
        return
    local_client(runner, CONSOLEAUTH_TOPIC, CONSOLEAUTH_VERSION).cast(
        message.ctxt, 'delete_tokens_for_instance',
        instance_uuid=instance_uuid)


@targeted.TABLE.method
def validate_console_port(runner, message, instance_uuid, console_port,
                          console_type):
    """Ask the instance's compute host (a call on this cell's broker).

    A missing instance is reported to the top as destroyed, and the
    ``InstanceNotFound`` re-raised, as nova did.
    """
    try:
        row = db_instances.instance_get(_db(runner), instance_uuid)
    except exception.InstanceNotFound:
        gone = instances.from_db_row({'uuid': instance_uuid})
        topsync.instance_destroy_at_top(runner, message.ctxt, gone)
        raise
    instance = instances.from_db_row(row)
    return local_client(runner, COMPUTE_TOPIC, COMPUTE_VERSION,
                        server=instance.host).call(
        message.ctxt, 'validate_console_port', instance=instance,
        port=console_port, console_type=console_type)
