"""Configuration: nova's defaults (reference §2) and start-up validation."""

import sys

import pytest

from nova_cells import conf as nc_conf
from nova_cells.conf import cells as cells_conf
from nova_cells.conf import validation

# Reference §2, every [cells] option nova Stein had, with its default.
CELLS_DEFAULTS = [
    ('enable', False),
    ('name', 'nova'),
    ('capabilities', ['hypervisor=xenserver;kvm', 'os=linux;windows']),
    ('call_timeout', 60),
    ('reserve_percent', 10.0),
    ('cell_type', 'compute'),
    ('mute_child_interval', 300),
    ('bandwidth_update_interval', 600),
    ('instance_update_sync_database_limit', 100),
    ('mute_weight_multiplier', -10000.0),
    ('ram_weight_multiplier', 10.0),
    ('offset_weight_multiplier', 1.0),
    ('instance_updated_at_threshold', 3600),
    ('instance_update_num_instances', 1),
    ('max_hop_count', 10),
    ('scheduler', 'nova.cells.scheduler.CellsScheduler'),
    ('rpc_driver_queue_base', 'cells.intercell'),
    ('scheduler_filter_classes', ['nova.cells.filters.all_filters']),
    ('scheduler_weight_classes', ['nova.cells.weights.all_weighers']),
    ('scheduler_retries', 10),
    ('scheduler_retry_delay', 2),
    ('db_check_interval', 60),
    ('cells_config', None),
]
# Removed before Stein, still accepted (reference §2).
REMOVED_DEFAULTS = [
    ('topic', 'cells'),
    ('manager', 'nova.cells.manager.CellsManager'),
    ('driver', 'nova.cells.rpc_driver.CellsRPCDriver'),
]


@pytest.fixture
def default_conf(make_conf):
    return make_conf('')


@pytest.mark.parametrize('name, default', CELLS_DEFAULTS,
                         ids=[n for n, _ in CELLS_DEFAULTS])
def test_cells_option_default(default_conf, name, default):
    value = default_conf.cells[name]
    assert value == default
    assert type(value) is type(default)


def test_every_nova_cells_option_is_registered():
    # nova-cells may add options of its own; none of nova's may be missing.
    registered = {opt.dest for opt in cells_conf.ALL_OPTS}
    nova_names = {name for name, _ in CELLS_DEFAULTS + REMOVED_DEFAULTS}
    assert nova_names - registered == set()


OTHER_DEFAULTS = [
    ('upgrade_levels', 'cells', None),
    ('upgrade_levels', 'intercell', None),
    ('DEFAULT', 'control_exchange', 'nova'),
    ('DEFAULT', 'report_interval', 10),
    ('DEFAULT', 'service_down_time', 60),
    ('DEFAULT', 'rpc_response_timeout', 60),
    # nova's [api_database] (nova/conf/database.py): unset connection,
    # oslo.db's engine defaults.
    ('api_database', 'connection', None),
    ('api_database', 'connection_parameters', ''),
    ('api_database', 'sqlite_synchronous', True),
    ('api_database', 'mysql_sql_mode', 'TRADITIONAL'),
    ('api_database', 'connection_recycle_time', 3600),
    ('api_database', 'max_pool_size', None),
    ('api_database', 'max_overflow', None),
    ('api_database', 'pool_timeout', None),
    ('api_database', 'connection_debug', 0),
    ('api_database', 'connection_trace', False),
]


@pytest.mark.parametrize('group, name, default', OTHER_DEFAULTS,
                         ids=['%s.%s' % (g, n) for g, n, _ in OTHER_DEFAULTS])
def test_other_option_defaults(default_conf, group, name, default):
    section = default_conf if group == 'DEFAULT' else default_conf[group]
    assert section[name] == default


@pytest.mark.parametrize('name, default', REMOVED_DEFAULTS,
                         ids=[n for n, _ in REMOVED_DEFAULTS])
