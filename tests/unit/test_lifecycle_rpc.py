"""Instance actions with the conductor-style hand-off (nova's behaviour): the
instance's cell sets the task state, sends it up, and casts nova's compute
RPC method on topic ``compute``, ``server=<instance.host>``, on its own
broker.  A test-side oslo.messaging server plays nova-compute on that host
in the cell's fake:// exchange."""

import threading
import uuid

import oslo_messaging
import pytest

from nova_cells.service import assembly
from nova_cells.db import instances as db_instances
from nova_cells.top import instances
from nova_cells.handoff import compute
from nova_cells.objects import instance as instance_obj
from nova_cells.transport import rpc
from tests.unit import sched_support as ss
from tests.unit import tree_support

LAYOUT = {'api': {'cell1': {}}}
HOST = 'cell1-host1'
TIMEOUT = 5

COMPUTE_METHODS = (
    'start_instance', 'stop_instance', 'reboot_instance', 'suspend_instance',
    'resume_instance', 'pause_instance', 'unpause_instance',
    'terminate_instance', 'soft_delete_instance', 'snapshot_instance',
    'backup_instance', 'rebuild_instance', 'set_admin_password',
    'reset_network', 'inject_network_info', 'revert_resize',
    'confirm_resize', 'rescue_instance', 'unrescue_instance',
    'restore_instance')


class FakeCompute(object):
    """nova-compute's RPC endpoint on one host, recording every message."""

    target = oslo_messaging.Target(version='5.0')

    def __init__(self):
        self.calls = []
        self._arrived = threading.Condition()

    def _record(self, method, context, kwargs):
        with self._arrived:
            self.calls.append((method, context, kwargs))
            self._arrived.notify_all()

    def wait_for(self, method, instance_uuid):
        def found():
            return [(c, k) for m, c, k in self.calls if m == method and
                    k['instance'].uuid == instance_uuid]
        with self._arrived:
            self._arrived.wait_for(found, TIMEOUT)
            return found()


def _make(method):
    def handler(self, context, **kwargs):
        self._record(method, context, kwargs)
    handler.__name__ = method
    return handler


for _method in COMPUTE_METHODS:
    setattr(FakeCompute, _method, _make(_method))


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with ss.building_tree(tmp_path_factory.mktemp('lifecycle_rpc'), {},
                          layout=LAYOUT,
                          overrides={'local_scheduler_driver':
                                     'conductor'}) as harness:
        harness.tree.start_cells_rpc('api')
        harness.api = harness.tree.cells_api('api')
        yield harness


@pytest.fixture(scope='module')
def nova_compute(tree):
    endpoint = FakeCompute()
    transport = rpc.get_transport(tree.cell('cell1').conf)
    target = oslo_messaging.Target(
        topic='compute', server=HOST,
        exchange=tree.tree.exchange_for_url(tree.tree.url_of('cell1')))
    server = oslo_messaging.get_rpc_server(
        transport, target, [endpoint],
        serializer=rpc.RequestContextSerializer(
            assembly.object_serializer()))
    server.start()
    yield endpoint
    server.stop()
    server.wait()
    transport.cleanup()


def active_instance(tree, vm_state='active'):
    """An instance on HOST in cell1, known at the top as in api!cell1."""
    values = {'uuid': str(uuid.uuid4()), 'display_name': 'vm',
              'project_id': 'demo', 'user_id': 'alice', 'host': HOST,
              'node': HOST, 'vm_state': vm_state, 'task_state': None,
              'power_state': 1}
    db_instances.instance_create(tree.cell('cell1').db, values)
    row = db_instances.instance_create(tree.top.db,
                                       dict(values, cell_name='api!cell1'))
    return instances.from_db_row(row)


def top(tree, instance_uuid):
    return db_instances.instance_get(tree.top.db, instance_uuid,
                                     read_deleted='yes')


def wait_task_state(tree, instance_uuid, task_state):
    assert tree_support.wait_until(
        lambda: top(tree, instance_uuid)['task_state'] == task_state,
        timeout=TIMEOUT), top(tree, instance_uuid)


