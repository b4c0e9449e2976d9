"""More of the cells query API against real daemons: api -> c1, c2, each a
``nova-cells`` process with its own RabbitMQ vhost and SQLite database.

Rows are seeded with plain SQL into the cells' databases before the
daemons start; the calls go the way nova-api's (on the API cell's vhost)
or a child's nova-compute's (on the child's vhost) would, through
``CellsAPI``:

* task logs, instance actions and events, migrations, keypairs at the top;
* services: update, delete, uptime;
* casts to the top (BDMs, bandwidth usage: the rows appear in the API
  cell's database; console tokens: the top's nova-consoleauth, a test-side
  oslo.messaging server on the API cell's vhost, is told);
* validate_console_port and proxy_rpc_to_manager, answered by a test-side
  nova-compute stand-in (topic ``compute``, server ``c1-h1``) on c1's
  vhost.

The tests share one tree.
"""

import contextlib
import datetime
import uuid

import oslo_messaging
from oslo_utils import timeutils
import pytest

from tests.functional import fixtures
from tests.functional import tree_support
from tests.functional.tree_support import ProcessTree

from nova_cells.service import assembly
from nova_cells import conf as cells_conf
from nova_cells import context as cells_context
from nova_cells import exception
from nova_cells.objects import block_device as bdm_obj
from nova_cells.objects import keypair as keypair_obj
from nova_cells.objects import migration as migration_obj
from nova_cells.client import proxies
from nova_cells.transport import rpc
from nova_cells import rpcapi
from nova_cells.testing import fake_services

pytestmark = pytest.mark.functional

LAYOUT = {'api': {'c1': {}, 'c2': {}}}
CALL_TIMEOUT = 5
EXTRA = {'DEFAULT': {'service_down_time': 3600},
         'cells': {'call_timeout': CALL_TIMEOUT, 'db_check_interval': 0,
                   'mute_child_interval': 300}}
# (host, memory_mb, vcpus, local_gb)
HOSTS = {'c1': [('c1-h1', 8192, 8, 100), ('c1-h2', 4096, 4, 50)],
         'c2': [('c2-h1', 16384, 16, 200), ('c2-h2', 2048, 2, 20)]}

BEGIN = datetime.datetime(2026, 3, 1, 0, 0, 0)
END = datetime.datetime(2026, 4, 1, 0, 0, 0)
INSTANCE = str(uuid.UUID(int=7))
OTHER = str(uuid.UUID(int=8))
NO_CELL = str(uuid.UUID(int=9))
VOLUME = str(uuid.UUID(int=31))
MAC = 'fa:16:3e:00:00:01'
POLL = 10


def _seed(tree):
    now = timeutils.utcnow()
    for name, hosts in HOSTS.items():
        url = tree[name].db_url
        tree_support.seed_compute_hosts(url, hosts)
        tree_support.insert_rows(url, 'task_log', [
            dict(task_name='instance_usage_audit', state='RUNNING',
                 host=host, period_beginning=BEGIN, period_ending=END,
                 message='', task_items=3, errors=0, deleted=0,
                 created_at=now)
            for host, *_ in hosts])
    tree_support.insert_rows(tree['c1'].db_url, 'instance_actions', [
        dict(id=1, action='create', instance_uuid=INSTANCE,
             request_id='req-1', user_id='alice', project_id='demo',
             start_time=BEGIN, created_at=BEGIN, deleted=0),
        dict(id=2, action='reboot', instance_uuid=INSTANCE,
             request_id='req-2', user_id='alice', project_id='demo',
             start_time=END, created_at=END, deleted=0)])
    tree_support.insert_rows(tree['c1'].db_url, 'instance_actions_events', [
        dict(event=event, action_id=1, result='Success', host='c1-h1',
             start_time=BEGIN, created_at=BEGIN, deleted=0)
        for event in ('compute__do_build_and_run_instance', 'schedule')])
    for name, statuses in (('c1', ('finished', 'migrating')),
                           ('c2', ('error',))):
        tree_support.insert_rows(tree[name].db_url, 'migrations', [
            dict(uuid=str(uuid.uuid4()), source_compute=name + '-h1',
                 dest_compute=name + '-h2', instance_uuid=INSTANCE,
                 status=status, migration_type='resize', hidden=False,
                 created_at=now, deleted=0)
            for status in statuses])
    tree_support.insert_rows(tree['api'].db_url, 'key_pairs', [
        dict(name='mykey', user_id='alice', fingerprint='aa:bb',
             public_key='ssh-rsa AAAA alice', type='ssh', deleted=0,
             created_at=now)])
    # a keypair in a child's DB is never what get_keypair_at_top returns
    tree_support.insert_rows(tree['c1'].db_url, 'key_pairs', [
        dict(name='mykey', user_id='alice', fingerprint='zz',
             public_key='ssh-rsa child copy', type='ssh', deleted=0,
             created_at=now)])
    tree_support.insert_rows(tree['api'].db_url, 'instances', [
        dict(uuid=INSTANCE, cell_name='api!c1', host='c1-h1',
             vm_state='active', deleted=0, created_at=now),
        dict(uuid=NO_CELL, cell_name=None, host=None, vm_state='building',
             deleted=0, created_at=now)])
    tree_support.insert_rows(tree['c1'].db_url, 'instances', [
        dict(uuid=INSTANCE, host='c1-h1', vm_state='active', deleted=0,
             created_at=now)])


