"""What nova-api does for a server create (nova_cells.top.boot): the rows
at the top, then the payload nova's client sends; checked against the
build a real tree makes of it."""

from nova_cells.db import instances as db_instances
from nova_cells.top import boot
from tests.unit import sched_support as ss

LAYOUT = {'api': {'child1': {'gc1': {}}}}
HOSTS = {'gc1': [(65536, 32, 800)]}


def _flavor_values():
    return {'id': 7, 'flavorid': 'smoke', 'name': 'smoke.small',
            'memory_mb': 2048, 'vcpus': 1, 'root_gb': 20,
            'ephemeral_gb': None, 'swap': 0, 'rxtx_factor': None,
            'vcpu_weight': None, 'disabled': 0, 'is_public': 1,
            'description': None, 'extra_specs': {'hw:cpu': 'x'}}


def test_flavor_object_fills_novas_defaults():
    flavor = boot.flavor_object(_flavor_values())
    assert (flavor.name, flavor.ephemeral_gb, flavor.rxtx_factor,
            flavor.vcpu_weight, flavor.disabled, flavor.is_public,
            flavor.extra_specs) == ('smoke.small', 0, 1.0, 0, False, True,
                                    {'hw:cpu': 'x'})


def test_requested_instances_are_built_through_the_tree(tmp_path):
    with ss.building_tree(tmp_path, HOSTS, layout=LAYOUT) as harness:
        flavor = ss.flavor()
        instances = boot.request_instances(
            harness.top.db, [flavor, flavor], ['smoke-1', 'smoke-2'],
            'p1', 'u1')
        rows = {r['uuid']: r for r in
                db_instances.instance_get_all(harness.top.db)}
        assert {rows[i.uuid]['display_name'] for i in instances} == \
            {'smoke-1', 'smoke-2'}
        assert {(r['vm_state'], r['task_state'], r['cell_name'])
                for r in rows.values()} == {('building', 'scheduling', None)}
        for instance in instances:
            harness.top.manager.build_instances(
                ss.USER, boot.build_kwargs(instance, flavor))
        done = harness.wait([i.uuid for i in instances], timeout=30)
    assert {(r['vm_state'], r['cell_name']) for r in done} == \
        {('active', 'api!child1!gc1')}
