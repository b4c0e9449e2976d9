"""Instance actions through the cells RPC API (reference §4.11, §4.14, §5.3)
in an in-process tree ``api -> child -> gc`` with the builtin hand-off: an
instance is built in ``gc``, then nova-api's ``CellsAPI`` acts on it and the
end state must reach the top."""

import pytest

from nova_cells.db import api as db_api
from nova_cells.db import instances as db_instances
from nova_cells import exception
from nova_cells.handlers import lifecycle as lifecycle_handlers
from nova_cells.top import instances
from nova_cells.handoff import compute
from tests.unit import sched_support as ss
from tests.unit import tree_support

LAYOUT = {'api': {'child': {'gc': {}}}}
HOSTS = {'gc': [(65536, 64, 2000)]}
TIMEOUT = 5


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with ss.building_tree(tmp_path_factory.mktemp('lifecycle'), HOSTS,
                          layout=LAYOUT) as harness:
        harness.tree.start_cells_rpc('api')
        harness.api = harness.tree.cells_api('api')
        yield harness


def built(tree):
    """A new ACTIVE instance in gc, as the top sees it."""
    instance_uuid, = tree.build()
    row, = tree.wait([instance_uuid])
    assert row['vm_state'] == 'active', row
    assert row['cell_name'] == 'api!child!gc'
    return instances.from_db_row(row)


def top_row(tree, instance_uuid):
    return db_instances.instance_get(tree.top.db, instance_uuid,
                                     read_deleted='yes')


def gc_row(tree, instance_uuid):
    return db_instances.instance_get(tree.cell('gc').db, instance_uuid,
                                     read_deleted='yes')


def wait_top(tree, instance_uuid, destroyed=False, **expected):
    def reached():
        row = top_row(tree, instance_uuid)
        return all(row[k] == v for k, v in expected.items()) and (
            not destroyed or row['deleted'] == row['id'])
    assert tree_support.wait_until(reached, timeout=TIMEOUT), (
        expected, top_row(tree, instance_uuid))
    return top_row(tree, instance_uuid)


def test_gc_uses_the_builtin_compute(tree):
    handoff = compute.for_runner(tree.cell('gc').runner)
    assert isinstance(handoff, compute.BuiltinComputeHandoff)


def test_stop_then_start(tree):
    instance = built(tree)
    tree.api.stop_instance(ss.USER, instance)
    wait_top(tree, instance.uuid, vm_state='stopped', power_state=4,
             task_state=None)
    assert gc_row(tree, instance.uuid)['vm_state'] == 'stopped'
    tree.api.start_instance(ss.USER, instance)
    wait_top(tree, instance.uuid, vm_state='active', power_state=1,
             task_state=None)


def test_stop_as_a_call_returns_once_stopped(tree):
    instance = built(tree)
    assert tree.api.stop_instance(ss.USER, instance, do_cast=False) is None
    assert gc_row(tree, instance.uuid)['vm_state'] == 'stopped'
    wait_top(tree, instance.uuid, vm_state='stopped')


def test_stop_call_raises_the_cells_error(tree):
    instance = built(tree)
    tree.api.stop_instance(ss.USER, instance, do_cast=False)
    with pytest.raises(Exception) as info:
        tree.api.stop_instance(ss.USER, instance, do_cast=False)
    assert 'InstanceInvalidState' in type(info.value).__name__ or \
        'Cannot stop' in str(info.value)


@pytest.mark.parametrize('reboot_type', ['SOFT', 'HARD'])
def test_reboot(tree, reboot_type):
    instance = built(tree)
    tree.api.reboot_instance(ss.USER, instance, None, reboot_type)
    wait_top(tree, instance.uuid, vm_state='active', power_state=1,
             task_state=None)


def test_suspend_resume_pause_unpause(tree):
    instance = built(tree)
    tree.api.suspend_instance(ss.USER, instance)
    wait_top(tree, instance.uuid, vm_state='suspended', power_state=7)
    tree.api.resume_instance(ss.USER, instance)
    wait_top(tree, instance.uuid, vm_state='active', power_state=1)
    tree.api.pause_instance(ss.USER, instance)
    wait_top(tree, instance.uuid, vm_state='paused', power_state=3)
    tree.api.unpause_instance(ss.USER, instance)
    wait_top(tree, instance.uuid, vm_state='active', power_state=1,
             task_state=None)


