"""What a migration changes on an instance (``Instance.migration_context``)."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['MigrationContext']


@base.NovaObjectRegistry.register
class MigrationContext(base.NovaPersistentObject, base.NovaObject):
    # 1.1 old/new PCI devices and requests.
    VERSION = '1.1'
    obj_added_in = {'1.1': ('old_pci_devices', 'new_pci_devices',
                            'old_pci_requests', 'new_pci_requests')}

    fields = {
        'instance_uuid': fields.UUIDField(),
        'migration_id': fields.IntegerField(),
        'new_numa_topology': fields.ObjectField('InstanceNUMATopology',
                                                nullable=True),
        'old_numa_topology': fields.ObjectField('InstanceNUMATopology',
                                                nullable=True),
        'new_pci_devices': fields.ObjectField('PciDeviceList',
                                              nullable=True),
        'old_pci_devices': fields.ObjectField('PciDeviceList',
                                              nullable=True),
        'new_pci_requests': fields.ObjectField('InstancePCIRequests',
                                               nullable=True),
        'old_pci_requests': fields.ObjectField('InstancePCIRequests',
                                               nullable=True),
    }