def test_removed_option_default(default_conf, name, default):
    assert default_conf.cells[name] == default


def test_removed_options_still_load_from_a_config_file(make_conf):
    conf = make_conf('[cells]\ntopic = old-cells\n'
                     'manager = nova.cells.manager.CellsManager\n'
                     'driver = nova.cells.rpc_driver.CellsRPCDriver\n')
    assert (conf.cells.topic, conf.cells.manager, conf.cells.driver) == (
        'old-cells', 'nova.cells.manager.CellsManager',
        'nova.cells.rpc_driver.CellsRPCDriver')
    assert validation.find_problems(conf) == []


def test_valid_defaults_have_no_problems(default_conf):
    assert validation.find_problems(default_conf) == []


# (config text, group, option, offending value, words of the reason)
INVALID_CASES = [
    pytest.param('[cells]\ncell_type = foo\n', 'cells', 'cell_type', 'foo',
                 "found 'foo'", id='cell_type-foo'),
    pytest.param('[cells]\nname = a!b\n', 'cells', 'name', 'a!b',
                 "must not contain '!'", id='name-with-bang'),
    pytest.param('[cells]\nname = a.b\n', 'cells', 'name', 'a.b',
                 "must not contain '.'", id='name-with-dot'),
    pytest.param('[cells]\nname = a@b\n', 'cells', 'name', 'a@b',
                 "must not contain '@'", id='name-with-at'),
    pytest.param('[cells]\nname =\n', 'cells', 'name', '',
                 'must not be empty', id='name-empty'),
    pytest.param('[cells]\nmute_child_interval = -1\n', 'cells',
                 'mute_child_interval', -1, 'must be 0 or more',
                 id='mute_child_interval-negative'),
    pytest.param('[DEFAULT]\nreport_interval = 0\n', 'DEFAULT',
                 'report_interval', 0, 'must be 1 or more',
                 id='report_interval-0'),
    pytest.param('[cells]\nreserve_percent = 150\n', 'cells',
                 'reserve_percent', 150.0, 'must be between 0 and 100',
                 id='reserve_percent-150'),
    pytest.param('[cells]\nreserve_percent = -1\n', 'cells',
                 'reserve_percent', -1.0, 'must be between 0 and 100',
                 id='reserve_percent-negative'),
    pytest.param('[cells]\ncapabilities = hypervisor=kvm,linux\n', 'cells',
                 'capabilities', 'linux', 'each entry must be key=value',
                 id='capabilities-entry-without-equals'),
    pytest.param('[cells]\nmax_hop_count = 0\n', 'cells', 'max_hop_count',
                 0, 'must be 1 or more', id='max_hop_count-0'),
    pytest.param('[cells]\ncall_timeout = -5\n', 'cells', 'call_timeout',
                 '-5', 'greater than or equal to 0',
                 id='call_timeout-below-type-min'),
    pytest.param('[cells]\nscheduler_retries = many\n', 'cells',
                 'scheduler_retries', 'many', 'invalid literal',
                 id='scheduler_retries-not-an-int'),
    pytest.param('[DEFAULT]\nservice_down_time = 0\n', 'DEFAULT',
                 'service_down_time', 0, 'must be 1 or more',
                 id='service_down_time-0'),
]


@pytest.mark.parametrize('text, group, name, value, reason', INVALID_CASES)
def test_each_invalid_value_gives_one_problem_naming_it(make_conf, text,
                                                        group, name, value,
                                                        reason):
    problems = validation.find_problems(make_conf(text))
    assert [(p.group, p.name, p.value) for p in problems] == [
        (group, name, value)]
    assert reason in problems[0].reason
    assert str(problems[0]).startswith('[%s] %s = %r: ' % (group, name,
                                                           value))


