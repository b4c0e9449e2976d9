"""Instance: all of nova Stein's 2.4 fields survive the wire, and in-place
metadata edits count as changes, as in nova."""

import json

import pytest

from nova_cells import objects
from nova_cells.objects import base
from tests.unit.objects import fakes
from tests.unit.objects.test_wire_compat import canonical


def _through_json(serializer, obj):
    wire = json.dumps(serializer.serialize_entity(None, obj))
    return serializer.deserialize_entity(None, json.loads(wire))


def test_every_field_is_set_in_the_fake():
    inst = fakes.instance()
    unset = [name for name in inst.fields if not inst.obj_attr_is_set(name)]
    assert unset == []


def test_full_instance_round_trips_through_json(serializer):
    inst = fakes.instance()
    first = serializer.serialize_entity(None, inst)
    again = serializer.serialize_entity(None, _through_json(serializer, inst))
    assert canonical(again) == canonical(first)


@pytest.mark.parametrize('path, expected', [
    ('info_cache.network_info', fakes.NETWORK_INFO_JSON),
    ('access_ip_v4', '192.0.2.5'),
    ('launched_at', '2026-11-27T20:35:53Z'),
    ('system_metadata', {'image_min_ram': '0', 'owner_user_name': None}),
], ids=['network_info-string-kept', 'ip-as-string', 'isotime-Z',
        'nullable-sysmeta'])
def test_primitive_values_are_novas(serializer, path, expected):
    node = serializer.serialize_entity(None, fakes.instance())
    for part in path.split('.'):
        node = node['nova_object.data'][part]
    assert node == expected


def test_polymorphic_device_metadata_keeps_its_classes(serializer):
    inst = _through_json(serializer, fakes.instance())
    nic, disk = inst.device_metadata.devices
    assert (nic.obj_name(), nic.bus.obj_name()) == (
        'NetworkInterfaceMetadata', 'PCIDeviceBus')
    assert (disk.obj_name(), disk.bus.obj_name()) == (
        'DiskMetadata', 'SCSIDeviceBus')


def test_nested_values_come_back_typed(serializer):
    inst = _through_json(serializer, fakes.instance())
    assert inst.numa_topology.cells[0].cpuset == {0, 1}
    assert inst.services[0].compute_node.pci_device_pools[0].count == 2
    assert inst.info_cache.network_info[0]['address'] == 'fa:16:3e:4c:2c:30'
    assert inst.launched_at == fakes.WHEN


def test_received_instance_has_only_the_senders_changes(serializer):
    sent = fakes.instance()
    sent.obj_reset_changes(recursive=True)
    sent.vm_state = 'error'
    inst = _through_json(serializer, sent)
    assert inst.obj_what_changed() == {'vm_state'}


@pytest.mark.parametrize('field', ['metadata', 'system_metadata'])
def test_in_place_metadata_edit_is_a_change(field):
    inst = fakes.instance()
    inst.obj_reset_changes()
    getattr(inst, field)['new'] = 'value'
    assert field in inst.obj_what_changed()
    inst.obj_reset_changes([field])
    assert field not in inst.obj_what_changed()


def test_clone_keeps_metadata_baseline():
    inst = fakes.instance()
    inst.obj_reset_changes()
    clone = inst.obj_clone()
    assert 'metadata' not in clone.obj_what_changed()


@pytest.mark.parametrize('target, dropped', [
    ('2.3', {'trusted_certs'}),
    ('2.2', {'trusted_certs', 'device_metadata'}),
    ('2.0', {'trusted_certs', 'device_metadata', 'keypairs', 'services'}),
], ids=['to-2.3', 'to-2.2', 'to-2.0'])
def test_backport_drops_later_fields(target, dropped):
    data = fakes.backported_data(fakes.instance(), target)
    assert dropped.isdisjoint(data)
    assert {'flavor', 'uuid', 'ec2_ids'} <= set(data)


def test_name_follows_novas_default_template():
    assert objects.Instance(id=255).name == 'instance-000000ff'
    assert objects.Instance(uuid=fakes.UUID1).name == ''


def test_obj_to_primitive_gives_plain_data():
    plain = base.obj_to_primitive(fakes.instance())
    assert plain['flavor']['name'] == 'm1.tiny'
    assert plain['security_groups'][0]['name'] == 'default'
    assert plain['access_ip_v4'] == '192.0.2.5'
    assert plain['name'] == 'instance-00000001'


def test_numa_cell_optional_fields_default_to_none_unchanged():
    cell = objects.InstanceNUMACell(id=0, cpuset={0}, memory=512,
                                    cpu_pinning={0: 4})
    assert cell.pagesize is None and cell.cpuset_reserved is None
    assert cell.cpu_pinning_raw == {'0': 4}
    assert cell.cpu_pinning == {0: 4}
    assert 'pagesize' not in cell.obj_what_changed()