def test_cell1_uses_compute_rpc(tree):
    assert isinstance(compute.for_runner(tree.cell('cell1').runner),
                      compute.ComputeRPCHandoff)


ACTIONS = [
    # (client call, vm_state before, compute method, task state, kwargs)
    (lambda api, i: api.stop_instance(ss.USER, i), 'active',
     'stop_instance', 'powering-off', {'clean_shutdown': True}),
    (lambda api, i: api.start_instance(ss.USER, i), 'stopped',
     'start_instance', 'powering-on', {}),
    (lambda api, i: api.reboot_instance(ss.USER, i, None, 'HARD'), 'active',
     'reboot_instance', 'rebooting_hard',
     {'reboot_type': 'HARD', 'block_device_info': None}),
    (lambda api, i: api.suspend_instance(ss.USER, i), 'active',
     'suspend_instance', 'suspending', {}),
    (lambda api, i: api.resume_instance(ss.USER, i), 'suspended',
     'resume_instance', 'resuming', {}),
    (lambda api, i: api.pause_instance(ss.USER, i), 'active',
     'pause_instance', 'pausing', {}),
    (lambda api, i: api.unpause_instance(ss.USER, i), 'paused',
     'unpause_instance', 'unpausing', {}),
    (lambda api, i: api.terminate_instance(ss.USER, i, []), 'active',
     'terminate_instance', 'deleting', {'bdms': []}),
    (lambda api, i: api.soft_delete_instance(ss.USER, i), 'active',
     'soft_delete_instance', 'soft-deleting', {}),
    (lambda api, i: api.snapshot_instance(ss.USER, i, 'img-1'), 'active',
     'snapshot_instance', 'image_snapshot_pending', {'image_id': 'img-1'}),
    (lambda api, i: api.backup_instance(ss.USER, i, 'img-2', 'daily', 3),
     'active', 'backup_instance', 'image_backup',
     {'image_id': 'img-2', 'backup_type': 'daily', 'rotation': 3}),
    (lambda api, i: api.set_admin_password(ss.USER, i, 'pw'), 'active',
     'set_admin_password', 'updating_password', {'new_pass': 'pw'}),
    (lambda api, i: api.rebuild_instance(ss.USER, i, 'pw', [], 'img-3',
                                         'img-0', {}, []),
     'active', 'rebuild_instance', 'rebuilding',
     {'image_ref': 'img-3', 'new_pass': 'pw'}),
    (lambda api, i: api.revert_resize(ss.USER, i, None, None), 'resized',
     'revert_resize', 'resize_reverting', {}),
    (lambda api, i: api.reset_network(ss.USER, i), 'active',
     'reset_network', None, {}),
    (lambda api, i: api.inject_network_info(ss.USER, i), 'active',
     'inject_network_info', None, {}),
]


@pytest.mark.parametrize('send,vm_state,method,task_state,kwargs', ACTIONS,
                         ids=[a[2] for a in ACTIONS])
def test_action_reaches_nova_compute_on_the_host(tree, nova_compute, send,
                                                 vm_state, method,
                                                 task_state, kwargs):
    instance = active_instance(tree, vm_state)
    send(tree.api, instance)
    got = nova_compute.wait_for(method, instance.uuid)
    assert got, 'nova-compute on %s got no %s' % (HOST, method)
    (ctxt, received), = got
    assert isinstance(received['instance'], instance_obj.Instance)
    assert received['instance'].task_state == task_state
    assert ctxt.user_id == ss.USER.user_id
    for key, value in kwargs.items():
        assert received[key] == value, key
    if task_state is not None:
        wait_task_state(tree, instance.uuid, task_state)
        assert db_instances.instance_get(
            tree.cell('cell1').db, instance.uuid)['task_state'] == task_state


