"""More instance actions through real ``nova-cells`` processes (api -> child).

Two module-scoped trees, one daemon, RabbitMQ vhost and SQLite database per
cell; nothing mocked:

* ``builtin``: the child plays the compute host; instances are built
  through ``CellsAPI.build_instances`` first, then nova-api's ``CellsAPI``
  suspends, resumes, pauses, unpauses, soft-deletes, resizes, reverts,
  confirms, live-migrates, snapshots, backs up, rebuilds, ... them (also by
  compute API name through ``run_compute_api_method``); each end state
  reaches the API cell's database.  A ``CellsAPI`` on the child's vhost
  sends the ``*_at_top`` casts, checked in the API cell's database.  The
  API daemon runs with ``[upgrade_levels] cells = kilo`` and a client
  capped at kilo (1.34) builds and stops an instance through it.
* ``conductor``: nova's hand-off; test-side oslo.messaging servers on the
  child's vhost play nova-compute (topic ``compute``, ``server=<host>``)
  and nova-conductor (``migrate_server``) and receive nova's methods.
"""

import contextlib
import datetime
import threading
import time
import uuid as uuidlib

import oslo_messaging
from oslo_messaging.rpc import dispatcher as rpc_dispatcher
from oslo_utils import timeutils
import pytest

from tests.functional import fixtures
from tests.functional import tree_support
from tests.functional.tree_support import Flavor
from tests.functional.tree_support import ProcessTree

from nova_cells import conf as cells_conf
from nova_cells import context as cells_context
from nova_cells.objects import instance as instance_obj
from nova_cells.objects import instance_info_cache as info_cache_obj
from nova_cells.transport import rpc
from nova_cells import rpcapi

pytestmark = pytest.mark.functional

LAYOUT = {'api': {'child': {}}}
SMALL = Flavor(2, 'm1.small', 2048, 1, 20)
MEDIUM = Flavor(3, 'm1.medium', 4096, 2, 20)
HOST = 'child-cmp1'
OTHER_HOST = 'child-cmp2'
CELL = 'api!child'
DEADLINE = 5
CTXT = cells_context.RequestContext(user_id='ft-user',
                                    project_id='ft-project')
NEW_IMAGE = '0b3f7e52-6f1e-4b0e-9a53-3c8f1c6c6a11'

# Instances built in the builtin tree, one per test that needs one.
BUILT = ('cycle', 'soft', 'edit', 'resize', 'live', 'images', 'by_name')


def _extra(driver):
    def extra(cell):
        values = {'DEFAULT': {'service_down_time': 3600},
                  'cells': {'local_scheduler_driver': driver,
                            'heal_interval': 3600,
                            'call_timeout': 10}}
        if cell.parent is None:
            values['upgrade_levels'] = {'cells': 'kilo'}
        return values
    return extra


def _tree(base_dir, stack, driver):
    tree = ProcessTree(LAYOUT, base_dir, stack, extra=_extra(driver))
    tree.provision()
    tree.sync_schemas(cli=False)
    tree.wire(cli=False)
    for cell in tree.cells.values():
        tree_support.seed_flavors(cell.db_url, [SMALL, MEDIUM])
    tree_support.seed_compute_hosts(tree['child'].db_url,
                                    [(HOST, 65536, 32, 1000)])
    return tree


def _top_row(tree, uuid):
    rows = fixtures.table_rows(tree['api'].db_url, 'instances')
    return next((r for r in rows if r['uuid'] == uuid), None)


@contextlib.contextmanager
def _finished(tree, uuid):
    """Around an action whose end state (active, no task state) is the
    state before: wait until the top has a newer update with that state
    (the task state goes up first, then the end state)."""
    before = _top_row(tree, uuid)['updated_at']
    yield
    row = fixtures.poll_until(
        lambda: _top_row(tree, uuid),
        lambda r: (r['updated_at'] is not None and
                   (before is None or r['updated_at'] > before) and
                   r['vm_state'] == 'active' and r['task_state'] is None),
        timeout=DEADLINE, interval=0.05)
    assert row['updated_at'] != before and row['task_state'] is None, (
        before, row, tree.logs()[-5000:])


def _child_row(tree, uuid):
    rows = fixtures.table_rows(tree['child'].db_url, 'instances')
    return next((r for r in rows if r['uuid'] == uuid), None)


def _matches(row, expected):
    return row is not None and all(row[k] == v for k, v in expected.items())


