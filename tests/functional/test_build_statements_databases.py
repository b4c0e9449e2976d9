"""The statements every build runs, on each real database (SQLite,
PostgreSQL, MariaDB): the leaf's new instance row, its read of the nodes
and services, its claim of a compute node with the instance's placement,
and the top's batch of updates with the inbox marks of the messages they
came in.

All are Core statements written for speed (no ORM objects; a fixed claim
statement with bound parameters; the marks inserted in the batch's
transaction); the unit
tests check them on SQLite only, and a server database differs where it
matters here: how it counts the rows an UPDATE matched, and how it ends a
transaction at its first error (PostgreSQL aborts it, MariaDB does not).
"""

import threading
import uuid

import pytest

from nova_cells import context as cells_context
from nova_cells.db import api as db_api
from nova_cells.db import instances as db_instances
from nova_cells.db import models
from nova_cells.db import new_instances
from nova_cells.db import outbox as db_outbox
from nova_cells import exception
from nova_cells.top import instances
from nova_cells.handoff import new_instance
from nova_cells.objects import base as objects_base
from nova_cells.objects import instance as instance_obj
from tests import nova_stein

objects_base.register_all()


@pytest.fixture
def db(one_connection_db):
    return one_connection_db


def _new():
    return str(uuid.uuid4())


def _node(db, ram=4096):
    with db.writer() as session:
        node = models.ComputeNode(
            host='h1', hypervisor_hostname='h1', vcpus=8, memory_mb=ram,
            local_gb=1000, vcpus_used=0, memory_mb_used=0, local_gb_used=0,
            free_ram_mb=ram, free_disk_gb=1000, hypervisor_type='QEMU',
            hypervisor_version=1, cpu_info='{}', deleted=0)
        session.add(node)
        session.flush()
        return node.id


def _free_ram(db):
    nodes, _services = db_api.compute_nodes_with_services(db)
    return nodes[0]['free_ram_mb']


def test_a_new_instance_row_is_returned_as_stored(db):
    created = db_instances.instance_create(
        db, {'uuid': 'u1', 'vm_state': 'building', 'display_name': 'vm-1',
             'memory_mb': 512, 'not_a_column': 1})
    stored = db_instances.instance_get(db, 'u1')
    assert set(created) == set(stored)
    assert created['id'] == stored['id']
    for column in ('uuid', 'vm_state', 'display_name', 'memory_mb',
                   'deleted', 'host'):
        assert created[column] == stored[column], column
    with pytest.raises(exception.InstanceExists):
        db_instances.instance_create(db, {'uuid': 'u1'})
    # The refused INSERT left the connection usable.
    assert db_instances.instance_create(db, {'uuid': 'u2'})['id'] != \
        created['id']


def _sample_build():
    """The original's build message (two instances of a real nova-api
    request: booleans, datetimes, nested objects, a block device)."""
    message = nova_stein.wire_sample('targeted/build_instances/down')
    kwargs = objects_base.NovaObjectSerializer().deserialize_entity(
        None, message['method_kwargs']['build_inst_kwargs'])
    for instance in kwargs['instances']:
        instance.uuid = _new()
    return cells_context.RequestContext.from_dict(message['ctxt']), kwargs


def _leaf_writes(db, ctxt, kwargs):
    news = new_instance.prepare(ctxt, kwargs)
    shared = new_instances.shared_rows(db, ctxt.project_id, ctxt.user_id,
                                       [], news[0].image_refs)
    return [new_instances.create_or_load(db, new, shared) for new in news]


def test_a_leaf_writes_every_row_of_a_real_nova_build(db):
    """Every field a real nova Instance carries lands in its column's type
    (PostgreSQL refused the boolean ``cleaned`` in an integer column)."""
    ctxt, kwargs = _sample_build()
    created = _leaf_writes(db, ctxt, kwargs)
    for rows in created:
        stored = db_instances.instance_get(db, rows.row['uuid'])
        assert (stored['vm_state'], stored['task_state'],
                stored['cleaned'], stored['locked']) == (
            'building', 'scheduling', 0, False)
        loaded = new_instances.load(db, rows.row['uuid'])
        assert loaded.extra['flavor'] == rows.extra['flavor']
        assert len(loaded.system_metadata) == 7
        assert [b['source_type'] for b in loaded.bdms] == ['image']
        assert loaded.info_cache['network_info'] == '[]'


def test_a_resent_build_finds_the_rows_its_first_delivery_made(db):
    """On PostgreSQL oslo.db could not name the violated ``uuid`` index
    and raised ValueError instead of a duplicate entry; and every row of
    the instance is written once."""
    ctxt, kwargs = _sample_build()
    first = _leaf_writes(db, ctxt, kwargs)
    again = _leaf_writes(db, ctxt, kwargs)
    assert [r.created for r in again] == [False, False]
    assert [r.row['id'] for r in again] == [r.row['id'] for r in first]
    assert [r.mapping_id for r in again] == [r.mapping_id for r in first]
    loaded = new_instances.load(db, first[0].row['uuid'])
    assert len(loaded.bdms) == 1
    assert len(loaded.system_metadata) == 7


def test_the_cells_of_instances_are_read_in_one_query(db):
    here, there, deleted = _new(), _new(), _new()
    db_instances.instance_create(db, {'uuid': here, 'cell_name': 'api!c1'})
    db_instances.instance_create(db, {'uuid': there})
    db_instances.instance_create(db, {'uuid': deleted})
    db_instances.instance_destroy(db, deleted)
    assert db_instances.instance_cells_by_uuid(
        db, [here, there, deleted, _new()]) == {here: 'api!c1', there: None}


