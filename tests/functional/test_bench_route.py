"""The route benchmark's RabbitMQ rows cannot rot: three nova-cells
daemons and the bare three-vhost relay, in ``--quick`` mode."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.functional

BENCH = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                     'tools', 'bench', 'route.py'))
ROWS = ('bare relay (3 vhosts)', 'forward only (3 cells)',
        'builds (3 cells, rabbit)', 'builds (3 cells, fake)',
        'forward only (3, kombu)', 'builds (3 cells, kombu)',
        'builds (3, kombu, not durable)', 'bare 2-hop round trips/4',
        '2-hop round trips fake/4')


def test_route_quick_prints_every_row_and_cleans_up():
    result = subprocess.run(
        [sys.executable, BENCH, '--quick', '--timeout', '120'],
        capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert result.returncode == 0, result.stderr[-5000:]
    lines = result.stdout.splitlines()
    rows = {line[:31].strip(): line[31:].split()
            for line in lines[1:1 + len(ROWS)]}
    assert set(rows) == set(ROWS), result.stdout
    for figures in rows.values():
        assert float(figures[0]) > 0, result.stdout
    assert '(target 85 %)' in result.stdout
    assert '(target 50 %)' in result.stdout
    run_id = [line.split()[2] for line in result.stderr.splitlines()
              if line.startswith('route: run ')][0]
    vhosts = subprocess.run(['rabbitmqctl', 'list_vhosts'],
                            capture_output=True, text=True, timeout=120)
    assert 'ncdemo-%s-' % run_id not in vhosts.stdout