@pytest.mark.parametrize('delete_type', ['delete', 'force_delete'])
def test_terminate(tree, delete_type):
    instance = built(tree)
    tree.api.terminate_instance(ss.USER, instance, [],
                                delete_type=delete_type)
    # As nova-compute: the end state is saved (sent up), then the
    # instance destroyed (the top soft-deletes its copy).
    row = wait_top(tree, instance.uuid, vm_state='deleted', destroyed=True)
    assert row['task_state'] is None and row['terminated_at'] is not None
    assert gc_row(tree, instance.uuid)['deleted']


def test_soft_delete(tree):
    instance = built(tree)
    tree.api.soft_delete_instance(ss.USER, instance)
    wait_top(tree, instance.uuid, vm_state='soft-delete', power_state=4,
             task_state=None)


def test_run_compute_api_method_cast_and_call(tree):
    instance = built(tree)
    tree.api.cast_compute_api_method(ss.USER, 'api!child!gc', 'pause',
                                     instance.uuid)
    wait_top(tree, instance.uuid, vm_state='paused')
    assert tree.api.call_compute_api_method(
        ss.USER, 'api!child!gc', 'unpause', instance.uuid) is None
    assert gc_row(tree, instance.uuid)['vm_state'] == 'active'


def test_run_compute_api_method_unknown_method(tree):
    instance = built(tree)
    with pytest.raises(Exception) as info:
        tree.api.call_compute_api_method(ss.USER, 'api!child!gc',
                                         'no_such_method', instance.uuid)
    assert 'no_such_method' in str(info.value)


def test_missing_instance_is_destroyed_at_top(tree):
    instance = built(tree)
    db_instances.instance_destroy(tree.cell('gc').db, instance.uuid)
    with pytest.raises(Exception) as info:
        tree.api.call_compute_api_method(ss.USER, 'api!child!gc', 'stop',
                                         instance.uuid)
    assert 'could not be found' in str(info.value)
    # The top destroys its copy as nova's did: soft-deleted, its state
    # left as it was.
    wait_top(tree, instance.uuid, vm_state='active', destroyed=True)


def test_instance_without_cell_is_ignored(tree, caplog):
    instance = built(tree)
    instance.cell_name = None
    endpoint = [e for e in tree.top.endpoints
                if hasattr(e, 'start_instance')][0]
    assert endpoint.start_instance(ss.USER, instance) is None
    assert 'No cell_name for start_instance()' in caplog.text


@pytest.fixture
def performed(tree):
    """Compute methods the builtin compute of gc performed, in order."""
    handoff = compute.for_runner(tree.cell('gc').runner)
    done = []
    original = handoff.perform

    def perform(ctxt, instance, method, **kwargs):
        try:
            return original(ctxt, instance, method, **kwargs)
        finally:
            done.append((instance.uuid, method))
    handoff.perform = perform
    yield done
    del handoff.perform


def wait_performed(done, instance_uuid, method):
    assert tree_support.wait_until(
        lambda: (instance_uuid, method) in done, timeout=TIMEOUT), done


def test_snapshot_backup_password_rebuild(tree, performed):
    instance = built(tree)
    tree.api.snapshot_instance(ss.USER, instance, 'image-1')
    wait_performed(performed, instance.uuid, 'snapshot_instance')
    wait_top(tree, instance.uuid, task_state=None, vm_state='active')
    tree.api.backup_instance(ss.USER, instance, 'image-2', 'daily', 2)
    wait_performed(performed, instance.uuid, 'backup_instance')
    wait_top(tree, instance.uuid, task_state=None, vm_state='active')
    tree.api.set_admin_password(ss.USER, instance, 's3cret')
    wait_performed(performed, instance.uuid, 'set_admin_password')
    wait_top(tree, instance.uuid, task_state=None, vm_state='active')
    new_image = '0b3f7e52-6f1e-4b0e-9a53-3c8f1c6c6a11'
    tree.api.rebuild_instance(ss.USER, instance, 'pw', [], new_image,
                              instance.image_ref, {}, [])
    wait_top(tree, instance.uuid, image_ref=new_image, vm_state='active',
             task_state=None)


