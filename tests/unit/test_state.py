"""CellState and CellStateManager (reference §3.3, §3.4, §3.6, §10)."""

import datetime
import json
import os
import threading
import time

from oslo_config import cfg
from oslo_serialization import jsonutils
from oslo_utils import timeutils
import pytest

from nova_cells import exception
from nova_cells.cells import state
from tests.unit import helpers

URL_C1 = 'rabbit://user1:secret1@c1-host:5673,user1b:secret1b@c1-b:5674/v1'
URL_C2 = 'rabbit://user2:secret2@c2-host:5672/v2'
URL_P1 = 'rabbit://userp:secretp@p1-host:5672/vp'


def _manager(db, source=None, db_check_interval=60, mute_child_interval=300,
             name='me', capabilities=('hypervisor=kvm', 'os=linux')):
    settings = state.StateSettings(db_check_interval=db_check_interval,
                                   mute_child_interval=mute_child_interval)
    return state.CellStateManager(name, list(capabilities),
                                  source or state.DBCellSource(db), db,
                                  settings)


def _cell(name, url, is_parent, **extra):
    return dict(name=name, transport_url=url, is_parent=is_parent, **extra)


@pytest.fixture
def manager(db):
    """Me with children c1, c2 and parent p1 in the cells table."""
    mgr = _manager(db)
    mgr.cell_create(_cell('c1', URL_C1, False, weight_offset=2.5,
                          weight_scale=3.0))
    mgr.cell_create(_cell('c2', URL_C2, False))
    mgr.cell_create(_cell('p1', URL_P1, True))
    return mgr


def _names(cells):
    return sorted(c.name for c in cells)


# -- parse_capabilities

@pytest.mark.parametrize('entries, expected', [
    pytest.param(['hypervisor=xenserver;kvm', 'os=linux;windows'],
                 {'hypervisor': {'xenserver', 'kvm'},
                  'os': {'linux', 'windows'}}, id='nova-default'),
    pytest.param(['key=a=b;c'], {'key': {'a=b', 'c'}},
                 id='split-on-first-equals-only'),
    pytest.param(['flag='], {'flag': set()}, id='empty-value-is-empty-set'),
    pytest.param([], {}, id='no-entries'),
])
def test_parse_capabilities(entries, expected):
    assert state.parse_capabilities(entries) == expected


def test_my_state_has_parsed_capabilities_and_is_me(db):
    mgr = _manager(db, capabilities=['hypervisor=xenserver;kvm',
                                     'os=linux;windows'])
    me = mgr.get_my_state()
    assert (me.name, me.is_me, repr(me)) == ('me', True, "Cell 'me' (me)")
    assert me.capabilities == {'hypervisor': {'xenserver', 'kvm'},
                               'os': {'linux', 'windows'}}


# -- refresh

def test_refresh_adds_children_and_parents(manager):
    assert _names(manager.get_child_cells()) == ['c1', 'c2']
    assert _names(manager.get_parent_cells()) == ['p1']
    assert manager.get_child_cell('c1').db_info['transport_url'] == URL_C1
    assert manager.get_parent_cell('p1').is_parent is True
    assert manager.get_child_cell('p1') is None
    assert manager.get_parent_cell('c1') is None


def test_deleting_a_cell_does_not_break_refresh(manager):
    # Reference §10.12: nova deleted from the dict it iterated
    # (RuntimeError on Python 3).  sync(force=True) raises if that happens.
    assert manager.cell_delete('c2') == 1
    assert manager.sync(force=True) is True
    assert _names(manager.get_child_cells()) == ['c1']
    assert _names(manager.get_parent_cells()) == ['p1']


def test_deleting_several_cells_at_once_from_the_source(manager, db):
    from nova_cells.db import api as db_api
    db_api.cell_delete(db, 'c1')
    db_api.cell_delete(db, 'c2')
    db_api.cell_delete(db, 'p1')
    manager.sync(force=True)
    assert (manager.child_cells, manager.parent_cells) == ({}, {})


