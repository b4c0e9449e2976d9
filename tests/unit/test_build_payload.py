"""The build_instances payload across Cells RPC versions (reference §5.2,
§6.1): ``downgrade`` shapes it for an older server as nova's CellsAPI did
(1.34 objects, 1.32 primitive BDMs + legacy_bdm, 1.30 instance dicts, 1.8 a
flavor dict); ``upgrade`` turns any of them back into objects."""

import copy
import datetime
import uuid

import pytest

from nova_cells.service import assembly
from nova_cells.objects import build_payload
from nova_cells.objects import base as objects_base
from nova_cells.objects import block_device
from nova_cells.objects import flavor as flavor_obj
from nova_cells.objects import instance as instance_obj
from tests.unit import sched_support as ss

UUID = 'a0b1c2d3-0000-4000-8000-000000000001'


def can_send(cap):
    """oslo.messaging's rule: same major, minor not above the cap."""
    cap_major, cap_minor = (int(x) for x in cap.split('.'))

    def check(version):
        major, minor = (int(x) for x in version.split('.'))
        return major == cap_major and minor <= cap_minor
    return check


def payload():
    assembly.object_serializer()  # registers every object class
    the_flavor = ss.flavor('m1.medium', 4096, 2, 40, flavor_id=2)
    instance = instance_obj.Instance(
        uuid=UUID, display_name='vm-1', project_id='p', user_id='u',
        vm_state='building', task_state='scheduling', flavor=the_flavor,
        metadata={'role': 'db'}, system_metadata={'image_os': 'cirros'},
        image_ref=ss.IMAGE['id'])
    bdms = block_device.BlockDeviceMappingList(objects=[
        block_device.BlockDeviceMapping(
            instance_uuid=UUID, source_type='image',
            destination_type='local', boot_index=0, device_name='/dev/vda',
            image_id=ss.IMAGE['id'])])
    kwargs = ss.build_kwargs([instance], the_flavor,
                             hints={'different_cell': ['api!c1']},
                             image=dict(ss.IMAGE, created_at=datetime.datetime(
                                 2026, 3, 1, 12, 0, 0)))
    kwargs.update(block_device_mapping=bdms, legacy_bdm=False)
    return kwargs


# -- downgrade ----------------------------------------------------------------

# cap -> (version, instance type, flavor type, BDM type, legacy_bdm sent)
DOWNGRADE_CASES = [
    pytest.param('1.40', '1.34', instance_obj.Instance, flavor_obj.Flavor,
                 block_device.BlockDeviceMappingList, False,
                 id='1.40-sends-1.34'),
    pytest.param('1.34', '1.34', instance_obj.Instance, flavor_obj.Flavor,
                 block_device.BlockDeviceMappingList, False, id='kilo-1.34'),
    pytest.param('1.33', '1.32', instance_obj.Instance, flavor_obj.Flavor,
                 list, True, id='1.33-sends-1.32'),
    pytest.param('1.32', '1.32', instance_obj.Instance, flavor_obj.Flavor,
                 list, True, id='1.32-primitive-bdms'),
    pytest.param('1.31', '1.30', dict, flavor_obj.Flavor, list, True,
                 id='1.31-sends-1.30'),
    pytest.param('1.30', '1.30', dict, flavor_obj.Flavor, list, True,
                 id='1.30-instance-dicts'),
    pytest.param('1.29', '1.8', dict, dict, list, True, id='juno-1.8'),
    pytest.param('1.8', '1.8', dict, dict, list, True, id='1.8-flavor-dict'),
]


@pytest.mark.parametrize('cap, version, instance_type, flavor_type, '
                         'bdm_type, legacy_bdm', DOWNGRADE_CASES)
def test_downgrade_shapes(cap, version, instance_type, flavor_type,
                          bdm_type, legacy_bdm):
    sent_version, kwargs = build_payload.downgrade(payload(), can_send(cap))
    assert sent_version == version
    assert type(kwargs['instances'][0]) is instance_type
    assert type(kwargs['filter_properties']['instance_type']) is flavor_type
    assert type(kwargs['block_device_mapping']) is bdm_type
    assert ('legacy_bdm' in kwargs) is legacy_bdm
    assert kwargs['image']['created_at'] == '2026-03-01T12:00:00.000000', \
        'the image is always made primitive'
    assert kwargs['filter_properties']['scheduler_hints'] == {
        'different_cell': ['api!c1']}


def test_downgrade_to_1_8_gives_plain_values():
    _version, kwargs = build_payload.downgrade(payload(), can_send('1.8'))
    instance = kwargs['instances'][0]
    assert {k: instance[k] for k in ('uuid', 'display_name', 'vm_state',
                                     'metadata', 'system_metadata')} == {
        'uuid': UUID, 'display_name': 'vm-1', 'vm_state': 'building',
        'metadata': {'role': 'db'}, 'system_metadata': {'image_os': 'cirros'}}
    flavor = kwargs['filter_properties']['instance_type']
    assert {k: flavor[k] for k in ('id', 'name', 'memory_mb', 'vcpus',
                                   'root_gb', 'flavorid')} == {
        'id': 2, 'name': 'm1.medium', 'memory_mb': 4096, 'vcpus': 2,
        'root_gb': 40, 'flavorid': '2'}
    assert kwargs['block_device_mapping'] == [{
        'instance_uuid': UUID, 'source_type': 'image',
        'destination_type': 'local', 'boot_index': 0,
        'device_name': '/dev/vda', 'image_id': ss.IMAGE['id']}]
    assert kwargs['legacy_bdm'] is False


