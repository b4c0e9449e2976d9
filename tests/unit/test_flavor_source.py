"""Where a cell's flavors come from (issue 20): nova's API database when
``[api_database] connection`` is set, else the cell's ``instance_types``.

The API databases are nova Stein's own schema on SQLite files
(``tests/nova_stein.create_database``), seeded with Core statements:

===  ===========  ========  ====  ===========  =====  ========  ======
id   name         flavorid  MB    root+eph GB  vcpus  disabled  public
===  ===========  ========  ====  ===========  =====  ========  ======
1    m1.small     2         2048  20 + 0       1      no        yes
2    m1.large     10        8192  40 + 40      4      yes       yes
3    tenant.tiny  1         512   1 + 0        1      no        no
===  ===========  ========  ====  ===========  =====  ========  ======

m1.small has two extra specs, tenant.tiny one project and a description.
nova's ``FlavorList.get_all`` as the cells manager called it (admin, no
filters) returns all three, ordered by flavorid as text: '1', '10', '2'.
"""

import logging
import os

import pytest
import sqlalchemy as sa
from sqlalchemy import pool as sa_pool

from nova_cells.service import assembly
from nova_cells.cmd import manage_ops
from nova_cells.db import api as db_api
from nova_cells.db import flavors as flavor_source
from nova_cells.db import migration
from nova_cells import exception
from nova_cells.cells import state
from tests import nova_stein
from tests.unit import helpers

FLAVORS = [
    dict(id=1, name='m1.small', flavorid='2', memory_mb=2048, vcpus=1,
         root_gb=20, ephemeral_gb=0, swap=0, rxtx_factor=1.0,
         disabled=False, is_public=True, description=None),
    dict(id=2, name='m1.large', flavorid='10', memory_mb=8192, vcpus=4,
         root_gb=40, ephemeral_gb=40, swap=0, rxtx_factor=1.0,
         disabled=True, is_public=True, description=None),
    dict(id=3, name='tenant.tiny', flavorid='1', memory_mb=512, vcpus=1,
         root_gb=1, ephemeral_gb=0, swap=0, rxtx_factor=1.0,
         disabled=False, is_public=False, description='mine'),
]
EXTRA_SPECS = [
    dict(id=1, flavor_id=1, key='hw:cpu_policy', value='dedicated'),
    dict(id=2, flavor_id=1, key='cells:az', value='az1'),
]
PROJECTS = [dict(id=1, flavor_id=3, project_id='p1')]

# A PostgreSQL server that is not there: its socket directory does not
# exist, so the connection fails at once, without any network.
DOWN_URL = ('postgresql+psycopg2://nova:secret@/nova_api'
            '?host=/nonexistent-socket-dir')


