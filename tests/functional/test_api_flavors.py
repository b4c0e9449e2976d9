"""A leaf on the databases nova Stein made (issue 20): its flavors are in
the API database, its ``instance_types`` is empty.

Both databases come from nova's own schema (``tests/nova_stein.py``); the
cell database is adopted by our ``db sync``; the compute hosts and
services are in the cell database and the flavors only in the API
database, as in a real Stein cell.  The daemon must report capacity units
of the API database's flavor sizes.

Hosts (all free, as a freshly started nova-compute reports them):

====  =========  =====  ========
host  memory_mb  vcpus  local_gb
====  =========  =====  ========
h1    16384      8      200
h2    8192       4      100
====  =========  =====  ========

Flavors (API database): m1.tiny 512 MB, 1 GB, 1 vcpu; m1.small 2048 MB,
20 GB, 1 vcpu (with extra specs); m1.large 8192 MB, 40 + 40 GB, 4 vcpus,
disabled (nova's get_all counts it all the same).  ``nova-cells-manage
explain`` finds its flavor there too, with the flavor's extra specs.

By hand, ``int(max(0, free - total * 0.1) / slot)`` per host, summed:

* RAM: h1 16384 - 1638.4 = 14745.6, h2 8192 - 819.2 = 7372.8;
  512: 28 + 14 = 42; 2048: 7 + 3 = 10; 8192: 1 + 0 = 1.
* disk: h1 204800 - 20480 = 184320, h2 102400 - 10240 = 92160;
  1024: 180 + 90 = 270; 20480: 9 + 4 = 13; 81920: 2 + 1 = 3.
* vcpus: h1 8 - 0.8 = 7.2, h2 4 - 0.4 = 3.6; 1: 7 + 3 = 10; 4: 1 + 0 = 1.
"""

import json

import pytest
import sqlalchemy as sa
from sqlalchemy import pool as sa_pool

from tests.functional.fixtures import CellsRPC
from tests.functional.fixtures import non_empty_lines
from tests.functional.fixtures import run_many
from tests.functional.fixtures import sync_schema
from tests.functional.fixtures import throwaway_database
from tests.functional.fixtures import wait_for_ping
from tests.functional.fixtures import write_cells_conf
from tests.functional import tree_support
from tests import nova_stein

pytestmark = pytest.mark.functional

HOSTS = [('h1', 16384, 8, 200), ('h2', 8192, 4, 100)]
FLAVORS = [
    dict(id=1, name='m1.tiny', flavorid='1', memory_mb=512, vcpus=1,
         root_gb=1, ephemeral_gb=0, disabled=False),
    dict(id=2, name='m1.small', flavorid='2', memory_mb=2048, vcpus=1,
         root_gb=20, ephemeral_gb=0, disabled=False),
    dict(id=3, name='m1.large', flavorid='3', memory_mb=8192, vcpus=4,
         root_gb=40, ephemeral_gb=40, disabled=True),
]
EXTRA_SPECS = [
    dict(id=1, flavor_id=2, key='hw:cpu_policy', value='dedicated'),
    # The leaf declares no zone: explain's dry run of m1.small shows the
    # zone filter turning it down, so the spec came from the API database.
    dict(id=2, flavor_id=2, key='cells:az', value='az2'),
]
EXPECTED = {
    'ram_free': {'total_mb': 24576,
                 'units_by_mb': {'512': 42, '2048': 10, '8192': 1}},
    'disk_free': {'total_mb': 307200,
                  'units_by_mb': {'1024': 270, '20480': 13, '81920': 3}},
    'vcpu_free': {'total': 12, 'units_by_vcpus': {'1': 10, '4': 1}},
}

# For daemons that must fail before they use the broker.
UNUSED_BROKER = 'rabbit://guest:guest@127.0.0.1:5672/nc-ft-never-created'
# A PostgreSQL server that is not there (its socket directory does not
# exist), with a password that must never be shown.
DOWN_API_DB = ('postgresql+psycopg2://nova:secret@/nova_api'
               '?host=/nonexistent-socket-dir')


def _novas_cell_database(url):
    """nova's cell database, adopted by our schema, with the hosts."""
    nova_stein.create_database(url, 'main')
    sync_schema(url)
    tree_support.seed_compute_hosts(url, HOSTS)


