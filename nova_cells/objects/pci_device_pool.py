"""Pools of like PCI devices a compute node offers (for capacities)."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['PciDevicePool', 'PciDevicePoolList']


@base.NovaObjectRegistry.register
class PciDevicePool(base.NovaObject):
    # 1.1 numa_node.
    VERSION = '1.1'
    obj_added_in = {'1.1': ('numa_node',)}

    fields = {
        'product_id': fields.StringField(),
        'vendor_id': fields.StringField(),
        'numa_node': fields.IntegerField(nullable=True),
        'tags': fields.DictOfNullableStringsField(),
        'count': fields.IntegerField(),
    }


@base.NovaObjectRegistry.register
class PciDevicePoolList(base.ObjectListBase, base.NovaObject):
    # 1.1 PciDevicePool 1.1.
    VERSION = '1.1'

    fields = {
        'objects': fields.ListOfObjectsField('PciDevicePool'),
    }