def _wait_top(tree, uuid, timeout=DEADLINE, **expected):
    began = time.monotonic()
    row = fixtures.poll_until(lambda: _top_row(tree, uuid),
                              lambda r: _matches(r, expected),
                              timeout=timeout, interval=0.05)
    assert _matches(row, expected), (expected, row, tree.logs()[-5000:])
    print('MEASURED %s at the top after %.2f s'
          % (expected, time.monotonic() - began))
    return row


def _wait_child(tree, uuid, **expected):
    row = fixtures.poll_until(lambda: _child_row(tree, uuid),
                              lambda r: _matches(r, expected),
                              timeout=DEADLINE, interval=0.05)
    assert _matches(row, expected), (expected, row, tree.logs()[-5000:])
    return row


def _acting(uuid):
    return instance_obj.Instance(uuid=uuid, cell_name=CELL)


def _wait_capacity(cells_api, admin):
    caps = fixtures.poll_until(
        lambda: cells_api.get_capacities(admin),
        lambda c: c.get('ram_free', {}).get('total_mb'),
        timeout=30, interval=0.2)
    assert caps.get('ram_free', {}).get('total_mb'), caps


def _build(tree, cells_api, names):
    """Build one instance per name through ``cells_api``; wait for all."""
    uuids = {name: str(uuidlib.uuid4()) for name in names}
    tree_support.create_api_instances(
        tree['api'].db_url,
        [(uuid, 'ft-%s' % name, SMALL) for name, uuid in uuids.items()])
    for name, uuid in uuids.items():
        instance = tree_support.instance_object(uuid, 'ft-%s' % name, SMALL)
        cells_api.build_instances(
            CTXT, **tree_support.build_kwargs(instance, SMALL))
    for uuid in uuids.values():
        _wait_top(tree, uuid, timeout=30, vm_state='active',
                  cell_name=CELL, host=HOST)
    return uuids


# -- the builtin tree ---------------------------------------------------------

@pytest.fixture(scope='module')
def builtin(tmp_path_factory):
    with contextlib.ExitStack() as stack:
        tree = _tree(tmp_path_factory.mktemp('more-builtin'), stack,
                     'builtin')
        tree.start()
        with tree_support.cells_api(tree['api'].url) as (api, admin):
            _wait_capacity(api, admin)
            tree.built = _build(tree, api, BUILT)
        yield tree


@pytest.fixture
def top_api(builtin):
    with tree_support.cells_api(builtin['api'].url) as (api, _admin):
        yield api


@pytest.fixture
def child_api(builtin):
    with tree_support.cells_api(builtin['child'].url) as (api, _admin):
        yield api


def test_suspend_resume_pause_unpause(request, builtin, top_api):
    tree_support.register_daemons(request, builtin)
    uuid = builtin.built['cycle']
    top_api.suspend_instance(CTXT, _acting(uuid))
    _wait_top(builtin, uuid, vm_state='suspended', power_state=7,
              task_state=None)
    top_api.resume_instance(CTXT, _acting(uuid))
    _wait_top(builtin, uuid, vm_state='active', power_state=1,
              task_state=None)
    top_api.pause_instance(CTXT, _acting(uuid))
    _wait_top(builtin, uuid, vm_state='paused', power_state=3,
              task_state=None)
    top_api.unpause_instance(CTXT, _acting(uuid))
    _wait_top(builtin, uuid, vm_state='active', power_state=1,
              task_state=None)
    assert _child_row(builtin, uuid)['vm_state'] == 'active'
    builtin.assert_running()


def test_soft_delete(request, builtin, top_api):
    tree_support.register_daemons(request, builtin)
    uuid = builtin.built['soft']
    top_api.soft_delete_instance(CTXT, _acting(uuid))
    row = _wait_top(builtin, uuid, vm_state='soft-delete', power_state=4,
                    task_state=None)
    assert row['deleted'] == 0
    below = _child_row(builtin, uuid)
    assert (below['vm_state'], below['deleted']) == ('soft-delete', 0)


def test_instance_update_from_api(request, builtin, top_api):
    tree_support.register_daemons(request, builtin)
    uuid = builtin.built['edit']
    instance = _acting(uuid)
    instance.obj_reset_changes()
    instance.display_name = 'ft-renamed'
    instance.vm_state = 'error'
    top_api.instance_update_from_api(CTXT, instance, None, None, False)
    row = _wait_child(builtin, uuid, display_name='ft-renamed')
    assert row['vm_state'] == 'active', \
        'vm_state is only taken on an admin state reset'
    top_api.instance_update_from_api(CTXT, instance, None, None, True)
    _wait_child(builtin, uuid, vm_state='error', display_name='ft-renamed')
    # Not sent back up (nova's skip_cells_sync).
    assert _top_row(builtin, uuid)['display_name'] == 'ft-edit'