@pytest.mark.parametrize('text', [
    pytest.param('[cells]\ndb_check_interval = -1\n',
                 id='db_check_interval--1-every-access'),
    pytest.param('[cells]\ndb_check_interval = 0\n',
                 id='db_check_interval-0-every-access'),
    pytest.param('[cells]\ninstance_updated_at_threshold = 0\n',
                 id='instance_updated_at_threshold-0-no-limit'),
    pytest.param('[cells]\ninstance_updated_at_threshold = -1\n',
                 id='instance_updated_at_threshold--1-no-limit'),
    pytest.param('[cells]\nbandwidth_update_interval = 0\n',
                 id='bandwidth_update_interval-0-disabled'),
    pytest.param('[cells]\nbandwidth_update_interval = -10\n',
                 id='bandwidth_update_interval--10-disabled'),
    pytest.param('[cells]\nreserve_percent = 0\n', id='reserve_percent-0'),
    pytest.param('[cells]\nreserve_percent = 100\n',
                 id='reserve_percent-100'),
    pytest.param('[cells]\ncell_type = api\nname = api-cell_1\n',
                 id='api-cell-with-dash-and-underscore-name'),
    pytest.param('[cells]\nmute_child_interval = 0\n',
                 id='mute_child_interval-0'),
])
def test_documented_edge_values_are_accepted(make_conf, text):
    assert validation.find_problems(make_conf(text)) == []


def test_the_api_database_connection_is_secret_and_idle_timeout_its_old_name(
        make_conf):
    conf = make_conf('[api_database]\nidle_timeout = 60\n')
    assert conf.api_database.connection_recycle_time == 60
    assert conf._get_opt_info('connection', 'api_database')['opt'].secret


@pytest.mark.parametrize('url', [
    pytest.param('sqlite:////var/lib/nova/nova_api.sqlite', id='sqlite'),
    pytest.param('mysql+pymysql://nova:secret@db/nova_api', id='pymysql'),
    pytest.param('postgresql+psycopg2://nova:secret@db/nova_api',
                 id='psycopg2'),
])
def test_a_usable_api_database_url_is_accepted(make_conf, url):
    """Nothing connects: these servers do not exist."""
    conf = make_conf('[api_database]\nconnection = %s\n' % url)
    assert validation.find_problems(conf) == []


@pytest.mark.parametrize('url, masked, reason', [
    pytest.param('nova_api', 'nova_api', 'Could not parse', id='not-a-url'),
    pytest.param('nosuch://nova:secret@db/nova_api',
                 'nosuch://nova:***@db/nova_api', "Can't load plugin",
                 id='unknown-dialect'),
    pytest.param('mysql://nova:secret@db/nova_api',
                 'mysql://nova:***@db/nova_api', "No module named 'MySQLdb'",
                 id='driver-not-installed'),
    pytest.param('postgresql://nova:secret@db:port/nova_api',
                 'postgresql://nova:***@db:port/nova_api', 'invalid literal',
                 id='bad-port'),
])
def test_an_unusable_api_database_url_is_one_problem_without_the_password(
        make_conf, url, masked, reason):
    conf = make_conf('[api_database]\nconnection = %s\n' % url)
    problems = validation.find_problems(conf)
    assert [(p.group, p.name, p.value) for p in problems] == [
        ('api_database', 'connection', masked)]
    assert reason in problems[0].reason
    assert 'secret' not in str(problems[0])


@pytest.mark.parametrize('url', [
    pytest.param('sqlite:////var/lib/nova-cells/nova_cells.sqlite',
                 id='sqlite'),
    pytest.param('mysql+pymysql://nova:secret@db/nova?charset=utf8',
                 id='pymysql'),
    pytest.param('postgresql+psycopg2://nova:secret@db/nova', id='psycopg2'),
])
def test_a_usable_database_url_is_accepted(make_conf, url):
    conf = make_conf('[database]\nconnection = %s\n' % url)
    assert validation.find_problems(conf) == []


def test_the_default_database_is_accepted(make_conf):
    assert validation.find_problems(make_conf('')) == []


