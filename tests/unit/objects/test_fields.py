"""nova's own field types: network info, device addresses, free enums."""

import pytest

from nova_cells.objects import fields
from tests.unit.objects import fakes


class TestNetworkModel(object):
    field = fields.NetworkModelField(nullable=True)

    def test_wire_string_comes_back_unchanged(self):
        value = self.field.from_primitive(None, 'network_info',
                                          fakes.NETWORK_INFO_JSON)
        assert isinstance(value, fields.NetworkInfo)
        assert self.field.to_primitive(None, 'network_info', value) == (
            fakes.NETWORK_INFO_JSON)

    @pytest.mark.parametrize('given', ['[]', []], ids=['string', 'list'])
    def test_coerces_string_or_list(self, given):
        value = self.field.coerce(None, 'network_info', given)
        assert value == [] and isinstance(value, fields.NetworkInfo)

    def test_rejects_other_types(self):
        with pytest.raises(ValueError, match='NetworkModel is required'):
            self.field.coerce(None, 'network_info', 42)

    def test_none_allowed_when_nullable(self):
        assert self.field.to_primitive(None, 'network_info', None) is None


@pytest.mark.parametrize('field_cls, good, bad', [
    (fields.USBAddressField, '1:2', 'x'),
    (fields.SCSIAddressField, '0:0:0:1', '0:0'),
    (fields.IDEAddressField, '0:1', '2:2'),
    (fields.XenAddressField, '000100', 'abc'),
], ids=['usb', 'scsi', 'ide', 'xen'])
def test_device_addresses_follow_novas_patterns(field_cls, good, bad):
    field = field_cls()
    assert field.coerce(None, 'address', good) == good
    with pytest.raises(ValueError, match='must match'):
        field.coerce(None, 'address', bad)


def test_nova_enums_accept_values_we_do_not_know():
    """Documented leniency: a newer peer's enum value passes through."""
    field = fields.HVTypeField()
    assert field.coerce(None, 'hv_type', 'some-future-hv') == 'some-future-hv'
    assert field.to_primitive(None, 'hv_type', 'kvm') == 'kvm'