def test_resize_revert_confirm(request, builtin, top_api):
    tree_support.register_daemons(request, builtin)
    uuid = builtin.built['resize']
    bigger = tree_support.flavor_object(MEDIUM)
    top_api.resize_instance(CTXT, _acting(uuid), {}, None, bigger)
    _wait_top(builtin, uuid, vm_state='resized', memory_mb=4096, vcpus=2,
              task_state=None)
    top_api.revert_resize(CTXT, _acting(uuid), None, None)
    _wait_top(builtin, uuid, vm_state='active', power_state=1,
              task_state=None)
    top_api.resize_instance(CTXT, _acting(uuid), {}, None, bigger)
    _wait_top(builtin, uuid, vm_state='resized', task_state=None)
    top_api.confirm_resize(CTXT, _acting(uuid), None, None)
    _wait_top(builtin, uuid, vm_state='active', task_state=None,
              memory_mb=4096)


def test_live_migrate(request, builtin, top_api):
    tree_support.register_daemons(request, builtin)
    uuid = builtin.built['live']
    top_api.live_migrate_instance(CTXT, _acting(uuid), OTHER_HOST, False,
                                  False)
    _wait_top(builtin, uuid, host=OTHER_HOST, node=OTHER_HOST,
              vm_state='active', task_state=None)
    assert _child_row(builtin, uuid)['host'] == OTHER_HOST


def test_images_password_network_and_rebuild(request, builtin, top_api):
    tree_support.register_daemons(request, builtin)
    uuid = builtin.built['images']
    instance = _acting(uuid)
    # The end state is the state before: wait for a newer update at the top.
    with _finished(builtin, uuid):
        top_api.snapshot_instance(CTXT, instance, 'image-1')
    with _finished(builtin, uuid):
        top_api.backup_instance(CTXT, instance, 'image-2', 'daily', 2)
    with _finished(builtin, uuid):
        top_api.set_admin_password(CTXT, instance, 's3cret')
    top_api.reset_network(CTXT, instance)
    top_api.inject_network_info(CTXT, instance)
    top_api.rebuild_instance(CTXT, instance, 'pw', [], NEW_IMAGE,
                             tree_support.IMAGE['id'], {}, [])
    row = _wait_top(builtin, uuid, image_ref=NEW_IMAGE, vm_state='active',
                    power_state=1, task_state=None)
    assert row['deleted'] == 0
    builtin.assert_running()


def test_run_compute_api_method_cast_and_call(request, builtin, top_api):
    tree_support.register_daemons(request, builtin)
    uuid = builtin.built['by_name']
    top_api.cast_compute_api_method(CTXT, CELL, 'pause', uuid)
    _wait_top(builtin, uuid, vm_state='paused', power_state=3,
              task_state=None)
    assert top_api.call_compute_api_method(CTXT, CELL, 'unpause',
                                           uuid) is None
    assert _child_row(builtin, uuid)['vm_state'] == 'active'
    _wait_top(builtin, uuid, vm_state='active', power_state=1,
              task_state=None)
    with pytest.raises(Exception) as info:
        top_api.call_compute_api_method(CTXT, CELL, 'no_such_method', uuid)
    assert 'no_such_method' in str(info.value)
    with pytest.raises(Exception) as info:
        top_api.call_compute_api_method(CTXT, CELL, 'resume', uuid)
    assert 'resume' in str(info.value)
    assert _top_row(builtin, uuid)['vm_state'] == 'active'


def _only_at_top(tree, **values):
    row = dict(uuid=str(uuidlib.uuid4()), display_name='ft-top',
               project_id='ft-project', user_id='ft-user',
               vm_state='building', task_state=None, memory_mb=512,
               vcpus=1, root_gb=1, ephemeral_gb=0,
               created_at=timeutils.utcnow(), deleted=0)
    row.update(values)
    tree_support.insert_rows(tree['api'].db_url, 'instances', [row])
    return row['uuid']


