"""What a cell writes for an instance it builds itself, as nova does.

When nova's cell scheduler kept a build (``_create_instances_here``), nova's
compute API wrote, per instance, before the build went to nova-conductor:

* the ``instances`` row, from the request's *first* instance (its values
  are the same for every instance of a request but the uuid), renamed
  ``<name>-<n>`` when the request holds several, ``building/scheduling``;
* ``instance_extra`` (the flavor serialized under ``cur``; NUMA topology,
  device metadata, vCPU model and trusted certificates where given),
  ``instance_system_metadata`` (the image's properties, ``min_ram``,
  ``min_disk``, formats, base image, owner names), ``instance_metadata``,
  ``instance_info_caches`` (no network yet), the security group
  associations (nova-network only: with neutron none, but the project's
  ``default`` group is ensured), the EC2 id mappings;
* the block device mappings, sized (swap and ephemeral disks from the
  flavor);
* the ``create`` action with the request id, which nova-compute's first
  ``InstanceActionEvent.event_start`` looks up.

:func:`prepare` turns a build request into those rows (pure, no database);
:mod:`nova_cells.db.new_instances` writes them in one transaction per
instance; :func:`as_loaded` gives the ``Instance`` nova-conductor receives
then, as nova's ``Instance.create()`` left it: every column field, its
metadata, info cache, security groups, PCI requests and flavor loaded, and
only ``flavor`` and ``ec2_ids`` marked changed (tests hold both to the
original's captured rows and cast).

Differences from nova, on purpose (doc/differences.rst): the instance's
own objects travel as objects (nova serialized the first instance to a
dict, which lost a NUMA topology); volumes are not looked up in cinder
again (the API cell did it, and set each size); in a split build each
part keeps the API's launch index, so names stay unique across cells.
"""

import dataclasses
import re
import typing

from oslo_serialization import jsonutils
from oslo_utils import uuidutils

from nova_cells.objects import ec2 as ec2_obj
from nova_cells.objects import flavor as flavor_obj
from nova_cells.objects import instance as instance_obj
from nova_cells.objects import instance_info_cache
from nova_cells.objects import instance_numa_topology
from nova_cells.objects import instance_pci_requests
from nova_cells.objects import security_group as sg_obj
from nova_cells.objects import trusted_certs as trusted_certs_obj
from nova_cells.objects import vcpu_model as vcpu_model_obj
from nova_cells.objects import virt_device_metadata

__all__ = ['NewInstance', 'prepare', 'as_loaded', 'CREATE_ACTION',
           'NETWORK_INFO', 'ec2_id']

#: nova.compute.instance_actions.CREATE
CREATE_ACTION = 'create'
#: An empty ``network_model.NetworkInfo().json()``.
NETWORK_INFO = '[]'

# nova.utils: image properties copied into system metadata.
_SM_PREFIX = 'image_'
_SM_INHERITABLE_KEYS = ('min_ram', 'min_disk', 'disk_format',
                        'container_format')
_SM_SKIP_KEYS = ('mappings', 'block_device_mapping', 'img_mappings',
                 'img_block_device_mapping')
_SM_VALUE_BYTES = 255

# Fields of the request's instance that are not copied (nova popped them:
# they are set anew, or "brutally serialized" in nova's words).
_NOT_COPIED = frozenset(('id', 'name', 'info_cache', 'security_groups',
                         'flavor', 'pci_requests', 'ec2_ids', 'keypairs',
                         'old_flavor', 'new_flavor'))
# instance_extra columns nova fills from an object's JSON.
_EXTRA_OBJECTS = ('numa_topology', 'device_metadata', 'vcpu_model',
                  'trusted_certs')
# Fields nova's Instance.create() loads besides the columns.
_LOADED = frozenset(('metadata', 'system_metadata', 'info_cache',
                     'security_groups', 'pci_devices', 'tags', 'services',
                     'fault', 'flavor', 'old_flavor', 'new_flavor',
                     'ec2_ids', 'numa_topology', 'pci_requests',
                     'vcpu_model', 'migration_context', 'keypairs',
                     'device_metadata', 'trusted_certs'))
