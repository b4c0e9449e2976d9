"""``nova-cells-manage explain`` against two real daemons (api -> child).

The dry run must show, at each level, the candidates, the filter that
removed a cell and why, the weighers' scores and the pick, and build
nothing.
"""

import datetime
import json

import pytest

from tests.functional.fixtures import live_rows
from tests.functional.fixtures import poll_until
from tests.functional.fixtures import rabbit_vhost
from tests.functional.fixtures import run_manage
from tests.functional.fixtures import sync_schema
from tests.functional.fixtures import insert_row
from tests.functional.fixtures import throwaway_database
from tests.functional.fixtures import wait_for_ping
from tests.functional.fixtures import write_cells_conf

pytestmark = pytest.mark.functional

FLAVOR = dict(name='m1.small', memory_mb=2048, vcpus=1, root_gb=20,
              ephemeral_gb=0, flavorid='1', swap=0, rxtx_factor=1.0,
              is_public=True, disabled=False, deleted=0)


def _seed_host(url, host):
    now = datetime.datetime.utcnow()
    insert_row(url, 'services', host=host, binary='nova-compute',
               topic='compute', report_count=1, disabled=False,
               forced_down=False, last_seen_up=now, deleted=0)
    insert_row(url, 'compute_nodes', host=host, hypervisor_hostname=host,
               vcpus=16, memory_mb=65536, local_gb=800, vcpus_used=0,
               memory_mb_used=0, local_gb_used=0, free_ram_mb=65536,
               free_disk_gb=800, hypervisor_type='QEMU',
               hypervisor_version=6002000, cpu_info='{}', deleted=0)


@pytest.fixture
def two_cells(tmp_path, daemon_factory):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'c').mkdir()
    with rabbit_vhost() as api_url, rabbit_vhost() as child_url, \
            throwaway_database('sqlite', tmp_path / 'a') as api_db, \
            throwaway_database('sqlite', tmp_path / 'c') as child_db:
        for url in (api_db, child_db):
            sync_schema(url)
            insert_row(url, 'instance_types', **FLAVOR)
        _seed_host(child_db, 'child-host1')
        insert_row(api_db, 'cells', name='child', transport_url=child_url,
                   is_parent=False, weight_offset=0.0, weight_scale=1.0,
                   deleted=0)
        insert_row(child_db, 'cells', name='api', transport_url=api_url,
                   is_parent=True, weight_offset=0.0, weight_scale=1.0,
                   deleted=0)
        extra = {'cells': {'parent_update_interval': 1,
                           'local_scheduler_driver': 'builtin'}}
        api = write_cells_conf(tmp_path / 'a', api_url, api_db, name='api',
                               cell_type='api', extra=extra)
        child = write_cells_conf(tmp_path / 'c', child_url, child_db,
                                 name='child', extra=extra)
        api_daemon = daemon_factory(api)
        child_daemon = daemon_factory(child)
        wait_for_ping(api_url, daemon=api_daemon)
        wait_for_ping(child_url, daemon=child_daemon)
        yield api, api_db, child_db


def _explain(conf, *args):
    result = run_manage(conf, 'explain', '--flavor', 'm1.small',
                        '--format', 'json', *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_explain_follows_the_build_down_and_builds_nothing(two_cells):
    api, api_db, child_db = two_cells
    answer = poll_until(lambda: _explain(api),
                        lambda a: a['action'] == 'forward to api!child',
                        timeout=15)
    assert answer['cell'] == 'api'
    assert answer['action'] == 'forward to api!child'
    assert answer['selection']['picked'] == 'api!child'
    level2 = answer['next']
    assert level2['cell'] == 'api!child'
    assert level2['action'] == 'build here'
    me = level2['selection']['candidates'][0]
    assert me['is_me'] and me['path'] == 'api!child'
    # CellStateFilter always runs first (issue 6), FreeUnitsFilter next
    # (issue 9), then the configured list: nova's all_filters and ours.
    assert [v['plugin'] for v in me['verdicts']] == [
        'CellStateFilter', 'FreeUnitsFilter', 'TargetCellFilter',
        'DifferentCellFilter', 'ImagePropertiesFilter', 'ProjectCellsFilter',
        'FlavorCellsFilter', 'ImagePropertyCellsFilter',
        'CellAvailabilityZoneFilter', 'ServerGroupCellFilter',
        'FallbackGroupFilter']
    assert live_rows(api_db, 'instances') == []
    assert live_rows(child_db, 'instances') == []


def test_explain_names_the_filter_that_removed_a_cell(two_cells):
    api, _api_db, _child_db = two_cells
    answer = _explain(api, '--as-admin', '--hint', 'different_cell=api!child')
    assert answer['action'].startswith('fail: 0/1 cells are available')
    candidate = answer['selection']['candidates'][0]
    rejected = candidate['verdicts'][-1]
    assert rejected['plugin'] == 'DifferentCellFilter'
    assert rejected['code'] == 'reject'
    assert 'different_cell' in rejected['reasons'][0]


def test_explain_ignores_admin_hints_for_non_admins(two_cells):
    api, _api_db, _child_db = two_cells
    answer = _explain(api, '--hint', 'different_cell=api!child')
    assert answer['action'] == 'forward to api!child'


def test_explain_asks_with_a_count_a_group_and_extra_specs(two_cells):
    api, api_db, child_db = two_cells
    poll_until(lambda: _explain(api),
               lambda a: a['action'] == 'forward to api!child', timeout=15)
    # Two members of a cell-anti-affinity group: api has one child, so
    # the second finds no cell; the plan is refused whole, saying why.
    answer = _explain(api, '--count', '2', '--project', 'p1',
                      '--group-policy', 'cell-anti-affinity')
    assert answer['action'].startswith(
        'fail: No cells available matching scheduling criteria. '
        'split: only 1 of 2 instances fit: 0/1 cells are available: ')
    assert 'ServerGroupCellFilter' in answer['action']
    # A zone asked for by a flavor extra spec that no cell declares.
    answer = _explain(api, '--extra-spec', 'cells:az=az9')
    rejected = answer['selection']['candidates'][0]['verdicts'][-1]
    assert rejected['plugin'] == 'CellAvailabilityZoneFilter'
    assert 'az9' in rejected['reasons'][0]
    assert live_rows(api_db, 'instances') == []
    assert live_rows(child_db, 'instances') == []
