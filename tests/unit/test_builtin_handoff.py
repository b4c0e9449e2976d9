"""The builtin hand-off (nova_cells.handoff.builtin): host placement in a
cell without a nova-conductor, with atomic claims.  A stand-alone leaf
runner whose driver records what goes up to its parent."""

import json
import random
import threading
import uuid

import pytest

from nova_cells import context
from nova_cells.db import api as db_api
from nova_cells.db import instances as db_instances
from nova_cells.handoff import builtin
from nova_cells.objects import instance as instance_obj
from tests.unit import helpers
from tests.unit import sched_support as ss
from tests.unit import tree_support

CTXT = context.RequestContext(user_id='u', project_id='p')
NO_HOST = 'No valid host was found. '


def small(memory_mb=2048, root_gb=20, vcpus=1, as_dict=False):
    if as_dict:
        return {'memory_mb': memory_mb, 'root_gb': root_gb,
                'ephemeral_gb': 0, 'vcpus': vcpus}
    return ss.flavor('m1.test', memory_mb, vcpus, root_gb)


def make_handoff(db):
    runner = tree_support.make_runner(db, 'gc', parents=('child',))
    runner.services.db = db
    return builtin.BuiltinHandoff(runner, db, service_down_time=60,
                                  rng=random.Random(0)), runner


def add_host(db, host, free_ram_mb, memory_mb=None, free_disk_gb=500,
             **service):
    helpers.add_compute_service(db, host, **service)
    helpers.add_compute_node(db, host, memory_mb=memory_mb or free_ram_mb,
                             free_ram_mb=free_ram_mb, local_gb=free_disk_gb,
                             free_disk_gb=free_disk_gb)


def local_instance(db):
    """The row the scheduler created before handing off, and its object."""
    row = db_instances.instance_create(db, {
        'uuid': str(uuid.uuid4()), 'vm_state': 'building',
        'task_state': 'scheduling', 'display_name': 'vm'})
    instance = instance_obj.Instance(uuid=row['uuid'], id=row['id'],
                                     vm_state='building',
                                     task_state='scheduling')
    instance.obj_reset_changes()
    return instance


def build(handoff, instances, the_flavor):
    handoff.build_instances(CTXT, {'instances': list(instances),
                                   'filter_properties': {
                                       'instance_type': the_flavor}})


def node(db, host):
    found, = [n for n in db_api.compute_node_get_all(db) if n['host'] == host]
    return found


def ups(runner):
    """(method, payload) of what went up to the parent."""
    found = []
    for _name, kind, text in runner.driver.sent:
        message = json.loads(text)
        kwargs = message['method_kwargs']
        if 'instance' in kwargs:
            found.append((message['method_name'],
                          kwargs['instance']['nova_object.data']))
        elif 'instance_fault' in kwargs:
            found.append((message['method_name'], kwargs['instance_fault']))
        else:
            found.append((message['method_name'], kwargs))
    return found


# -- placing ------------------------------------------------------------------

@pytest.mark.parametrize('as_dict', [
    pytest.param(False, id='flavor-object'),
    pytest.param(True, id='flavor-dict'),
])
def test_places_on_the_host_with_most_free_ram(db, as_dict):
    add_host(db, 'h-small', 4096)
    add_host(db, 'h-big', 16384)
    handoff, runner = make_handoff(db)
    instance = local_instance(db)
    build(handoff, [instance], small(as_dict=as_dict))
    row = db_instances.instance_get(db, instance.uuid)
    assert {k: row[k] for k in ('host', 'node', 'vm_state', 'task_state',
                                'power_state', 'launched_on')} == {
        'host': 'h-big', 'node': 'h-big', 'vm_state': 'active',
        'task_state': None, 'power_state': builtin.POWER_STATE_RUNNING,
        'launched_on': 'h-big'}
    assert row['launched_at'] is not None
    claimed = node(db, 'h-big')
    assert (claimed['free_ram_mb'], claimed['free_disk_gb'],
            claimed['vcpus_used'], claimed['running_vms']) == (
        16384 - 2048, 500 - 20, 1, 1)
    assert node(db, 'h-small')['free_ram_mb'] == 4096
    update, = [p for m, p in ups(runner) if m == 'instance_update_at_top']
    assert (update['uuid'], update['vm_state'], update['host']) == (
        instance.uuid, 'active', 'h-big')


def test_capacity_goes_up_after_a_build(db):
    helpers.add_flavor(db, 'm1.test', 2048, 20)
    add_host(db, 'h1', 8192)
    handoff, runner = make_handoff(db)
    build(handoff, [local_instance(db)], small())
    told, = [p for m, p in ups(runner) if m == 'update_capacities']
    assert told['cell_name'] == 'gc'
    assert told['capacities'] == runner.state_manager.get_our_capacities()
    # free 8192 - 2048 = 6144 MB; minus 10 % of 8192 reserved = 5324.8
    # -> int(5324.8 / 2048) = 2 units (total_mb is the free total, as nova)
    assert told['capacities']['ram_free'] == {
        'total_mb': 6144, 'units_by_mb': {'2048': 2}}


