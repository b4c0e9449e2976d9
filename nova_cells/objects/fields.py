"""Field types of nova's objects, under the names nova gave them.

Most are oslo.versionedobjects' own types, re-exported so the object
modules read like nova's.  Three groups are ours:

* **nova's enum fields** (``ArchitectureField``, ``BlockDeviceSourceTypeField``
  ...).  nova checked each value against a fixed list.  Here they are
  strings that accept any value: the primitive is the same string either
  way, and a routing layer should pass on a value a newer peer knows and we
  do not, rather than fail a whole message over it.
* **device address fields** (USB, SCSI, IDE, Xen): strings checked against
  nova's patterns, as nova did.
* **NetworkModel**, the type of ``InstanceInfoCache.network_info``: on the
  wire a JSON *string* holding a list of VIF dicts.  nova hydrated it into
  its ``network.model`` classes, which add default keys; we keep the parsed
  list as it came (:class:`NetworkInfo`) so that the string we send back is
  the string we were given.
"""

import re

from oslo_serialization import jsonutils
from oslo_versionedobjects import fields

__all__ = [
    # oslo.versionedobjects types, under nova's names
    'BooleanField', 'DateTimeField', 'DictOfIntegersField',
    'DictOfNullableStringsField', 'DictOfStringsField', 'DictProxyField',
    'EnumField', 'Field',
    'FloatField', 'IntegerField', 'IPAddressField', 'IPV4AddressField',
    'IPV6AddressField', 'ListOfDictOfNullableStringsField',
    'ListOfObjectsField', 'ListOfStringsField', 'MACAddressField',
    'ObjectField', 'PCIAddressField', 'SensitiveStringField',
    'SetOfIntegersField', 'StringField', 'UUIDField',
    # nova's enums, carried as free strings
    'EnumStringField', 'ArchitectureField', 'BlockDeviceDestinationTypeField',
    'BlockDeviceSourceTypeField', 'BlockDeviceTypeField',
    'CPUAllocationPolicyField', 'CPUEmulatorThreadsPolicyField',
    'CPUFeaturePolicyField', 'CPUMatchField', 'CPUModeField',
    'CPUThreadAllocationPolicyField', 'HVTypeField',
    'PCINUMAAffinityPolicyField',
    'PciDeviceStatusField', 'PciDeviceTypeField', 'VMModeField',
    # nova's own types
    'IDEAddressField', 'NetworkInfo', 'NetworkModel', 'NetworkModelField',
    'SCSIAddressField', 'USBAddressField', 'XenAddressField',
]

BooleanField = fields.BooleanField
DateTimeField = fields.DateTimeField
DictOfIntegersField = fields.DictOfIntegersField
DictOfNullableStringsField = fields.DictOfNullableStringsField
DictOfStringsField = fields.DictOfStringsField
DictProxyField = fields.DictProxyField
EnumField = fields.EnumField
Field = fields.Field
FloatField = fields.FloatField
IntegerField = fields.IntegerField
IPAddressField = fields.IPAddressField
IPV4AddressField = fields.IPV4AddressField
IPV6AddressField = fields.IPV6AddressField
ListOfDictOfNullableStringsField = fields.ListOfDictOfNullableStringsField
ListOfObjectsField = fields.ListOfObjectsField
ListOfStringsField = fields.ListOfStringsField
MACAddressField = fields.MACAddressField
ObjectField = fields.ObjectField
PCIAddressField = fields.PCIAddressField
SensitiveStringField = fields.SensitiveStringField
SetOfIntegersField = fields.SetOfIntegersField
StringField = fields.StringField
UUIDField = fields.UUIDField


class EnumStringField(fields.StringField):
    """A nova enum field, carried as an unchecked string (see module doc)."""


class ArchitectureField(EnumStringField):
    """nova ``Architecture`` (``x86_64``, ``aarch64``, ...)."""


class BlockDeviceDestinationTypeField(EnumStringField):
    """nova ``BlockDeviceDestinationType`` (``local``, ``volume``)."""


class BlockDeviceSourceTypeField(EnumStringField):
    """nova ``BlockDeviceSourceType`` (``blank``, ``image``, ...)."""


class BlockDeviceTypeField(EnumStringField):
    """nova ``BlockDeviceType`` (``disk``, ``cdrom``, ...)."""


