"""The cells query API (services, compute nodes) through CellsAPI, over
fake:// in an in-process tree: api -> c1 (-> g1), c2.

Every call goes the way nova-api's would: CellsAPI on topic ``cells`` of
the API cell, QueryEndpoint, intercell messages down the tree, the
handlers on each cell's own database, proxies back.
"""

import contextlib
import uuid

from oslo_utils import timeutils
import pytest

from nova_cells import context
from nova_cells.db import models
from nova_cells import exception
from nova_cells.client import proxies
from nova_cells import rpcapi
from tests.unit import tree_support

LAYOUT = {'api': {'c1': {'g1': {}}, 'c2': {}}}
PATHS = {'api': 'api', 'c1': 'api!c1', 'g1': 'api!c1!g1', 'c2': 'api!c2'}
# cell -> [(host, vcpus, memory_mb, local_gb, disabled)]
HOSTS = {
    'c1': [('c1-h1', 4, 4096, 40, False)],
    'g1': [('g1-h1', 8, 8192, 80, False), ('g1-h2', 2, 2048, 20, True)],
    'c2': [('c2-h1', 16, 16384, 160, False)],
}
NODE_UUIDS = {host: str(uuid.uuid5(uuid.NAMESPACE_DNS, host))
              for rows in HOSTS.values() for host, *_ in rows}
ADMIN = context.RequestContext(user_id='admin', project_id='admin',
                               is_admin=True, roles=['admin'])


def seed(db, hosts):
    now = timeutils.utcnow()
    with db.writer() as session:
        session.add(models.Service(host='cells-host', binary='nova-cells',
                                   topic='cells', report_count=1,
                                   last_seen_up=now, deleted=0,
                                   disabled=False))
        for host, vcpus, ram, disk, disabled in hosts:
            session.add(models.Service(
                host=host, binary='nova-compute', topic='compute',
                report_count=3, disabled=disabled, last_seen_up=now,
                created_at=now, deleted=0))
            session.add(models.ComputeNode(
                host=host, hypervisor_hostname=host + '.example.org',
                uuid=NODE_UUIDS[host], vcpus=vcpus, memory_mb=ram,
                local_gb=disk, vcpus_used=1, memory_mb_used=512,
                local_gb_used=1, free_ram_mb=ram - 512,
                free_disk_gb=disk - 1, running_vms=1, current_workload=0,
                hypervisor_type='QEMU', hypervisor_version=6002000,
                cpu_info='{}', stats='{"num_instances": "1"}', deleted=0))


def client_for(tree, name='api'):
    cell = tree.cells[name]
    return rpcapi.CellsAPI(
        cell.conf, tree._transport(name),
        serializer=proxies.ProxyObjectSerializer(),
        exchange=tree.exchange_for_url(tree.url_of(name)))


@contextlib.contextmanager
def query_tree(base_dir, layout=LAYOUT, call_timeout=3):
    tree = tree_support.make_tree(base_dir, layout=layout,
                                  call_timeout=call_timeout)
    with tree_support.run_scoped_fake_exchanges(tree):
        tree.build()
        try:
            for name, hosts in HOSTS.items():
                if name in tree.cells:
                    seed(tree.cells[name].db, hosts)
            tree.start()
            tree.start_cells_rpc('api')
            yield tree, client_for(tree)
        finally:
            tree_support.stop_all(tree)
            tree.close()


@pytest.fixture(scope='module')
def qtree(tmp_path_factory):
    with query_tree(tmp_path_factory.mktemp('queries')) as (tree, api):
        yield tree, api


@pytest.fixture
def api(qtree):
    return qtree[1]


# -- service_get_all ----------------------------------------------------------

def test_service_get_all_covers_every_cell_with_proxies(api):
    services = api.service_get_all(ADMIN)
    assert all(isinstance(s, proxies.ServiceProxy) for s in services)
    computes = sorted(s.host for s in services if s.binary == 'nova-compute')
    assert computes == ['api!c1!g1@g1-h1', 'api!c1!g1@g1-h2',
                        'api!c1@c1-h1', 'api!c2@c2-h1']
    cells_services = sorted(s.host for s in services
                            if s.binary == 'nova-cells')
    assert cells_services == ['api!c1!g1@cells-host', 'api!c1@cells-host',
                              'api!c2@cells-host']
    for service in services:
        cell_path, raw_id = service.id.rsplit('@', 1)
        assert service.cell_path == cell_path
        assert int(raw_id) == service._obj.id
        assert service['host'] == service.host
    with pytest.raises(AttributeError):
        services[0].compute_node


