"""What nova-api does for a server create, for a smoke test without it.

``nova-cells-manage boot`` and the demo ask the top cell for instances
the way nova-api does: the instance rows first, in the top cell's
database (``building``/``scheduling``, no host, no cell), then one
``build_instances`` cast per request to the top's nova-cells, with nova's
payload (:func:`build_kwargs`).  The rest is the tree's: the cells pick,
the leaf builds, the state flows back up to those rows.
"""

import uuid as uuidlib

from nova_cells.db import models
from nova_cells.objects import flavor as flavor_obj
from nova_cells.objects import instance as instance_obj

__all__ = ['IMAGE', 'flavor_object', 'request_instances', 'build_kwargs']

#: The image of a smoke-test build (a cirros image; nothing reads it).
IMAGE = {'id': '155d900f-4e14-4e4c-a73d-069cbf4541e6', 'name': 'cirros',
         'container_format': 'bare', 'disk_format': 'qcow2', 'min_disk': 0,
         'min_ram': 0, 'size': 25165824, 'status': 'active',
         'properties': {}}

_FLAVOR_FIELDS = ('id', 'flavorid', 'name', 'memory_mb', 'vcpus', 'root_gb',
                  'ephemeral_gb', 'swap', 'rxtx_factor', 'vcpu_weight',
                  'disabled', 'is_public', 'description')


def flavor_object(values):
    """A Flavor object from a flavor's values (a reader's dict)."""
    fields = {k: values.get(k) for k in _FLAVOR_FIELDS}
    fields['vcpu_weight'] = fields['vcpu_weight'] or 0
    fields['rxtx_factor'] = fields['rxtx_factor'] or 1.0
    fields['swap'] = fields['swap'] or 0
    fields['ephemeral_gb'] = fields['ephemeral_gb'] or 0
    fields['disabled'] = bool(fields['disabled'])
    fields['is_public'] = True if fields['is_public'] is None \
        else bool(fields['is_public'])
    return flavor_obj.Flavor(extra_specs=dict(values.get('extra_specs')
                                              or {}), **fields)


def request_instances(db, flavors, names, project_id, user_id):
    """The rows nova-api writes in the top cell's database, one per
    (flavor object, display name); returns the Instance objects it then
    sends."""
    rows = [{'uuid': str(uuidlib.uuid4()), 'display_name': name,
             'project_id': project_id, 'user_id': user_id,
             'vm_state': 'building', 'task_state': 'scheduling',
             'memory_mb': flavor.memory_mb, 'vcpus': flavor.vcpus,
             'root_gb': flavor.root_gb, 'ephemeral_gb': flavor.ephemeral_gb,
             'instance_type_id': flavor.id, 'image_ref': IMAGE['id'],
             'deleted': 0}
            for flavor, name in zip(flavors, names)]
    with db.writer() as session:
        session.add_all([models.Instance(**row) for row in rows])
    return [instance_obj.Instance(
        uuid=row['uuid'], display_name=row['display_name'],
        project_id=project_id, user_id=user_id, vm_state='building',
        task_state='scheduling', flavor=flavor, metadata={},
        system_metadata={}, image_ref=IMAGE['id'])
        for row, flavor in zip(rows, flavors)]


def build_kwargs(instance, flavor, hints=None):
    """``build_instances`` arguments for one instance, as nova-api sends
    them (to :meth:`nova_cells.rpcapi.CellsAPI.build_instances`)."""
    return {'instances': [instance], 'image': IMAGE,
            'filter_properties': {'instance_type': flavor,
                                  'scheduler_hints': dict(hints or {})},
            'admin_password': None, 'injected_files': [],
            'requested_networks': None, 'security_groups': ['default'],
            'block_device_mapping': None}