def test_an_unusable_database_url_is_one_problem_without_the_password(
        make_conf):
    conf = make_conf('[database]\nconnection = mysql://nova:secret@db/nova\n')
    problems = validation.find_problems(conf)
    assert [(p.group, p.name, p.value) for p in problems] == [
        ('database', 'connection', 'mysql://nova:***@db/nova')]
    assert "No module named 'MySQLdb'" in problems[0].reason
    assert 'secret' not in str(problems[0])


@pytest.mark.parametrize('url, module, extra', [
    pytest.param('postgresql+psycopg2://nova:secret@db/nova', 'psycopg2',
                 'postgresql', id='postgresql'),
    pytest.param('mysql+pymysql://nova:secret@db/nova?charset=utf8',
                 'pymysql', 'mysql', id='mysql'),
])
@pytest.mark.parametrize('group', ['database', 'api_database'])
def test_a_driver_not_installed_names_the_extra_that_installs_it(
        make_conf, monkeypatch, url, module, extra, group):
    """psycopg2 and PyMySQL are the postgresql and mysql extras of the
    package (setup.cfg), not installed with it."""
    monkeypatch.setitem(sys.modules, module, None)
    conf = make_conf('[%s]\nconnection = %s\n' % (group, url))
    problems = validation.find_problems(conf)
    assert [(p.group, p.name) for p in problems] == [(group, 'connection')]
    assert problems[0].reason.endswith(
        '(install nova-cells[%s])' % extra), problems[0].reason
    assert 'secret' not in str(problems[0])


def test_several_problems_are_all_reported(make_conf):
    conf = make_conf('[DEFAULT]\nreport_interval = 0\n'
                     '[cells]\nname = a.b\nmax_hop_count = 0\n')
    assert sorted((p.group, p.name) for p in
                  validation.find_problems(conf)) == [
        ('DEFAULT', 'report_interval'), ('cells', 'max_hop_count'),
        ('cells', 'name')]


def test_set_override_problems_are_found(make_conf):
    conf = make_conf('')
    conf.set_override('reserve_percent', 150.0, 'cells')
    problems = validation.find_problems(conf)
    assert [(p.group, p.name, p.value) for p in problems] == [
        ('cells', 'reserve_percent', 150.0)]


@pytest.mark.parametrize('name, reason', [
    pytest.param('child-1', None, id='ok'),
    pytest.param('', 'a cell name must not be empty', id='empty'),
    pytest.param('a!b.c', "a cell name must not contain '!' '.' (they "
                 "separate cells and items in routing paths)",
                 id='bang-and-dot'),
])
def test_check_cell_name(name, reason):
    assert validation.check_cell_name(name) == reason


@pytest.mark.parametrize('group, name, api_value, child_value', [
    pytest.param('cells', 'name', 'api', 'child', id='cells.name'),
    pytest.param('cells', 'cell_type', 'api', 'compute',
                 id='cells.cell_type'),
    pytest.param('upgrade_levels', 'intercell', '1.0', None,
                 id='upgrade_levels.intercell'),
    pytest.param('DEFAULT', 'host', 'host-api', 'host-child',
                 id='DEFAULT.host'),
])
def test_overrides_do_not_leak_between_configurations(group, name,
                                                      api_value,
                                                      child_value):
    # Several cells run in one process, each with its own ConfigOpts
    # (nova_cells.conf docstring; nova_cells.testing.inprocess overrides
    # [cells]
    # name and cell_type per cell).  One cell's override must not change
    # another cell's value, before or after it is set.
    group_arg = None if group == 'DEFAULT' else group
    api = nc_conf.new_config()
    child = nc_conf.new_config()
    try:
        api.set_override(name, api_value, group_arg)
        if child_value is not None:
            child.set_override(name, child_value, group_arg)
        section = (lambda c: c) if group_arg is None else (lambda c: c[group])
        # child_value None: not overridden, so the default (None) must show
        assert (section(api)[name], section(child)[name]) == (api_value,
                                                              child_value)
    finally:
        api.reset()
        child.reset()