def _novas_api_database(url):
    nova_stein.create_database(url, 'api')
    tree_support.insert_rows(url, 'flavors', [
        dict(f, swap=0, rxtx_factor=1.0, is_public=True) for f in FLAVORS])
    tree_support.insert_rows(url, 'flavor_extra_specs', EXTRA_SPECS)


def _start_leaf(tmp_path, rabbit_url, cell_url, api_url, daemon_factory):
    conf = write_cells_conf(tmp_path, rabbit_url, cell_url, name='leaf',
                            extra={'api_database': {'connection': api_url}})
    daemon = daemon_factory(conf)
    wait_for_ping(rabbit_url, daemon=daemon, deadline=daemon.started_at + 20)
    return daemon


@pytest.mark.parametrize('backend', ['sqlite', 'postgresql'])
def test_a_stein_leaf_counts_units_of_the_api_databases_flavors(
        backend, tmp_path, rabbit_url, daemon_factory):
    with throwaway_database(backend, tmp_path) as cell_url, \
            throwaway_database(backend, tmp_path) as api_url:
        _novas_cell_database(cell_url)
        _novas_api_database(api_url)
        assert _instance_types(cell_url) == []
        daemon = _start_leaf(tmp_path, rabbit_url, cell_url, api_url,
                             daemon_factory)
        with CellsRPC(rabbit_url) as client:
            assert client.get_capacities() == EXPECTED
        explained = run_many(daemon.conf, {
            'small': ['explain', '--flavor', 'm1.small', '--format', 'json'],
            'missing': ['explain', '--flavor', 'm1.cell-only']})
        assert daemon.stop(timeout=30) == 0, daemon.log()
    assert 'Flavors are read from the API database in [api_database] ' \
        'connection' in daemon.log()
    assert explained['small'].returncode == 0, explained['small'].stderr
    assert _zone_verdict(explained['small'].stdout) == {
        'code': 'reject', 'plugin': 'CellAvailabilityZoneFilter',
        'reasons': ['no az az2 here (none declared)']}
    assert explained['missing'].returncode == 2
    assert explained['missing'].stderr.startswith(
        'nova-cells-manage: error: Flavor m1.cell-only not found in the API '
        'database in [api_database] connection')


def _zone_verdict(output):
    (candidate,) = json.loads(output)['selection']['candidates']
    (verdict,) = [v for v in candidate['verdicts']
                  if v['plugin'] == 'CellAvailabilityZoneFilter']
    return verdict


def _instance_types(url):
    engine = sa.create_engine(url, poolclass=sa_pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text('SELECT id FROM instance_types')).all()
    finally:
        engine.dispose()


def test_an_api_database_down_at_start_is_logged_and_the_leaf_serves(
        tmp_path, rabbit_url, daemon_factory):
    with throwaway_database('sqlite', tmp_path) as cell_url:
        _novas_cell_database(cell_url)
        daemon = _start_leaf(tmp_path, rabbit_url, cell_url, DOWN_API_DB,
                             daemon_factory)
        with CellsRPC(rabbit_url) as client:
            assert client.get_capacities() == {}
        assert daemon.running(), daemon.log()
        assert daemon.stop(timeout=30) == 0, daemon.log()
    log = daemon.log()
    assert 'Cannot read the flavors from the API database in ' \
        '[api_database] connection (postgresql+psycopg2://nova:***@' in log
    assert 'secret' not in log and 'Traceback' not in log


def test_an_unusable_api_database_connection_is_refused_at_start(
        tmp_path, daemon_factory):
    with throwaway_database('sqlite', tmp_path) as cell_url:
        conf = write_cells_conf(
            tmp_path, UNUSED_BROKER, cell_url,
            extra={'api_database': {
                'connection': 'mysql://nova:secret@db/nova_api'}})
        daemon = daemon_factory(conf)
        status = daemon.wait(timeout=30)
    assert status == 2, daemon.log()
    assert non_empty_lines(daemon.stderr()) == [
        "nova-cells: invalid configuration: [api_database] connection = "
        "'mysql://nova:***@db/nova_api': No module named 'MySQLdb'"]
