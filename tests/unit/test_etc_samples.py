"""The sample files under etc/ load with the project's own code.

Each role's ``cells.conf`` parses with every option registered, passes the
start-up validation, sets only options that exist, and says the role it is
named for; ``cells.json.sample`` loads through FileCellSource into the
expected neighbours; both systemd units keep the notify/watchdog contract.
"""

import configparser
import os

import pytest

from nova_cells import conf as nc_conf
from nova_cells.conf import validation
from nova_cells.cells import state
from nova_cells import transport_url

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
ETC = os.path.join(ROOT, 'etc', 'nova-cells')
SYSTEMD = os.path.join(ROOT, 'etc', 'systemd')

# file -> (cell name, cell_type, vhost, local_scheduler_driver)
ROLES = {
    'api-cell.conf': ('api', 'api', 'api', 'conductor'),
    'middle-cell.conf': ('middle', 'compute', 'middle', 'conductor'),
    'leaf-cell.conf': ('leaf', 'compute', 'leaf', 'conductor'),
}
UNITS = ('nova-cells.service', 'nova-cells@.service')


@pytest.fixture
def load():
    confs = []

    def _load(name):
        conf = nc_conf.new_config(['--config-file', os.path.join(ETC, name)])
        confs.append(conf)
        return conf

    yield _load
    for conf in confs:
        conf.reset()


def _ini(name):
    parser = configparser.RawConfigParser(strict=True, interpolation=None)
    with open(os.path.join(ETC, name)) as f:
        parser.read_file(f)
    return parser


@pytest.mark.parametrize('name', sorted(ROLES))
def test_sample_is_valid(load, name):
    conf = load(name)
    assert validation.find_problems(conf) == []


@pytest.mark.parametrize('name', sorted(ROLES))
def test_sample_sets_only_known_options(load, name):
    # oslo.config silently ignores unknown options: a typo would pass.
    conf = load(name)
    parser = _ini(name)
    unknown = []
    for section in ['DEFAULT'] + parser.sections():
        group = conf if section == 'DEFAULT' else conf[section]
        keys = (parser.defaults() if section == 'DEFAULT'
                else {k: v for k, v in parser.items(section)
                      if k not in parser.defaults()})
        unknown += ['[%s] %s' % (section, k) for k in keys if k not in group]
    assert unknown == []


@pytest.mark.parametrize('name', sorted(ROLES))
def test_sample_role(load, name):
    cell_name, cell_type, vhost, driver = ROLES[name]
    conf = load(name)
    assert conf.cells.enable is True
    assert conf.cells.name == cell_name
    assert conf.cells.cell_type == cell_type
    assert conf.cells.local_scheduler_driver == driver
    assert transport_url.parse(conf.transport_url).virtual_host == vhost
    assert conf.database.connection.startswith('postgresql')
    assert conf.database.connection.endswith('/nova_cells_%s' % cell_name)
    assert conf.state_path == '/var/lib/nova-cells/%s' % cell_name
    assert conf.cells.scheduler_filter_classes == [
        'nova.cells.filters.all_filters']
    assert conf.cells.scheduler_weight_classes == [
        'nova.cells.weights.all_weighers']
    # The neighbours come from the cells table unless a file is given.
    assert conf.cells.cells_config is None


def test_samples_do_not_share_a_vhost_or_database(load):
    confs = [load(name) for name in sorted(ROLES)]
    urls = {transport_url.parse(c.transport_url).virtual_host for c in confs}
    assert len(urls) == len(ROLES)
    assert len({c.database.connection for c in confs}) == len(ROLES)
    assert len({c.cells.name for c in confs}) == len(ROLES)


def test_parent_update_is_well_inside_mute_interval(load):
    # A parent must not think a healthy child mute between two pushes.
    for name in sorted(ROLES):
        conf = load(name)
        assert conf.cells.mute_child_interval >= \
            3 * conf.cells.parent_update_interval


def test_cells_json_sample_loads_as_neighbours(db):
    path = os.path.join(ETC, 'cells.json.sample')
    cells = state.FileCellSource(path).load(force=True)
    assert sorted(cells) == ['api', 'leaf', 'leaf2']
    for entry in cells.values():
        transport_url.parse(entry['transport_url'])
    mgr = state.CellStateManager('middle', ['hypervisor=kvm'],
                                 state.FileCellSource(path), db,
                                 state.StateSettings(db_check_interval=0))
    mgr.sync(force=True)
    assert [c.name for c in mgr.get_parent_cells()] == ['api']
    assert sorted(c.name for c in mgr.get_child_cells()) == ['leaf', 'leaf2']
    leaf2 = mgr.get_child_cell('leaf2')
    assert leaf2.db_info['state'] == 'draining'
    assert leaf2.db_info['state_reason']
    assert mgr.get_child_cell('leaf').db_info['state'] == 'enabled'
    infos = {i['name']: i for i in mgr.get_cell_info_for_neighbors()}
    assert infos['api']['is_parent'] is True
    assert (infos['leaf']['weight_offset'],
            infos['leaf']['weight_scale']) == (0.0, 1.0)
    assert infos['leaf2']['rpc_host'] == 'cells2.example.org'


def test_cells_json_sample_states_are_known():
    import json
    with open(os.path.join(ETC, 'cells.json.sample')) as f:
        data = json.load(f)
    for entry in data.values():
        assert entry.get('state', 'enabled') in (
            'enabled', 'disabled', 'draining')
        assert set(entry) <= {'transport_url', 'is_parent', 'weight_offset',
                              'weight_scale', 'api_url', 'state',
                              'state_reason'}


def _unit(name):
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    with open(os.path.join(SYSTEMD, name)) as f:
        parser.read_file(f)
    return parser


@pytest.mark.parametrize('name', UNITS)
def test_systemd_unit_contract(name):
    service = _unit(name)['Service']
    assert service['Type'] == 'notify'
    assert service['NotifyAccess'] == 'all'
    assert int(service['WatchdogSec']) > 0
    assert service['Restart'] == 'on-failure'
    assert '-HUP' in service['ExecReload'].split()
    assert '$MAINPID' in service['ExecReload']
    assert service['ExecStart'].split()[:2] == ['/usr/bin/nova-cells',
                                                '--config-file']


def test_template_unit_runs_the_instance_config():
    unit = _unit('nova-cells@.service')
    assert unit['Service']['ExecStart'].split()[-1] == \
        '/etc/nova-cells/%i.conf'
    assert unit['Service']['StateDirectory'] == 'nova-cells/%i'
    assert unit['Install']['WantedBy'] == 'multi-user.target'


@pytest.mark.parametrize('name', sorted(ROLES))
def test_template_state_directory_matches_sample(load, name):
    # "nova-cells@<cell>" with /etc/nova-cells/<cell>.conf: the sample's
    # state_path is the directory the template unit creates.
    conf = load(name)
    state_dir = _unit('nova-cells@.service')['Service']['StateDirectory']
    assert conf.state_path == '/var/lib/' + state_dir.replace(
        '%i', conf.cells.name)
