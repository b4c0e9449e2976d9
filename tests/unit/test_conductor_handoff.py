"""The conductor hand-off (nova_cells.handoff.conductor, nova's behaviour,
reference §6.5): the cell that picks itself casts compute-task
``build_instances`` to its own nova-conductor.  A test-side oslo.messaging
server plays that conductor on the cell's fake:// broker and checks the cast
carries exactly nova Stein's arguments (ComputeTaskAPI 1.19)."""

import threading

import oslo_messaging
import pytest

from nova_cells.service import assembly
from nova_cells.db import instances as db_instances
from nova_cells.handoff import conductor
from nova_cells.objects import flavor as flavor_obj
from nova_cells.objects import instance as instance_obj
from nova_cells.transport import rpc
from tests.unit import sched_support as ss
from tests.unit import tree_support

NOVA_ARGUMENTS = {'instances', 'image', 'filter_properties', 'admin_password',
                  'injected_files', 'requested_networks', 'security_groups',
                  'request_spec', 'host_lists'}
LAYOUT = {'api': {'cell1': {}}}


class FakeConductor(object):
    """nova-conductor's compute-task endpoint, recording every call."""

    target = oslo_messaging.Target(namespace='compute_task', version='1.19')

    def __init__(self):
        self.calls = []
        self._arrived = threading.Condition()

    def build_instances(self, context, **kwargs):
        with self._arrived:
            self.calls.append((context, kwargs))
            self._arrived.notify_all()

    def call_for(self, instance_uuid):
        for ctxt, kwargs in self.calls:
            if any(i.uuid == instance_uuid for i in kwargs['instances']):
                return ctxt, kwargs
        return None

    def wait_for(self, instance_uuid, timeout):
        """The call that carried ``instance_uuid`` (other cells' or older
        casts may share a queue), or None after ``timeout``."""
        with self._arrived:
            self._arrived.wait_for(lambda: self.call_for(instance_uuid),
                                   timeout)
            return self.call_for(instance_uuid)


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with ss.building_tree(tmp_path_factory.mktemp('conductor'), {},
                          layout=LAYOUT,
                          overrides={'local_scheduler_driver':
                                     'conductor'}) as harness:
        yield harness


def serve_conductor(tree, cell_name, exchange):
    endpoint = FakeConductor()
    transport = rpc.get_transport(tree.cell(cell_name).conf)
    target = oslo_messaging.Target(topic=conductor.TOPIC,
                                   server='conductor-' + cell_name,
                                   exchange=exchange)
    server = oslo_messaging.get_rpc_server(
        transport, target, [endpoint],
        serializer=rpc.RequestContextSerializer(
            assembly.object_serializer()))
    server.start()
    return endpoint, server, transport


def stop(server, transport):
    server.stop()
    server.wait()
    transport.cleanup()


def test_the_cell_uses_the_conductor_driver(tree):
    assert isinstance(tree.cell('cell1').scheduler.handoff,
                      conductor.ConductorHandoff)
    assert (conductor.TOPIC, conductor.NAMESPACE, conductor.VERSION) == (
        'conductor', 'compute_task', '1.19')


def build(tree):
    """An admin build through the API cell's manager, every argument set."""
    the_flavor = ss.flavor()
    instance, = tree.instances_for(1, the_flavor, ss.ADMIN)
    image = dict(ss.IMAGE, properties={'os_distro': 'cirros'})
    kwargs = ss.build_kwargs([instance], the_flavor,
                             hints={'different_cell': ['api!other']},
                             image=image)
    kwargs.update(admin_password='s3cret',
                  injected_files=[['/etc/motd', 'aGk=']],
                  security_groups=['default', 'web'])
    tree.top.manager.build_instances(ss.ADMIN, kwargs)
    return instance, image


def test_build_reaches_a_conductor_with_novas_arguments(tree):
    # Listen on the cell's exchange and on the control exchange (nova),
    # so that this test checks the arguments wherever the cast lands; the
    # next test checks where it must land.
    cell_exchange = tree.tree.exchange_for_url(tree.tree.url_of('cell1'))
    servers = [serve_conductor(tree, 'cell1', exchange)
               for exchange in (cell_exchange, None)]
    try:
        instance, image = build(tree)
        found = tree_support.wait_until(
            lambda: [e.call_for(instance.uuid) for e, _s, _t in servers
                     if e.call_for(instance.uuid)], timeout=5)
    finally:
        for _endpoint, server, transport in servers:
            stop(server, transport)
    assert found, 'no conductor received build_instances'
    (ctxt, got), = found

    assert set(got) == NOVA_ARGUMENTS
    assert ctxt.is_admin and ctxt.user_id == 'admin'
    created, = got['instances']
    assert isinstance(created, instance_obj.Instance)
    local = db_instances.instance_get(tree.cell('cell1').db, instance.uuid)
    assert (created.uuid, created.id) == (instance.uuid, local['id']), \
        'the instance as created in cell1'
    assert (created.vm_state, created.task_state) == ('building',
                                                      'scheduling')
    assert got['image'] == image
    flavor = got['filter_properties']['instance_type']
    assert isinstance(flavor, flavor_obj.Flavor)
    assert (flavor.name, flavor.memory_mb) == ('m1.small', 2048)
    assert got['filter_properties']['scheduler_hints'] == {
        'different_cell': ['api!other']}
    assert (got['admin_password'], got['injected_files'],
            got['requested_networks'], got['security_groups']) == (
        's3cret', [['/etc/motd', 'aGk=']], None, ['default', 'web'])
    assert (got['request_spec'], got['host_lists']) == (None, None)
    # the top already knows where the instance is
    top, = tree.rows([instance.uuid])
    assert (top['cell_name'], top['vm_state']) == ('api!cell1', 'building')


def test_cast_goes_to_the_exchange_the_tree_uses_for_the_cell(tree):
    # BUG: ConductorHandoff's Target has no exchange, so on fake:// every
    # cell of every in-process tree casts to the one process-wide control
    # exchange ('nova'): any cell's conductor gets any cell's builds.
    # The tree keeps cells apart with exchange_for_url(url) (as the
    # intercell driver and CellsAPI do); the hand-off must use it too.
    cell_exchange = tree.tree.exchange_for_url(tree.tree.url_of('cell1'))
    endpoint, server, transport = serve_conductor(tree, 'cell1',
                                                  cell_exchange)
    try:
        instance, _image = build(tree)
        call = endpoint.wait_for(instance.uuid, timeout=3)
    finally:
        stop(server, transport)
    assert call is not None, (
        "build_instances did not reach cell1's conductor on exchange %s"
        % cell_exchange)
