"""Device role tagging metadata (``Instance.device_metadata``).

Devices and buses are polymorphic: a list of ``DeviceMetadata`` holds
``NetworkInterfaceMetadata`` and ``DiskMetadata`` objects, each on a bus
of one of the ``...DeviceBus`` kinds; every primitive names its own class.
"""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = [
    'DeviceBus', 'DeviceMetadata', 'DiskMetadata', 'IDEDeviceBus',
    'InstanceDeviceMetadata', 'NetworkInterfaceMetadata', 'PCIDeviceBus',
    'SCSIDeviceBus', 'USBDeviceBus', 'XenDeviceBus',
]


@base.NovaObjectRegistry.register
class DeviceBus(base.NovaObject):
    VERSION = '1.0'


@base.NovaObjectRegistry.register
class PCIDeviceBus(DeviceBus):
    VERSION = '1.0'
    fields = {'address': fields.PCIAddressField()}


@base.NovaObjectRegistry.register
class USBDeviceBus(DeviceBus):
    VERSION = '1.0'
    fields = {'address': fields.USBAddressField()}


@base.NovaObjectRegistry.register
class SCSIDeviceBus(DeviceBus):
    VERSION = '1.0'
    fields = {'address': fields.SCSIAddressField()}


@base.NovaObjectRegistry.register
class IDEDeviceBus(DeviceBus):
    VERSION = '1.0'
    fields = {'address': fields.IDEAddressField()}


@base.NovaObjectRegistry.register
class XenDeviceBus(DeviceBus):
    VERSION = '1.0'
    fields = {'address': fields.XenAddressField()}


@base.NovaObjectRegistry.register
class DeviceMetadata(base.NovaObject):
    VERSION = '1.0'

    fields = {
        'bus': fields.ObjectField('DeviceBus', subclasses=True),
        'tags': fields.ListOfStringsField(),
    }


@base.NovaObjectRegistry.register
class NetworkInterfaceMetadata(DeviceMetadata):
    # 1.1 vlan; 1.2 vf_trusted.
    VERSION = '1.2'
    obj_added_in = {'1.1': ('vlan',), '1.2': ('vf_trusted',)}

    fields = {
        'mac': fields.MACAddressField(),
        'vlan': fields.IntegerField(),
        'vf_trusted': fields.BooleanField(default=False),
    }


@base.NovaObjectRegistry.register
class DiskMetadata(DeviceMetadata):
    VERSION = '1.0'

    fields = {
        'serial': fields.StringField(nullable=True),
        'path': fields.StringField(nullable=True),
    }


@base.NovaObjectRegistry.register
class InstanceDeviceMetadata(base.NovaObject):
    VERSION = '1.0'

    fields = {
        'devices': fields.ListOfObjectsField('DeviceMetadata',
                                             subclasses=True),
    }