def _serve(stack, transport, topic, server, version):
    fake = fake_services.FakeComputeService(version, 'c1-h1')
    srv = rpc.get_server(
        transport, oslo_messaging.Target(topic=topic, server=server),
        [fake], serializer=rpc.RequestContextSerializer(
            assembly.object_serializer()))
    srv.start()

    def stop():
        srv.stop()
        srv.wait()

    stack.callback(stop)
    return fake


def _transport(stack, url, exmods=('nova_cells.exception',)):
    transport = oslo_messaging.get_rpc_transport(
        cells_conf.new_config(), url=url, allowed_remote_exmods=list(exmods))
    stack.callback(transport.cleanup)
    return transport


def _client(transport):
    return rpcapi.CellsAPI(cells_conf.new_config(), transport,
                           serializer=proxies.ProxyObjectSerializer())


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with contextlib.ExitStack() as stack:
        tree = ProcessTree(LAYOUT, tmp_path_factory.mktemp('queries_more'),
                           stack, extra=EXTRA)
        tree.provision()
        tree.sync_schemas(cli=False)
        tree.wire(cli=False)
        _seed(tree)
        api_transport = _transport(stack, tree['api'].url)
        c1_transport = _transport(stack, tree['c1'].url)
        tree.compute = _serve(stack, c1_transport, 'compute', 'c1-h1',
                              '5.0')
        tree.consoleauth = _serve(stack, api_transport, 'consoleauth',
                                  'host-api', '2.1')
        tree.api_client = _client(api_transport)
        tree.c1_client = _client(c1_transport)
        tree.start()
        yield tree


@pytest.fixture(autouse=True)
def _logs(request, tree):
    tree_support.register_daemons(request, tree)


@pytest.fixture
def api(tree):
    return tree.api_client


ADMIN = cells_context.get_admin_context()


def _poll(fetch, predicate):
    return fixtures.poll_until(fetch, predicate, timeout=POLL)


# -- task_log_get_all ---------------------------------------------------------