def test_service_get_all_filters(api):
    disabled = api.service_get_all(ADMIN, filters={'disabled': True})
    assert [s.host for s in disabled] == ['api!c1!g1@g1-h2']
    cells = api.service_get_all(ADMIN, filters={'binary': 'nova-cells',
                                                'disabled': False})
    assert len(cells) == 3
    assert api.service_get_all(ADMIN, filters={'topic': 'nope'}) == []


def test_service_get_all_with_a_dead_cell_returns_the_others(
        tmp_path, caplog):
    with query_tree(tmp_path, call_timeout=1.5) as (tree, api):
        tree_support.stop_all(tree, ['c2'])
        services = api.service_get_all(ADMIN)
        stats = api.compute_node_stats(ADMIN)
        nodes = api.compute_node_get_all(ADMIN)
    hosts = sorted(s.host for s in services if s.binary == 'nova-compute')
    assert hosts == ['api!c1!g1@g1-h1', 'api!c1!g1@g1-h2', 'api!c1@c1-h1']
    assert stats['count'] == 2 and stats['vcpus'] == 12
    assert sorted(n.host for n in nodes) == [
        'api!c1!g1@g1-h1', 'api!c1!g1@g1-h2', 'api!c1@c1-h1']
    warnings = [r.getMessage() for r in caplog.records
                if r.levelname == 'WARNING' and 'no answer' in r.getMessage()]
    assert any('service_get_all' in w and 'api!c2' in w and 'CellTimeout'
               in w for w in warnings), warnings


# -- service_get_by_compute_host / service_update / service_delete ----------

def test_service_get_by_compute_host(api):
    service = api.service_get_by_compute_host(ADMIN, 'api!c1!g1@g1-h1')
    assert isinstance(service, proxies.ServiceProxy)
    assert service.host == 'api!c1!g1@g1-h1'
    assert service.binary == 'nova-compute'
    assert service.id.startswith('api!c1!g1@')


@pytest.mark.parametrize('host_name, exc', [
    ('api!c1@g1-h1', exception.ComputeHostNotFound),
    ('api!nope@h', exception.CellRoutingInconsistency),
    ('no-cell-host', exception.CellRoutingInconsistency),
])
def test_service_get_by_compute_host_failures(api, host_name, exc):
    with pytest.raises(exc):
        api.service_get_by_compute_host(ADMIN, host_name)


def test_service_update(api):
    service = api.service_update(ADMIN, 'api!c2@c2-h1', 'nova-compute',
                                 {'disabled': True,
                                  'disabled_reason': 'maintenance'})
    try:
        assert service.host == 'api!c2@c2-h1'
        assert service.disabled is True
        assert service.disabled_reason == 'maintenance'
        again = api.service_get_by_compute_host(ADMIN, 'api!c2@c2-h1')
        assert again.disabled is True
    finally:
        api.service_update(ADMIN, 'api!c2@c2-h1', 'nova-compute',
                           {'disabled': False, 'disabled_reason': None})


def test_service_update_unknown_binary(api):
    with pytest.raises(exception.HostBinaryNotFound):
        api.service_update(ADMIN, 'api!c2@c2-h1', 'nova-nothing',
                           {'disabled': True})


def test_service_delete_and_its_errors_reach_the_caller(tmp_path):
    with query_tree(tmp_path, layout={'api': {'c2': {}}}) as (tree, api):
        service = api.service_get_by_compute_host(ADMIN, 'api!c2@c2-h1')
        assert api.service_delete(ADMIN, service.id) is None
        with pytest.raises(exception.ComputeHostNotFound):
            api.service_get_by_compute_host(ADMIN, 'api!c2@c2-h1')
        assert api.compute_node_get_all(ADMIN) == []
        # nova swallowed this one (§10.32)
        with pytest.raises(exception.ServiceNotFound):
            api.service_delete(ADMIN, service.id)