def test_flipping_child_to_parent_moves_it_once_and_keeps_state(manager):
    manager.update_cell_capabilities('c1', {'hypervisor': ['qemu']})
    before = manager.get_child_cell('c1')
    manager.cell_update('c1', {'is_parent': True})
    assert _names(manager.get_child_cells()) == ['c2']
    assert _names(manager.get_parent_cells()) == ['c1', 'p1']
    after = manager.get_parent_cell('c1')
    assert after is before
    assert after.capabilities == {'hypervisor': {'qemu'}}
    assert after.db_info['is_parent'] is True


def test_flipping_parent_to_child(manager):
    manager.cell_update('p1', {'is_parent': False})
    assert _names(manager.get_child_cells()) == ['c1', 'c2', 'p1']
    assert manager.get_parent_cells() == []


def test_existing_state_keeps_capabilities_and_capacities(manager):
    caps = {'ram_free': {'total_mb': 1, 'units_by_mb': {'2048': 0}}}
    manager.update_cell_capabilities('c1', {'os': ['linux', 'bsd']})
    manager.update_cell_capacities('c1', caps)
    state_before = manager.get_child_cell('c1')
    seen = state_before.last_seen
    manager.cell_update('c1', {'api_url': 'http://c1:8774'})
    manager.sync(force=True)
    cell = manager.get_child_cell('c1')
    assert cell is state_before
    assert cell.db_info['api_url'] == 'http://c1:8774'
    assert cell.capabilities == {'os': {'linux', 'bsd'}}
    assert cell.capacities == caps
    assert cell.last_seen == seen


def test_update_of_unknown_cell_is_ignored(manager):
    manager.update_cell_capabilities('ghost', {'os': ['linux']})
    manager.update_cell_capacities('ghost', {'ram_free': {}})
    assert _names(manager.get_child_cells()) == ['c1', 'c2']
    assert _names(manager.get_parent_cells()) == ['p1']


def test_update_capabilities_converts_lists_to_sets(manager):
    manager.update_cell_capabilities('p1', {'os': ['linux', 'linux', 'bsd']})
    assert manager.get_parent_cell('p1').capabilities == {
        'os': {'linux', 'bsd'}}


# -- sync pacing

NOW = datetime.datetime(2019, 4, 4, 12, 0, 0)


@pytest.mark.parametrize('interval, last_check, due', [
    pytest.param(60, NOW - datetime.timedelta(days=1, seconds=10), True,
                 id='bug13-one-day-plus-10s-is-due'),
    pytest.param(60, NOW - datetime.timedelta(seconds=59), False,
                 id='59s-not-due'),
    pytest.param(60, NOW - datetime.timedelta(seconds=60), True,
                 id='exactly-60s-due'),
    pytest.param(60, datetime.datetime.min, True, id='never-checked-due'),
    pytest.param(0, NOW, True, id='interval-0-always-due'),
    pytest.param(-1, NOW, True, id='interval-negative-always-due'),
])
def test_time_to_sync_uses_total_seconds(db, interval, last_check, due):
    mgr = _manager(db, db_check_interval=interval)
    mgr.last_cell_db_check = last_check
    assert mgr._time_to_sync(NOW) is due


def test_sync_is_paced_by_db_check_interval(db):
    mgr = _manager(db, db_check_interval=3600)
    assert mgr.sync() is True        # first sync is always due
    assert mgr.sync() is False       # then cached for an hour
    assert mgr.sync(force=True) is True


def test_cells_added_behind_the_managers_back_appear_after_the_interval(db):
    from nova_cells.db import api as db_api
    mgr = _manager(db, db_check_interval=3600)
    assert mgr.get_child_cells() == []
    db_api.cell_create(db, _cell('late', URL_C2, False))
    assert mgr.get_child_cells() == []       # cached view
    mgr.last_cell_db_check -= datetime.timedelta(seconds=3600)
    assert _names(mgr.get_child_cells()) == ['late']


class _GatedSource(state.DBCellSource):
    """A DB source whose next load can be held until the test lets it go."""

    def __init__(self, db):
        super().__init__(db)
        self.loads = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def load(self, force=False):
        rows = super().load(force)          # read before waiting: stale
        self.loads += 1
        self.entered.set()
        self.release.wait(10)
        return rows