class CPUAllocationPolicyField(EnumStringField):
    """nova ``CPUAllocationPolicy`` (``dedicated``, ``shared``)."""


class CPUEmulatorThreadsPolicyField(EnumStringField):
    """nova ``CPUEmulatorThreadsPolicy`` (``share``, ``isolate``)."""


class CPUFeaturePolicyField(EnumStringField):
    """nova ``CPUFeaturePolicy`` (``require``, ``disable``, ...)."""


class CPUMatchField(EnumStringField):
    """nova ``CPUMatch`` (``exact``, ``minimum``, ``strict``)."""


class CPUModeField(EnumStringField):
    """nova ``CPUMode`` (``host-model``, ``custom``, ...)."""


class CPUThreadAllocationPolicyField(EnumStringField):
    """nova ``CPUThreadAllocationPolicy`` (``prefer``, ``isolate``, ...)."""


class HVTypeField(EnumStringField):
    """nova ``HVType`` (``kvm``, ``qemu``, ``ironic``, ...)."""


class PCINUMAAffinityPolicyField(EnumStringField):
    """nova ``PCINUMAAffinityPolicy`` (``legacy``, ``preferred``, ...)."""


class PciDeviceStatusField(EnumStringField):
    """nova ``PciDeviceStatus`` (``available``, ``allocated``, ...)."""


class PciDeviceTypeField(EnumStringField):
    """nova ``PciDeviceType`` (``type-PCI``, ``type-PF``, ``type-VF``)."""


class VMModeField(EnumStringField):
    """nova ``VMMode`` (``hvm``, ``xen``, ``exe``, ...)."""


class _PatternString(fields.FieldType):
    """A string that must start with a match of ``PATTERN`` (nova's check)."""

    PATTERN = ''

    def coerce(self, obj, attr, value):
        value = str(value)
        if not re.match(self.PATTERN, value):
            raise ValueError('Value must match %s' % self.PATTERN)
        return value

    def get_schema(self):
        return {'type': ['string'], 'pattern': self.PATTERN}


class _USBAddress(_PatternString):
    PATTERN = '[a-f0-9]+:[a-f0-9]+'


class _SCSIAddress(_PatternString):
    PATTERN = '[a-f0-9]+:[a-f0-9]+:[a-f0-9]+:[a-f0-9]+'


class _IDEAddress(_PatternString):
    PATTERN = '[0-1]:[0-1]'


class _XenAddress(_PatternString):
    PATTERN = '(00[0-9]{2}00)|[1-9][0-9]+'


class USBAddressField(fields.AutoTypedField):
    AUTO_TYPE = _USBAddress()


class SCSIAddressField(fields.AutoTypedField):
    AUTO_TYPE = _SCSIAddress()


class IDEAddressField(fields.AutoTypedField):
    AUTO_TYPE = _IDEAddress()


class XenAddressField(fields.AutoTypedField):
    AUTO_TYPE = _XenAddress()


class NetworkInfo(list):
    """An instance's network info: the list of its VIFs, as plain dicts.

    Stands in for nova's ``network.model.NetworkInfo``; ``json()`` gives the
    string that travels in ``InstanceInfoCache.network_info``.
    """

    def json(self):
        return jsonutils.dumps(self)

    @classmethod
    def hydrate(cls, value):
        """Build from the wire form (a JSON string) or from a list."""
        if isinstance(value, str):
            value = jsonutils.loads(value)
        return cls(value)


class NetworkModel(fields.FieldType):
    """Field type: a :class:`NetworkInfo`, as JSON text on the wire."""

    @staticmethod
    def coerce(obj, attr, value):
        if isinstance(value, (str, list)):
            return NetworkInfo.hydrate(value)
        raise ValueError('A NetworkModel is required in field %s' % attr)

    @staticmethod
    def to_primitive(obj, attr, value):
        return NetworkInfo.hydrate(value).json()

    @staticmethod
    def from_primitive(obj, attr, value):
        return NetworkInfo.hydrate(value)

    def stringify(self, value):
        return 'NetworkModel(%s)' % ','.join(
            str(vif.get('id')) for vif in value if isinstance(vif, dict))

    def get_schema(self):
        return {'type': ['string']}


class NetworkModelField(fields.AutoTypedField):
    AUTO_TYPE = NetworkModel()