def _insert(url, table, rows):
    engine = sa.create_engine(url, poolclass=sa_pool.NullPool)
    try:
        tab = sa.Table(table, sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            conn.execute(sa.insert(tab), rows)
    finally:
        engine.dispose()


def _make_api_database(path):
    url = 'sqlite:///%s' % path
    nova_stein.create_database(url, 'api')
    _insert(url, 'flavors', FLAVORS)
    _insert(url, 'flavor_extra_specs', EXTRA_SPECS)
    _insert(url, 'flavor_projects', PROJECTS)
    return url


@pytest.fixture
def api_url(tmp_path):
    """nova's API database with the three flavors above."""
    return _make_api_database(tmp_path / 'nova_api.sqlite')


@pytest.fixture
def api_flavors(api_url):
    reader = flavor_source.APIFlavors(api_url)
    yield reader
    reader.dispose()


# -- the readers --------------------------------------------------------------

def test_the_api_database_gives_every_flavor_with_its_extra_specs(
        api_flavors):
    """Disabled and private flavors included, as nova's get_all with an
    admin context and no filters."""
    assert [(f['name'], f['flavorid'], f['disabled'], f['is_public'],
             f['description'], f['extra_specs'])
            for f in api_flavors.get_all()] == [
        ('tenant.tiny', '1', False, False, 'mine', {}),
        ('m1.large', '10', True, True, None, {}),
        ('m1.small', '2', False, True, None,
         {'hw:cpu_policy': 'dedicated', 'cells:az': 'az1'}),
    ]


def test_both_readers_give_the_same_keys(api_flavors, db):
    helpers.add_flavor(db, 'm1.tiny', 512, 1)
    expected = set(flavor_source.FLAVOR_KEYS) | {'description',
                                                 'extra_specs'}
    assert set(api_flavors.get_all()[0]) == expected
    assert set(flavor_source.CellFlavors(db).get_all()[0]) == expected


def test_the_cell_reader_gives_the_live_instance_types(db):
    helpers.add_flavor(db, 'm1.tiny', 512, 1)
    helpers.add_flavor(db, 'm1.gone', 1024, 10)
    with db.engine.begin() as conn:
        conn.execute(sa.text(
            "UPDATE instance_types SET deleted = id WHERE name = 'm1.gone'"))
    assert [(f['name'], f['memory_mb'], f['description'], f['extra_specs'])
            for f in flavor_source.CellFlavors(db).get_all()] == [
        ('m1.tiny', 512, None, {})]


def test_the_cell_reader_reads_a_cell_database_nova_created(tmp_path):
    """nova's cell ``instance_types`` has no ``description`` column."""
    url = 'sqlite:///%s' % (tmp_path / 'nova.sqlite')
    nova_stein.create_database(url, 'main')
    _insert(url, 'instance_types', [dict(
        id=1, name='m1.old', flavorid='1', memory_mb=1024, vcpus=1,
        root_gb=10, ephemeral_gb=0, swap=0, disabled=False, is_public=True,
        deleted=0)])
    db = db_api.Database(url)
    try:
        migration.db_sync(db)
        assert [(f['name'], f['memory_mb'], f['description'])
                for f in flavor_source.CellFlavors(db).get_all()] == [
            ('m1.old', 1024, None)]
    finally:
        db.dispose()


def test_an_api_database_that_is_down_is_one_error_without_the_password():
    reader = flavor_source.APIFlavors(DOWN_URL)
    try:
        with pytest.raises(exception.FlavorsUnavailable) as caught:
            reader.get_all()
    finally:
        reader.dispose()
    message = caught.value.format_message()
    assert message.startswith(
        'Cannot read the flavors from the API database in [api_database] '
        'connection (postgresql+psycopg2://nova:***@/nova_api')
    assert 'secret' not in message
    assert '\n' not in message


def test_a_database_without_novas_flavor_tables_is_an_error(db):
    reader = flavor_source.APIFlavors(db.connection)
    try:
        with pytest.raises(exception.FlavorsUnavailable) as caught:
            reader.get_all()
    finally:
        reader.dispose()
    assert caught.value.format_message().endswith('no such table: flavors')


# -- the choice ---------------------------------------------------------------

def test_without_an_api_database_the_cell_reads_its_own_flavors(
        make_conf, db):
    reader = flavor_source.from_conf(make_conf(''), db)
    assert isinstance(reader, flavor_source.CellFlavors)
    assert reader.db is db


def test_with_an_api_database_the_cell_reads_its_flavors_there(make_conf, db,
                                                               api_url):
    conf = make_conf('[api_database]\nconnection = %s\n'
                     'connection_recycle_time = 600\n' % api_url)
    reader = flavor_source.from_conf(conf, db)
    try:
        assert isinstance(reader, flavor_source.APIFlavors)
        assert [f['name'] for f in reader.get_all()] == [
            'tenant.tiny', 'm1.large', 'm1.small']
        assert flavor_source.api_engine_options(conf)[
            'connection_recycle_time'] == 600
    finally:
        reader.dispose()


def test_the_assembled_cell_has_one_reader_and_releases_it(make_conf, db,
                                                           api_url,
                                                           monkeypatch):
    conf = make_conf('[api_database]\nconnection = %s\n' % api_url)
    parts = assembly.build_cell(conf, db)
    assert isinstance(parts.flavors, flavor_source.APIFlavors)
    assert parts.state_manager.flavors is parts.flavors
    disposed = []
    monkeypatch.setattr(parts.flavors, 'dispose',
                        lambda: disposed.append(True))
    parts.close()
    assert disposed == [True]


# -- capacity -----------------------------------------------------------------

def _two_hosts(db):
    """Host a: 16384 MB (10240 free), 200 GB (150 free); host b: 8192 MB
    and 100 GB, all free; 8 vcpus each (helpers), none used."""
    for host in ('a', 'b'):
        helpers.add_compute_service(db, host)
    helpers.add_compute_node(db, 'a', 16384, 10240, 200, 150)
    helpers.add_compute_node(db, 'b', 8192, 8192, 100, 100)


def _manager(db, flavors=None):
    settings = state.StateSettings(reserve_percent=10.0,
                                   service_down_time=60)
    return state.CellStateManager('me', [], state.DBCellSource(db), db,
                                  settings, flavors=flavors)


# By hand, reserve 10 %:
#   RAM  a: 10240 - 1638.4 = 8601.6   b: 8192 - 819.2 = 7372.8
#        512:  16 + 14 = 30   2048: 4 + 3 = 7   8192: 1 + 0 = 1
#   disk a: 153600 - 20480 = 133120   b: 102400 - 10240 = 92160
#        1024: 130 + 90 = 220   20480: 6 + 4 = 10   81920: 1 + 1 = 2
#   vcpu a, b: 8 - 0.8 = 7.2    1: 7 + 7 = 14   4: 1 + 1 = 2
API_CAPACITIES = {
    'ram_free': {'total_mb': 18432,
                 'units_by_mb': {'512': 30, '2048': 7, '8192': 1}},
    'disk_free': {'total_mb': 256000,
                  'units_by_mb': {'1024': 220, '20480': 10, '81920': 2}},
    'vcpu_free': {'total': 16, 'units_by_vcpus': {'1': 14, '4': 2}},
}


def test_capacity_units_come_from_the_api_databases_flavors(db,
                                                            api_flavors):
    """The cell's own instance_types (a 1024 MB flavor here) is not read:
    a Stein cell's is empty."""
    _two_hosts(db)
    helpers.add_flavor(db, 'm1.cell-only', 1024, 5)
    assert _manager(db, api_flavors).get_our_capacities() == API_CAPACITIES


def test_without_a_reader_capacity_units_come_from_instance_types(db):
    # 1024 MB: a 8601.6 -> 8, b 7372.8 -> 7, 15; 5 GB = 5120 MB:
    # a 133120 -> 26, b 92160 -> 18, 44; 1 vcpu (helpers): 7 + 7 = 14.
    _two_hosts(db)
    helpers.add_flavor(db, 'm1.cell-only', 1024, 5)
    caps = _manager(db).get_our_capacities()
    assert (caps['ram_free']['units_by_mb'], caps['disk_free']['units_by_mb'],
            caps['vcpu_free']['units_by_vcpus']) == (
        {'1024': 15}, {'5120': 44}, {'1': 14})


def _errors(caplog):
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.ERROR]