def _hold_a_refresh(mgr, source):
    """Start a refresh in a thread and return once it has read the table."""
    source.release.clear()
    source.entered.clear()
    worker = threading.Thread(target=mgr.get_child_cells)
    worker.start()
    assert source.entered.wait(10)
    return worker


def test_reader_does_not_share_a_refresh_older_than_its_request(db):
    """``cell enable`` then a build: a refresh that read the table before
    the change must not answer the build (it saw the cell disabled)."""
    from nova_cells.db import api as db_api
    source = _GatedSource(db)
    mgr = _manager(db, source=source, db_check_interval=0)
    worker = _hold_a_refresh(mgr, source)
    db_api.cell_create(db, _cell('late', URL_C2, False))
    found = []
    reader = threading.Thread(
        target=lambda: found.append(_names(mgr.get_child_cells())))
    reader.start()
    source.release.set()
    worker.join(10)
    reader.join(10)
    assert found == [['late']]
    assert source.loads == 2


def test_readers_arriving_before_a_refresh_share_it(db):
    source = _GatedSource(db)
    mgr = _manager(db, source=source, db_check_interval=0)
    mgr._lock.acquire()             # the refresh has not started yet
    readers = [threading.Thread(target=mgr.get_child_cells)
               for _ in range(3)]
    for reader in readers:
        reader.start()
    time.sleep(0.2)
    mgr._lock.release()
    for reader in readers:
        reader.join(10)
    # the first reader refreshed; the two behind it shared that refresh.
    assert source.loads == 1


def test_a_hung_refresh_leaves_readers_the_cached_view(db, monkeypatch):
    monkeypatch.setattr(state, 'SHARED_REFRESH_WAIT', 0.2)
    source = _GatedSource(db)
    mgr = _manager(db, source=source, db_check_interval=0)
    mgr.cell_create(_cell('c1', URL_C1, False))
    worker = _hold_a_refresh(mgr, source)
    assert _names(mgr.get_child_cells()) == ['c1']     # did not wait 10 s
    source.release.set()
    worker.join(10)


class _OneFlavor(object):
    """A flavor reader with one 1 GB flavor."""

    def get_all(self):
        return [{'memory_mb': 1024, 'root_gb': 1, 'ephemeral_gb': 0}]


def _gate_capacity_reads(monkeypatch, manager, results):
    """Make the manager's reads of its hosts return ``results`` in turn,
    each read waiting for its own event; returns (entered, release)."""
    from nova_cells.db import api as db_api
    entered = [threading.Event() for _ in results]
    release = [threading.Event() for _ in results]
    calls = iter(range(len(results)))

    def gated(_db, binary='nova-compute'):
        index = next(calls)
        entered[index].set()
        assert release[index].wait(10)
        return results[index]
    monkeypatch.setattr(db_api, 'compute_nodes_with_services', gated)
    manager.flavors = _OneFlavor()
    return entered, release


def _one_host(free_mb):
    node = {'host': 'h', 'free_ram_mb': free_mb, 'free_disk_gb': 100,
            'memory_mb': 8192, 'local_gb': 100, 'deleted': 0}
    service = {'host': 'h', 'disabled': False, 'deleted': 0,
               'last_seen_up': timeutils.utcnow(),
               'updated_at': timeutils.utcnow(),
               'created_at': timeutils.utcnow()}
    return [node], {'h': service}


def test_routing_does_not_wait_for_an_own_capacity_read(manager,
                                                        monkeypatch):
    """A capacity refresh after a burst of builds reads the database;
    every routing step asks the manager for a neighbour meanwhile."""
    entered, release = _gate_capacity_reads(monkeypatch, manager,
                                            [_one_host(4096)])
    refresh = threading.Thread(target=manager.refresh_own_capacity)
    refresh.start()
    try:
        assert entered[0].wait(10)
        answered = []
        reader = threading.Thread(target=lambda: answered.append(
            manager.get_child_cell('c1')))
        reader.start()
        reader.join(5)
        assert [c.name for c in answered] == ['c1']
    finally:
        release[0].set()
        refresh.join(10)
    assert manager.my_cell_state.capacities['ram_free']['total_mb'] == 4096


