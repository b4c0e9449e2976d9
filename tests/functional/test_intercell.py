"""Three ``nova-cells`` processes talking over RabbitMQ: api -> child -> gc.

Each cell has its own vhost and its own database (PostgreSQL for the API
cell, SQLite files below), made with ``nova-cells-manage db sync`` and
wired with ``nova-cells-manage cell create``, exactly as an operator would.
The grandchild's database holds compute hosts before it starts, as
nova-compute would have written them.

* capacities flow up: the grandchild's capacity is visible at the top
  (``CellsAPI.get_capacities``) soon after it starts, and a change in the
  grandchild's database reaches the top within two
  ``parent_update_interval`` periods;
* a broadcast call from the top (``CellsAPI.get_cell_status``) with the
  grandchild SIGKILLed returns the live cells' answers plus a
  ``CellTimeout`` failure naming ``api!child!gc``, within
  ``call_timeout`` + 2 s.

Both tests share one tree (it takes ~15 s to set up); the second one kills
the grandchild, so it runs last.
"""

import contextlib
import time

import pytest

from tests.functional import tree_support
from tests.functional.tree_support import Flavor
from tests.functional.tree_support import ProcessTree

pytestmark = pytest.mark.functional

LAYOUT = {'api': {'child': {'gc': {}}}}
UPDATE_INTERVAL = 2      # [cells] parent_update_interval
CALL_TIMEOUT = 4         # [cells] call_timeout
SLACK = 1.5              # seconds of scheduling/broker noise allowed

EXTRA = {
    'DEFAULT': {'service_down_time': 3600},
    'cells': {'parent_update_interval': UPDATE_INTERVAL,
              'db_check_interval': 0,
              'call_timeout': CALL_TIMEOUT,
              'mute_child_interval': 300},
}

FLAVORS = [Flavor(1, 'm1.tiny', 512, 1, 1), Flavor(2, 'm1.small', 2048, 1, 20)]
# (host, memory_mb, vcpus, local_gb)
GC_HOSTS = [('gc-cmp1', 8192, 8, 100), ('gc-cmp2', 16384, 16, 200)]
NEW_HOST = ('gc-cmp3', 4096, 4, 50)

MEASURED = {}


def _report(key, seconds):
    MEASURED[key] = round(seconds, 3)
    print('MEASURED %s = %.3f s' % (key, seconds))


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with contextlib.ExitStack() as stack:
        tree = ProcessTree(LAYOUT, tmp_path_factory.mktemp('intercell'),
                           stack, backends={'api': 'postgresql'},
                           extra=EXTRA)
        tree.provision()
        tree.sync_schemas(cli=True)
        tree.wire(cli=True)
        for cell in tree.cells.values():
            tree_support.seed_flavors(cell.db_url, FLAVORS)
        tree_support.seed_compute_hosts(tree['gc'].db_url, GC_HOSTS)

        tree.start_cell('api')
        tree.start_cell('child')
        gc = tree.start_cell('gc')
        tree.gc_ready_at = time.monotonic()
        tree.gc_spawned_at = gc.started_at
        yield tree


@pytest.fixture(autouse=True)
def _attach_logs(request, tree):
    tree_support.register_daemons(request, tree)


def _capacities(url, cell_name=None):
    with tree_support.cells_api(url) as (api, ctxt):
        return api.get_capacities(ctxt, cell_name=cell_name)


def _poll(fetch, wanted, deadline, interval=0.1):
    """(last value, monotonic time it was seen) once ``fetch() == wanted``
    or at ``deadline``."""
    while True:
        value = fetch()
        seen = time.monotonic()
        if value == wanted or seen >= deadline:
            return value, seen
        time.sleep(interval)


def test_wired_with_cell_create(tree):
    """What ``cell create`` stored is what each daemon serves."""
    with tree_support.cells_api(tree['child'].url) as (api, ctxt):
        neighbours = api.get_cell_info_for_neighbors(ctxt)
    assert [(n['name'], n['is_parent']) for n in neighbours] == \
        [('gc', False), ('api', True)]


def test_grandchild_capacity_reaches_the_top(tree):
    expected = tree_support.expected_capacities(GC_HOSTS, FLAVORS)
    api_url = tree['api'].url

    # 1. At start-up the leaf reports at once and the child passes it on.
    deadline = tree.gc_ready_at + 2 * UPDATE_INTERVAL + SLACK
    seen, at = _poll(lambda: _capacities(api_url), expected, deadline)
    assert seen == expected, tree.logs()
    _report('start-up capacity at api, from gc ready', at - tree.gc_ready_at)
    _report('start-up capacity at api, from gc spawn',
            at - tree.gc_spawned_at)
    assert _capacities(api_url, cell_name='child') == expected
    assert _capacities(tree['gc'].url) == expected

    # 2. A change in the grandchild's database travels with the periodic
    #    push (parent_update_interval), not with any start-up report.
    changed = tree_support.expected_capacities(GC_HOSTS + [NEW_HOST],
                                               FLAVORS)
    assert changed != expected
    tree_support.seed_compute_hosts(tree['gc'].db_url, [NEW_HOST])
    written = time.monotonic()
    seen, at = _poll(lambda: _capacities(api_url), changed,
                     written + 2 * UPDATE_INTERVAL + SLACK)
    assert seen == changed, (
        'the top still sees %r %.1f s after the change' % (
            seen, time.monotonic() - written))
    _report('periodic capacity update at api', at - written)
    assert _capacities(api_url, cell_name='child') == changed
    tree.assert_running()


def _status(url):
    with tree_support.cells_api(url) as (api, ctxt):
        started = time.monotonic()
        answer = api.get_cell_status(ctxt, timeout=4 * CALL_TIMEOUT)
        return answer, time.monotonic() - started


def test_broadcast_call_names_the_killed_grandchild(tree):
    # All alive: one answer per cell, each named by its full path.
    answer, took = _status(tree['api'].url)
    assert answer['failures'] == [], answer
    assert sorted(c['cell_name'] for c in answer['cells']) == \
        ['api', 'api!child', 'api!child!gc']
    assert {c['cell_name']: c['value']['name'] for c in answer['cells']} == \
        {'api': 'api', 'api!child': 'child', 'api!child!gc': 'gc'}
    _report('get_cell_status, all alive', took)

    tree.kill('gc')
    assert not tree['gc'].daemon.running()

    answer, took = _status(tree['api'].url)
    _report('get_cell_status with gc killed (call_timeout %d)'
            % CALL_TIMEOUT, took)
    assert sorted(c['cell_name'] for c in answer['cells']) == \
        ['api', 'api!child'], answer
    assert [(f['cell_name'], f['class']) for f in answer['failures']] == \
        [('api!child!gc', 'CellTimeout')], answer
    assert 'api!child!gc' in answer['failures'][0]['message'], answer
    assert took <= CALL_TIMEOUT + 2, 'answered after %.2f s' % took
    tree.assert_running('api', 'child')