_COLUMN_FIELDS = tuple(name for name in instance_obj.Instance.fields
                       if name not in _LOADED)
_BDM_NOT_COPIED = frozenset(('id', 'instance', 'created_at', 'updated_at',
                             'deleted_at', 'deleted'))


@dataclasses.dataclass
class NewInstance(object):
    """The rows of one new instance (column name -> value dicts)."""

    uuid: str
    values: dict
    extra: dict
    system_metadata: dict
    metadata: dict
    security_groups: list
    bdms: list
    action: dict
    image_refs: typing.Tuple[str, str, str]
    network_info: str = NETWORK_INFO


# -- from the request ---------------------------------------------------------

def _properties(source):
    """The request instance's values nova copied to every new instance."""
    return {name: getattr(source, name) for name in source.fields
            if name not in _NOT_COPIED and source.obj_attr_is_set(name)}


def sanitize_hostname(name, default=None):
    """nova's ``utils.sanitize_hostname`` (RFC 952/1123 but the length;
    at most 63 characters, dnsmasq's limit)."""
    name = name.encode('latin-1', 'ignore').decode('latin-1')[:63]
    name = re.sub(r'[ _]', '-', name)
    name = re.sub(r'[^\w.-]+', '', name)
    name = name.lower().strip('.-')
    if name == '' and default is not None:
        return default[:63]
    return name


def _names(display_name, uuid, index, num_instances):
    """``(display_name, hostname)`` as nova's ``_populate_instance_names``
    in a compute cell."""
    if display_name is None:
        display_name = 'Server %s' % uuid
    default = 'Server-%s' % uuid
    if num_instances == 1:
        return display_name, sanitize_hostname(display_name, default)
    new_name = '%s-%d' % (display_name, index + 1)
    if sanitize_hostname(display_name) == '':
        return new_name, default
    return new_name, sanitize_hostname(new_name)


def _system_metadata(properties, image, flavor, ctxt):
    """nova's ``get_system_metadata_from_image`` over the request's own,
    plus the base image and the owner's names."""
    values = dict(properties.get('system_metadata') or {})
    image = image or {}
    for key, value in (image.get('properties') or {}).items():
        if key not in _SM_SKIP_KEYS:
            values[_SM_PREFIX + key] = _truncate(str(value))
    for key in _SM_INHERITABLE_KEYS:
        value = image.get(key)
        if key == 'min_disk' and flavor is not None:
            value = (flavor.root_gb if image.get('disk_format') == 'vhd'
                     else max(value or 0, flavor.root_gb or 0))
        if value is not None:
            values[_SM_PREFIX + key] = value
    values.setdefault('image_base_image_ref', properties.get('image_ref'))
    values['owner_user_name'] = getattr(ctxt, 'user_name', None)
    values['owner_project_name'] = getattr(ctxt, 'project_name', None)
    return {key: (None if value is None else str(value))
            for key, value in values.items()}


def _truncate(text):
    """nova's ``safe_truncate`` to the column's 255 bytes."""
    data = text.encode('utf-8')[:_SM_VALUE_BYTES]
    return data.decode('utf-8', 'ignore')


def _object_json(value):
    if value is None:
        return None
    return jsonutils.dumps(value.obj_to_primitive())


def flavor_json(flavor):
    """``instance_extra.flavor``: the flavor's primitive under ``cur``
    (its description nulled, as nova stored it)."""
    primitive = flavor.obj_to_primitive()
    if 'description' in primitive['nova_object.data']:
        primitive['nova_object.data']['description'] = None
    return jsonutils.dumps({'cur': primitive, 'old': None, 'new': None})


def _extra(properties, flavor):
    extra = {name: _object_json(properties.get(name))
             for name in _EXTRA_OBJECTS}
    extra['pci_requests'] = None
    extra['flavor'] = None if flavor is None else flavor_json(flavor)
    return extra


def _volume_size(flavor, bdm):
    """nova's ``_volume_size``: a blank local disk without a size is the
    flavor's swap or ephemeral disk."""
    size = bdm.get('volume_size')
    if size is None and bdm.get('source_type') == 'blank' and \
            bdm.get('destination_type') == 'local' and flavor is not None:
        size = flavor.swap if bdm.get('guest_format') == 'swap' \
            else flavor.ephemeral_gb
    return size


