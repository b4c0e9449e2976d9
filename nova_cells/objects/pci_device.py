"""PCI devices of a host, as assigned to an instance (``pci_devices``)."""

from oslo_utils import versionutils

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['PciDevice', 'PciDeviceList']


@base.NovaObjectRegistry.register
class PciDevice(base.NovaPersistentObject, base.NovaObject):
    # 1.2 request_id; 1.3 numa_node; 1.4 parent_addr; 1.5 two statuses;
    # 1.6 uuid.
    VERSION = '1.6'
    obj_added_in = {'1.2': ('request_id',), '1.6': ('uuid',)}

    fields = {
        'id': fields.IntegerField(),
        'uuid': fields.UUIDField(),
        'compute_node_id': fields.IntegerField(nullable=True),
        'address': fields.StringField(),
        'vendor_id': fields.StringField(),
        'product_id': fields.StringField(),
        'dev_type': fields.PciDeviceTypeField(),
        'status': fields.PciDeviceStatusField(),
        'dev_id': fields.StringField(nullable=True),
        'label': fields.StringField(nullable=True),
        'instance_uuid': fields.StringField(nullable=True),
        'request_id': fields.StringField(nullable=True),
        'extra_info': fields.DictOfStringsField(),
        'numa_node': fields.IntegerField(nullable=True),
        'parent_addr': fields.StringField(nullable=True),
    }

    def __init__(self, *args, **kwargs):
        super(PciDevice, self).__init__(*args, **kwargs)
        # nova: every device starts with an empty extra_info (a primitive
        # that carries one overwrites it).
        self.obj_reset_changes()
        self.extra_info = {}

    def obj_make_compatible(self, primitive, target_version):
        super(PciDevice, self).obj_make_compatible(primitive, target_version)
        target = versionutils.convert_version_to_tuple(target_version)
        if target < (1, 4) and 'parent_addr' in primitive:
            # Before 1.4 the parent's address lived in extra_info.
            parent = primitive.pop('parent_addr')
            if parent is not None:
                primitive.setdefault('extra_info', {})['phys_function'] = (
                    parent)


@base.NovaObjectRegistry.register
class PciDeviceList(base.ObjectListBase, base.NovaObject):
    # 1.1 PciDevice 1.2; 1.2 PciDevice 1.3; 1.3 get_by_parent_address.
    VERSION = '1.3'

    fields = {
        'objects': fields.ListOfObjectsField('PciDevice'),
    }
