"""The README's first command: the demo on its embedded default.

Runs the installed ``nova-cells-demo`` console script (fake:// + SQLite,
nothing else) and checks that every requested instance was placed: a leaf
cell's full path, a host of that leaf, and ACTIVE.
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.functional

DEMO = os.path.join(os.path.dirname(sys.executable), 'nova-cells-demo')
LEAVES = {'api!child1!gc1', 'api!child1!gc2', 'api!child2!gc3',
          'api!child2!gc4'}


def _run(*args):
    return subprocess.run([DEMO] + list(args), capture_output=True,
                          text=True, timeout=120)


def test_demo_places_every_instance_json():
    result = _run('--format', 'json', '--instances', '100', '--seed', '7')
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary['requested'] == 100
    assert summary['states'] == {'active': 100}
    assert len(summary['instances']) == 100
    for instance in summary['instances']:
        assert instance['cell'] in LEAVES, instance
        leaf = instance['cell'].rsplit('!', 1)[1]
        assert instance['host'].startswith(leaf + '-host'), instance
        assert instance['state'] == 'active'
    assert sum(c['instances'] for c in summary['cells']) == 100
    assert summary['tree']['failures'] == []
    assert len(summary['tree']['cells']) == 7


def test_demo_text_output_shows_the_tree_and_every_instance():
    result = _run('--instances', '20', '--all-instances')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == '20 instances requested: 20 active'
    tree = lines[2:lines.index('', 2)]
    assert len(tree) >= 7, result.stdout
    assert any(line.split()[0] == 'api' and '20' in line.split()
               for line in tree), result.stdout
    placed = [line for line in lines if line.startswith('demo-')]
    assert len(placed) == 20
    assert all(line.split()[1] in LEAVES for line in placed)


def test_demo_text_output_lists_the_first_ten_unless_asked():
    result = _run('--instances', '15', '--progress')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == '15 instances requested: 15 active'
    placed = [line for line in lines if line.startswith('demo-')]
    assert [line.split()[0] for line in placed] == [
        'demo-%d' % i for i in range(10)]
    assert '... and 5 more (--all-instances lists them all)' in lines
    # --progress draws the bars even though stderr is a pipe here.
    assert 'requested [' in result.stderr
    assert 'placed    [##############################] 15/15' in \
        result.stderr