def test_resize_revert_confirm(tree):
    instance = built(tree)
    bigger = ss.flavor(name='m1.medium', memory_mb=4096, vcpus=2,
                       flavor_id=2)
    tree.api.resize_instance(ss.USER, instance, {}, None, bigger)
    wait_top(tree, instance.uuid, vm_state='resized', memory_mb=4096,
             vcpus=2, task_state=None)
    tree.api.revert_resize(ss.USER, instance, None, None)
    wait_top(tree, instance.uuid, vm_state='active', task_state=None)
    tree.api.resize_instance(ss.USER, instance, {}, None, bigger)
    wait_top(tree, instance.uuid, vm_state='resized')
    tree.api.confirm_resize(ss.USER, instance, None, None)
    wait_top(tree, instance.uuid, vm_state='active', task_state=None)


def test_network_actions_leave_the_instance_alone(tree, performed):
    instance = built(tree)
    tree.api.reset_network(ss.USER, instance)
    tree.api.inject_network_info(ss.USER, instance)
    wait_performed(performed, instance.uuid, 'reset_network')
    wait_performed(performed, instance.uuid, 'inject_network_info')
    row = top_row(tree, instance.uuid)
    assert (row['vm_state'], row['task_state']) == ('active', None)


def test_instance_update_from_api(tree):
    instance = built(tree)
    instance.display_name = 'renamed'
    instance.vm_state = 'error'
    tree.api.instance_update_from_api(ss.USER, instance, None, None, False)
    assert tree_support.wait_until(
        lambda: gc_row(tree, instance.uuid)['display_name'] == 'renamed',
        timeout=TIMEOUT)
    assert gc_row(tree, instance.uuid)['vm_state'] == 'active', \
        'vm_state is only taken on an admin state reset'
    tree.api.instance_update_from_api(ss.USER, instance, None, None, True)
    assert tree_support.wait_until(
        lambda: gc_row(tree, instance.uuid)['vm_state'] == 'error',
        timeout=TIMEOUT)


def test_the_action_table_matches_nova():
    expected = {'start': ('powering-on', 'start_instance'),
                'stop': ('powering-off', 'stop_instance'),
                'reboot': ('rebooting', 'reboot_instance'),
                'reboot_hard': ('rebooting_hard', 'reboot_instance'),
                'suspend': ('suspending', 'suspend_instance'),
                'resume': ('resuming', 'resume_instance'),
                'pause': ('pausing', 'pause_instance'),
                'unpause': ('unpausing', 'unpause_instance'),
                'delete': ('deleting', 'terminate_instance'),
                'soft_delete': ('soft-deleting', 'soft_delete_instance'),
                'snapshot': ('image_snapshot_pending', 'snapshot_instance'),
                'backup': ('image_backup', 'backup_instance'),
                'rebuild': ('rebuilding', 'rebuild_instance'),
                'resize': ('resize_prep', 'migrate_server'),
                'set_admin_password': ('updating_password',
                                       'set_admin_password'),
                'revert_resize': ('resize_reverting', 'revert_resize'),
                'confirm_resize': (None, 'confirm_resize')}
    for name, (task_state, method) in expected.items():
        action = lifecycle_handlers.ACTIONS[name]
        assert (action.task_state, action.compute_method) == (
            task_state, method), name


def test_exceptions_exist():
    assert issubclass(exception.CellServiceAPIMethodNotFound,
                      exception.NotFound)
    assert exception.InstanceInvalidState.code == 409


def test_terminate_gives_the_resources_back(tree):
    def node():
        return db_api.compute_node_get_all(tree.cell('gc').db)[0]
    before = node()
    instance = built(tree)
    assert node()['free_ram_mb'] == before['free_ram_mb'] - 2048
    tree.api.terminate_instance(ss.USER, instance, [])
    wait_top(tree, instance.uuid, vm_state='deleted')
    assert tree_support.wait_until(
        lambda: node()['free_ram_mb'] == before['free_ram_mb'],
        timeout=TIMEOUT), (before, node())
    after = node()
    assert (after['vcpus_used'], after['local_gb_used']) == (
        before['vcpus_used'], before['local_gb_used'])