def test_an_older_capacity_read_never_replaces_a_newer_one(manager,
                                                           monkeypatch):
    entered, release = _gate_capacity_reads(
        monkeypatch, manager, [_one_host(1024), _one_host(3072)])
    older = threading.Thread(target=manager.refresh_own_capacity)
    older.start()
    assert entered[0].wait(10)
    newer = threading.Thread(target=manager.refresh_own_capacity)
    newer.start()
    assert entered[1].wait(10)
    release[1].set()
    newer.join(10)
    release[0].set()
    older.join(10)
    assert manager.my_cell_state.capacities['ram_free']['total_mb'] == 3072


def test_a_due_sync_still_makes_readers_wait_for_it(db):
    """The lock-free answer is only for a view that is not due: a reader
    arriving while a due refresh runs gets that refresh's result."""
    from nova_cells.db import api as db_api
    source = _GatedSource(db)
    mgr = _manager(db, source=source, db_check_interval=3600)
    db_api.cell_create(db, _cell('late', URL_C2, False))
    worker = _hold_a_refresh(mgr, source)       # the first sync is due
    found = []
    reader = threading.Thread(
        target=lambda: found.append(_names(mgr.get_child_cells())))
    reader.start()
    time.sleep(0.2)
    assert found == []                          # waiting, not answered
    source.release.set()
    worker.join(10)
    reader.join(10)
    assert found == [['late']]


# -- mute detection

@pytest.mark.parametrize('last_seen, mute', [
    pytest.param(datetime.datetime.min, True, id='never-heard-from'),
    pytest.param(NOW - datetime.timedelta(seconds=301), True,
                 id='301s-ago-mute'),
    pytest.param(NOW - datetime.timedelta(seconds=300), False,
                 id='exactly-300s-not-mute'),
    pytest.param(NOW, False, id='just-now'),
])
def test_cell_state_is_mute(last_seen, mute):
    cell = state.CellState('c')
    cell.last_seen = last_seen
    assert cell.is_mute(300, now=NOW) is mute


# -- capabilities / capacities aggregation

def test_our_capabilities_union_non_mute_children_only(manager):
    long_ago = timeutils.utcnow() - datetime.timedelta(seconds=3600)
    manager.update_cell_capabilities('c1', {'hypervisor': ['qemu'],
                                            'arch': ['x86_64']})
    manager.get_child_cell('c2').update_capabilities(
        {'hypervisor': ['hyperv'], 'os': ['windows']}, now=long_ago)
    manager.update_cell_capabilities('p1', {'os': ['parent-only']})
    ours = manager.get_our_capabilities()
    assert ours == {'hypervisor': {'kvm', 'qemu'}, 'os': {'linux'},
                    'arch': {'x86_64'}}
    # A deep copy: the union did not leak into my own state.
    assert manager.my_cell_state.capabilities == {'hypervisor': {'kvm'},
                                                  'os': {'linux'}}
    assert manager.get_our_capabilities(include_children=False) == {
        'hypervisor': {'kvm'}, 'os': {'linux'}}