def test_instance_update_at_top_from_the_child(request, builtin,
                                               child_api):
    tree_support.register_daemons(request, builtin)
    uuid = _only_at_top(builtin)
    update = instance_obj.Instance(uuid=uuid)
    update.obj_reset_changes()
    update.vm_state = 'active'
    update.host = 'child-cmp9'
    child_api.instance_update_at_top(CTXT, update)
    _wait_top(builtin, uuid, vm_state='active', host='child-cmp9',
              cell_name=CELL)


def test_instance_destroy_at_top_from_the_child(request, builtin,
                                                child_api):
    tree_support.register_daemons(request, builtin)
    uuid = _only_at_top(builtin, vm_state='active', cell_name=CELL)
    child_api.instance_destroy_at_top(CTXT,
                                      instance_obj.Instance(uuid=uuid))
    row = fixtures.poll_until(lambda: _top_row(builtin, uuid),
                              lambda r: r['deleted'] != 0,
                              timeout=DEADLINE, interval=0.05)
    assert row['deleted'] != 0, builtin.logs()[-5000:]


def test_instance_fault_create_at_top_from_the_child(request, builtin,
                                                     child_api):
    tree_support.register_daemons(request, builtin)
    uuid = _only_at_top(builtin, vm_state='error', cell_name=CELL)
    child_api.instance_fault_create_at_top(
        CTXT, {'id': 42, 'instance_uuid': uuid, 'code': 500,
               'message': 'boom', 'details': 'trace', 'host': HOST,
               'created_at': datetime.datetime.utcnow()})

    def faults():
        return [r for r in fixtures.table_rows(builtin['api'].db_url,
                                               'instance_faults')
                if r['instance_uuid'] == uuid]
    found = fixtures.poll_until(faults, bool, timeout=DEADLINE,
                                interval=0.05)
    assert [(f['message'], f['code'], f['host'], f['details'])
            for f in found] == [('boom', 500, HOST, 'trace')], \
        builtin.logs()[-5000:]


def test_instance_info_cache_update_at_top_from_the_child(request, builtin,
                                                          child_api):
    tree_support.register_daemons(request, builtin)
    uuid = _only_at_top(builtin, vm_state='active', cell_name=None)
    cache = info_cache_obj.InstanceInfoCache(instance_uuid=uuid)
    child_api.instance_info_cache_update_at_top(CTXT, cache)
    row = _wait_top(builtin, uuid, cell_name=CELL)
    assert (row['vm_state'], row['deleted']) == ('active', 0)


@contextlib.contextmanager
def _kilo_api(url, directory):
    conf_file = directory / 'kilo-client.conf'
    conf_file.write_text('[upgrade_levels]\ncells = kilo\n')
    conf = cells_conf.new_config(['--config-file', str(conf_file)])
    transport = rpc.get_transport(conf, url)
    try:
        yield rpcapi.CellsAPI(conf, transport)
    finally:
        transport.cleanup()


def test_kilo_client_and_kilo_api_daemon(request, builtin, tmp_path):
    tree_support.register_daemons(request, builtin)
    assert 'cells = kilo' in builtin['api'].conf.path.read_text()
    with _kilo_api(builtin['api'].url, tmp_path) as api:
        assert api.version_cap == '1.34'
        assert api.can_send_version('1.34')
        assert not api.can_send_version('1.35')
        uuid = str(uuidlib.uuid4())
        tree_support.create_api_instances(builtin['api'].db_url,
                                          [(uuid, 'ft-kilo', SMALL)])
        instance = tree_support.instance_object(uuid, 'ft-kilo', SMALL)
        api.build_instances(CTXT,
                            **tree_support.build_kwargs(instance, SMALL))
        _wait_top(builtin, uuid, timeout=30, vm_state='active',
                  cell_name=CELL, host=HOST)
        api.stop_instance(CTXT, _acting(uuid))
        _wait_top(builtin, uuid, vm_state='stopped', power_state=4,
                  task_state=None)
        api.start_instance(CTXT, _acting(uuid))
        _wait_top(builtin, uuid, vm_state='active', power_state=1,
                  task_state=None)
    builtin.assert_running()


# -- the conductor tree (nova's hand-off) ------------------------------------

