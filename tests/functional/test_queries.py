"""The cells query API against real daemons: api -> c1, c2, each a
``nova-cells`` process with its own RabbitMQ vhost and SQLite database.

nova-api's calls (``CellsAPI`` with nova's proxy serializer) on the API
cell: ``service_get_all``, ``compute_node_get_all``, ``compute_node_stats``,
``service_get_by_compute_host`` and ``compute_node_get`` answer with every
cell's data named ``<path>@<item>``; with c2's daemon SIGKILLed the
broadcasts return c1's answers within ``call_timeout`` (plus slack), the
API daemon's log names ``api!c2`` as missing, and a targeted call to c2
fails with ``CellTimeout`` while c1 still answers.

The tests share one tree; the last one kills c2.
"""

import contextlib
import time

import pytest

from tests.functional import tree_support
from tests.functional.tree_support import ProcessTree

from nova_cells import context as cells_context
from nova_cells import exception
from nova_cells.client import proxies

pytestmark = pytest.mark.functional

LAYOUT = {'api': {'c1': {}, 'c2': {}}}
CALL_TIMEOUT = 3
SLACK = 3
EXTRA = {'DEFAULT': {'service_down_time': 3600},
         'cells': {'call_timeout': CALL_TIMEOUT, 'db_check_interval': 0,
                   'mute_child_interval': 300}}
# (host, memory_mb, vcpus, local_gb)
HOSTS = {'c1': [('c1-cmp1', 8192, 8, 100), ('c1-cmp2', 4096, 4, 50)],
         'c2': [('c2-cmp1', 16384, 16, 200)]}


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with contextlib.ExitStack() as stack:
        tree = ProcessTree(LAYOUT, tmp_path_factory.mktemp('queries'),
                           stack, extra=EXTRA)
        tree.provision()
        tree.sync_schemas(cli=False)
        tree.wire(cli=False)
        for name, hosts in HOSTS.items():
            tree_support.seed_compute_hosts(tree[name].db_url, hosts)
        tree.start()
        yield tree


@pytest.fixture(autouse=True)
def _logs(request, tree):
    tree_support.register_daemons(request, tree)


@pytest.fixture(scope='module')
def api(tree):
    with tree_support.nova_api_client(tree['api'].url) as client:
        yield client


ADMIN = cells_context.get_admin_context()


def _all_hosts():
    return sorted('api!%s@%s' % (cell, host)
                  for cell, hosts in HOSTS.items() for host, *_ in hosts)


def test_queries_reach_every_cell(api):
    services = api.service_get_all(ADMIN, {'binary': 'nova-compute'})
    assert sorted(s.host for s in services) == _all_hosts()
    assert all(isinstance(s, proxies.ServiceProxy) for s in services)
    nodes = api.compute_node_get_all(ADMIN)
    assert sorted(n.host for n in nodes) == _all_hosts()
    stats = api.compute_node_stats(ADMIN)
    assert stats['count'] == 3 and stats['vcpus'] == 28
    assert stats['memory_mb'] == 8192 + 4096 + 16384

    service = api.service_get_by_compute_host(ADMIN, 'api!c2@c2-cmp1')
    assert service.host == 'api!c2@c2-cmp1'
    node = [n for n in nodes if n.host == 'api!c1@c1-cmp2'][0]
    again = api.compute_node_get(ADMIN, node.id)
    assert again.id == node.id and again.memory_mb == 4096
    with pytest.raises(exception.ComputeHostNotFound):
        api.compute_node_get(ADMIN, 'api!c1@9999')


def test_dead_cell_degrades_answers(tree, api):
    tree.kill('c2')
    started = time.monotonic()
    services = api.service_get_all(ADMIN, {'binary': 'nova-compute'})
    elapsed = time.monotonic() - started
    assert sorted(s.host for s in services) == _all_hosts()[:2]
    assert elapsed < CALL_TIMEOUT + SLACK, elapsed

    assert sorted(n.host for n in api.compute_node_get_all(ADMIN)) == \
        _all_hosts()[:2]
    stats = api.compute_node_stats(ADMIN)
    assert stats['count'] == 2 and stats['vcpus'] == 12

    assert api.service_get_by_compute_host(
        ADMIN, 'api!c1@c1-cmp1').host == 'api!c1@c1-cmp1'
    with pytest.raises(exception.CellTimeout):
        api.service_get_by_compute_host(ADMIN, 'api!c2@c2-cmp1')
    with pytest.raises(exception.CellTimeout):
        api.compute_node_get(ADMIN, 'api!c2@1')

    log = tree['api'].daemon.log()
    for method in ('service_get_all', 'compute_node_get_all',
                   'compute_node_stats'):
        assert '%s: no answer from cell api!c2' % method in log, method