def test_task_log_get_all(api):
    logs = api.task_log_get_all(ADMIN, 'instance_usage_audit', BEGIN, END)
    assert sorted(e['host'] for e in logs) == [
        'api!c1@c1-h1', 'api!c1@c1-h2', 'api!c2@c2-h1', 'api!c2@c2-h2']
    for entry in logs:
        cell = entry['host'].split('@')[0]
        assert entry['id'].startswith(cell + '@')
        assert entry['state'] == 'RUNNING' and entry['task_items'] == 3

    logs = api.task_log_get_all(ADMIN, 'instance_usage_audit', BEGIN, END,
                                host='api!c2')
    assert sorted(e['host'] for e in logs) == ['api!c2@c2-h1',
                                               'api!c2@c2-h2']
    logs = api.task_log_get_all(ADMIN, 'instance_usage_audit', BEGIN, END,
                                host='api!c1@c1-h2', state='RUNNING')
    assert [e['host'] for e in logs] == ['api!c1@c1-h2']
    assert api.task_log_get_all(ADMIN, 'instance_usage_audit', BEGIN, END,
                                host='api!c1@c1-h2', state='DONE') == []
    assert api.task_log_get_all(ADMIN, 'other', BEGIN, END) == []
    with pytest.raises(exception.CellRoutingInconsistency):
        api.task_log_get_all(ADMIN, 'instance_usage_audit', BEGIN, END,
                             host='api!nope@h')


# -- instance actions ---------------------------------------------------------

def _instance(cell_name, instance_uuid=INSTANCE):
    return {'uuid': instance_uuid, 'cell_name': cell_name}


def test_actions(api):
    actions = api.actions_get(ADMIN, _instance('api!c1'))
    assert [a['action'] for a in actions] == ['reboot', 'create']
    assert actions[0]['request_id'] == 'req-2'
    assert api.actions_get(ADMIN, _instance('api!c1', OTHER)) == []
    assert api.actions_get(ADMIN, _instance('api!c2')) == []

    action = api.action_get_by_request_id(ADMIN, _instance('api!c1'),
                                          'req-1')
    assert action['action'] == 'create' and action['user_id'] == 'alice'
    assert api.action_get_by_request_id(ADMIN, _instance('api!c1'),
                                        'req-nope') is None

    events = api.action_events_get(ADMIN, _instance('api!c1'),
                                   action['id'])
    assert sorted(e['event'] for e in events) == [
        'compute__do_build_and_run_instance', 'schedule']
    assert all(e['host'] == 'c1-h1' for e in events)
    assert api.action_events_get(ADMIN, _instance('api!c1'), 999) == []


def test_actions_errors(api):
    with pytest.raises(exception.CellRoutingInconsistency):
        api.actions_get(ADMIN, _instance('api!ghost'))
    with pytest.raises(exception.CellRoutingInconsistency):
        api.action_get_by_request_id(ADMIN, _instance('api!ghost'), 'req-1')
    with pytest.raises(exception.CellRoutingInconsistency):
        api.action_events_get(ADMIN, _instance('api!ghost'), 1)
    with pytest.raises(exception.InstanceUnknownCell):
        api.actions_get(ADMIN, _instance(None))


# -- get_migrations -----------------------------------------------------------

def _statuses(migrations):
    assert isinstance(migrations, migration_obj.MigrationList)
    return sorted(m.status for m in migrations)


def test_get_migrations(api):
    assert _statuses(api.get_migrations(ADMIN, {})) == [
        'error', 'finished', 'migrating']
    assert _statuses(api.get_migrations(ADMIN, {'status': 'finished'})) == \
        ['finished']
    assert _statuses(api.get_migrations(ADMIN, {'host': 'c2-h2'})) == \
        ['error']
    assert _statuses(api.get_migrations(ADMIN, {'cell_name': 'c1'})) == [
        'finished', 'migrating']
    assert _statuses(api.get_migrations(ADMIN,
                                        {'cell_name': 'api!c2'})) == \
        ['error']
    assert list(api.get_migrations(ADMIN, {'cell_name': 'ghost'})) == []


# -- get_keypair_at_top -------------------------------------------------------

def test_get_keypair_at_top(tree, api):
    keypair = tree.c1_client.get_keypair_at_top(ADMIN, 'alice', 'mykey')
    assert isinstance(keypair, keypair_obj.KeyPair)
    assert keypair.public_key == 'ssh-rsa AAAA alice'
    assert keypair.fingerprint == 'aa:bb'
    with pytest.raises(exception.KeypairNotFound):
        tree.c1_client.get_keypair_at_top(ADMIN, 'alice', 'nope')
    # the API cell has no parents: nobody above to ask
    with pytest.raises(exception.KeypairNotFound):
        api.get_keypair_at_top(ADMIN, 'alice', 'mykey')


