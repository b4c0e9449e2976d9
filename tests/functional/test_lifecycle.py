"""Instance actions through real ``nova-cells`` processes (api -> child).

* builtin hand-off in the child: an instance is built, then nova-api's
  ``CellsAPI`` stops, starts, reboots and terminates it; each end state
  reaches the API cell's database within 5 s;
* conductor-style hand-off in the child (nova's behaviour): a test-side
  oslo.messaging RPC server plays nova-compute on the instance's host, in
  the child's vhost, and receives ``stop_instance`` with nova's arguments.
"""

import queue
import time
import uuid as uuidlib

import oslo_messaging
import pytest

from tests.functional import fixtures
from tests.functional import tree_support
from tests.functional.tree_support import Flavor
from tests.functional.tree_support import ProcessTree

from nova_cells import context as cells_context
from nova_cells.objects import instance as instance_obj

pytestmark = pytest.mark.functional

LAYOUT = {'api': {'child': {}}}
SMALL = Flavor(2, 'm1.small', 2048, 1, 20)
HOST = 'child-cmp1'
DEADLINE = 5
CTXT = cells_context.RequestContext(user_id='ft-user',
                                    project_id='ft-project')


def _extra(driver):
    def extra(cell):
        return {'DEFAULT': {'service_down_time': 3600},
                'cells': {'local_scheduler_driver': driver,
                          'call_timeout': 10}}
    return extra


def _tree(request, tmp_path, stack, driver):
    tree = ProcessTree(LAYOUT, tmp_path, stack, extra=_extra(driver),
                       request=request)
    tree.provision()
    tree.sync_schemas(cli=False)
    tree.wire(cli=False)
    for cell in tree.cells.values():
        tree_support.seed_flavors(cell.db_url, [SMALL])
    tree_support.seed_compute_hosts(tree['child'].db_url,
                                    [(HOST, 65536, 32, 1000)])
    return tree


def _top_row(tree, uuid):
    rows = fixtures.table_rows(tree['api'].db_url, 'instances')
    return next((r for r in rows if r['uuid'] == uuid), None)


def _wait_top(tree, uuid, **expected):
    began = time.monotonic()
    row = fixtures.poll_until(
        lambda: _top_row(tree, uuid),
        lambda r: r is not None and all(r[k] == v
                                        for k, v in expected.items()),
        timeout=DEADLINE, interval=0.05)
    took = time.monotonic() - began
    assert row and all(row[k] == v for k, v in expected.items()), (
        expected, row, tree.logs()[-5000:])
    print('MEASURED %s at the top after %.2f s' % (expected, took))
    return row


def test_actions_reach_their_end_state_at_the_top(request, tmp_path, stack):
    tree = _tree(request, tmp_path, stack, 'builtin')
    tree.start()
    api = tree['api']
    uuid = str(uuidlib.uuid4())
    tree_support.create_api_instances(api.db_url, [(uuid, 'ft-vm', SMALL)])
    instance = tree_support.instance_object(uuid, 'ft-vm', SMALL)
    with tree_support.cells_api(api.url) as (cells_api, _admin):
        fixtures.poll_until(lambda: cells_api.get_capacities(_admin),
                            lambda caps: caps.get('ram_free', {}).get(
                                'total_mb'), timeout=30, interval=0.2)
        cells_api.build_instances(
            CTXT, **tree_support.build_kwargs(instance, SMALL))
        row = fixtures.poll_until(lambda: _top_row(tree, uuid),
                                  lambda r: r and r['vm_state'] == 'active',
                                  timeout=30)
        assert row['vm_state'] == 'active', tree.logs()[-5000:]
        assert row['cell_name'] == 'api!child'
        acting = instance_obj.Instance(uuid=uuid, cell_name='api!child')

        cells_api.stop_instance(CTXT, acting)
        _wait_top(tree, uuid, vm_state='stopped', power_state=4,
                  task_state=None)
        cells_api.start_instance(CTXT, acting)
        _wait_top(tree, uuid, vm_state='active', power_state=1,
                  task_state=None)
        assert cells_api.stop_instance(CTXT, acting, do_cast=False) is None
        _wait_top(tree, uuid, vm_state='stopped')
        cells_api.reboot_instance(CTXT, acting, None, 'HARD')
        _wait_top(tree, uuid, vm_state='active', power_state=1,
                  task_state=None)
        cells_api.terminate_instance(CTXT, acting, [])
        # The end state first (saved below, sent up), then the destroy
        # (the top soft-deletes its copy, as the original's).
        row = _wait_top(tree, uuid, vm_state='deleted', task_state=None)
        row = fixtures.poll_until(lambda: _top_row(tree, uuid),
                                  lambda r: r['deleted'] == r['id'],
                                  timeout=DEADLINE, interval=0.05)
        assert row['deleted'] == row['id'], row
    child_row = [r for r in fixtures.table_rows(tree['child'].db_url,
                                                'instances')
                 if r['uuid'] == uuid][0]
    assert child_row['deleted'] and child_row['vm_state'] == 'deleted'
    tree.assert_running()


