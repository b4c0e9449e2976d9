"""Fully populated objects for round-trip tests: every field set, nested
objects included, so that a field whose type does not survive JSON shows."""

import datetime

from oslo_versionedobjects import base as ovo_base

from nova_cells import objects

UUID1 = '69598452-d087-4b00-bf4c-acf535f8b9e7'
UUID2 = '91e7f058-fc0b-4211-83f6-1e6733b892e6'
WHEN = datetime.datetime(2026, 11, 27, 20, 35, 53,
                         tzinfo=datetime.timezone.utc)

# A VIF as nova writes it into instance_info_caches.network_info.
NETWORK_INFO_JSON = (
    '[{"profile": {}, "ovs_interfaceid": null, "preserve_on_delete": false, '
    '"network": {"bridge": "br100", "subnets": [{"ips": [{"meta": {}, '
    '"version": 4, "type": "fixed", "floating_ips": [], '
    '"address": "10.0.0.2"}], "version": 4, "meta": {}, "dns": [], '
    '"routes": [], "cidr": "10.0.0.0/24", "gateway": {"meta": {}, '
    '"version": 4, "type": "gateway", "address": "10.0.0.1"}}], '
    '"meta": {"injected": false, "tenant_id": "p"}, "id": "net-1", '
    '"label": "private"}, "devname": null, "vnic_type": "normal", '
    '"qbh_params": null, "meta": {}, "details": {}, '
    '"address": "fa:16:3e:4c:2c:30", "active": true, "type": "bridge", '
    '"id": "' + UUID2 + '", "qbg_params": null}]')


def persistent():
    return dict(created_at=WHEN, updated_at=WHEN, deleted_at=None,
                deleted=False)


def flavor(**extra):
    values = dict(id=1, name='m1.tiny', memory_mb=512, vcpus=1, root_gb=1,
                  ephemeral_gb=0, flavorid='1', swap=0, rxtx_factor=1.0,
                  vcpu_weight=None, disabled=False, is_public=True,
                  extra_specs={'hw:cpu_policy': 'dedicated'},
                  projects=['p'], description='tiny', **persistent())
    values.update(extra)
    return objects.Flavor(**values)


def compute_node():
    pools = objects.PciDevicePoolList(objects=[objects.PciDevicePool(
        product_id='0443', vendor_id='8086', numa_node=0,
        tags={'dev_type': 'type-VF', 'physical_network': None}, count=2)])
    return objects.ComputeNode(
        id=3, uuid=UUID2, service_id=1, host='gc-cmp1', vcpus=8,
        memory_mb=16384, local_gb=200, vcpus_used=1, memory_mb_used=512,
        local_gb_used=1, hypervisor_type='QEMU', hypervisor_version=2011000,
        hypervisor_hostname='gc-cmp1', free_ram_mb=15872, free_disk_gb=199,
        current_workload=0, running_vms=1, cpu_info='{"arch": "x86_64"}',
        disk_available_least=190, metrics='[]', stats={'num_instances': '1'},
        host_ip='192.0.2.10', numa_topology=None,
        supported_hv_specs=[objects.HVSpec(arch='x86_64', hv_type='qemu',
                                           vm_mode='hvm')],
        pci_device_pools=pools, cpu_allocation_ratio=16.0,
        ram_allocation_ratio=1.5, disk_allocation_ratio=1.0, mapped=1,
        **persistent())


def service():
    return objects.Service(
        id=1, uuid=UUID1, host='gc-cmp1', binary='nova-compute',
        topic='compute', report_count=3, disabled=False, disabled_reason=None,
        availability_zone='nova', compute_node=compute_node(),
        last_seen_up=WHEN, forced_down=False, version=37, **persistent())


def pci_device():
    return objects.PciDevice(
        id=1, uuid=UUID2, compute_node_id=3, address='0000:04:10.0',
        vendor_id='8086', product_id='1520', dev_type='type-VF',
        status='allocated', dev_id='pci_0000_04_10_0', label='label_8086',
        instance_uuid=UUID1, request_id=None, extra_info={},
        numa_node=0, parent_addr='0000:04:00.0', **persistent())


def numa_topology():
    cell = objects.InstanceNUMACell(
        id=0, cpuset={0, 1}, memory=512, pagesize=4,
        cpu_topology=objects.VirtCPUTopology(sockets=1, cores=2, threads=1),
        cpu_pinning_raw={'0': 4, '1': 5}, cpu_policy='dedicated',
        cpu_thread_policy='prefer', cpuset_reserved={6})
    return objects.InstanceNUMATopology(
        id=1, instance_uuid=UUID1, cells=[cell],
        emulator_threads_policy='share')


