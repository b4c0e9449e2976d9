"""The ``nova-cells`` daemon as a process: start, serve, heartbeat, stop.

Each test runs the real console script against its own RabbitMQ vhost and a
real database schema made by ``nova-cells-manage db sync``.
"""

import time

import pytest

from tests.functional.fixtures import DAEMON_BACKENDS
from tests.functional.fixtures import live_rows
from tests.functional.fixtures import non_empty_lines
from tests.functional.fixtures import poll_until
from tests.functional.fixtures import run_manage
from tests.functional.fixtures import wait_for_ping
from tests.functional.fixtures import write_cells_conf

pytestmark = pytest.mark.functional

# An address nothing listens on, with a password that must never be shown.
UNREACHABLE_DB = 'postgresql+psycopg2://nobody:secret@127.0.0.1:1/x'
# The daemon must not reach the broker before checking the database.
UNUSED_BROKER = 'rabbit://guest:guest@127.0.0.1:5672/nc-ft-never-created'


def _synced_conf(tmp_path, rabbit_url, db_url, **kwargs):
    conf = write_cells_conf(tmp_path, rabbit_url, db_url, **kwargs)
    run_manage(conf, 'db', 'sync', check=True)
    return conf


def _services(conf):
    return [r for r in live_rows(conf.connection, 'services')
            if r['host'] == conf.host]


@pytest.mark.parametrize('backend', DAEMON_BACKENDS)
def test_daemon_serves_reports_and_stops_on_sigterm(
        backend, tmp_path, rabbit_url, sqlite_url, daemon_factory):
    conf = _synced_conf(tmp_path, rabbit_url, sqlite_url)
    daemon = daemon_factory(conf, backend=backend)

    answer = wait_for_ping(rabbit_url, daemon=daemon,
                           deadline=daemon.started_at + 10)
    assert answer == {'service': 'cells', 'arg': 'x'}

    rows = poll_until(lambda: _services(conf),
                      lambda rows: rows and rows[0]['report_count'] >= 1)
    assert len(rows) == 1, rows
    row = rows[0]
    assert (row['host'], row['binary'], row['topic']) == \
        (conf.host, 'nova-cells', 'cells')
    assert row['report_count'] >= 1
    assert row['last_seen_up'] is not None

    sent = time.monotonic()
    status = daemon.stop(timeout=5)
    assert status == 0, daemon.log()
    assert time.monotonic() - sent < 5


def test_unreachable_database_is_one_line_without_password(
        tmp_path, daemon_factory):
    conf = write_cells_conf(tmp_path, UNUSED_BROKER, UNREACHABLE_DB)
    daemon = daemon_factory(conf)

    status = daemon.wait(timeout=30)

    assert status not in (None, 0), daemon.log()
    lines = non_empty_lines(daemon.stderr())
    assert len(lines) == 1, daemon.log()
    assert '[database] connection' in lines[0]
    assert 'secret' not in daemon.stderr() + daemon.stdout()


# (id, [section] option = value, text naming the option in the message)
INVALID_CONFIGS = [
    pytest.param({'cells': {'cell_type': 'foo'}},
                 ['[cells] cell_type'], id='cell_type-foo'),
    pytest.param({'cells': {'name': 'bad!name'}},
                 ['[cells] name'], id='name-with-bang'),
    pytest.param({'cells': {'mute_child_interval': -5}},
                 ['[cells] mute_child_interval'],
                 id='negative-mute_child_interval'),
    pytest.param({'cells': {'name': 'bad!name', 'mute_child_interval': -5}},
                 ['[cells] mute_child_interval', '[cells] name'],
                 id='two-problems-two-lines'),
]


@pytest.mark.parametrize('extra, named', INVALID_CONFIGS)
def test_invalid_config_exits_2_one_line_per_problem(
        extra, named, tmp_path, sqlite_url, daemon_factory):
    conf = write_cells_conf(tmp_path, UNUSED_BROKER, sqlite_url, extra=extra)
    daemon = daemon_factory(conf)

    status = daemon.wait(timeout=30)

    assert status == 2, daemon.log()
    lines = non_empty_lines(daemon.stderr())
    assert len(lines) == len(named), daemon.log()
    for option in named:
        matching = [line for line in lines if option in line]
        assert len(matching) == 1, (option, lines)


def test_heartbeat_increases_report_count(
        tmp_path, rabbit_url, synced_database_url, daemon_factory):
    """With report_interval = 1, report_count grows by 2+ within ~3 s."""
    conf = write_cells_conf(tmp_path, rabbit_url, synced_database_url)
    daemon = daemon_factory(conf)
    first = poll_until(lambda: _services(conf), bool, timeout=10)
    assert len(first) == 1, first

    start = time.monotonic()
    second = poll_until(
        lambda: _services(conf),
        lambda rows: rows[0]['report_count'] >= first[0]['report_count'] + 2,
        timeout=3.5)

    assert second[0]['id'] == first[0]['id']
    assert second[0]['report_count'] - first[0]['report_count'] >= 2, \
        (first, second, time.monotonic() - start)
    assert second[0]['last_seen_up'] > first[0]['last_seen_up']
    assert daemon.running(), daemon.log()