# -- services -----------------------------------------------------------------

def _service_row(tree, cell, host):
    return [r for r in fixtures.table_rows(tree[cell].db_url, 'services')
            if r['host'] == host and r['binary'] == 'nova-compute'][0]


def test_service_update(tree, api):
    service = api.service_update(ADMIN, 'api!c1@c1-h1', 'nova-compute',
                                 {'disabled': True,
                                  'disabled_reason': 'maintenance'})
    try:
        assert isinstance(service, proxies.ServiceProxy)
        assert service.host == 'api!c1@c1-h1'
        assert service.id.startswith('api!c1@')
        assert service.disabled is True
        assert service.disabled_reason == 'maintenance'
        row = _service_row(tree, 'c1', 'c1-h1')
        assert row['disabled'] and row['disabled_reason'] == 'maintenance'
        assert api.service_get_by_compute_host(
            ADMIN, 'api!c1@c1-h1').disabled is True
    finally:
        api.service_update(ADMIN, 'api!c1@c1-h1', 'nova-compute',
                           {'disabled': False, 'disabled_reason': None})
    assert not _service_row(tree, 'c1', 'c1-h1')['disabled']
    with pytest.raises(exception.HostBinaryNotFound):
        api.service_update(ADMIN, 'api!c1@c1-h1', 'nova-nothing',
                           {'disabled': True})
    with pytest.raises(exception.CellRoutingInconsistency):
        api.service_update(ADMIN, 'api!ghost@h', 'nova-compute',
                           {'disabled': True})


def test_service_delete(tree, api):
    service = api.service_get_by_compute_host(ADMIN, 'api!c2@c2-h2')
    assert service.id == 'api!c2@%s' % _service_row(tree, 'c2', 'c2-h2')['id']
    assert api.service_delete(ADMIN, service.id) is None
    with pytest.raises(exception.ComputeHostNotFound):
        api.service_get_by_compute_host(ADMIN, 'api!c2@c2-h2')
    assert _service_row(tree, 'c2', 'c2-h2')['deleted']
    with pytest.raises(exception.ServiceNotFound):
        api.service_delete(ADMIN, service.id)
    # the other host of that cell is still there
    assert api.service_get_by_compute_host(
        ADMIN, 'api!c2@c2-h1').host == 'api!c2@c2-h1'


def test_get_host_uptime(api):
    line = api.get_host_uptime(ADMIN, 'api!c1@c1-h1')
    assert isinstance(line, str)
    assert ' up 0 days, ' in line and 'last heartbeat' in line
    with pytest.raises(exception.ComputeHostNotFound):
        api.get_host_uptime(ADMIN, 'api!c1@nope')
    with pytest.raises(exception.CellRoutingInconsistency):
        api.get_host_uptime(ADMIN, 'api!ghost@c1-h1')


# -- casts to the top ---------------------------------------------------------

def _top_bdms(tree):
    return [r for r in fixtures.live_rows(tree['api'].db_url,
                                          'block_device_mapping')
            if r['instance_uuid'] == INSTANCE]


def test_bdm_create_update_destroy_reach_the_top(tree):
    c1 = tree.c1_client
    bdm = bdm_obj.BlockDeviceMapping(
        id=77, instance_uuid=INSTANCE, device_name='/dev/vdb',
        volume_id=VOLUME, source_type='volume', destination_type='volume',
        volume_size=1, boot_index=None, delete_on_termination=False)
    c1.bdm_update_or_create_at_top(ADMIN, bdm, create=True)
    rows = _poll(lambda: _top_bdms(tree), bool)
    assert [(r['device_name'], r['volume_id'], r['volume_size'])
            for r in rows] == [('/dev/vdb', VOLUME, 1)]

    bdm.volume_size = 5
    c1.bdm_update_or_create_at_top(ADMIN, bdm, create=False)
    rows = _poll(lambda: _top_bdms(tree),
                 lambda rows: [r['volume_size'] for r in rows] == [5])
    assert [r['volume_size'] for r in rows] == [5]

    c1.bdm_destroy_at_top(ADMIN, INSTANCE, device_name='/dev/vdb')
    assert _poll(lambda: _top_bdms(tree), lambda rows: rows == []) == []