def test_our_capacities_sum_all_children_including_mute(db):
    # Own: one host, 0 % reserve (db default settings use 10 %; here 0).
    helpers.add_compute_service(db, 'h')
    helpers.add_compute_node(db, 'h', 4096, 4096, 40, 40)
    helpers.add_flavor(db, 'small', 2048, 20)
    mgr = state.CellStateManager(
        'me', [], state.DBCellSource(db), db,
        state.StateSettings(reserve_percent=0.0))
    mgr.cell_create(_cell('c1', URL_C1, False))
    mgr.cell_create(_cell('c2', URL_C2, False))
    mgr.cell_create(_cell('p1', URL_P1, True))
    # own: RAM 4096 free -> 2 x 2048; disk 40960 free -> 2 x 20480
    mgr.update_cell_capacities('c1', {
        'ram_free': {'total_mb': 1000, 'units_by_mb': {'2048': 3}},
        'disk_free': {'total_mb': 50000, 'units_by_mb': {'20480': 1,
                                                         '40960': 7}}})
    # c2 is mute (heard from an hour ago) but still counts (§3.6).
    mgr.get_child_cell('c2').update_capacities(
        {'ram_free': {'total_mb': 10, 'units_by_mb': {'2048': 4,
                                                      '8192': 5}}},
        now=timeutils.utcnow() - datetime.timedelta(hours=1))
    # a parent's capacities are never summed
    mgr.update_cell_capacities('p1', {'ram_free': {'total_mb': 99999,
                                                   'units_by_mb': {}}})
    assert mgr.get_our_capacities() == {
        'ram_free': {'total_mb': 4096 + 1000 + 10,
                     'units_by_mb': {'2048': 2 + 3 + 4, '8192': 5}},
        'disk_free': {'total_mb': 40960 + 50000,
                      'units_by_mb': {'20480': 2 + 1, '40960': 7}},
        # own only (8 vcpus, 1-vcpu flavor): the children report none
        'vcpu_free': {'total': 8, 'units_by_vcpus': {'1': 8}},
    }
    assert mgr.get_our_capacities(include_children=False) == {
        'ram_free': {'total_mb': 4096, 'units_by_mb': {'2048': 2}},
        'disk_free': {'total_mb': 40960, 'units_by_mb': {'20480': 2}},
        'vcpu_free': {'total': 8, 'units_by_vcpus': {'1': 8}},
    }
    # summing did not modify my own state nor the children's
    assert mgr.my_cell_state.capacities['ram_free']['total_mb'] == 4096
    assert mgr.get_child_cell('c1').capacities['ram_free'] == {
        'total_mb': 1000, 'units_by_mb': {'2048': 3}}


C1_CAPS = {'ram_free': {'total_mb': 7, 'units_by_mb': {'2048': 1}}}


@pytest.mark.parametrize('cell_name, expected', [
    pytest.param(None, C1_CAPS, id='none-means-all'),
    pytest.param('me', C1_CAPS, id='own-name-means-all'),
    pytest.param('c1', C1_CAPS, id='child'),
    pytest.param('c2', {}, id='silent-child'),
])
def test_get_capacities(manager, cell_name, expected):
    # Own capacity is {} (no compute nodes), so "all" is c1's alone.
    manager.update_cell_capacities('c1', C1_CAPS)
    assert manager.get_capacities(cell_name) == expected


@pytest.mark.parametrize('cell_name', [
    pytest.param('unknown', id='unknown'),
    pytest.param('p1', id='parent'),
])
def test_get_capacities_not_found(manager, cell_name):
    with pytest.raises(exception.CellNotFound) as err:
        manager.get_capacities(cell_name)
    assert err.value.cell_name == cell_name
    assert str(err.value) == "Cell %s doesn't exist." % cell_name


# -- cell_get and cell info

@pytest.mark.parametrize('name, is_parent, url', [
    pytest.param('c1', False, URL_C1, id='child'),
    pytest.param('p1', True, URL_P1, id='parent'),
])
def test_cell_get_returns_a_serializable_dict(manager, name, is_parent, url):
    # Reference §10.18: nova returned a CellState (not serializable).
    cell = manager.cell_get(name)
    assert isinstance(cell, dict)
    assert (cell['name'], cell['is_parent'], cell.get('transport_url')) == (
        name, is_parent, url)
    assert jsonutils.loads(jsonutils.dumps(cell))['name'] == name


def test_cell_get_unknown_raises(manager):
    with pytest.raises(exception.CellNotFound) as err:
        manager.cell_get('ghost')
    assert err.value.cell_name == 'ghost'


def test_cell_info_has_first_host_and_no_password(manager):
    manager.update_cell_capabilities('c1', {'os': ['linux']})
    info = manager.get_child_cell('c1').get_cell_info()
    assert info == {'name': 'c1', 'capabilities': {'os': {'linux'}},
                    'is_parent': False, 'weight_offset': 2.5,
                    'weight_scale': 3.0, 'username': 'user1',
                    'rpc_host': 'c1-host', 'rpc_port': 5673}
    assert 'secret' not in repr(info)


