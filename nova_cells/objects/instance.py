"""Instances: the object that goes down in build requests and up in
``instance_update_at_top``.

Every field of nova Stein's ``Instance`` 2.4 is declared, including the
nested ones, so a primitive from a real nova deserializes whole.
"""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['Instance', 'InstanceList']

# The two dict fields callers edit in place; see Instance.obj_what_changed.
_METADATA_FIELDS = ('metadata', 'system_metadata')


@base.NovaObjectRegistry.register
class Instance(base.NovaPersistentObject, base.NovaObject,
               base.NovaObjectDictCompat):
    """A server, as nova's ``instances`` row plus its joined parts."""

    # 2.1 services; 2.2 keypairs; 2.3 device_metadata; 2.4 trusted_certs.
    VERSION = '2.4'
    obj_added_in = {
        '2.1': ('services',),
        '2.2': ('keypairs',),
        '2.3': ('device_metadata',),
        '2.4': ('trusted_certs',),
    }

    #: nova's default ``[DEFAULT] instance_name_template``.
    NAME_TEMPLATE = 'instance-%08x'

    fields = {
        'id': fields.IntegerField(),
        'user_id': fields.StringField(nullable=True),
        'project_id': fields.StringField(nullable=True),
        'image_ref': fields.StringField(nullable=True),
        'kernel_id': fields.StringField(nullable=True),
        'ramdisk_id': fields.StringField(nullable=True),
        'hostname': fields.StringField(nullable=True),
        'launch_index': fields.IntegerField(nullable=True),
        'key_name': fields.StringField(nullable=True),
        'key_data': fields.StringField(nullable=True),
        # nova's power_state/vm_state/task_state are plain Integer/String.
        'power_state': fields.IntegerField(nullable=True),
        'vm_state': fields.StringField(nullable=True),
        'task_state': fields.StringField(nullable=True),
        'services': fields.ObjectField('ServiceList'),
        'memory_mb': fields.IntegerField(nullable=True),
        'vcpus': fields.IntegerField(nullable=True),
        'root_gb': fields.IntegerField(nullable=True),
        'ephemeral_gb': fields.IntegerField(nullable=True),
        'ephemeral_key_uuid': fields.UUIDField(nullable=True),
        'host': fields.StringField(nullable=True),
        'node': fields.StringField(nullable=True),
        'instance_type_id': fields.IntegerField(nullable=True),
        'user_data': fields.StringField(nullable=True),
        'reservation_id': fields.StringField(nullable=True),
        'launched_at': fields.DateTimeField(nullable=True),
        'terminated_at': fields.DateTimeField(nullable=True),
        'availability_zone': fields.StringField(nullable=True),
        'display_name': fields.StringField(nullable=True),
        'display_description': fields.StringField(nullable=True),
        'launched_on': fields.StringField(nullable=True),
        'locked': fields.BooleanField(default=False),
        'locked_by': fields.StringField(nullable=True),
        'os_type': fields.StringField(nullable=True),
        'architecture': fields.StringField(nullable=True),
        'vm_mode': fields.StringField(nullable=True),
        'uuid': fields.UUIDField(),
        'root_device_name': fields.StringField(nullable=True),
        'default_ephemeral_device': fields.StringField(nullable=True),
        'default_swap_device': fields.StringField(nullable=True),
        'config_drive': fields.StringField(nullable=True),
        'access_ip_v4': fields.IPV4AddressField(nullable=True),
        'access_ip_v6': fields.IPV6AddressField(nullable=True),
        'auto_disk_config': fields.BooleanField(default=False),
        'progress': fields.IntegerField(nullable=True),
        'shutdown_terminate': fields.BooleanField(default=False),
        'disable_terminate': fields.BooleanField(default=False),
        # The cells v1 path of the instance ('api!child'), set at the top.
        'cell_name': fields.StringField(nullable=True),
        'metadata': fields.DictOfStringsField(),
        'system_metadata': fields.DictOfNullableStringsField(),
        'info_cache': fields.ObjectField('InstanceInfoCache', nullable=True),
        'security_groups': fields.ObjectField('SecurityGroupList'),
        'fault': fields.ObjectField('InstanceFault', nullable=True),
        'cleaned': fields.BooleanField(default=False),
        'pci_devices': fields.ObjectField('PciDeviceList', nullable=True),
        'numa_topology': fields.ObjectField('InstanceNUMATopology',
                                            nullable=True),
        'pci_requests': fields.ObjectField('InstancePCIRequests',
                                           nullable=True),
        'device_metadata': fields.ObjectField('InstanceDeviceMetadata',
                                              nullable=True),
        'tags': fields.ObjectField('TagList'),
        'flavor': fields.ObjectField('Flavor'),
        'old_flavor': fields.ObjectField('Flavor', nullable=True),
        'new_flavor': fields.ObjectField('Flavor', nullable=True),
        'vcpu_model': fields.ObjectField('VirtCPUModel', nullable=True),
        'ec2_ids': fields.ObjectField('EC2Ids'),
        'migration_context': fields.ObjectField('MigrationContext',
                                                nullable=True),
        'keypairs': fields.ObjectField('KeyPairList'),
        'trusted_certs': fields.ObjectField('TrustedCerts', nullable=True),
    }

    obj_extra_fields = ['name']

    def __init__(self, *args, **kwargs):
        super(Instance, self).__init__(*args, **kwargs)
        self._reset_metadata_tracking()

    @property
    def name(self):
        """nova's instance name from the default template, or ''.

        '' is what nova gave an instance not yet in a database, which is
        the only kind a cell builds before it has an id.
        """
        if not self.obj_attr_is_set('id'):
            return ''
        return self.NAME_TEMPLATE % self.id

    def _reset_metadata_tracking(self, fields=None):
        # A copy of each metadata dict as last saved or received, so that an
        # in-place edit (instance.metadata['k'] = 'v') counts as a change.
        for name in _METADATA_FIELDS:
            if fields is None or name in fields:
                setattr(self, '_orig_' + name,
                        dict(getattr(self, name)) if name in self else {})

    def obj_clone(self):
        clone = super(Instance, self).obj_clone()
        for name in _METADATA_FIELDS:
            baseline = getattr(self, '_orig_' + name)
            setattr(clone, '_orig_' + name, dict(baseline))
        return clone

    def obj_reset_changes(self, fields=None, recursive=False):
        super(Instance, self).obj_reset_changes(fields, recursive=recursive)
        self._reset_metadata_tracking(fields=fields)

    def obj_what_changed(self):
        changes = super(Instance, self).obj_what_changed()
        for name in _METADATA_FIELDS:
            if name in self and getattr(self, name) != getattr(
                    self, '_orig_' + name):
                changes.add(name)
        return changes

    @classmethod
    def _obj_from_primitive(cls, context, objver, primitive):
        self = super(Instance, cls)._obj_from_primitive(context, objver,
                                                        primitive)
        self._reset_metadata_tracking()
        return self


@base.NovaObjectRegistry.register
class InstanceList(base.ObjectListBase, base.NovaObject):
    # 2.1-2.4 added query methods only.
    VERSION = '2.4'

    fields = {
        'objects': fields.ListOfObjectsField('Instance'),
    }