def test_an_api_database_gone_keeps_the_capacities_and_logs_one_line(
        tmp_path, db, caplog):
    """The directory of the SQLite API database moves away (the file can
    no longer be opened), then comes back."""
    home = tmp_path / 'api'
    home.mkdir()
    url = _make_api_database(home / 'nova_api.sqlite')
    reader = flavor_source.APIFlavors(url)
    try:
        _two_hosts(db)
        manager = _manager(db, reader)
        manager.sync(force=True)
        assert manager.my_cell_state.capacities == API_CAPACITIES
        os.rename(home, tmp_path / 'elsewhere')
        with caplog.at_level(logging.ERROR, logger='nova_cells.cells.state'):
            manager.sync(force=True)
        assert manager.my_cell_state.capacities == API_CAPACITIES
        (line,) = _errors(caplog)
        assert line == (
            'Cannot read the flavors from the API database in '
            '[api_database] connection (%s): unable to open database file; '
            'keeping the capacities computed before' % url)
        os.rename(tmp_path / 'elsewhere', home)
        with db.engine.begin() as conn:
            conn.execute(sa.text(
                "UPDATE compute_nodes SET free_ram_mb = 0 WHERE host = 'a'"))
        manager.sync(force=True)
        assert manager.my_cell_state.capacities['ram_free'] == {
            'total_mb': 8192, 'units_by_mb': {'512': 14, '2048': 3,
                                              '8192': 0}}
    finally:
        reader.dispose()


def test_an_api_database_down_at_start_leaves_no_capacities_and_no_error(
        db, caplog):
    """The start-up sync neither raises nor waits for the server."""
    _two_hosts(db)
    reader = flavor_source.APIFlavors(DOWN_URL)
    try:
        manager = _manager(db, reader)
        with caplog.at_level(logging.ERROR, logger='nova_cells.cells.state'):
            manager.sync(force=True)
        assert manager.my_cell_state.capacities == {}
        (line,) = _errors(caplog)
        assert 'secret' not in line and '[api_database] connection' in line
    finally:
        reader.dispose()


# -- nova-cells-manage explain ------------------------------------------------

@pytest.mark.parametrize('name', ['m1.small', '2'], ids=['name', 'flavorid'])
def test_explain_finds_the_flavor_with_its_extra_specs(api_flavors, name):
    flavor = manage_ops.find_flavor(api_flavors, name)
    assert (flavor.id, flavor.name, flavor.memory_mb, flavor.root_gb,
            flavor.extra_specs) == (
        1, 'm1.small', 2048, 20,
        {'hw:cpu_policy': 'dedicated', 'cells:az': 'az1'})


def test_explain_finds_a_flavor_of_the_cells_own_table(db):
    helpers.add_flavor(db, 'm1.tiny', 512, 1)
    flavor = manage_ops.find_flavor(flavor_source.CellFlavors(db), 'm1.tiny')
    assert (flavor.memory_mb, flavor.description, flavor.extra_specs) == (
        512, None, {})


def test_explain_names_where_a_missing_flavor_was_looked_for(api_flavors):
    with pytest.raises(exception.NovaCellsException) as caught:
        manage_ops.find_flavor(api_flavors, 'm1.huge')
    assert caught.value.format_message() == (
        'Flavor m1.huge not found in the API database in [api_database] '
        'connection (%s) (flavors there: m1.large, m1.small, tenant.tiny; '
        'nova-cells-manage flavor create makes one)'
        % api_flavors_url(api_flavors))


def api_flavors_url(reader):
    return str(reader._engine.url)