def test_cell_info_for_neighbors_children_then_parents_no_passwords(manager):
    infos = manager.get_cell_info_for_neighbors()
    assert [i['name'] for i in infos][-1] == 'p1'
    assert sorted(i['name'] for i in infos[:2]) == ['c1', 'c2']
    for info in infos:
        assert 'password' not in info
        assert 'secret' not in repr(info), info
    assert {i['name']: (i['username'], i['rpc_host'], i['rpc_port'])
            for i in infos} == {'c1': ('user1', 'c1-host', 5673),
                                'c2': ('user2', 'c2-host', 5672),
                                'p1': ('userp', 'p1-host', 5672)}


def test_my_cell_info_has_no_db_info_keys(db):
    info = _manager(db).get_my_state().get_cell_info()
    assert info == {'name': 'me', 'capabilities': {'hypervisor': {'kvm'},
                                                   'os': {'linux'}}}


# -- JSON file source

def _write_json(path, data):
    with open(path, 'w') as f:
        f.write(data if isinstance(data, str) else json.dumps(data))
    return str(path)


FILE_CELLS = {
    'child': {'transport_url': URL_C1, 'is_parent': False},
    'parent': {'transport_url': URL_P1, 'is_parent': True,
               'weight_offset': 5.0, 'weight_scale': 2.0,
               'api_url': 'http://parent:8774'},
}


def _file_manager(db, path, db_check_interval=0):
    return _manager(db, source=state.FileCellSource(path),
                    db_check_interval=db_check_interval)


def test_file_entries_without_weights_get_column_defaults(db, tmp_path):
    # Reference §10.19: nova's get_cell_info raised KeyError here.
    mgr = _file_manager(db, _write_json(tmp_path / 'cells.json', FILE_CELLS))
    infos = {i['name']: i for i in mgr.get_cell_info_for_neighbors()}
    assert (infos['child']['weight_offset'],
            infos['child']['weight_scale']) == (0.0, 1.0)
    assert (infos['parent']['weight_offset'],
            infos['parent']['weight_scale']) == (5.0, 2.0)
    assert infos['child']['rpc_host'] == 'c1-host'
    assert mgr.cell_get('parent')['api_url'] == 'http://parent:8774'


def test_file_source_uses_the_key_as_name(tmp_path):
    path = _write_json(tmp_path / 'cells.json',
                       {'key-name': {'name': 'other', 'transport_url': URL_C1,
                                     'is_parent': False}})
    assert state.FileCellSource(path).load()['key-name']['name'] == 'key-name'


def test_file_source_rereads_only_on_change(tmp_path):
    path = _write_json(tmp_path / 'cells.json', FILE_CELLS)
    source = state.FileCellSource(path)
    assert sorted(source.load()) == ['child', 'parent']
    assert source.load() is None, 'unchanged file must not be re-read'
    assert sorted(source.load(force=True)) == ['child', 'parent']

    # size change
    _write_json(path, {'only': {'transport_url': URL_C2, 'is_parent': False}})
    assert sorted(source.load()) == ['only']

    # same size, new mtime
    _write_json(path, {'ONLY': {'transport_url': URL_C2, 'is_parent': False}})
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10 ** 9))
    assert sorted(source.load()) == ['ONLY']


def test_file_change_is_seen_by_the_manager(db, tmp_path):
    path = _write_json(tmp_path / 'cells.json', FILE_CELLS)
    mgr = _file_manager(db, path, db_check_interval=0)
    assert _names(mgr.get_child_cells()) == ['child']
    _write_json(path, dict(FILE_CELLS, child2={'transport_url': URL_C2,
                                               'is_parent': False}))
    assert _names(mgr.get_child_cells()) == ['child', 'child2']