# -- get_host_uptime ----------------------------------------------------------

def test_get_host_uptime(api):
    line = api.get_host_uptime(ADMIN, 'api!c1@c1-h1')
    assert isinstance(line, str)
    assert ' up 0 days, ' in line and 'last heartbeat' in line


def test_get_host_uptime_unknown_host(api):
    with pytest.raises(exception.ComputeHostNotFound):
        api.get_host_uptime(ADMIN, 'api!c1@nope')


# -- compute nodes ------------------------------------------------------------

def test_compute_node_get_all(api):
    nodes = api.compute_node_get_all(ADMIN)
    assert all(isinstance(n, proxies.ComputeNodeProxy) for n in nodes)
    assert sorted(n.host for n in nodes) == [
        'api!c1!g1@g1-h1', 'api!c1!g1@g1-h2', 'api!c1@c1-h1',
        'api!c2@c2-h1']
    node = [n for n in nodes if n.host == 'api!c2@c2-h1'][0]
    assert node.vcpus == 16 and node.stats == {'num_instances': '1'}
    assert node.hypervisor_hostname == 'c2-h1.example.org'


def test_compute_node_get_all_hypervisor_match(api):
    nodes = api.compute_node_get_all(ADMIN, hypervisor_match='g1-h')
    assert sorted(n.host for n in nodes) == ['api!c1!g1@g1-h1',
                                             'api!c1!g1@g1-h2']
    assert api.compute_node_get_all(ADMIN, hypervisor_match='zz') == []


def test_compute_node_get_by_id_and_uuid(api):
    listed = {n.host: n for n in api.compute_node_get_all(ADMIN)}
    wanted = listed['api!c1!g1@g1-h1']
    node = api.compute_node_get(ADMIN, wanted.id)
    assert isinstance(node, proxies.ComputeNodeProxy)
    assert node.id == wanted.id and node.host == 'api!c1!g1@g1-h1'
    by_uuid = api.compute_node_get(ADMIN,
                                   'api!c1!g1@' + NODE_UUIDS['g1-h1'])
    assert by_uuid.id == wanted.id and by_uuid.uuid == NODE_UUIDS['g1-h1']


@pytest.mark.parametrize('compute_id, exc', [
    ('api!c1@999', exception.ComputeHostNotFound),
    ('api!c1@' + str(uuid.UUID(int=0)), exception.ComputeHostNotFound),
    ('api!ghost@1', exception.CellRoutingInconsistency),
    ('1', exception.CellRoutingInconsistency),
])
def test_compute_node_get_failures(api, compute_id, exc):
    with pytest.raises(exc):
        api.compute_node_get(ADMIN, compute_id)


def test_compute_node_get_uuid_needs_1_38(qtree, make_conf):
    tree, _api = qtree
    conf = make_conf('[upgrade_levels]\ncells = ocata\n')
    capped = rpcapi.CellsAPI(conf, tree._transport('api'),
                             serializer=proxies.ProxyObjectSerializer(),
                             exchange=tree.exchange_for_url(
                                 tree.url_of('api')))
    with pytest.raises(exception.ComputeHostNotFound):
        capped.compute_node_get(ADMIN, 'api!c1@' + NODE_UUIDS['c1-h1'])


def test_compute_node_stats_sums_enabled_computes(api):
    stats = api.compute_node_stats(ADMIN)
    # g1-h2's service is disabled: left out, as nova did.
    assert stats['count'] == 3
    assert stats['vcpus'] == 4 + 8 + 16
    assert stats['memory_mb'] == 4096 + 8192 + 16384
    assert stats['free_ram_mb'] == 4096 + 8192 + 16384 - 3 * 512
    assert stats['running_vms'] == 3
    assert set(stats) == {'count', 'vcpus', 'memory_mb', 'local_gb',
                          'vcpus_used', 'memory_mb_used', 'local_gb_used',
                          'free_ram_mb', 'free_disk_gb', 'current_workload',
                          'running_vms', 'disk_available_least'}
