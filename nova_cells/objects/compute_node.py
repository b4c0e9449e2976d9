"""Compute nodes: what ``compute_node_get``/``_get_all`` return up the tree."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['ComputeNode', 'ComputeNodeList']


@base.NovaObjectRegistry.register
class ComputeNode(base.NovaPersistentObject, base.NovaObject):
    """A hypervisor node and its resources.

    ``cpu_info``, ``metrics`` and ``numa_topology`` are JSON strings here as
    in nova; the cells layer passes them on unread.
    """

    # Stein (nova 19): 1.18.  Later nova releases are 1.19+ and newer in
    # the minor part, so they need a backport before we can read them.
    VERSION = '1.18'
    obj_added_in = {
        '1.3': ('stats',),
        '1.4': ('host_ip',),
        '1.5': ('numa_topology',),
        '1.6': ('supported_hv_specs',),
        '1.7': ('host',),
        '1.9': ('pci_device_pools',),
        '1.14': ('cpu_allocation_ratio', 'ram_allocation_ratio'),
        '1.15': ('uuid',),
        '1.16': ('disk_allocation_ratio',),
        '1.17': ('mapped',),
    }

    fields = {
        'id': fields.IntegerField(read_only=True),
        'uuid': fields.UUIDField(read_only=True),
        'service_id': fields.IntegerField(nullable=True),
        'host': fields.StringField(nullable=True),
        'vcpus': fields.IntegerField(),
        'memory_mb': fields.IntegerField(),
        'local_gb': fields.IntegerField(),
        'vcpus_used': fields.IntegerField(),
        'memory_mb_used': fields.IntegerField(),
        'local_gb_used': fields.IntegerField(),
        'hypervisor_type': fields.StringField(),
        'hypervisor_version': fields.IntegerField(),
        'hypervisor_hostname': fields.StringField(nullable=True),
        'free_ram_mb': fields.IntegerField(nullable=True),
        'free_disk_gb': fields.IntegerField(nullable=True),
        'current_workload': fields.IntegerField(nullable=True),
        'running_vms': fields.IntegerField(nullable=True),
        'cpu_info': fields.StringField(nullable=True),
        'disk_available_least': fields.IntegerField(nullable=True),
        'metrics': fields.StringField(nullable=True),
        'stats': fields.DictOfNullableStringsField(nullable=True),
        'host_ip': fields.IPAddressField(nullable=True),
        'numa_topology': fields.StringField(nullable=True),
        'supported_hv_specs': fields.ListOfObjectsField('HVSpec'),
        'pci_device_pools': fields.ObjectField('PciDevicePoolList',
                                               nullable=True),
        'cpu_allocation_ratio': fields.FloatField(),
        'ram_allocation_ratio': fields.FloatField(),
        'disk_allocation_ratio': fields.FloatField(),
        # How far nova-manage cell_v2 host discovery got with this node.
        'mapped': fields.IntegerField(),
    }


@base.NovaObjectRegistry.register
class ComputeNodeList(base.ObjectListBase, base.NovaObject):
    # Stein: 1.17 (get_all_by_not_mapped).
    VERSION = '1.17'

    fields = {
        'objects': fields.ListOfObjectsField('ComputeNode'),
    }