def _bdm_values(bdm):
    if isinstance(bdm, dict):
        return {k: v for k, v in bdm.items() if k not in _BDM_NOT_COPIED}
    return {name: getattr(bdm, name) for name in bdm.fields
            if name not in _BDM_NOT_COPIED and bdm.obj_attr_is_set(name)}


def _bdms(mappings, flavor, uuid):
    """The instance's block device rows; nova skipped a size of 0."""
    rows = []
    for bdm in mappings or []:
        values = _bdm_values(bdm)
        values['volume_size'] = _volume_size(flavor, values)
        if values['volume_size'] == 0:
            continue
        values['instance_uuid'] = uuid
        if not values.get('uuid'):
            values['uuid'] = uuidutils.generate_uuid()
        values.setdefault('deleted', 0)
        rows.append(values)
    return rows


def _action(ctxt, uuid):
    """``InstanceAction.pack_action_start`` of ``create``."""
    return {'action': CREATE_ACTION, 'instance_uuid': uuid,
            'request_id': ctxt.request_id, 'user_id': ctxt.user_id,
            'project_id': ctxt.project_id, 'start_time': ctxt.timestamp,
            'updated_at': ctxt.timestamp, 'deleted': 0}


def _index_of(source, position):
    """The instance's index in the request: the API's ``launch_index``
    (a part of a split build keeps its own), else its position."""
    if source.obj_attr_is_set('launch_index') and \
            source.launch_index is not None:
        return source.launch_index
    return position


def prepare(ctxt, build_inst_kwargs, use_neutron=True):
    """The rows of each instance of ``build_inst_kwargs`` (a build this
    cell keeps), in request order.

    :param ctxt: the request's context (user, project, names, request id
        and timestamp go into the rows).
    :param use_neutron: nova's ``[DEFAULT] use_neutron``: with neutron no
        security group is associated with the instance in this database.
    """
    sources = build_inst_kwargs.get('instances') or []
    if not sources:
        return []
    flavor = (build_inst_kwargs.get('filter_properties') or {}).get(
        'instance_type')
    if isinstance(flavor, dict):
        flavor = flavor_obj.Flavor(**flavor)
    properties = _properties(sources[0])
    indexes = [_index_of(s, i) for i, s in enumerate(sources)]
    count = max(len(sources), max(indexes) + 1)
    groups = [] if use_neutron else list(
        build_inst_kwargs.get('security_groups') or [])
    return [_new(ctxt, properties, source.uuid, index, count, flavor,
                 build_inst_kwargs, groups)
            for source, index in zip(sources, indexes)]


def _new(ctxt, properties, uuid, index, count, flavor, kwargs, groups):
    values = {k: v for k, v in properties.items() if k in _COLUMN_FIELDS}
    values['display_name'], values['hostname'] = _names(
        properties.get('display_name'), uuid, index, count)
    values.update(uuid=uuid, launch_index=index, vm_state='building',
                  task_state='scheduling', ephemeral_key_uuid=None,
                  shutdown_terminate=False, deleted=0, host=None, node=None,
                  cell_name=None)
    values.pop('id', None)
    if flavor is not None:
        for column in ('memory_mb', 'vcpus', 'root_gb', 'ephemeral_gb'):
            values.setdefault(column, getattr(flavor, column))
        values.setdefault('instance_type_id', flavor.id)
    image = kwargs.get('image') or {}
    return NewInstance(
        uuid=uuid, values=values, extra=_extra(properties, flavor),
        system_metadata=_system_metadata(properties, image, flavor, ctxt),
        metadata=dict(properties.get('metadata') or {}),
        security_groups=groups,
        bdms=_bdms(kwargs.get('block_device_mapping'), flavor, uuid),
        action=_action(ctxt, uuid),
        image_refs=(values.get('image_ref'), values.get('kernel_id'),
                    values.get('ramdisk_id')))


# -- as nova-conductor receives it --------------------------------------------

