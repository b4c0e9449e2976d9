"""The builtin hand-off reports capacity once per burst, not per build.

Each build used to recompute the cell's capacity (under the state lock,
four queries) and push it; with builds in flight they queued behind each
other (route bench: builds at 15 % of the bare relay).  Now the
CoalescingPusher runs one refresh for a burst, and the top still ends with
the exact capacity.
"""

import threading

from tests.unit import sched_support as ss
from tests.unit import tree_support

# One leaf under one child: every build lands in gc1.
LAYOUT = {'api': {'child1': {'gc1': {}}}}
HOSTS = {'gc1': [(65536, 32, 800), (65536, 32, 800)]}


def _count_refreshes(manager):
    calls = []
    lock = threading.Lock()
    real = manager.refresh_own_capacity

    def counting():
        with lock:
            calls.append(1)
        return real()
    manager.refresh_own_capacity = counting
    return calls


def test_a_burst_of_builds_refreshes_capacity_a_few_times(tmp_path):
    with ss.building_tree(tmp_path, HOSTS, layout=LAYOUT) as harness:
        leaf = harness.cell('gc1')
        calls = _count_refreshes(leaf.state_manager)
        uuids = harness.build(30)
        rows = harness.wait(uuids, timeout=30)
        assert {r['vm_state'] for r in rows} == {'active'}, rows
        free_mb = 2 * 65536 - 30 * ss.flavor().memory_mb

        def top_free():
            caps = harness.top.state_manager.get_our_capacities()
            return caps.get('ram_free', {}).get('total_mb')
        assert tree_support.wait_until(lambda: top_free() == free_mb,
                                       timeout=10), top_free()
        assert 1 <= len(calls) < 30, len(calls)
