"""The route benchmark (tools/bench/route.py) cannot rot.

Its fake:// rows run here in ``--quick --no-rabbit`` mode (a few seconds);
the RabbitMQ rows (three daemons, the bare relay) run in
``tests/functional/test_bench_route.py``.
"""

import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from nova_cells.messaging import messages

BENCH_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), '..',
                                         '..', 'tools', 'bench'))


def load_bench(name):
    """Import ``tools/bench/<name>.py`` (tools/ is not a package)."""
    path = os.path.join(BENCH_DIR, name + '.py')
    spec = importlib.util.spec_from_file_location('bench_' + name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def route():
    return load_bench('route')


@pytest.fixture(scope='module')
def common(route):
    return load_bench('_common')


@pytest.mark.parametrize('backend', ['threading', 'eventlet'])
def test_route_quick_fake_rows_print_the_table(backend):
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    result = subprocess.run(
        [sys.executable, os.path.join(BENCH_DIR, 'route.py'), '--quick',
         '--no-rabbit', '--backend', backend], capture_output=True,
        text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ['route', 'req/s', 'p50', 'ms']
    rows = {line[:27].strip(): line[27:].split() for line in lines[1:4]}
    assert set(rows) == {'builds (3 cells, fake)',
                         'bare 2-hop round trips/4',
                         '2-hop round trips fake/4'}
    for figures in rows.values():
        assert float(figures[0]) > 0
        assert float(figures[1]) <= float(figures[2])
    # Ours is compared with the bare oslo.messaging round trips of the run.
    assert re.search(r'\d+ %  \(target 1150/s\)$', lines[3]), lines[3]
    assert 'in-process backend %s' % backend in lines[-1]
    # Each cell's database work per build: a leaf writes at least the
    # instance and its placement, the top at least the update.
    bare_cpu, ours_cpu = re.match(
        r'CPU ms per 2-hop round trip of this process: bare ([\d.]+), '
        r'ours ([\d.]+)$', lines[4]).groups()
    assert float(bare_cpu) > 0 and float(ours_cpu) > 0, lines[4]
    work = dict((name, (float(tx), float(st))) for name, tx, st in
                re.findall(r'(\w+) ([\d.]+)/([\d.]+)', lines[5]))
    assert lines[5].startswith('DB work per build'), lines[5]
    assert set(work) == {'api', 'child', 'gc', 'all'}
    assert work['gc'][1] >= 2 and work['api'][1] >= 1
    assert work['all'][1] == pytest.approx(
        sum(work[name][1] for name in ('api', 'child', 'gc')), abs=0.2)


def test_bare_round_trips_complete_every_call(route):
    latencies = route.bench_bare_round_trips(3, 4)
    assert len(latencies) == 12
    assert 0 < latencies.p_ms(0.5) <= latencies.p_ms(0.99)
    assert latencies.cpu_seconds > 0


def test_cpu_per_round_trip_of_the_in_process_rows(route, common):
    def latencies(count, cpu):
        lat = common.Latencies()
        for index in range(count):
            lat.add(float(index), index + 0.01)
        lat.cpu_seconds = cpu
        return lat
    results = {'bare_round_trips': latencies(100, 0.1),
               'round_trips': latencies(100, 0.25)}
    assert route.cpu_per_round_trip(results) == (
        'CPU ms per 2-hop round trip of this process: bare 1.00, ours 2.50')
    assert route.cpu_per_round_trip({}) == ''


def test_bare_round_trip_takes_the_four_legs_of_ours(route):
    legs, leg = [], 0
    while leg is not None:
        cell, leg_after = route._BareRoundTrips.ROUTE[leg]
        legs.append(cell)
        leg = leg_after
    # api -> child -> gc (down), gc -> child -> api (the response, up);
    # the caller's own cast is the first leg's.
    assert legs == ['child', 'gc', 'child', 'api']


def test_forward_message_is_valid_wire_for_the_sink(route):
    data = json.loads(route._forward_message(7))
    assert messages.check_wire(data) == 'targeted'
    assert data['target_cell'] == 'bench!api!child!gc!sink'
    assert data['routing_path'] == 'bench'
    assert data['method_kwargs'] == {'seq': 7}


def test_intercell_sink_counts_only_bench_messages(route):
    sink = route._Sink()
    seen = []
    sink.on_arrival = seen.append
    endpoint = route._intercell_endpoint(sink)
    endpoint.process_message({}, route._forward_message(3))
    other = json.loads(route._forward_message(4))
    other['method_name'] = 'announce_capacities'
    endpoint.process_message({}, json.dumps(other))
    assert seen == [3]


def test_run_chain_measures_every_request(route):
    sink = route._Sink()

    def send(seq):
        threading.Timer(0.001, sink.arrived, (seq,)).start()
    latencies = route.run_chain(sink, send, 20, 4, 10)
    assert len(latencies) == 20
    assert latencies.rate() > 0
    assert 0 < latencies.p_ms(0.5) <= latencies.p_ms(0.99)


def _at_rate(common, rate, count=10):
    """Latencies of ``count`` requests, one every 1/``rate`` s."""
    result = common.Latencies()
    for index in range(count):
        result.add(index / rate, index / rate + 0.01)
    return result


def test_report_compares_with_the_relay(route, common):
    def lat(rate):
        return _at_rate(common, rate)
    out = io.StringIO()
    route.report({'relay': lat(100.0), 'forward': lat(90.0),
                  'builds': (lat(40.0), 1)}, 128, out)
    text = out.getvalue()
    assert '(target 85 %)' in text and '(target 50 %)' in text
    forward = [line for line in text.splitlines()
               if line.startswith('forward')][0]
    assert re.search(r' 9[01] %  \(target 85 %\)$', forward), forward
    assert '1 errors' in text


def test_the_relay_measured_in_rounds_is_the_median_limit(route, common):
    """The relay is measured again in every round of the rows after it:
    the limit is the median of its measurements, each printed, so one
    measurement taken while the machine ran slow does not set it."""
    def lat(rate):
        return _at_rate(common, rate)
    relay = route._pooled([(lat(rate), 0)
                           for rate in (100.0, 50.0, 110.0)])[0]
    forward = route._pooled([(lat(150.0), 0), (lat(160.0), 0)])[0]
    out = io.StringIO()
    route.report({'relay': relay, 'forward_kombu': forward}, 128, out)
    text = out.getvalue()
    row = [line for line in text.splitlines()
           if line.startswith('forward only (3, kombu)')][0]
    # The median relay (the 100/s round's, not the 50/s one's, nor their
    # pooled span) against the forward's median of its two rounds.
    rates = [r.rate() for r in (lat(100.0), lat(50.0), lat(110.0),
                                lat(150.0), lat(160.0))]
    ratio = 100.0 * (rates[3] + rates[4]) / 2 / rates[0]
    assert ' %3.0f %%  (target 150 %%)' % ratio in row, row
    assert 'requests/s by round: relay %s; forward_kombu %s' % (
        ', '.join('%.0f' % r for r in rates[:3]),
        ', '.join('%.0f' % r for r in rates[3:])) in text


def test_kombu_rows_are_compared_with_the_relay_beside_them(route, common):
    """A row measured in rounds with the relay is compared with the
    relay's rounds beside it, not with those of another phase of the run
    (the relay before the builds, or beside the forward)."""
    def lat(rate):
        return _at_rate(common, rate)
    beside = route._pooled([(lat(50.0), 0), (lat(60.0), 0)])[0]
    every = route._pooled([(lat(50.0), 0), (lat(60.0), 0),
                           (lat(200.0), 0)])[0]
    out = io.StringIO()
    route.report({'relay': every, 'relay beside builds_kombu': beside,
                  'builds_kombu': (lat(20.0), 0)}, 128, out)
    text = out.getvalue()
    row = [line for line in text.splitlines()
           if line.startswith('builds (3 cells, kombu)')][0]
    rates = [lat(rate).rate() for rate in (50.0, 60.0, 20.0)]
    ratio = 100.0 * rates[2] / ((rates[0] + rates[1]) / 2)
    assert ' %3.0f %%  (target 30 %%)' % ratio in row, row
    assert 'relay beside builds_kombu %.0f, %.0f (median %.0f)' % (
        rates[0], rates[1], (rates[0] + rates[1]) / 2) in text


def test_the_relay_takes_its_turn_in_each_kombu_round(route):
    order = [route.RELAY_ROW] + route._kombu_order(True, None)
    assert [name for name, _d, _t in route._rows_of_round(order, 1)] == [
        'builds_kombu', 'builds_kombu_not_durable', 'relay']


def test_a_baseline_takes_turns_with_this_tree_before_each_row(route):
    order = route._kombu_order(True, '/tmp/old-tree')
    assert order == [
        ('builds_kombu_not_durable_baseline', False, '/tmp/old-tree'),
        ('builds_kombu_not_durable', False, None),
        ('builds_kombu_baseline', True, '/tmp/old-tree'),
        ('builds_kombu', True, None)]
    # Without one, this tree's rows alone; the run's own setting last.
    assert route._kombu_order(False, None) == [
        ('builds_kombu', True, None),
        ('builds_kombu_not_durable', False, None)]


def test_every_second_round_takes_the_rows_in_reverse(route):
    """No row is always measured after the others (the tables grow, the
    machine warms up during a run)."""
    order = route._kombu_order(True, None)
    rounds = [route._rows_of_round(order, i) for i in range(4)]
    assert [[name for name, _d, _t in rows] for rows in rounds] == [
        ['builds_kombu_not_durable', 'builds_kombu'],
        ['builds_kombu', 'builds_kombu_not_durable'],
        ['builds_kombu_not_durable', 'builds_kombu'],
        ['builds_kombu', 'builds_kombu_not_durable']]


def test_report_compares_the_kombu_builds_with_the_baseline(route, common):
    def lat(rate):
        return _at_rate(common, rate)
    rows = {'builds_kombu': lat(30.0), 'builds_kombu_not_durable': lat(36.0),
            'builds_kombu_baseline': lat(20.0),
            'builds_kombu_not_durable_baseline': lat(40.0)}
    out = io.StringIO()
    route.report(dict({name: (latencies, 0) for name, latencies in
                       rows.items()}, relay=lat(100.0)), 128, out)
    lines = out.getvalue().splitlines()
    assert [line.split()[:4] for line in lines
            if line.startswith('  baseline')] == [
        ['baseline:', 'durable', '%.0f' % rows['builds_kombu_baseline'].rate(),
         '%.1f' % rows['builds_kombu_baseline'].p_ms(0.5)],
        ['baseline:', 'not', 'durable',
         '%.0f' % rows['builds_kombu_not_durable_baseline'].rate()]]
    assert ('kombu builds against the baseline: durable %.2fx, '
            'not durable %.2fx' % (
                rows['builds_kombu'].rate() /
                rows['builds_kombu_baseline'].rate(),
                rows['builds_kombu_not_durable'].rate() /
                rows['builds_kombu_not_durable_baseline'].rate())) in lines


def test_cpu_by_daemon_names_each_cell_of_each_kombu_row(route):
    results = {'kombu_cpu_by_daemon': {
        ('builds_kombu', 'api'): 4.0, ('builds_kombu', 'gc'): 9.25,
        ('builds_kombu_not_durable', 'api'): 3.0}}
    assert route.cpu_by_daemon(results) == (
        'CPU ms/build of each daemon (kombu): durable api 4.0, gc 9.2; '
        'not durable api 3.0')
    assert route.cpu_by_daemon({}) == ''


def test_percentile_is_nearest_rank(common):
    samples = list(range(1, 101))
    assert common.percentile(samples, 0.5) == 50
    assert common.percentile(samples, 0.99) == 99
    assert common.percentile([5], 0.99) == 5


def test_window_limits_requests_in_flight(common):
    window = common.Window(2)
    window.acquire(1)
    window.acquire(1)
    with pytest.raises(TimeoutError):
        window.acquire(0.05)
    window.done()
    window.acquire(1)
    assert not window.wait_all(0.01)
    window.done()
    window.done()
    assert window.wait_all(1)


def test_spawned_processes_are_stopped(common, tmp_path):
    with common.Spawned() as spawned:
        proc = spawned.start([sys.executable, '-c',
                              'import time; time.sleep(60)'],
                             log_path=str(tmp_path / 'log'))
        start = time.monotonic()
    assert proc.poll() is not None
    assert time.monotonic() - start < 10


def test_process_tree_cpu_counts_a_busy_descendant(common):
    """A daemon's workers are its children: their CPU counts for it."""
    child = subprocess.Popen(
        [sys.executable, '-c',
         'import time, sys\n'
         'end = time.process_time() + 0.5\n'
         'while time.process_time() < end: pass\n'
         'print("done", flush=True)\n'
         'sys.stdin.read()'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == 'done'
        alone = sum(common.process_tree_cpu([child.pid]).values())
        with_parent = sum(common.process_tree_cpu([os.getpid()]).values())
        assert alone >= 0.5
        assert with_parent >= alone
    finally:
        child.communicate('', timeout=10)


def test_cpu_per_request_names_a_builds_cost_in_relay_requests(
        route, common):
    def latencies(count):
        lat = common.Latencies()
        for index in range(count):
            lat.add(float(index), index + 0.01)
        return lat
    results = {'relay': latencies(100), 'forward': latencies(100),
               'builds': (latencies(10), 0),
               'cpu': {'relay': 0.3, 'builds': 0.45, 'forward': 0.35}}
    line = route.cpu_per_request(results)
    assert line == ("CPU ms/request of the chain's processes: relay 3.0, "
                    "forward 3.5, builds 45.0 (a build costs 15.0 relay "
                    "requests)")
    assert route.cpu_per_request({'relay': latencies(3)}) == ''
    results['cpu_beside'] = {'relay': (0.1, 0.05, 0.0),
                             'forward': (0.2, 0.05, 0.0)}
    assert route.cpu_per_request(results).splitlines()[1:] == [
        'CPU ms/request of RabbitMQ meanwhile: relay 1.0, forward 2.0',
        'CPU ms/request of this process meanwhile: relay 0.5, forward 0.5']
    results['cpu_beside']['forward'] = (0.2, 0.05, 0.4)
    assert route.cpu_per_request(results).splitlines()[3] == (
        'CPU ms/request of the SQL servers meanwhile: relay 0.0, '
        'forward 4.0')


def test_the_cpu_meter_counts_the_broker_and_itself_beside(common):
    meter = common.CPUMeter()
    meter.start('row', [os.getpid()])
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    meter.stop('row')
    broker, own, database = meter.beside['row']
    assert own >= 0.05 and broker >= 0.0 and database >= 0.0
    assert meter.used['row'] >= 0.04


def test_cpu_used_between_leaves_out_processes_that_ended(common):
    """A helper of the broker that ended took its time to its parent's
    count of dead children: the sum of the live ones must not drop."""
    before = {1: 10.0, 2: 0.76}
    after = {1: 10.5, 3: 0.2}           # 2 ended, 3 started
    assert common.cpu_used_between(before, after) == pytest.approx(0.7)