class FakeCompute(object):
    """nova-compute's RPC endpoint (compute API 5.0), recording casts."""

    target = oslo_messaging.Target(version='5.0')

    def __init__(self):
        self.calls = queue.Queue()

    def stop_instance(self, ctxt, **kwargs):
        self.calls.put(('stop_instance', ctxt, kwargs))

    def start_instance(self, ctxt, **kwargs):
        self.calls.put(('start_instance', ctxt, kwargs))


def fake_compute(url, host):
    return tree_support.nova_rpc_server(
        url, oslo_messaging.Target(topic='compute', server=host),
        FakeCompute())


def test_child_casts_novas_compute_method_to_the_host(request, tmp_path,
                                                      stack):
    tree = _tree(request, tmp_path, stack, 'conductor')
    uuid = str(uuidlib.uuid4())
    row = dict(uuid=uuid, display_name='ft-vm', project_id='ft-project',
               user_id='ft-user', vm_state='active', task_state=None,
               power_state=1, host=HOST, node=HOST, memory_mb=2048,
               vcpus=1, root_gb=20, ephemeral_gb=0, deleted=0)
    tree_support.insert_rows(tree['child'].db_url, 'instances', [row])
    tree_support.insert_rows(tree['api'].db_url, 'instances',
                             [dict(row, cell_name='api!child')])
    compute = stack.enter_context(fake_compute(tree['child'].url, HOST))
    other = stack.enter_context(fake_compute(tree['child'].url, 'other'))
    tree.start()

    with tree_support.cells_api(tree['api'].url) as (cells_api, _admin):
        began = time.monotonic()
        cells_api.stop_instance(
            CTXT, instance_obj.Instance(uuid=uuid, cell_name='api!child'))
        try:
            method, wire_ctxt, kwargs = compute.calls.get(timeout=20)
        except queue.Empty:
            pytest.fail('nova-compute got nothing; logs:\n%s' % tree.logs())
    print('MEASURED api cast -> compute cast received %.2f s'
          % (time.monotonic() - began))
    assert method == 'stop_instance'
    assert set(kwargs) == {'instance', 'clean_shutdown'}, kwargs
    sent = kwargs['instance']
    assert sent['nova_object.name'] == 'Instance'
    assert sent['nova_object.data']['uuid'] == uuid
    assert sent['nova_object.data']['task_state'] == 'powering-off'
    assert kwargs['clean_shutdown'] is True
    assert (wire_ctxt['user_id'], wire_ctxt['project_id']) == \
        ('ft-user', 'ft-project')
    assert other.calls.empty(), 'cast to the wrong host'
    _wait_top(tree, uuid, task_state='powering-off', vm_state='active')
    tree.assert_running()