def test_stop_as_a_call_waits_for_nova_compute(tree, nova_compute):
    instance = active_instance(tree)
    assert tree.api.stop_instance(ss.USER, instance, do_cast=False) is None
    (_ctxt, received), = [(c, k) for m, c, k in nova_compute.calls
                          if m == 'stop_instance' and
                          k['instance'].uuid == instance.uuid]
    assert received['clean_shutdown'] is True


def test_run_compute_api_method_reaches_nova_compute(tree, nova_compute):
    instance = active_instance(tree)
    tree.api.cast_compute_api_method(ss.USER, 'api!cell1', 'rescue',
                                     instance.uuid, rescue_password='pw')
    (_ctxt, received), = nova_compute.wait_for('rescue_instance',
                                               instance.uuid)
    assert received['rescue_password'] == 'pw'
    wait_task_state(tree, instance.uuid, 'rescuing')


def test_wrong_state_sends_nothing(tree, nova_compute):
    instance = active_instance(tree, 'stopped')
    with pytest.raises(Exception) as info:
        tree.api.call_compute_api_method(ss.USER, 'api!cell1', 'pause',
                                         instance.uuid)
    assert 'Cannot pause' in str(info.value)
    assert not [m for m, _c, k in nova_compute.calls
                if k['instance'].uuid == instance.uuid]
    assert top(tree, instance.uuid)['task_state'] is None


def test_no_host_delete_is_local(tree, nova_compute):
    values = {'uuid': str(uuid.uuid4()), 'vm_state': 'error',
              'project_id': 'demo', 'user_id': 'alice'}
    db_instances.instance_create(tree.cell('cell1').db, values)
    row = db_instances.instance_create(tree.top.db,
                                       dict(values, cell_name='api!cell1'))
    tree.api.terminate_instance(ss.USER, instances.from_db_row(row), [])
    assert tree_support.wait_until(
        lambda: top(tree, values['uuid'])['deleted'], timeout=TIMEOUT)
    assert not [m for m, _c, k in nova_compute.calls
                if k['instance'].uuid == values['uuid']]


class FakeConductor(object):
    """nova-conductor's compute-task endpoint: migrate_server only."""

    target = oslo_messaging.Target(namespace='compute_task', version='1.15')

    def __init__(self):
        self.calls = []

    def migrate_server(self, context, **kwargs):
        self.calls.append(kwargs)


def test_resize_and_live_migrate_go_to_the_conductor(tree):
    endpoint = FakeConductor()
    transport = rpc.get_transport(tree.cell('cell1').conf)
    target = oslo_messaging.Target(
        topic='conductor', server='conductor-cell1',
        exchange=tree.tree.exchange_for_url(tree.tree.url_of('cell1')))
    server = oslo_messaging.get_rpc_server(
        transport, target, [endpoint],
        serializer=rpc.RequestContextSerializer(
            assembly.object_serializer()))
    server.start()
    try:
        resized = active_instance(tree)
        tree.api.resize_instance(ss.USER, resized, {}, None,
                                 ss.flavor(name='m1.medium', memory_mb=4096,
                                           flavor_id=2))
        migrated = active_instance(tree)
        tree.api.live_migrate_instance(ss.USER, migrated, 'cell1-host2',
                                       False, False)

        def by_uuid():
            return {k['instance'].uuid: k for k in endpoint.calls}
        assert tree_support.wait_until(
            lambda: {resized.uuid, migrated.uuid} <= set(by_uuid()),
            timeout=TIMEOUT), endpoint.calls
    finally:
        server.stop()
        server.wait()
        transport.cleanup()
    resize = by_uuid()[resized.uuid]
    assert resize['live'] is False and resize['flavor']['memory_mb'] == 4096
    assert resize['instance'].task_state == 'resize_prep'
    live = by_uuid()[migrated.uuid]
    assert live['live'] is True
    assert live['scheduler_hint'] == {'host': 'cell1-host2'}
    assert live['instance'].task_state == 'migrating'
    wait_task_state(tree, resized.uuid, 'resize_prep')
    wait_task_state(tree, migrated.uuid, 'migrating')