def pci_requests():
    return objects.InstancePCIRequests(
        instance_uuid=UUID1, requests=[objects.InstancePCIRequest(
            count=1, spec=[{'vendor_id': '8086', 'physical_network': None}],
            alias_name='nic', is_new=False, request_id=UUID2,
            requester_id='port-1', numa_policy='preferred')])


def device_metadata():
    nic = objects.NetworkInterfaceMetadata(
        bus=objects.PCIDeviceBus(address='0000:00:02.0'), tags=['nic1'],
        mac='fa:16:3e:4c:2c:30', vlan=1000, vf_trusted=True)
    disk = objects.DiskMetadata(
        bus=objects.SCSIDeviceBus(address='0:0:0:1'), tags=['db'],
        serial='disk-1', path='/dev/sdb')
    return objects.InstanceDeviceMetadata(devices=[nic, disk])


def instance():
    """An Instance 2.4 with every one of nova Stein's fields set."""
    return objects.Instance(
        id=1, user_id='u', project_id='p', image_ref=UUID2, kernel_id='',
        ramdisk_id='', hostname='vm-1', launch_index=0, key_name='key',
        key_data='ssh-rsa AAAA', power_state=1, vm_state='active',
        task_state=None, services=objects.ServiceList(objects=[service()]),
        memory_mb=512, vcpus=1, root_gb=1, ephemeral_gb=0,
        ephemeral_key_uuid=None, host='gc-cmp1', node='gc-cmp1',
        instance_type_id=1, user_data='IyEvYmluL3No', reservation_id='r-1',
        launched_at=WHEN, terminated_at=None, availability_zone='nova',
        display_name='vm-1', display_description='vm', launched_on='gc-cmp1',
        locked=False, locked_by=None, os_type='linux', architecture='x86_64',
        vm_mode='hvm', uuid=UUID1, root_device_name='/dev/vda',
        default_ephemeral_device=None, default_swap_device=None,
        config_drive='', access_ip_v4='192.0.2.5', access_ip_v6='2001:db8::5',
        auto_disk_config=False, progress=100, shutdown_terminate=False,
        disable_terminate=False, cell_name='api!child!gc',
        metadata={'role': 'db'}, system_metadata={'image_min_ram': '0',
                                                  'owner_user_name': None},
        info_cache=objects.InstanceInfoCache(
            instance_uuid=UUID1, network_info=NETWORK_INFO_JSON,
            **persistent()),
        security_groups=objects.SecurityGroupList(objects=[
            objects.SecurityGroup(id=1, name='default', description='d',
                                  user_id='u', project_id='p', uuid=UUID2,
                                  **persistent())]),
        fault=objects.InstanceFault(id=1, instance_uuid=UUID1, code=500,
                                    message='boom', details='trace',
                                    host='gc-cmp1', **persistent()),
        cleaned=False,
        pci_devices=objects.PciDeviceList(objects=[pci_device()]),
        numa_topology=numa_topology(), pci_requests=pci_requests(),
        device_metadata=device_metadata(),
        tags=objects.TagList(objects=[objects.Tag(resource_id=UUID1,
                                                  tag='prod')]),
        flavor=flavor(), old_flavor=flavor(id=2, flavorid='2'),
        new_flavor=None,
        vcpu_model=objects.VirtCPUModel(
            arch='x86_64', vendor='Intel',
            topology=objects.VirtCPUTopology(sockets=1, cores=1, threads=1),
            features=[objects.VirtCPUFeature(policy='require', name='vmx')],
            mode='host-model', model='Haswell', match='exact'),
        ec2_ids=objects.EC2Ids(instance_id='i-00000001', ami_id='ami-1',
                               kernel_id=None, ramdisk_id=None),
        migration_context=objects.MigrationContext(
            instance_uuid=UUID1, migration_id=7,
            new_numa_topology=numa_topology(), old_numa_topology=None,
            new_pci_devices=None, old_pci_devices=None,
            new_pci_requests=pci_requests(), old_pci_requests=None),
        keypairs=objects.KeyPairList(objects=[objects.KeyPair(
            id=1, name='key', user_id='u', fingerprint='aa:bb',
            public_key='ssh-rsa AAAA', type='ssh', **persistent())]),
        trusted_certs=objects.TrustedCerts(ids=['cert-1', 'cert-2']),
        **persistent())


def backported_data(obj, target_version):
    """``nova_object.data`` of ``obj`` backported as nova's conductor did it:
    with a manifest giving every nested class its current version."""
    manifest = ovo_base.obj_tree_get_versions(obj.obj_name())
    manifest[obj.obj_name()] = target_version
    primitive = obj.obj_to_primitive(target_version=target_version,
                                     version_manifest=manifest)
    assert primitive['nova_object.version'] == target_version
    return primitive['nova_object.data']
