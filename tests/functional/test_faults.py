"""Issues 8 and 21: 1,000 builds through api -> child -> grandchild survive
a killed child (twice), a RabbitMQ restart, an api database outage, a
child frozen for 30 s and a grandchild drained while the child's scheduler
retries for longer than the resend interval (copies arriving while the
first is being applied).

Each scenario runs on its own fresh tree (3 daemons, 3 vhosts, the api on
PostgreSQL) and prints its counts in the run's summary ("measured").
``tools/faults.py`` runs the same scenarios at other counts.
"""

import contextlib

import pytest

from tests.functional import fault_scenarios

pytestmark = pytest.mark.functional

BUILDS = 1000


def _params():
    """restart-broker restarts RabbitMQ under every other test's feet:
    it runs alone (``-m serial``)."""
    return [pytest.param(name, marks=pytest.mark.serial)
            if name == 'restart-broker' else name
            for name in fault_scenarios.IN_CI]


@pytest.mark.parametrize('scenario', _params())
def test_every_build_lands_exactly_once(request, tmp_path, scenario,
                                        measured):
    with contextlib.ExitStack() as stack:
        tree = fault_scenarios.build_tree(tmp_path, stack, request=request,
                                          scenario=scenario)
        outcome = fault_scenarios.run_scenario(tree, scenario, BUILDS)
        for line in outcome.lines(scenario):
            measured(line)
        assert outcome.ok, '\n'.join(outcome.lines(scenario)) + \
            '\n' + tree.logs()[-20000:]
        tree.assert_running()
