"""The ``nova-cells`` daemon as a process: start, serve, heartbeat, stop.

Each test runs the real console script against its own RabbitMQ vhost and a
real database schema made by ``nova-cells-manage db sync``.
"""

import datetime
import time

import oslo_messaging
from oslo_utils import timeutils
import pytest

from tests.functional.fixtures import CellsRPC
from tests.functional.fixtures import DAEMON_BACKENDS
from tests.functional.fixtures import insert_row
from tests.functional.fixtures import live_rows
from tests.functional.fixtures import non_empty_lines
from tests.functional.fixtures import poll_until
from tests.functional.fixtures import run_manage
from tests.functional.fixtures import sync_schema
from tests.functional.fixtures import wait_for_ping
from tests.functional.fixtures import write_cells_conf

pytestmark = pytest.mark.functional

# An address nothing listens on, with a password that must never be shown.
UNREACHABLE_DB = 'postgresql+psycopg2://nobody:secret@127.0.0.1:1/x'
# For daemons that must fail before they use the broker.
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

    assert daemon.running(), daemon.log()
    sent = time.monotonic()
    status = daemon.stop(timeout=30)
    took = time.monotonic() - sent
    assert status == 0, daemon.log()
    assert took < 5, 'exited %.1f s after SIGTERM' % took


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


# Problems only the service itself finds, once the configuration is valid:
# (what is wrong, what the one line must name).
STARTUP_FAILURES = [
    pytest.param('missing-cells-config', '[cells] cells_config',
                 id='missing-cells_config-file'),
    pytest.param('invalid-cells-config', '[cells] cells_config',
                 id='invalid-cells_config-json'),
    pytest.param('schema-not-synced', 'db sync',
                 id='database-schema-not-synced'),
]


@pytest.mark.parametrize('backend', DAEMON_BACKENDS)
@pytest.mark.parametrize('problem, named', STARTUP_FAILURES)
def test_startup_failure_exits_promptly_with_one_line(
        problem, named, backend, tmp_path, sqlite_url, daemon_factory):
    """A daemon that cannot start must say why once and exit, not be
    restarted forever by the launcher."""
    cells_config = None
    if problem == 'missing-cells-config':
        cells_config = tmp_path / 'no-such-cells.json'
    elif problem == 'invalid-cells-config':
        cells_config = tmp_path / 'cells.json'
        cells_config.write_text('{"child1": {"transport_url": ')
    if problem != 'schema-not-synced':
        sync_schema(sqlite_url)
    conf = write_cells_conf(tmp_path, UNUSED_BROKER, sqlite_url,
                            cells_config=cells_config)
    daemon = daemon_factory(conf, backend=backend)

    status = daemon.wait(timeout=6)

    assert status not in (None, 0), (
        'status %s 6 s after start; log tail:\n%s'
        % (status, daemon.log()[-1500:]))
    lines = non_empty_lines(daemon.stderr())
    assert len(lines) == 1, 'stderr: %r; log tail:\n%s' % (
        daemon.stderr(), daemon.log()[-1500:])
    assert named in lines[0], lines[0]


# (options written into cells.conf, the options the lines must name)
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
    # The row exists a moment before its first report sets last_seen_up.
    first = poll_until(lambda: _services(conf),
                       lambda rows: rows and rows[0]['last_seen_up'],
                       timeout=10)
    assert len(first) == 1 and first[0]['last_seen_up'], first

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


def _compute_host(url, host, free_ram_mb, memory_mb, free_disk_gb, local_gb,
                  last_seen_up):
    """A nova-compute service and its node, as nova-compute writes them."""
    insert_row(url, 'services', host=host, binary='nova-compute',
               topic='compute', report_count=1, disabled=False,
               forced_down=False, last_seen_up=last_seen_up, deleted=0)
    insert_row(url, 'compute_nodes', host=host, hypervisor_hostname=host,
               vcpus=8, memory_mb=memory_mb, local_gb=local_gb,
               vcpus_used=0, memory_mb_used=memory_mb - free_ram_mb,
               local_gb_used=local_gb - free_disk_gb,
               free_ram_mb=free_ram_mb, free_disk_gb=free_disk_gb,
               hypervisor_type='fake', hypervisor_version=1, cpu_info='{}',
               deleted=0)


def test_get_capacities_follows_the_compute_rows(
        tmp_path, rabbit_url, synced_sqlite_url, daemon_factory):
    """Own capacity in per-flavor units, re-read from the database."""
    url = synced_sqlite_url
    conf = write_cells_conf(tmp_path, rabbit_url, url)
    daemon = daemon_factory(conf)
    wait_for_ping(rabbit_url, daemon=daemon)

    with CellsRPC(rabbit_url) as client:
        assert client.get_capacities() == {}  # no compute host yet

        for flavor, (ram, root) in (('small', (512, 1)), ('big', (2048, 20))):
            insert_row(url, 'instance_types', name=flavor, flavorid=flavor,
                       memory_mb=ram, vcpus=1, root_gb=root, ephemeral_gb=0,
                       swap=0, deleted=0)
        now = timeutils.utcnow()
        _compute_host(url, 'cmp-up', 4096, 8192, 100, 200, now)
        # Down for 10 minutes: must not count (service_down_time = 60).
        _compute_host(url, 'cmp-down', 4096, 8192, 100, 200,
                      now - datetime.timedelta(minutes=10))

        # 10 % of each total is reserved: RAM 4096 - 819.2, disk
        # 102400 - 20480 MB free for new instances.
        # vcpus (ours, issue 9): 8 free, 1-vcpu flavors, int(8 - 0.8).
        expected = {
            'ram_free': {'total_mb': 4096,
                         'units_by_mb': {'512': 6, '2048': 1}},
            'disk_free': {'total_mb': 102400,
                          'units_by_mb': {'1024': 80, '20480': 4}},
            'vcpu_free': {'total': 8, 'units_by_vcpus': {'1': 7}},
        }
        assert poll_until(client.get_capacities,
                          lambda caps: caps != {}) == expected
        assert client.get_capacities(cell_name=conf.name) == expected

        with pytest.raises(oslo_messaging.RemoteError) as error:
            client.get_capacities(cell_name='no-such-cell')
        assert error.value.exc_type == 'CellNotFound'
