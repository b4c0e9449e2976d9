"""The cells API casts to the top (BDMs, bandwidth, console tokens) and
the calls that reach a cell's own services (validate_console_port,
proxy_rpc_to_manager), through CellsAPI over fake:// in an in-process
tree (api -> c1 (-> g1), c2).  nova-compute and nova-consoleauth are
stand-in oslo.messaging servers on the cells' own brokers, recording what
they receive."""

import datetime
import uuid

import oslo_messaging
import pytest

from nova_cells.db import bdm as db_bdm
from nova_cells.db import bw_usage as db_bw_usage
from nova_cells.db import instances as db_instances
from nova_cells import exception
from nova_cells.objects import block_device as bdm_obj
from nova_cells.transport import rpc
from nova_cells.testing import fake_services
from tests.unit import tree_support
from tests.unit.test_queries import ADMIN
from tests.unit.test_queries import client_for
from tests.unit.test_queries import query_tree

INSTANCE = str(uuid.UUID(int=21))
NO_CELL = str(uuid.UUID(int=22))
ONLY_AT_TOP = str(uuid.UUID(int=23))
VOLUME = str(uuid.UUID(int=31))
START = datetime.datetime(2026, 3, 1, 0, 0, 0)


def _serve(tree, cell, topic, server, version):
    parts = tree.cells[cell]
    fake = fake_services.FakeComputeService(version, 'g1-h1')
    target = oslo_messaging.Target(
        topic=topic, server=server,
        exchange=tree.exchange_for_url(tree.url_of(cell)))
    rpc_srv = rpc.get_server(
        tree._transport(cell), target, [fake],
        serializer=rpc.RequestContextSerializer(parts.runner.serializer))
    rpc_srv.start()
    return fake, rpc_srv


@pytest.fixture(scope='module')
def qtree(tmp_path_factory):
    with query_tree(tmp_path_factory.mktemp('top')) as (tree, api):
        for name in ('c1', 'g1'):
            tree.start_cells_rpc(name)
        db_instances.instance_create(tree.cells['api'].db, {
            'uuid': INSTANCE, 'cell_name': 'api!c1!g1', 'host': 'g1-h1',
            'vm_state': 'active'})
        db_instances.instance_create(tree.cells['api'].db, {
            'uuid': NO_CELL, 'vm_state': 'building'})
        db_instances.instance_create(tree.cells['api'].db, {
            'uuid': ONLY_AT_TOP, 'cell_name': 'api!c1!g1',
            'vm_state': 'active'})
        db_instances.instance_create(tree.cells['g1'].db, {
            'uuid': INSTANCE, 'host': 'g1-h1', 'vm_state': 'active'})
        servers = []
        tree.compute, srv = _serve(tree, 'g1', 'compute', 'g1-h1', '5.0')
        servers.append(srv)
        tree.consoleauth, srv = _serve(tree, 'api', 'consoleauth',
                                       'host-api', '2.1')
        servers.append(srv)
        try:
            yield tree, api
        finally:
            for srv in servers:
                srv.stop()
                srv.wait()


@pytest.fixture
def api(qtree):
    return qtree[1]


def _top_bdms(tree):
    return db_bdm.bdm_get_all_by_instance(tree.cells['api'].db, INSTANCE)


# -- BDMs at the top ----------------------------------------------------------

def test_bdm_create_update_destroy_reach_the_top(qtree):
    tree, _api = qtree
    g1 = client_for(tree, 'g1')
    bdm = bdm_obj.BlockDeviceMapping(
        id=77, instance_uuid=INSTANCE, device_name='/dev/vdb',
        volume_id=VOLUME, source_type='volume', destination_type='volume',
        volume_size=1, boot_index=None, delete_on_termination=False)
    g1.bdm_update_or_create_at_top(ADMIN, bdm, create=True)
    rows = tree_support.wait_until(lambda: _top_bdms(tree))
    assert [(r['device_name'], r['volume_size']) for r in rows] == \
        [('/dev/vdb', 1)]

    bdm.volume_size = 5
    g1.bdm_update_or_create_at_top(ADMIN, bdm, create=False)
    assert tree_support.wait_until(
        lambda: _top_bdms(tree)[0]['volume_size'] == 5)

    bdm.volume_size = 9
    g1.bdm_update_or_create_at_top(ADMIN, bdm)          # update or create
    assert tree_support.wait_until(
        lambda: [r['volume_size'] for r in _top_bdms(tree)] == [9])

    g1.bdm_destroy_at_top(ADMIN, INSTANCE, device_name='/dev/vdb')
    assert tree_support.wait_until(lambda: _top_bdms(tree) == [])


def test_bdm_update_without_match_changes_nothing(qtree, caplog):
    tree, _api = qtree
    c1 = client_for(tree, 'c1')
    other = str(uuid.UUID(int=99))
    bdm = bdm_obj.BlockDeviceMapping(instance_uuid=other,
                                     device_name='/dev/vdz')
    c1.bdm_update_or_create_at_top(ADMIN, bdm, create=False)
    assert tree_support.wait_until(
        lambda: any('No match when trying to update BDM' in r.getMessage()
                    for r in caplog.records))
    assert db_bdm.bdm_get_all_by_instance(tree.cells['api'].db, other) == []