@pytest.mark.parametrize('cap', ['1.34', '1.32', '1.30', '1.8'])
def test_downgrade_does_not_change_its_input(cap):
    original = payload()
    snapshot = {'instances': list(original['instances']),
                'filter_properties': copy.copy(
                    original['filter_properties']),
                'block_device_mapping': original['block_device_mapping'],
                'image': dict(original['image'])}
    build_payload.downgrade(original, can_send(cap))
    assert original['instances'] == snapshot['instances']
    assert original['filter_properties'] == snapshot['filter_properties']
    assert isinstance(original['filter_properties']['instance_type'],
                      flavor_obj.Flavor)
    assert original['block_device_mapping'] is \
        snapshot['block_device_mapping']
    assert original['image'] == snapshot['image']
    assert original['legacy_bdm'] is False


# -- upgrade ------------------------------------------------------------------

def _payload_1_8():
    """As an Icehouse/Juno nova-api sent it: dicts everywhere."""
    instance_uuid = str(uuid.uuid4())
    return {
        'instances': [{
            'id': 7, 'uuid': instance_uuid, 'display_name': 'old-vm',
            'vm_state': 'building', 'task_state': 'scheduling',
            'project_id': 'p', 'user_id': 'u', 'deleted': False,
            'name': 'instance-00000007', 'memory_mb': 2048,
            'created_at': '2014-05-01T10:00:00.000000',
            'metadata': {'role': 'web'}, 'system_metadata': {'a': 'b'},
            'info_cache': {'network_info': '[]'}, 'bogus_column': 1,
            'launch_index': 'not-an-int'}],
        'image': dict(ss.IMAGE),
        'filter_properties': {
            'instance_type': {'id': 1, 'name': 'm1.small', 'memory_mb': 2048,
                              'vcpus': 1, 'root_gb': 20, 'ephemeral_gb': 0,
                              'flavorid': '1', 'swap': 0, 'rxtx_factor': 1.0,
                              'vcpu_weight': None, 'disabled': False,
                              'is_public': True, 'extra_specs': {}},
            'scheduler_hints': {'target_cell': 'api!c1'}},
        'admin_password': 'secret', 'injected_files': [],
        'requested_networks': None, 'security_groups': ['default'],
        'block_device_mapping': [], 'legacy_bdm': True,
    }


def test_upgrade_of_a_1_8_payload_gives_objects():
    original = _payload_1_8()
    kwargs = build_payload.upgrade(original)
    instance, = kwargs['instances']
    assert isinstance(instance, instance_obj.Instance)
    source = original['instances'][0]
    assert (instance.uuid, instance.display_name, instance.vm_state,
            instance.task_state, instance.id, instance.memory_mb) == (
        source['uuid'], 'old-vm', 'building', 'scheduling', 7, 2048)
    assert instance.metadata == {'role': 'web'}
    assert instance.system_metadata == {'a': 'b'}
    assert instance.created_at.replace(tzinfo=None) == datetime.datetime(
        2014, 5, 1, 10, 0, 0)
    for skipped in ('info_cache', 'deleted', 'launch_index'):
        assert not instance.obj_attr_is_set(skipped), \
            '%s: objects, deleted and bad values are not taken' % skipped
    flavor = kwargs['filter_properties']['instance_type']
    assert isinstance(flavor, flavor_obj.Flavor)
    assert (flavor.id, flavor.name, flavor.memory_mb, flavor.flavorid) == (
        1, 'm1.small', 2048, '1')
    assert kwargs['filter_properties']['scheduler_hints'] == {
        'target_cell': 'api!c1'}
    assert 'legacy_bdm' not in kwargs
    assert kwargs['admin_password'] == 'secret'
    assert isinstance(original['instances'][0], dict), 'input unchanged'
    assert original['legacy_bdm'] is True


def test_upgrade_of_a_flavor_primitive():
    assembly.object_serializer()
    primitive = ss.flavor('m1.large', 8192, 4, 80, 3).obj_to_primitive()
    kwargs = build_payload.upgrade({'instances': [],
                                    'filter_properties': {
                                        'instance_type': primitive}})
    flavor = kwargs['filter_properties']['instance_type']
    assert isinstance(flavor, flavor_obj.Flavor)
    assert (flavor.name, flavor.memory_mb) == ('m1.large', 8192)


def test_upgrade_keeps_objects_as_they_are():
    kwargs = payload()
    upgraded = build_payload.upgrade(kwargs)
    assert upgraded['instances'][0] is kwargs['instances'][0]
    assert upgraded['filter_properties']['instance_type'] is \
        kwargs['filter_properties']['instance_type']
    assert 'legacy_bdm' not in upgraded


@pytest.mark.parametrize('cap', ['1.34', '1.32', '1.30', '1.8'])
def test_downgrade_then_upgrade_round_trip(cap):
    _version, sent = build_payload.downgrade(payload(), can_send(cap))
    kwargs = build_payload.upgrade(sent)
    instance, = kwargs['instances']
    flavor = kwargs['filter_properties']['instance_type']
    assert isinstance(instance, instance_obj.Instance)
    assert isinstance(flavor, flavor_obj.Flavor)
    assert (instance.uuid, instance.display_name, instance.metadata) == (
        UUID, 'vm-1', {'role': 'db'})
    assert (flavor.name, flavor.memory_mb, flavor.vcpus) == ('m1.medium',
                                                             4096, 2)
    assert 'legacy_bdm' not in kwargs


def test_obj_to_primitive_is_what_1_8_flavors_look_like():
    # the 1.8 shape is nova's objects_base.obj_to_primitive(flavor)
    the_flavor = ss.flavor()
    _version, kwargs = build_payload.downgrade(
        {'instances': [], 'filter_properties': {'instance_type': the_flavor}},
        can_send('1.8'))
    assert kwargs['filter_properties']['instance_type'] == \
        objects_base.obj_to_primitive(the_flavor)
