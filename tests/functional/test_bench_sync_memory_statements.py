"""Quick runs of the benchmarks that need PostgreSQL or RabbitMQ
(tools/bench/sync.py and memory.py), so that they cannot rot."""

import pytest

from tests.unit.test_bench_sync_scale_memory import load_bench

pytestmark = pytest.mark.functional


def test_sync_quick(capsys):
    sync = load_bench('sync')

    status = sync.main(['--quick'])

    out = capsys.readouterr().out
    assert status == 0, out
    assert 'ours (group commit, TopWriter)' in out and 'baseline' in out, out
    assert 'ours (group commit), 64 handlers' in out, out
    # Nothing lost.  (The last column, instances left with an older value,
    # is a finding the bench reports: updates can be reordered at the top.)
    rows = [line.split() for line in out.splitlines()
            if line.strip().startswith(('flat out', 'paced'))]
    assert len(rows) == 2, out
    for row in rows:
        assert row[-2] == '0', out


def test_memory_quick(capsys):
    memory = load_bench('memory')

    status = memory.main(['--quick'])

    out = capsys.readouterr().out
    assert status == 0, out
    assert 'worker, 10 neighbours' in out, out
    assert '!!' not in out, out


def test_statements_quick_beside_a_baseline_tree(capsys):
    statements = load_bench('statements')

    status = statements.main(['--quick', '--baseline', 'HEAD'])

    out = capsys.readouterr().out
    assert status == 0, out
    rows = [line for line in out.splitlines()
            if line.startswith(('leaf:', 'durable hop:', 'top:', 'heartbeat'))]
    assert len(rows) == 5, out
    for row in rows:
        cells = row.split()
        assert float(cells[-3]) > 0 and float(cells[-2]) > 0, row
        assert cells[-1].endswith('x'), row
