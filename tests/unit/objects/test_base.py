"""The base layer: registry, namespaces, serializer, backports."""

import pytest
from oslo_versionedobjects import base as ovo_base

from nova_cells import objects
from nova_cells.objects import base
from tests.unit.objects import fakes

# nova Stein (19.x) versions of every object we define; a new class or a
# version bump must show up here on purpose.
STEIN_VERSIONS = {
    'BlockDeviceMapping': '1.20', 'BlockDeviceMappingList': '1.17',
    'ComputeNode': '1.18', 'ComputeNodeList': '1.17',
    'DeviceBus': '1.0', 'DeviceMetadata': '1.0', 'DiskMetadata': '1.0',
    'EC2Ids': '1.0', 'Flavor': '1.2', 'FlavorList': '1.1', 'HVSpec': '1.2',
    'IDEDeviceBus': '1.0', 'Instance': '2.4', 'InstanceAction': '1.1',
    'InstanceActionEvent': '1.2', 'InstanceActionEventList': '1.1',
    'InstanceActionList': '1.1', 'InstanceDeviceMetadata': '1.0',
    'InstanceFault': '1.2', 'InstanceFaultList': '1.2',
    'InstanceInfoCache': '1.5', 'InstanceList': '2.4',
    'InstanceNUMACell': '1.4', 'InstanceNUMATopology': '1.3',
    'InstancePCIRequest': '1.3', 'InstancePCIRequests': '1.1',
    'KeyPair': '1.4', 'KeyPairList': '1.3', 'Migration': '1.5',
    'MigrationContext': '1.1', 'MigrationList': '1.4',
    'NetworkInterfaceMetadata': '1.2', 'NetworkRequest': '1.2',
    'NetworkRequestList': '1.1', 'PCIDeviceBus': '1.0', 'PciDevice': '1.6',
    'PciDeviceList': '1.3', 'PciDevicePool': '1.1',
    'PciDevicePoolList': '1.1', 'SCSIDeviceBus': '1.0',
    'SecurityGroup': '1.2', 'SecurityGroupList': '1.1', 'Service': '1.22',
    'ServiceList': '1.19', 'Tag': '1.1', 'TagList': '1.1',
    'TrustedCerts': '1.0', 'USBDeviceBus': '1.0', 'VirtCPUFeature': '1.0',
    'VirtCPUModel': '1.0', 'VirtCPUTopology': '1.0', 'XenDeviceBus': '1.0',
}


def _ours():
    return {name: classes[0]
            for name, classes in ovo_base.VersionedObjectRegistry
            .obj_classes().items()
            if issubclass(classes[0], base.NovaObject)}


def test_registered_classes_are_exactly_the_table():
    assert sorted(_ours()) == sorted(STEIN_VERSIONS)


@pytest.mark.parametrize('name', sorted(STEIN_VERSIONS))
def test_stein_version(name):
    cls = _ours()[name]
    assert cls.VERSION == STEIN_VERSIONS[name]
    assert cls.OBJ_PROJECT_NAMESPACE == 'nova'
    assert getattr(objects, name) is cls


def test_register_all_twice_is_harmless():
    before = dict(_ours())
    objects.register_all()
    assert _ours() == before


def test_persistent_mixin_adds_soft_delete_columns():
    assert {'created_at', 'updated_at', 'deleted_at', 'deleted'} <= set(
        objects.Flavor.fields)
    assert 'deleted' not in objects.EC2Ids.fields


def test_primitive_keys_are_novas():
    primitive = objects.EC2Ids(instance_id='i-1').obj_to_primitive()
    assert primitive['nova_object.name'] == 'EC2Ids'
    assert primitive['nova_object.namespace'] == 'nova'
    assert primitive['nova_object.version'] == '1.0'
    assert primitive['nova_object.changes'] == ['instance_id']


def test_list_primitive_keys_are_novas():
    primitive = objects.TagList(objects=[]).obj_to_primitive()
    assert primitive['nova_object.name'] == 'TagList'
    assert primitive['nova_object.data'] == {'objects': []}