def test_nodes_and_services_are_read_as_dicts(db):
    node_id = _node(db)
    db_api.service_create(db, {'host': 'h1', 'binary': 'nova-compute',
                               'topic': 'compute', 'report_count': 0,
                               'deleted': 0})
    nodes, services = db_api.compute_nodes_with_services(db)
    assert [(n['id'], n['free_ram_mb']) for n in nodes] == [(node_id, 4096)]
    assert services['h1']['binary'] == 'nova-compute'
    assert services['h1']['disabled'] in (False, 0)


def test_a_claim_charges_the_node_and_places_the_instance(db):
    node_id = _node(db)
    db_instances.instance_create(db, {'uuid': 'u1', 'vm_state': 'building',
                                      'display_name': 'vm-1'})
    row = db_instances.claim_and_place(
        db, node_id, 1024, 10, 1, 'u1', {'host': 'h1', 'vm_state': 'active'})
    assert (row['host'], row['vm_state'], row['display_name']) == (
        'h1', 'active', 'vm-1')
    assert _free_ram(db) == 3072
    # No room left for 4 GB: nothing written, and the connection goes on.
    db_instances.instance_create(db, {'uuid': 'u2', 'vm_state': 'building'})
    assert db_instances.claim_and_place(
        db, node_id, 4096, 10, 1, 'u2', {'host': 'h1'}) is None
    assert db_instances.instance_get(db, 'u2')['host'] is None
    assert _free_ram(db) == 3072


def test_a_claim_for_a_deleted_instance_charges_nothing(db):
    node_id = _node(db)
    db_instances.instance_create(db, {'uuid': 'u1', 'vm_state': 'building'})
    db_instances.instance_destroy(db, 'u1')
    with pytest.raises(exception.InstanceNotFound):
        db_instances.claim_and_place(db, node_id, 1024, 10, 1, 'u1',
                                     {'host': 'h1'})
    assert _free_ram(db) == 4096


def test_concurrent_claims_never_over_commit(synced_database_url):
    database = db_api.Database(synced_database_url, max_pool_size=8)
    try:
        node_id = _node(database, ram=4096)
        uuids = [_new() for _ in range(10)]
        for instance_uuid in uuids:
            db_instances.instance_create(database, {'uuid': instance_uuid,
                                                    'vm_state': 'building'})
        placed = []

        def claim(instance_uuid):
            if db_instances.claim_and_place(database, node_id, 1024, 1, 1,
                                            instance_uuid, {'host': 'h1'}):
                placed.append(instance_uuid)
        threads = [threading.Thread(target=claim, args=(u,)) for u in uuids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(placed) == 4
        assert _free_ram(database) == 0
        hosts = [db_instances.instance_get(database, u)['host']
                 for u in uuids]
        assert sorted(h for h in hosts if h) == ['h1'] * 4
    finally:
        database.dispose()


def _update(instance_uuid, **fields):
    fields.setdefault('vm_state', 'active')
    return instances.top_update(
        instance_obj.Instance(uuid=instance_uuid, **fields), 'api!c1')


def test_top_updates_commit_with_their_marks(db):
    first, second = _new(), _new()
    marks = [_new(), _new()]
    results = db_instances.apply_top_updates(
        db, [_update(first, host='h1'), _update(second, host='h2')],
        marks=marks)
    assert [r['host'] for r in results] == ['h1', 'h2']
    assert all(db_outbox.inbox_contains(db, mark) for mark in marks)

    # A batch holding a mark already there writes nothing at all, and the
    # same connection takes the next transaction.
    with pytest.raises(db_outbox.Duplicate):
        db_instances.apply_top_updates(
            db, [_update(first, host='h3')], marks=[_new(), marks[0]])
    assert db_instances.instance_get(db, first)['host'] == 'h1'
    later = _new()
    db_instances.apply_top_updates(db, [_update(first, host='h4')],
                                   marks=[later])
    assert db_instances.instance_get(db, first)['host'] == 'h4'
    assert db_outbox.inbox_contains(db, later)


def test_batches_of_updates_to_several_rows_write_each_row(db):
    # Same columns for both rows: one batched UPDATE (execute_batch on
    # PostgreSQL), its statement and SQL made once and reused next batch.
    rows = [_new(), _new()]
    db_instances.apply_top_updates(db, [_update(u) for u in rows])
    for host in ('h1', 'h2'):
        results = db_instances.apply_top_updates(
            db, [_update(rows[0], host=host + 'a'),
                 _update(rows[1], host=host + 'b')])
        assert [r['host'] for r in results] == [host + 'a', host + 'b']
        assert [db_instances.instance_get(db, u)['host'] for u in rows] == [
            host + 'a', host + 'b']


def test_a_heartbeat_bumps_the_count_and_stamps_the_time(db):
    service = db_api.service_create(db, {'host': 'hb', 'binary': 'nova-cells',
                                         'topic': 'cells'})
    first = db_api.service_report(db, service['id'])
    second = db_api.service_report(db, service['id'])
    assert (first['report_count'], second['report_count']) == (1, 2)
    assert first['last_seen_up'] is not None
    assert second['last_seen_up'] >= first['last_seen_up']
    assert second['updated_at'] == second['last_seen_up']
    with pytest.raises(exception.ServiceNotFound):
        db_api.service_report(db, service['id'] + 1000)
