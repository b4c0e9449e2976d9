"""What an operator watches on a running daemon: the Prometheus metrics
port (its outbox gauge following a child that stops and comes back) and
the Guru Meditation report on SIGUSR2, on both backends."""

import os
import signal
import socket
import urllib.request
import uuid as uuidlib

from prometheus_client import parser as prom_parser
import pytest

from tests.functional.fixtures import DAEMON_BACKENDS
from tests.functional.fixtures import poll_until
from tests.functional.fixtures import run_manage
from tests.functional.fixtures import wait_for_ping
from tests.functional.fixtures import write_cells_conf
from tests.functional import tree_support
from tests.functional.tree_support import Flavor
from tests.functional.tree_support import ProcessTree

pytestmark = pytest.mark.functional

SMALL = Flavor(2, 'm1.small', 2048, 1, 20)


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _scrape(port):
    try:
        with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port,
                                    timeout=2) as answer:
            return answer.read().decode()
    except OSError:
        return None


@pytest.mark.parametrize('backend', DAEMON_BACKENDS)
def test_metrics_port_and_guru_meditation_report(
        backend, tmp_path, rabbit_url, sqlite_url, daemon_factory):
    port = _free_port()
    conf = write_cells_conf(tmp_path, rabbit_url, sqlite_url, name='api',
                            cell_type='api',
                            extra={'cells': {'metrics_port': port}})
    run_manage(conf, 'db', 'sync', check=True)
    # A child whose broker vhost does not exist: it never reports.
    run_manage(conf, 'cell', 'create', '--name', 'child1', '--cell_type',
               'child', '--transport_url',
               'rabbit://guest:guest@127.0.0.1:5672/nc-ft-no-such-vhost',
               check=True)
    daemon = daemon_factory(conf, backend=backend)
    wait_for_ping(rabbit_url, daemon=daemon, deadline=daemon.started_at + 15)

    text = poll_until(lambda: _scrape(port), lambda t: t is not None,
                      timeout=10)
    assert text is not None, daemon.log()
    families = {f.name: f for f in
                prom_parser.text_string_to_metric_families(text)}
    for name in ('nova_cells_messages_received',
                 'nova_cells_build_scheduling_seconds',
                 'nova_cells_filter_rejections', 'nova_cells_neighbour_mute',
                 'nova_cells_waiting_responses'):
        assert name in families, sorted(families)
    mute = {tuple(sorted(s.labels.items())): s.value
            for s in families['nova_cells_neighbour_mute'].samples}
    # Never heard from: mute, and no last report to show.
    assert mute == {(('cell', 'child1'), ('role', 'child')): 1.0}
    assert not families['nova_cells_neighbour_last_seen_seconds'].samples

    # SIGUSR2 to the whole group (the threading backend's launcher and
    # worker each write a report to stderr; the worker's has our section).
    os.killpg(daemon.pid, signal.SIGUSR2)
    report = poll_until(daemon.stderr,
                        lambda err: 'waiting_responses' in err, timeout=10)
    assert 'Guru Meditation' in report, daemon.log()
    assert 'child1' in report and 'Threads' in report
    assert daemon.running(), daemon.log()
    assert daemon.stop(timeout=30) == 0, daemon.log()
    assert _scrape(port) is None


def _outbox_to(port, neighbour):
    text = _scrape(port)
    if text is None:
        return None
    for family in prom_parser.text_string_to_metric_families(text):
        if family.name == 'nova_cells_outbox_messages':
            for sample in family.samples:
                if sample.labels == {'cell': neighbour,
                                     'direction': 'down'}:
                    return sample.value
    return 0.0


def test_outbox_depth_rises_while_a_child_is_down_and_falls_after(
        tmp_path, stack, request):
    port = _free_port()

    # On oslo.messaging a durable send is a call the neighbour's daemon
    # answers: the row stays in the outbox while that daemon is stopped.
    # (On kombu the stopped child's durable queue takes it at once.)
    def extra(cell):
        cells = {'local_scheduler_driver': 'builtin',
                 'intercell_transport': 'oslo.messaging'}
        if cell.name == 'child':
            cells['metrics_port'] = port
        return {'DEFAULT': {'service_down_time': 3600}, 'cells': cells}
    tree = ProcessTree({'api': {'child': {'gc': {}}}}, tmp_path, stack,
                       request=request, extra=extra)
    tree.prepare([SMALL], {'gc': [('gc-cmp1', 65536, 32, 800)]})
    tree.start()
    assert poll_until(lambda: _outbox_to(port, 'gc'),
                      lambda v: v is not None, timeout=10) == 0.0

    tree['gc'].daemon.stop(timeout=30)
    api = tree['api']
    requests = [(str(uuidlib.uuid4()), 'ft-out-%d' % i, SMALL)
                for i in range(3)]
    tree_support.create_api_instances(api.db_url, requests)
    with tree_support.cells_api(api.url) as (cells_api, ctxt):
        for uuid, name, flavor in requests:
            cells_api.build_instances(ctxt, **tree_support.build_kwargs(
                tree_support.instance_object(uuid, name, flavor), flavor))
    risen = poll_until(lambda: _outbox_to(port, 'gc'),
                       lambda v: v == 3, timeout=30)
    assert risen == 3, tree.logs()[-5000:]

    tree.start_cell('gc')
    fallen = poll_until(lambda: _outbox_to(port, 'gc'),
                        lambda v: v == 0, timeout=60)
    assert fallen == 0, tree.logs()[-5000:]
    rows = poll_until(lambda: tree_support.rows_by_uuid(api.db_url),
                      lambda r: all(r.get(u, {}).get('vm_state') == 'active'
                                    for u, _n, _f in requests), timeout=60)
    assert {rows[u]['vm_state'] for u, _n, _f in requests} == {'active'}