@pytest.mark.parametrize('container', [list, tuple, set],
                         ids=['list', 'tuple', 'set'])
def test_serializer_walks_containers(serializer, container):
    tags = container(['a', 'b'])
    assert serializer.serialize_entity(None, tags) == (
        list(tags) if container is set else tags)


def test_serializer_leaves_plain_values_alone(serializer):
    payload = {'a': 1, 'b': [None, 'x'], 'c': {'d': True}}
    assert serializer.deserialize_entity(None, payload) == payload
    assert serializer.serialize_entity(None, payload) == payload


@pytest.mark.parametrize('make, target, dropped', [
    (fakes.compute_node, '1.16', {'mapped'}),
    (fakes.service, '1.20', {'uuid'}),
    (lambda: fakes.pci_requests().requests[0], '1.1',
     {'numa_policy', 'requester_id'}),
    (lambda: objects.NetworkRequest(network_id='n', tag='t'), '1.1',
     {'tag'}),
], ids=['ComputeNode', 'Service', 'InstancePCIRequest', 'NetworkRequest'])
def test_backport_drops_fields_added_later(make, target, dropped):
    data = fakes.backported_data(make(), target)
    assert dropped.isdisjoint(data)


def test_pci_device_backport_moves_parent_address():
    data = fakes.backported_data(fakes.pci_device(), '1.3')
    assert 'parent_addr' not in data
    assert data['extra_info']['phys_function'] == '0000:04:00.0'


def test_obj_to_primitive_helper_turns_lists_into_lists():
    plain = base.obj_to_primitive(fakes.service().compute_node)
    assert plain['pci_device_pools'][0]['vendor_id'] == '8086'
    assert plain['host_ip'] == '192.0.2.10'


# -- the fast paths of NovaObject (same answers as oslo.versionedobjects) ----


def _ovo_what_changed(obj):
    return ovo_base.VersionedObject.obj_what_changed(obj)


def _ovo_attr_is_set(obj, name):
    return ovo_base.VersionedObject.obj_attr_is_set(obj, name)


@pytest.mark.parametrize('make', [fakes.instance, fakes.flavor,
                                  fakes.compute_node, fakes.service])
def test_attr_is_set_answers_as_ovo_does(make):
    obj = make()
    for name in obj.obj_fields:
        assert obj.obj_attr_is_set(name) == _ovo_attr_is_set(obj, name)
    with pytest.raises(AttributeError, match='no attribute'):
        obj.obj_attr_is_set('no_such_field')


def test_attr_is_set_follows_deletion():
    instance = fakes.instance()
    assert instance.obj_attr_is_set('host')
    delattr(instance, 'host')
    assert not instance.obj_attr_is_set('host')


def test_nested_change_shows_on_the_parent():
    instance = fakes.instance()
    instance.obj_reset_changes(recursive=True)
    assert instance.obj_what_changed() == set()
    instance.flavor.memory_mb += 1
    assert instance.obj_what_changed() == {'flavor'}
    assert _ovo_what_changed(instance) == {'flavor'}


def test_own_changes_and_nested_changes_together():
    instance = fakes.instance()
    instance.obj_reset_changes(recursive=True)
    instance.host = 'elsewhere'
    instance.numa_topology.cells[0].id = 7   # a list inside: not seen
    instance.info_cache.network_info = '[]'
    assert instance.obj_what_changed() == _ovo_what_changed(instance) == {
        'host', 'info_cache'}


@pytest.mark.parametrize('make', [fakes.instance, fakes.compute_node,
                                  fakes.flavor])
def test_what_changed_answers_as_ovo_does(make):
    obj = make()
    assert obj.obj_what_changed() >= _ovo_what_changed(obj)
    assert obj.obj_what_changed() - _ovo_what_changed(obj) <= {
        'extra_specs', 'projects', 'metadata', 'system_metadata'}
    obj.obj_reset_changes(recursive=True)
    assert obj.obj_what_changed() == _ovo_what_changed(obj) == set()