def test_bw_usage_update_at_top(tree):
    c1 = tree.c1_client

    def rows():
        return [r for r in fixtures.live_rows(tree['api'].db_url,
                                              'bw_usage_cache')
                if r['uuid'] == INSTANCE and r['mac'] == MAC]

    c1.bw_usage_update_at_top(ADMIN, INSTANCE, MAC, BEGIN, 100, 200, 10, 20)
    found = _poll(rows, bool)
    assert [(r['bw_in'], r['bw_out'], r['start_period'])
            for r in found] == [(100, 200, BEGIN)]
    c1.bw_usage_update_at_top(ADMIN, INSTANCE, MAC, BEGIN, 150, 250, 15, 25,
                              last_refreshed=BEGIN)
    found = _poll(rows, lambda rs: [r['bw_in'] for r in rs] == [150])
    assert [(r['bw_in'], r['bw_out'], r['last_ctr_out'],
             r['last_refreshed']) for r in found] == [(150, 250, 25, BEGIN)]


def test_consoleauth_delete_tokens_reaches_the_top(tree):
    tree.c1_client.consoleauth_delete_tokens(ADMIN, INSTANCE)
    expected = ('delete_tokens_for_instance', {'instance_uuid': INSTANCE})
    calls = _poll(lambda: list(tree.consoleauth.calls),
                  lambda calls: expected in calls)
    assert expected in calls


# -- consoles and host managers -----------------------------------------------

def test_validate_console_port(tree, api):
    assert api.validate_console_port(ADMIN, INSTANCE, '5900',
                                     'novnc') is True
    assert api.validate_console_port(ADMIN, INSTANCE, '5901',
                                     'novnc') is False
    method, kwargs = tree.compute.calls[-1]
    assert method == 'validate_console_port'
    assert kwargs['instance'].uuid == INSTANCE
    assert kwargs['instance'].host == 'c1-h1'
    assert kwargs['console_type'] == 'novnc' and kwargs['port'] == '5901'
    with pytest.raises(exception.InstanceUnknownCell):
        api.validate_console_port(ADMIN, NO_CELL, '5900', 'novnc')
    with pytest.raises(exception.InstanceNotFound):
        api.validate_console_port(ADMIN, str(uuid.UUID(int=404)), '5900',
                                  'novnc')


def _maintenance(mode):
    return {'method': 'host_maintenance_mode', 'namespace': None,
            'version': '5.0', 'args': {'host': 'c1-h1', 'mode': mode}}


def test_proxy_rpc_to_manager(tree, api):
    result = api.proxy_rpc_to_manager(ADMIN, _maintenance(True),
                                      'compute.api!c1@c1-h1', call=True,
                                      timeout=10)
    assert result == 'on_maintenance'
    assert tree.compute.calls[-1] == ('host_maintenance_mode',
                                      {'host': 'c1-h1', 'mode': True})

    assert api.proxy_rpc_to_manager(ADMIN, _maintenance(False),
                                    'compute.api!c1@c1-h1') is None
    expected = ('host_maintenance_mode', {'host': 'c1-h1', 'mode': False})
    calls = _poll(lambda: list(tree.compute.calls),
                  lambda calls: expected in calls)
    assert expected in calls


@pytest.mark.parametrize('topic, exc', [
    ('compute.api!c1@nope', exception.ComputeHostNotFound),
    ('compute.api!ghost@c1-h1', exception.CellRoutingInconsistency),
    ('compute.c1-h1', exception.CellRoutingInconsistency),
])
def test_proxy_rpc_to_manager_failures(api, topic, exc):
    with pytest.raises(exc):
        api.proxy_rpc_to_manager(ADMIN, _maintenance(True), topic, call=True,
                                 timeout=10)
