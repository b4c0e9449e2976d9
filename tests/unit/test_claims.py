"""Claims on compute nodes (the builtin hand-off's resource accounting).

``claim_and_place`` charges the node and writes the instance's placement in
one transaction: both or neither.  Concurrent claims never over-commit.
"""

import threading

import pytest

from nova_cells.db import api as db_api
from nova_cells.db import instances as db_instances
from nova_cells.db import models
from nova_cells import exception


def _node(db, ram=4096, disk=40, vcpus=4):
    with db.writer() as session:
        node = models.ComputeNode(
            host='h1', hypervisor_hostname='h1', vcpus=vcpus, memory_mb=ram,
            local_gb=disk, vcpus_used=0, memory_mb_used=0, local_gb_used=0,
            free_ram_mb=ram, free_disk_gb=disk, hypervisor_type='QEMU',
            hypervisor_version=1, cpu_info='{}', deleted=0)
        session.add(node)
        session.flush()
        return node.id


def _instance(db, uuid):
    db_instances.instance_create(db, {'uuid': uuid, 'vm_state': 'building'})


def _node_row(db):
    nodes, _services = db_api.compute_nodes_with_services(db)
    return nodes[0]


def test_claim_and_place_writes_both(db):
    node_id = _node(db)
    _instance(db, 'u1')
    row = db_instances.claim_and_place(db, node_id, 1024, 10, 1, 'u1',
                                       {'host': 'h1', 'vm_state': 'active'})
    assert (row['host'], row['vm_state']) == ('h1', 'active')
    node = _node_row(db)
    assert (node['free_ram_mb'], node['free_disk_gb'], node['vcpus_used'],
            node['running_vms']) == (3072, 30, 1, 1)


def test_no_room_writes_neither(db):
    node_id = _node(db, ram=1024)
    _instance(db, 'u1')
    assert db_instances.claim_and_place(
        db, node_id, 2048, 10, 1, 'u1', {'host': 'h1'}) is None
    assert db_instances.instance_get(db, 'u1')['host'] is None
    assert _node_row(db)['free_ram_mb'] == 1024


def test_a_missing_instance_charges_no_node(db):
    node_id = _node(db)
    _instance(db, 'u1')
    db_instances.instance_destroy(db, 'u1')
    with pytest.raises(exception.InstanceNotFound):
        db_instances.claim_and_place(db, node_id, 1024, 10, 1, 'u1',
                                     {'host': 'h1'})
    node = _node_row(db)
    assert (node['free_ram_mb'], node['vcpus_used']) == (4096, 0)


def test_the_placement_stamps_updated_at_and_keeps_other_columns(db):
    node_id = _node(db)
    db_instances.instance_create(db, {'uuid': 'u1', 'vm_state': 'building',
                                      'display_name': 'vm-1'})
    row = db_instances.claim_and_place(
        db, node_id, 1024, 10, 1, 'u1',
        {'host': 'h1', 'vm_state': 'active', 'not_a_column': 1})
    assert row['updated_at'] is not None
    assert row['display_name'] == 'vm-1'
    assert db_instances.instance_get(db, 'u1')['vm_state'] == 'active'


def test_concurrent_claims_never_over_commit(db):
    node_id = _node(db, ram=4096, disk=1000, vcpus=100)
    uuids = ['u%d' % i for i in range(12)]
    for uuid in uuids:
        _instance(db, uuid)
    placed = []

    def claim(uuid):
        if db_instances.claim_and_place(db, node_id, 1024, 1, 1, uuid,
                                        {'host': 'h1'}):
            placed.append(uuid)
    threads = [threading.Thread(target=claim, args=(u,)) for u in uuids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(placed) == 4
    assert _node_row(db)['free_ram_mb'] == 0
    hosts = [db_instances.instance_get(db, u)['host'] for u in uuids]
    assert sorted(h for h in hosts if h) == ['h1'] * 4


def test_nodes_with_services_reads_both(db):
    _node(db)
    db_api.service_create(db, {'host': 'h1', 'binary': 'nova-compute',
                               'topic': 'compute', 'report_count': 0,
                               'deleted': 0})
    db_api.service_create(db, {'host': 'h1', 'binary': 'nova-cells',
                               'topic': 'cells', 'report_count': 0,
                               'deleted': 0})
    nodes, services = db_api.compute_nodes_with_services(db)
    assert [n['host'] for n in nodes] == ['h1']
    assert services['h1']['binary'] == 'nova-compute'