class Recorder(object):
    """Thread-safe record of ``(method, ctxt, kwargs)``."""

    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()

    def record(self, method, ctxt, kwargs):
        with self.lock:
            self.calls.append((method, ctxt, kwargs))

    def wait_for(self, method, uuid, timeout=10):
        def found():
            with self.lock:
                return [(c, k) for m, c, k in self.calls
                        if m == method and
                        k['instance']['nova_object.data']['uuid'] == uuid]
        return fixtures.poll_until(found, bool, timeout=timeout,
                                   interval=0.05)

    def for_uuid(self, uuid):
        with self.lock:
            return [m for m, _c, k in self.calls
                    if k['instance']['nova_object.data']['uuid'] == uuid]


COMPUTE_METHODS = ('snapshot_instance', 'backup_instance',
                   'rebuild_instance', 'set_admin_password',
                   'reset_network', 'inject_network_info', 'revert_resize',
                   'confirm_resize', 'suspend_instance', 'resume_instance',
                   'pause_instance', 'unpause_instance',
                   'soft_delete_instance', 'stop_instance',
                   'start_instance', 'reboot_instance',
                   'terminate_instance')


def _recording(name):
    def method(self, ctxt, **kwargs):
        self.recorder.record(name, ctxt, kwargs)
    method.__name__ = name
    return method


class FakeCompute(object):
    """nova-compute's RPC endpoint (compute API 5.0), recording casts."""

    target = oslo_messaging.Target(version='5.0')

    def __init__(self, recorder):
        self.recorder = recorder


for _name in COMPUTE_METHODS:
    setattr(FakeCompute, _name, _recording(_name))


class FakeConductor(object):
    """nova-conductor's compute-task endpoint: migrate_server only."""

    target = oslo_messaging.Target(namespace='compute_task', version='1.15')

    def __init__(self, recorder):
        self.recorder = recorder

    def migrate_server(self, ctxt, **kwargs):
        self.recorder.record('migrate_server', ctxt, kwargs)


@contextlib.contextmanager
def _rpc_server(url, topic, server, endpoint):
    conf = cells_conf.new_config()
    transport = oslo_messaging.get_rpc_transport(conf, url=url)
    rpc_server = oslo_messaging.get_rpc_server(
        transport, oslo_messaging.Target(topic=topic, server=server),
        [endpoint], executor='threading',
        access_policy=rpc_dispatcher.DefaultRPCAccessPolicy)
    rpc_server.start()
    try:
        yield endpoint
    finally:
        rpc_server.stop()
        rpc_server.wait()
        transport.cleanup()


@pytest.fixture(scope='module')
def conductor(tmp_path_factory):
    with contextlib.ExitStack() as stack:
        tree = _tree(tmp_path_factory.mktemp('more-conductor'), stack,
                     'conductor')
        tree.recorder = Recorder()
        url = tree['child'].url
        stack.enter_context(_rpc_server(url, 'compute', HOST,
                                        FakeCompute(tree.recorder)))
        stack.enter_context(_rpc_server(url, 'conductor', 'conductor-child',
                                        FakeConductor(tree.recorder)))
        tree.start()
        with tree_support.cells_api(tree['api'].url) as (api, _admin):
            tree.api = api
            yield tree


def _in_both(tree, vm_state):
    uuid = str(uuidlib.uuid4())
    row = dict(uuid=uuid, display_name='ft-vm', project_id='ft-project',
               user_id='ft-user', vm_state=vm_state, task_state=None,
               power_state=1, host=HOST, node=HOST, memory_mb=2048,
               vcpus=1, root_gb=20, ephemeral_gb=0, deleted=0,
               image_ref=tree_support.IMAGE['id'])
    tree_support.insert_rows(tree['child'].db_url, 'instances', [row])
    tree_support.insert_rows(tree['api'].db_url, 'instances',
                             [dict(row, cell_name=CELL)])
    return uuid


