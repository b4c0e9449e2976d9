"""``nova-cells-demo --transport-url``: one real daemon per cell on the
local RabbitMQ, and nothing left behind however the demo ends.

Each test runs the installed console script as an operator would and then
looks at the machine itself: no process of the run (by pid, by process
group, or with the run's directory on its command line) and no vhost of
the run may remain.  Also the in-process demo on a topology file.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.functional

DEMO = os.path.join(os.path.dirname(sys.executable), 'nova-cells-demo')
ETC_DEMO = os.path.join(os.path.dirname(__file__), '..', '..', 'etc', 'demo')
SMALL = os.path.join(ETC_DEMO, 'small.json')
BROKER = 'rabbit://guest:guest@127.0.0.1:5672/'
LEAVES = {'api!child1!gc1', 'api!child1!gc2', 'api!child2!gc3',
          'api!child2!gc4'}
# Seconds the demo may take to stop everything after SIGINT/SIGTERM.
STOP_DEADLINE = 25
_RUN = re.compile(r'run (\w+) in (\S+): (\d+) cells')
_STARTED = re.compile(r'started (\d+) daemons \(pids ([\d ]+)\)')


def _env():
    return dict(os.environ, PYTHONWARNINGS='ignore', PYTHONUNBUFFERED='1')


def _processes():
    """``[(pid, process group, command line)]`` of every process."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as stat:
                fields = stat.read().rsplit(')', 1)[1].split()
            with open('/proc/%s/cmdline' % entry, 'rb') as cmdline:
                args = cmdline.read().replace(b'\0', b' ').decode(
                    errors='replace')
        except OSError:
            continue
        found.append((int(entry), int(fields[2]), args))
    return found


def _leftovers(pids, base_dir):
    """Processes of the run still there: a daemon, anything in a daemon's
    process group (the forked service), or anything naming the run's
    directory."""
    return [(pid, pgid, args) for pid, pgid, args in _processes()
            if pid in pids or pgid in pids or base_dir in args]


def _vhosts(run_id):
    out = subprocess.run(['rabbitmqctl', 'list_vhosts'], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    return [line for line in out.split()
            if line.startswith('ncdemo-%s-' % run_id)]


def _assert_nothing_left(run_id, base_dir, pids):
    deadline = time.monotonic() + 5
    while _leftovers(pids, base_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _leftovers(pids, base_dir) == []
    assert _vhosts(run_id) == []
    assert not os.path.exists(base_dir)


def test_one_daemon_per_cell_then_nothing_left():
    result = subprocess.run(
        [DEMO, '--transport-url', BROKER, '--topology', SMALL,
         '--instances', '30', '--format', 'json', '--seed', '3'],
        capture_output=True, text=True, timeout=180, env=_env())
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary['requested'] == 30
    assert summary['states'] == {'active': 30}
    for instance in summary['instances']:
        assert instance['cell'] in LEAVES, instance
        leaf = instance['cell'].rsplit('!', 1)[1]
        assert instance['host'].startswith(leaf + '-host'), instance
    processes = summary['processes']
    assert sorted(p['cell'] for p in processes) == sorted(
        ['api', 'api!child1', 'api!child2'] + list(LEAVES))
    pids = {p['pid'] for p in processes}
    assert len(pids) == 7
    assert summary['tree']['failures'] == []
    assert len(summary['tree']['cells']) == 7
    _assert_nothing_left(summary['run_id'], summary['base_dir'], pids)


def _started_demo(*extra):
    """Start the demo; return it once every daemon answers, with the run
    id, directory and daemon pids read from its stderr."""
    proc = subprocess.Popen(
        [DEMO, '--transport-url', BROKER, '--topology', SMALL,
         '--instances', '400', '--format', 'json'] + list(extra),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_env())
    run, lines = None, []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        run = run or _RUN.search(line)
        started = _STARTED.search(line)
        if started:
            pids = {int(p) for p in started.group(2).split()}
            return proc, run.group(1), run.group(2), pids
    proc.kill()
    pytest.fail('the demo did not start its daemons:\n%s%s'
                % (''.join(lines), proc.stderr.read()), pytrace=False)


@pytest.mark.parametrize('signum, status', [(signal.SIGINT, 130),
                                            (signal.SIGTERM, 143)])
def test_a_signal_stops_everything(signum, status):
    proc, run_id, base_dir, pids = _started_demo()
    assert len(pids) == 7
    assert all(os.path.exists('/proc/%d' % pid) for pid in pids)
    time.sleep(0.5)   # in the middle of the builds
    sent = time.monotonic()
    proc.send_signal(signum)
    try:
        _out, err = proc.communicate(timeout=STOP_DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail('the demo did not exit within %d s of signal %d'
                    % (STOP_DEADLINE, signum), pytrace=False)
    took = time.monotonic() - sent
    assert proc.returncode == status, err
    assert took < STOP_DEADLINE
    _assert_nothing_left(run_id, base_dir, pids)


def test_in_process_demo_on_a_generated_topology(tmp_path):
    topology = tmp_path / 'topology.json'
    topology.write_text(json.dumps({'depth': 2, 'fanout': 4,
                                    'hosts_per_leaf': 2, 'instances': 50}))
    result = subprocess.run(
        [DEMO, '--topology', str(topology), '--format', 'json'],
        capture_output=True, text=True, timeout=180, env=_env())
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary['requested'] == 50
    assert summary['states'] == {'active': 50}
    assert len(summary['tree']['cells']) == 21
    for instance in summary['instances']:
        assert instance['cell'].count('!') == 2, instance
        leaf = instance['cell'].rsplit('!', 1)[1]
        assert instance['host'].startswith(leaf + '-host'), instance


def test_bad_topology_is_one_line_and_status_2(tmp_path):
    topology = tmp_path / 'topology.json'
    topology.write_text(json.dumps({'layout': {'api': {'a.b': {}}}}))
    result = subprocess.run(
        [DEMO, '--topology', str(topology), '--transport-url', BROKER],
        capture_output=True, text=True, timeout=60, env=_env())
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        'nova-cells-demo: bad topology: %s: cell name "a.b" under "api": '
        'use 1-40 letters, digits, "-" or "_" (no "!", "." or spaces)'
        % topology]
    assert result.stdout == ''
