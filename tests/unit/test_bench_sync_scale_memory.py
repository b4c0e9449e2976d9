"""The sync, scale and memory benchmarks (tools/bench/) cannot rot.

``scale`` runs here in its ``--quick`` mode (two tiny trees on fake://);
``sync`` and ``memory`` need PostgreSQL and RabbitMQ, so only their pure
helpers are exercised here and their quick runs are in
``tests/functional/test_bench_sync_memory_statements.py``.
"""

import importlib.util
import os
import subprocess
import sys

import pytest

BENCH_DIR = os.path.join(os.path.dirname(__file__), '..', '..', 'tools',
                         'bench')


def load_bench(name):
    """Import ``tools/bench/<name>.py`` (tools/ is not a package)."""
    path = os.path.abspath(os.path.join(BENCH_DIR, name + '.py'))
    spec = importlib.util.spec_from_file_location('bench_' + name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def scale():
    return load_bench('scale')


@pytest.mark.parametrize('cells', [2, 3, 4, 10, 100, 1000])
def test_scale_layout_has_the_asked_number_of_cells(scale, cells):
    layout = scale.layout_for(cells)

    def count(tree):
        return sum(1 + count(sub) for sub in tree.values())

    assert count(layout) == cells
    assert list(layout) == ['api']


def test_scale_quick_runs_and_capacities_reach_the_top(scale, capsys):
    status = scale.main(['--quick'])

    out = capsys.readouterr().out
    assert status == 0, out
    assert 'failed' not in out and 'INCOMPLETE' not in out, out
    assert '7/7' in out, out  # every cell answered the broadcast
    assert 'growth' in out, out


def test_memory_proc_helpers_read_this_process():
    memory = load_bench('memory')
    assert memory.proc_kb(os.getpid(), 'VmRSS') > 1000
    assert memory.proc_kb(os.getpid(), 'Pss', 'smaps_rollup') > 0
    assert memory.threads_of(os.getpid()) >= 1
    child = subprocess.Popen([sys.executable, '-c',
                              'import time; time.sleep(30)'])
    try:
        assert child.pid in memory.children(os.getpid())
    finally:
        child.kill()
        child.wait()


def test_sync_helpers_without_a_server():
    sync = load_bench('sync')
    pg = sync.ThrowawayPG('postgresql+psycopg2://postgres@127.0.0.1:5432/'
                          'postgres')
    assert pg.url.endswith('/' + pg.name)
    assert pg.name.startswith('nc_bench_')
    instance = sync.update_object('8c6b6f5e-0000-4000-8000-000000000001',
                                  'v1')
    assert 'display_name' in instance.obj_what_changed()
    assert sync.pct([1.0, 2.0, 3.0, 4.0], 0.5) == 3.0


def test_memory_verdict_is_the_idle_daemons_and_names_the_neighbours_cost():
    memory = load_bench('memory')
    idle = {'neighbours': 0, 'launcher_rss': 71.0, 'worker_rss': 65.5}
    loaded = {'neighbours': 1000, 'launcher_rss': 73.0,
              'worker_rss': 102.0}
    text = memory.verdict([idle, loaded], 15)
    assert text.splitlines()[0].startswith(
        'target: idle RSS <= 80 MB: met (largest idle process 71.0 MB')
    assert 'with 1000 neighbours: largest process 102.0 MB (32 KB per ' \
        'neighbour above idle)' in text
    heavy = dict(idle, worker_rss=81.0)
    assert ': NOT met (largest idle process 81.0 MB' in memory.verdict(
        [heavy, loaded], 15)


@pytest.mark.parametrize('name', ['sync', 'scale', 'memory'])
def test_each_bench_has_a_quick_mode(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_bench(name).main(['--help'])

    assert exit_info.value.code == 0
    assert '--quick' in capsys.readouterr().out


_GREEN_LOOKUP = r'''
import sys
from nova_cells import _backend
_backend.select('eventlet')
import threading
import eventlet
sys.path.insert(0, sys.argv[1])
import _common

def answers():
    seen = {}

    def in_thread():
        seen['thread'] = threading.current_thread()
    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()

    def in_green():
        first = threading.current_thread()
        seen['green'] = (first, threading.current_thread() is first)
    eventlet.spawn(in_green).wait()
    return thread, seen

before_thread, before = answers()
_common.install_fast_green_current_thread()


class Tripwire(object):
    """A thread entry that a scan over every thread would touch."""

    @property
    def ident(self):
        raise AssertionError('every thread was scanned')


threading._active[-1] = Tripwire()
after_thread, after = answers()
assert before['thread'] is before_thread, before
assert after['thread'] is after_thread, after
assert after['green'][1] and before['green'][1]
assert not isinstance(after['green'][0], threading.Thread) or \
    after['green'][0] is not after_thread
assert type(after['green'][0]) is type(before['green'][0])
del threading._active[-1]
print('same answers')
'''


def test_fast_green_current_thread_gives_eventlets_answers():
    """The scale and route benches' eventlet fix: current_thread() finds a
    started Thread and a bare green thread as eventlet does, without
    scanning every thread."""
    result = subprocess.run(
        [sys.executable, '-c', _GREEN_LOOKUP, os.path.abspath(BENCH_DIR)],
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'same answers' in result.stdout


def test_scale_runs_on_both_backends(scale, capsys):
    status = scale.main(['--sizes', '3', '--per-cell', '5', '--backend',
                         'threading'])
    out = capsys.readouterr().out
    assert status == 0, out
    assert '3/3' in out and 'q cpu s' in out, out


def test_hop_quick_prints_every_kind_of_hop(capsys):
    hop = load_bench('hop')

    assert hop.main(['--quick']) == 0

    out = capsys.readouterr().out
    rows = {line.rsplit(None, 1)[0].strip(): float(line.split()[-1])
            for line in out.splitlines()
            if line.startswith(('targeted,', 'response,', 'sending'))}
    assert set(rows) == {'targeted, passing through',
                         'response, passing through',
                         'targeted, at its target',
                         'sending it on (fake:// cast)'}, out
    assert all(cpu > 0 for cpu in rows.values()), out


def test_a_baseline_that_is_no_revision_is_a_clear_error():
    common = load_bench('_common')
    with pytest.raises(SystemExit) as info:
        with common.BaselineTree('no-such-revision-here'):
            pass
    assert "cannot check out the baseline 'no-such-revision-here'" in str(
        info.value)