CONDUCTOR_ACTIONS = [
    # (id, client call, vm_state before, method received, task state,
    #  expected kwargs)
    ('snapshot',
     lambda api, i: api.snapshot_instance(CTXT, i, 'img-1'), 'active',
     'snapshot_instance', 'image_snapshot_pending', {'image_id': 'img-1'}),
    ('backup',
     lambda api, i: api.backup_instance(CTXT, i, 'img-2', 'daily', 3),
     'active', 'backup_instance', 'image_backup',
     {'image_id': 'img-2', 'backup_type': 'daily', 'rotation': 3}),
    ('rebuild',
     lambda api, i: api.rebuild_instance(CTXT, i, 'pw', [], NEW_IMAGE,
                                         tree_support.IMAGE['id'], {}, []),
     'active', 'rebuild_instance', 'rebuilding',
     {'image_ref': NEW_IMAGE, 'new_pass': 'pw', 'injected_files': [],
      'preserve_ephemeral': False}),
    ('set_admin_password',
     lambda api, i: api.set_admin_password(CTXT, i, 's3cret'), 'active',
     'set_admin_password', 'updating_password', {'new_pass': 's3cret'}),
    ('reset_network', lambda api, i: api.reset_network(CTXT, i), 'active',
     'reset_network', None, {}),
    ('inject_network_info',
     lambda api, i: api.inject_network_info(CTXT, i), 'active',
     'inject_network_info', None, {}),
    ('revert_resize',
     lambda api, i: api.revert_resize(CTXT, i, None, None), 'resized',
     'revert_resize', 'resize_reverting', {}),
    ('confirm_resize',
     lambda api, i: api.confirm_resize(CTXT, i, None, None), 'resized',
     'confirm_resize', None, {}),
    ('suspend', lambda api, i: api.suspend_instance(CTXT, i), 'active',
     'suspend_instance', 'suspending', {}),
    ('soft_delete', lambda api, i: api.soft_delete_instance(CTXT, i),
     'active', 'soft_delete_instance', 'soft-deleting', {}),
    ('resize',
     lambda api, i: api.resize_instance(
         CTXT, i, {}, None, tree_support.flavor_object(MEDIUM)),
     'active', 'migrate_server', 'resize_prep', {'live': False}),
    ('live_migrate',
     lambda api, i: api.live_migrate_instance(CTXT, i, OTHER_HOST, False,
                                              False),
     'active', 'migrate_server', 'migrating',
     {'live': True, 'scheduler_hint': {'host': OTHER_HOST}}),
    ('cast_compute_api_method',
     lambda api, i: api.cast_compute_api_method(CTXT, CELL, 'pause',
                                                i.uuid),
     'active', 'pause_instance', 'pausing', {}),
    ('start', lambda api, i: api.start_instance(CTXT, i), 'stopped',
     'start_instance', 'powering-on', {}),
    ('stop', lambda api, i: api.stop_instance(CTXT, i), 'active',
     'stop_instance', 'powering-off', {}),
    ('reboot', lambda api, i: api.reboot_instance(CTXT, i, None, 'SOFT'),
     'active', 'reboot_instance', 'rebooting', {'reboot_type': 'SOFT'}),
    ('resume', lambda api, i: api.resume_instance(CTXT, i), 'suspended',
     'resume_instance', 'resuming', {}),
    ('pause', lambda api, i: api.pause_instance(CTXT, i), 'active',
     'pause_instance', 'pausing', {}),
    ('unpause', lambda api, i: api.unpause_instance(CTXT, i), 'paused',
     'unpause_instance', 'unpausing', {}),
    ('terminate', lambda api, i: api.terminate_instance(CTXT, i, []),
     'active', 'terminate_instance', 'deleting', {}),
]


@pytest.mark.parametrize('send,vm_state,method,task_state,kwargs',
                         [a[1:] for a in CONDUCTOR_ACTIONS],
                         ids=[a[0] for a in CONDUCTOR_ACTIONS])
def test_conductor_handoff_sends_novas_method(request, conductor, send,
                                              vm_state, method, task_state,
                                              kwargs):
    tree_support.register_daemons(request, conductor)
    uuid = _in_both(conductor, vm_state)
    began = time.monotonic()
    send(conductor.api, _acting(uuid))
    got = conductor.recorder.wait_for(method, uuid)
    assert got, 'nothing received for %s; logs:\n%s' % (
        method, conductor.logs()[-5000:])
    print('MEASURED api cast -> %s received %.2f s'
          % (method, time.monotonic() - began))
    (wire_ctxt, received), = got
    sent = received['instance']
    assert sent['nova_object.name'] == 'Instance'
    assert sent['nova_object.data']['task_state'] == task_state
    assert (wire_ctxt['user_id'], wire_ctxt['project_id']) == \
        ('ft-user', 'ft-project')
    for key, value in kwargs.items():
        assert received[key] == value, (key, received)
    if method == 'migrate_server' and not kwargs['live']:
        assert received['flavor']['memory_mb'] == MEDIUM.memory_mb
    if task_state is not None:
        _wait_top(conductor, uuid, task_state=task_state, vm_state=vm_state)
        assert _child_row(conductor, uuid)['task_state'] == task_state
    assert conductor.recorder.for_uuid(uuid) == [method]
    conductor.assert_running()