# (hosts as (name, free_ram_mb, service kwargs), flavor, fault message)
WHY_NOT = [
    pytest.param([], small(), NO_HOST + '0/0 hosts are available',
                 id='no-host'),
    pytest.param([('h1', 8192, {'disabled': True})], small(),
                 NO_HOST + '0/1 hosts are available: 1 service disabled',
                 id='disabled'),
    pytest.param([('h1', 8192, {'last_seen_up': helpers.hours_ago(2)})],
                 small(), NO_HOST + '0/1 hosts are available: 1 service down',
                 id='down'),
    pytest.param([('h1', 8192, {'forced_down': True})], small(),
                 NO_HOST + '0/1 hosts are available: 1 service down',
                 id='forced-down'),
    pytest.param([('h1', 1024, {})], small(),
                 NO_HOST + '0/1 hosts are available: 1 not enough free RAM',
                 id='ram'),
    pytest.param([('h1', 8192, {})], small(root_gb=1000),
                 NO_HOST + '0/1 hosts are available: 1 not enough free disk',
                 id='disk'),
    pytest.param([('h1', 8192, {})], small(vcpus=9),
                 NO_HOST + '0/1 hosts are available: 1 not enough free vCPUs',
                 id='vcpus'),
    pytest.param([('h1', 1024, {}), ('h2', 8192, {'disabled': True}),
                  ('h3', 8192, {'last_seen_up': helpers.hours_ago(2)}),
                  ('h4', 512, {})],
                 small(),
                 NO_HOST + '0/4 hosts are available: 2 not enough free RAM, '
                 '1 service disabled, 1 service down', id='mixed'),
]


@pytest.mark.parametrize('hosts, the_flavor, message', WHY_NOT)
def test_no_valid_host_is_an_error_with_a_fault_saying_why(db, hosts,
                                                           the_flavor,
                                                           message):
    for host, free_ram, service in hosts:
        add_host(db, host, free_ram, memory_mb=8192, **service)
    handoff, runner = make_handoff(db)
    instance = local_instance(db)
    build(handoff, [instance], the_flavor)
    row = db_instances.instance_get(db, instance.uuid)
    assert (row['vm_state'], row['task_state'], row['host']) == (
        'error', None, None)
    fault, = db_instances.instance_fault_get_by_instance(db, instance.uuid)
    assert (fault['message'], fault['code']) == (message, 500)
    sent = ups(runner)
    update, = [p for m, p in sent if m == 'instance_update_at_top']
    assert update['vm_state'] == 'error'
    top_fault, = [p for m, p in sent if m == 'instance_fault_create_at_top']
    assert (top_fault['instance_uuid'], top_fault['message']) == (
        instance.uuid, message)


def test_node_without_service_row_is_not_used(db):
    helpers.add_compute_node(db, 'orphan', memory_mb=8192, free_ram_mb=8192,
                             local_gb=500, free_disk_gb=500)
    handoff, _runner = make_handoff(db)
    instance = local_instance(db)
    build(handoff, [instance], small())
    fault, = db_instances.instance_fault_get_by_instance(db, instance.uuid)
    assert fault['message'] == (NO_HOST + '0/1 hosts are available: '
                                '1 service disabled')


def test_one_request_places_what_fits_and_fails_the_rest(db):
    add_host(db, 'h1', 4096)
    handoff, _runner = make_handoff(db)
    instances = [local_instance(db) for _ in range(3)]
    build(handoff, instances, small())
    states = [db_instances.instance_get(db, i.uuid)['vm_state']
              for i in instances]
    assert states == ['active', 'active', 'error']
    assert node(db, 'h1')['free_ram_mb'] == 0


# -- concurrency: claims never over-commit ------------------------------------

def race(db, handoff, count, the_flavor):
    """``count`` builds of one instance each, released together."""
    instances = [local_instance(db) for _ in range(count)]
    barrier = threading.Barrier(count)
    errors = []

    def one(instance):
        try:
            barrier.wait(timeout=10)
            build(handoff, [instance], the_flavor)
        except Exception as exc:  # noqa - reported below
            errors.append(exc)
    threads = [threading.Thread(target=one, args=(i,)) for i in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [], 'build_instances never raises per instance'
    return [db_instances.instance_get(db, i.uuid) for i in instances]


def test_two_concurrent_builds_on_a_host_that_fits_one(db):
    add_host(db, 'h1', 2048)
    handoff, _runner = make_handoff(db)
    rows = race(db, handoff, 2, small())
    states = sorted(r['vm_state'] for r in rows)
    assert states == ['active', 'error']
    loser, = [r for r in rows if r['vm_state'] == 'error']
    fault, = db_instances.instance_fault_get_by_instance(db, loser['uuid'])
    assert fault['message'].startswith(NO_HOST + '0/1 hosts are available')
    claimed = node(db, 'h1')
    assert (claimed['free_ram_mb'], claimed['memory_mb_used'],
            claimed['running_vms']) == (0, 2048, 1)


@pytest.mark.parametrize('hosts, fits', [
    pytest.param([('h1', 6 * 1024)], 6, id='one-host-six-slots'),
    pytest.param([('h1', 3 * 1024), ('h2', 4 * 1024)], 7,
                 id='two-hosts-seven-slots'),
])
def test_twenty_concurrent_claims_never_exceed_capacity(db, hosts, fits):
    for host, free in hosts:
        add_host(db, host, free)
    handoff, _runner = make_handoff(db)
    rows = race(db, handoff, 20, small(memory_mb=1024, root_gb=1))
    states = [r['vm_state'] for r in rows]
    assert (states.count('active'), states.count('error')) == (fits,
                                                               20 - fits)
    for host, free in hosts:
        claimed = node(db, host)
        placed = sum(1 for r in rows if r['host'] == host)
        assert claimed['free_ram_mb'] == free - placed * 1024 >= 0
        assert claimed['free_ram_mb'] == 0, 'every slot used, none twice'
        assert claimed['running_vms'] == placed
        assert claimed['vcpus_used'] == placed <= claimed['vcpus']