def ec2_id(number, template):
    """An EC2 id (``i-00000001``) from its mapping's integer, or None."""
    return None if number is None else template % number


def _from_json(cls, text):
    if not text:
        return None
    return cls.obj_from_primitive(jsonutils.loads(text))


def _info_cache(uuid, row):
    cache = instance_info_cache.InstanceInfoCache(
        instance_uuid=uuid,
        network_info=(row or {}).get('network_info') or NETWORK_INFO)
    for key in ('created_at', 'updated_at', 'deleted_at'):
        setattr(cache, key, (row or {}).get(key))
    cache.deleted = bool((row or {}).get('deleted'))
    cache.obj_reset_changes()
    return cache


def _security_groups(rows):
    groups = []
    for row in rows:
        group = sg_obj.SecurityGroup(**{
            k: row[k] for k in ('id', 'name', 'description', 'user_id',
                                'project_id', 'created_at', 'updated_at',
                                'deleted_at')})
        group.deleted = bool(row.get('deleted'))
        group.obj_reset_changes()
        groups.append(group)
    result = sg_obj.SecurityGroupList(objects=groups)
    result.obj_reset_changes()
    return result


def _pci_requests(uuid, text):
    """``_load_pci_requests``: what is stored, else no request."""
    requests = instance_pci_requests.InstancePCIRequests(
        instance_uuid=uuid, requests=[
            instance_pci_requests.InstancePCIRequest(**request)
            for request in (jsonutils.loads(text) if text else [])])
    requests.obj_reset_changes(recursive=True)
    return requests


def _flavors(instance, text):
    info = jsonutils.loads(text) if text else {}
    if info.get('cur'):
        instance.flavor = flavor_obj.Flavor.obj_from_primitive(info['cur'])
    for key, field in (('old', 'old_flavor'), ('new', 'new_flavor')):
        setattr(instance, field, flavor_obj.Flavor.obj_from_primitive(
            info[key]) if info.get(key) else None)


def _set_columns(instance, row):
    for name in _COLUMN_FIELDS:
        if name == 'deleted':
            instance.deleted = row['deleted'] == row['id']
        elif name == 'cleaned':
            instance.cleaned = row.get('cleaned') == 1
        else:
            setattr(instance, name, row.get(name))


def as_loaded(created):
    """The ``Instance`` nova's ``Instance.create()`` leaves, which the
    conductor cast and the "created here" update carry.

    :param created: a :class:`nova_cells.db.new_instances.Created`.
    """
    row = created.row
    extra = created.extra or {}
    instance = instance_obj.Instance()
    _set_columns(instance, row)
    instance.metadata = dict(created.metadata)
    instance.system_metadata = dict(created.system_metadata)
    instance.info_cache = _info_cache(row['uuid'], created.info_cache)
    instance.security_groups = _security_groups(created.security_groups)
    instance.numa_topology = _from_json(
        instance_numa_topology.InstanceNUMATopology,
        extra.get('numa_topology'))
    instance.pci_requests = _pci_requests(row['uuid'],
                                          extra.get('pci_requests'))
    instance.device_metadata = _from_json(
        virt_device_metadata.InstanceDeviceMetadata,
        extra.get('device_metadata'))
    _flavors(instance, extra.get('flavor'))
    instance.vcpu_model = _from_json(vcpu_model_obj.VirtCPUModel,
                                     extra.get('vcpu_model'))
    instance.trusted_certs = _from_json(trusted_certs_obj.TrustedCerts,
                                        extra.get('trusted_certs'))
    instance.obj_reset_changes()
    instance.ec2_ids = _ec2_ids(created)
    instance.obj_reset_changes(['ec2_ids'])
    return instance


def _ec2_ids(created):
    image, kernel, ramdisk = created.image_ids
    return ec2_obj.EC2Ids(instance_id=ec2_id(created.mapping_id, 'i-%08x'),
                          ami_id=ec2_id(image, 'ami-%08x'),
                          kernel_id=ec2_id(kernel, 'aki-%08x'),
                          ramdisk_id=ec2_id(ramdisk, 'ari-%08x'))