def test_file_change_is_seen_within_db_check_interval(db, tmp_path):
    # Reference §3.2/§3.4: nova's file manager re-reads the file whenever
    # its mtime changed, on every synced accessor; only the own-capacity
    # recomputation is paced by db_check_interval.
    path = _write_json(tmp_path / 'cells.json', FILE_CELLS)
    mgr = _file_manager(db, path, db_check_interval=60)
    assert _names(mgr.get_child_cells()) == ['child']
    _write_json(path, dict(FILE_CELLS, child2={'transport_url': URL_C2,
                                               'is_parent': False}))
    assert _names(mgr.get_child_cells()) == ['child', 'child2']


@pytest.mark.parametrize('bad', [
    pytest.param('{"child": ', id='truncated-json'),
    pytest.param('[1, 2]', id='top-level-list'),
])
def test_invalid_file_after_a_good_one_keeps_old_content(db, tmp_path, bad):
    path = _write_json(tmp_path / 'cells.json', FILE_CELLS)
    source = state.FileCellSource(path)
    mgr = _manager(db, source=source, db_check_interval=0)
    assert _names(mgr.get_child_cells()) == ['child']
    _write_json(path, bad)
    assert source.load() is None
    assert _names(mgr.get_child_cells()) == ['child']
    assert _names(mgr.get_parent_cells()) == ['parent']


@pytest.mark.parametrize('bad', [
    pytest.param('{"child": ', id='truncated-json'),
    pytest.param('"just a string"', id='top-level-string'),
])
def test_invalid_file_at_first_load_raises(db, tmp_path, bad):
    path = _write_json(tmp_path / 'cells.json', bad)
    with pytest.raises(ValueError):
        state.FileCellSource(path).load()
    with pytest.raises(ValueError):
        _file_manager(db, path).sync()


@pytest.mark.parametrize('call', [
    pytest.param(lambda m: m.cell_create(_cell('x', URL_C1, False)),
                 id='create'),
    pytest.param(lambda m: m.cell_update('child', {'api_url': 'x'}),
                 id='update'),
    pytest.param(lambda m: m.cell_delete('child'), id='delete'),
])
def test_file_source_is_read_only(db, tmp_path, call):
    mgr = _file_manager(db, _write_json(tmp_path / 'c.json', FILE_CELLS))
    with pytest.raises(exception.CellsUpdateUnsupported) as err:
        call(mgr)
    assert str(err.value) == 'Cannot update cells configuration file.'
    assert _names(mgr.get_child_cells()) == ['child']
    assert state.FileCellSource.writable is False


# -- make_state_manager

def test_make_state_manager_missing_cells_config_raises(
        db, tmp_path, make_conf):
    missing = str(tmp_path / 'no-such-cells.json')
    conf = make_conf('[cells]\ncells_config = %s\n' % missing)
    with pytest.raises(cfg.ConfigFilesNotFoundError) as err:
        state.make_state_manager(conf, db)
    assert missing in str(err.value)


def test_make_state_manager_with_cells_config_uses_the_file(
        db, tmp_path, make_conf):
    path = _write_json(tmp_path / 'cells.json', FILE_CELLS)
    conf = make_conf('[cells]\ncells_config = %s\nname = top\n' % path)
    mgr = state.make_state_manager(conf, db)
    assert isinstance(mgr.source, state.FileCellSource)
    assert mgr.source.path == path
    assert mgr.my_cell_state.name == 'top'
    assert _names(mgr.get_parent_cells()) == ['parent']


def test_make_state_manager_default_uses_the_database(db, make_conf):
    conf = make_conf('[DEFAULT]\nservice_down_time = 90\n'
                     '[cells]\ndb_check_interval = 7\n'
                     'mute_child_interval = 30\nreserve_percent = 25\n')
    mgr = state.make_state_manager(conf, db)
    assert isinstance(mgr.source, state.DBCellSource)
    assert mgr.my_cell_state.name == 'nova'
    assert mgr.my_cell_state.capabilities == {
        'hypervisor': {'xenserver', 'kvm'}, 'os': {'linux', 'windows'},
        'nova_cells_max_message_size': {str(8 * 1024 * 1024)}}
    s = mgr.settings
    assert (s.db_check_interval, s.mute_child_interval, s.reserve_percent,
            s.service_down_time) == (7, 30, 25.0, 90)
