"""What an operator watches on a running daemon: the Prometheus metrics
port and the Guru Meditation report on SIGUSR2, on both backends."""

import os
import signal
import socket
import urllib.request

from prometheus_client import parser as prom_parser
import pytest

from tests.functional.fixtures import DAEMON_BACKENDS
from tests.functional.fixtures import poll_until
from tests.functional.fixtures import run_manage
from tests.functional.fixtures import wait_for_ping
from tests.functional.fixtures import write_cells_conf

pytestmark = pytest.mark.functional


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