def test_bdm_at_the_top_itself_goes_nowhere(qtree, api):
    tree, _api = qtree
    other = str(uuid.UUID(int=98))
    api.bdm_update_or_create_at_top(
        ADMIN, bdm_obj.BlockDeviceMapping(instance_uuid=other,
                                          device_name='/dev/vdc'),
        create=True)
    api.bdm_destroy_at_top(ADMIN, other, volume_id=VOLUME)   # no error
    assert db_bdm.bdm_get_all_by_instance(tree.cells['api'].db, other) == []


# -- bandwidth usage at the top -----------------------------------------------

def test_bw_usage_update_at_top(qtree):
    tree, _api = qtree
    g1 = client_for(tree, 'g1')
    top = tree.cells['api'].db
    g1.bw_usage_update_at_top(ADMIN, INSTANCE, 'fa:16:3e:00:00:01', START,
                              100, 200, 10, 20)
    row = tree_support.wait_until(lambda: db_bw_usage.bw_usage_get(
        top, INSTANCE, START, 'fa:16:3e:00:00:01'))
    assert (row['bw_in'], row['bw_out']) == (100, 200)
    g1.bw_usage_update_at_top(ADMIN, INSTANCE, 'fa:16:3e:00:00:01', START,
                              150, 250, 15, 25, last_refreshed=START)
    assert tree_support.wait_until(lambda: db_bw_usage.bw_usage_get(
        top, INSTANCE, START, 'fa:16:3e:00:00:01')['bw_in'] == 150)
    row = db_bw_usage.bw_usage_get(top, INSTANCE, START, 'fa:16:3e:00:00:01')
    assert row['last_refreshed'] == START and row['last_ctr_out'] == 25


# -- consoles -----------------------------------------------------------------

def test_consoleauth_delete_tokens_reaches_the_top(qtree):
    tree, _api = qtree
    client_for(tree, 'g1').consoleauth_delete_tokens(ADMIN, INSTANCE)
    assert tree_support.wait_until(
        lambda: ('delete_tokens_for_instance',
                 {'instance_uuid': INSTANCE}) in tree.consoleauth.calls)


def test_validate_console_port(qtree, api):
    tree, _api = qtree
    assert api.validate_console_port(ADMIN, INSTANCE, '5900', 'novnc') is True
    assert api.validate_console_port(ADMIN, INSTANCE, '5901', 'novnc') is \
        False
    method, kwargs = tree.compute.calls[-1]
    assert method == 'validate_console_port'
    assert kwargs['instance'].uuid == INSTANCE
    assert kwargs['console_type'] == 'novnc'


@pytest.mark.parametrize('instance_uuid, exc', [
    (NO_CELL, exception.InstanceUnknownCell),
    (ONLY_AT_TOP, exception.InstanceNotFound),
    (str(uuid.UUID(int=404)), exception.InstanceNotFound),
])
def test_validate_console_port_failures(api, instance_uuid, exc):
    with pytest.raises(exc):
        api.validate_console_port(ADMIN, instance_uuid, '5900', 'novnc')


# -- proxy_rpc_to_manager -----------------------------------------------------

def _maintenance(mode):
    return {'method': 'host_maintenance_mode', 'namespace': None,
            'version': '5.0', 'args': {'host': 'g1-h1', 'mode': mode}}


def test_proxy_rpc_to_manager_call_reaches_the_bare_host(qtree, api):
    tree, _api = qtree
    result = api.proxy_rpc_to_manager(ADMIN, _maintenance(True),
                                      'compute.api!c1!g1@g1-h1', call=True,
                                      timeout=10)
    assert result == 'on_maintenance'
    assert tree.compute.calls[-1] == ('host_maintenance_mode',
                                      {'host': 'g1-h1', 'mode': True})


def test_proxy_rpc_to_manager_cast(qtree, api):
    tree, _api = qtree
    assert api.proxy_rpc_to_manager(ADMIN, _maintenance(False),
                                    'compute.api!c1!g1@g1-h1') is None
    assert tree_support.wait_until(
        lambda: ('host_maintenance_mode', {'host': 'g1-h1', 'mode': False})
        in tree.compute.calls)


@pytest.mark.parametrize('topic, exc', [
    ('compute.api!c1!g1@nope', exception.ComputeHostNotFound),
    ('compute.api!ghost@g1-h1', exception.CellRoutingInconsistency),
    ('compute.g1-h1', exception.CellRoutingInconsistency),
])
def test_proxy_rpc_to_manager_failures(api, topic, exc):
    with pytest.raises(exc):
        api.proxy_rpc_to_manager(ADMIN, _maintenance(True), topic, call=True)
