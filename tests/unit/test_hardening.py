"""Issue 23: the inputs that once broke a daemon or the CLI, each refused
where it comes in, with one line, changing nothing.

Names, URLs and weights (one rule for the CLI, the RPC and cells_config),
the cell admin calls over RPC (policy, signed links, no secrets in the
answer), the cells table's writable columns, secrets in every URL form.
"""

import json
import math

from oslo_config import cfg
import pytest

from nova_cells.cells import cell_admin
from nova_cells.cells import cell_values
from nova_cells import context as cells_context
from nova_cells.db import api as db_api
from nova_cells import exception
from nova_cells import policy
from nova_cells import routing
from nova_cells.cells import state
from nova_cells import transport_url
from tests.unit import helpers

ADMIN = cells_context.RequestContext(user_id='admin', project_id='p',
                                     is_admin=True, roles=['admin'])
USER = cells_context.RequestContext(user_id='joe', project_id='p',
                                    is_admin=False, roles=['member'])
URL = 'rabbit://child:S3cret-pw@mq.example.org:5672/child'

BAD_NAMES = [
    pytest.param('a\nb', 'control, format', id='newline'),
    pytest.param('evil\u202egnp.exe'.replace('.', '-'), 'U+202E',
                 id='bidi-override'),
    pytest.param('x' * 10000, 'longer than 255', id='10000-chars'),
    pytest.param('x!y', "'!'", id='bang'),
    pytest.param('x.y', "'.'", id='dot'),
    pytest.param('x@y', "'@'", id='at'),
    pytest.param('', 'empty', id='empty'),
    pytest.param('tab\there', 'control', id='tab'),
    pytest.param(' padded', 'white space', id='leading-space'),
    pytest.param('zero\u200bwidth', 'U+200B', id='zero-width-space'),
]


# -- names, URLs, weights: one rule ------------------------------------------

@pytest.mark.parametrize('name, reason', BAD_NAMES)
def test_bad_cell_names_are_refused_with_a_reason(name, reason):
    assert reason in routing.check_cell_name(name)


@pytest.mark.parametrize('name', ['child-1', 'cell_2', 'Zürich', 'a' * 255,
                                  'with space'])
def test_good_cell_names_pass(name):
    assert routing.check_cell_name(name) is None


@pytest.mark.parametrize('url, reason', [
    pytest.param('http://x/', "'http' is not a messaging transport",
                 id='http'),
    pytest.param('garbage', 'No scheme', id='garbage'),
    pytest.param('rabbit://h/' + 'v' * 300, 'longer than 255', id='long'),
    pytest.param('rabbit://h/v\nx', 'control characters', id='newline'),
    pytest.param('rabbit://u:p@h:99999/', 'out of range', id='bad-port'),
])
def test_bad_transport_urls_are_refused(url, reason):
    assert reason in cell_values.check_url(url)


@pytest.mark.parametrize('value', [float('nan'), float('inf'),
                                   -float('inf'), 1e300, 'x', True, None])
def test_weights_must_be_finite_numbers(value):
    assert cell_values.check_weight('weight_offset', value)


def test_check_values_refuses_unknown_columns_and_reports_everything():
    problems = cell_values.check_values(
        {'id': 7, 'deleted': 1, 'name': 'a!b', 'weight_scale': math.nan})
    assert "unknown column 'id'" in problems
    assert "unknown column 'deleted'" in problems
    assert any("'!'" in p for p in problems)
    assert any('finite' in p for p in problems)


# -- the cells table takes only its writable columns -------------------------

def test_db_cell_update_refuses_unknown_keys_and_changes_nothing(db):
    db_api.cell_create(db, {'name': 'c1', 'transport_url': URL,
                            'is_parent': False})
    with pytest.raises(exception.InvalidCellValues):
        db_api.cell_update(db, 'c1', {'weight_offset': 3.0, 'id': 99,
                                      'deleted': 1})
    row = db_api.cell_get(db, 'c1')
    assert (row['id'], row['deleted'], row['weight_offset']) == (1, 0, 0.0)


def test_db_cell_create_refuses_unknown_keys(db):
    with pytest.raises(exception.InvalidCellValues):
        db_api.cell_create(db, {'name': 'c1', 'transport_url': URL,
                                'deleted': 5})
    assert db_api.cell_get_all(db) == []


# -- the cell admin calls over RPC -------------------------------------------

def _admin(db, signing_mode='off'):
    conf = cfg.ConfigOpts()
    conf([])
    manager = state.CellStateManager(
        'api', [], state.DBCellSource(db), db,
        state.StateSettings(db_check_interval=0))
    return cell_admin.CellAdmin(manager, policy.CellPolicy(conf),
                                signing_mode)


@pytest.fixture
def with_child(db):
    db_api.cell_create(db, {'name': 'c1', 'transport_url': URL,
                            'is_parent': False,
                            'signing_keys': json.dumps(['k1'])})
    return db


@pytest.mark.parametrize('call', [
    lambda a: a.create(USER, {'name': 'c2', 'transport_url': URL}),
    lambda a: a.update(USER, 'c1', {'weight_offset': 1.0}),
    lambda a: a.delete(USER, 'c1'),
    lambda a: a.get(USER, 'c1'),
    lambda a: a.get({'is_admin': True}, 'c1'),
], ids=['create', 'update', 'delete', 'get', 'plain-dict-context'])
def test_a_non_admin_is_refused_every_cell_admin_call(with_child, call):
    before = db_api.cell_get_all(with_child)
    with pytest.raises(exception.PolicyNotAuthorized):
        call(_admin(with_child))
    assert db_api.cell_get_all(with_child) == before


@pytest.mark.parametrize('mode', ['sign', 'require'])
@pytest.mark.parametrize('call', [
    lambda a: a.create(ADMIN, {'name': 'p2', 'transport_url': URL,
                               'is_parent': True}),
    lambda a: a.update(ADMIN, 'c1', {'transport_url':
                                     'rabbit://evil:x@evil.example/'}),
    lambda a: a.update(ADMIN, 'c1', {'signing_keys': None}),
    lambda a: a.update(ADMIN, 'c1', {'is_parent': True}),
    lambda a: a.update(ADMIN, 'c1', {'name': 'c9'}),
    lambda a: a.delete(ADMIN, 'c1'),
], ids=['add-neighbour', 'url', 'keys', 'side', 'rename', 'delete'])
def test_with_signing_on_rpc_cannot_touch_a_link(with_child, mode, call):
    before = db_api.cell_get_all(with_child)
    with pytest.raises(exception.CellLinkChangeRefused) as info:
        call(_admin(with_child, mode))
    assert 'only the local operator' in str(info.value)
    assert db_api.cell_get_all(with_child) == before


def test_with_signing_on_an_admin_may_still_tune_weights(with_child):
    row = _admin(with_child, 'require').update(ADMIN, 'c1',
                                               {'weight_offset': 2.5})
    assert row['weight_offset'] == 2.5


def test_rpc_values_get_the_cli_rules(with_child):
    admin = _admin(with_child)
    for values in ({'name': 'x!y', 'transport_url': 'garbage'},
                   {'name': 'ok', 'transport_url': 'http://x/'},
                   {'name': 'ok', 'transport_url': URL,
                    'weight_offset': math.nan}):
        with pytest.raises(exception.InvalidCellValues):
            admin.create(ADMIN, values)
    with pytest.raises(exception.InvalidCellValues):
        admin.update(ADMIN, 'c1', {'weight_scale': math.inf})
    assert [r['name'] for r in db_api.cell_get_all(with_child)] == ['c1']


def test_answers_carry_no_password_and_no_key(with_child):
    admin = _admin(with_child)
    rows = [admin.get(ADMIN, 'c1'),
            admin.update(ADMIN, 'c1', {'weight_scale': 2.0}),
            admin.create(ADMIN, {'name': 'c2', 'is_parent': False,
                                 'transport_url':
                                 'rabbit://u:S3cret-pw@h/v?password=S3cret-pw'
                                 })]
    for row in rows:
        text = json.dumps(row, default=str)
        assert 'S3cret-pw' not in text
        assert 'k1' not in text and 'signing_keys' not in row
        assert ':***@' in row['transport_url']


# -- secrets in every URL form -----------------------------------------------

@pytest.mark.parametrize('url', [
    'rabbit://u:S3cret-pw@h:5672/v',
    'rabbit://h:5672/v?password=S3cret-pw',
    'rabbit://h/v?ssl=1;password=S3cret-pw',
    'rabbit://h/v?ssl_key_password=S3cret-pw&x=1',
    'rabbit://u:S3cret-pw@h1,u:S3cret-pw@h2/v',
    'rabbit://u:S3c/ret-pw@h/v',
    'amqp://u:S3cret-pw@[::1]:5672/v',
    'not a url u:S3cret-pw@host',
])
def test_mask_hides_the_password_in_every_form(url):
    assert 'S3cret-pw' not in transport_url.mask(url)
    assert 'S3c' not in transport_url.mask(url)


# -- the CLI: one line, exit status, nothing stored ---------------------------

@pytest.fixture
def manage_conf(tmp_path):
    """A cells.conf on a synced SQLite file; the global CONF reset after
    every command (as the entry point uses it)."""
    dbfile = tmp_path / 'cells.sqlite'
    path = tmp_path / 'cells.conf'
    path.write_text('[DEFAULT]\ntransport_url = fake://\n'
                    '[cells]\nname = api\ncell_type = api\n'
                    '[database]\nconnection = sqlite:///%s\n' % dbfile)
    assert run_manage(str(path), 'db', 'sync')[0] == 0
    yield str(path), 'sqlite:///%s' % dbfile


def run_manage(conf_path, *args):
    """``(exit status, stderr lines)`` of one in-process command."""
    status, _out, err = helpers.run_main(['--config-file', conf_path] +
                                         list(args))
    return status, err.splitlines()


def _rows(connection):
    db = db_api.Database(connection)
    try:
        return db_api.cell_get_all(db)
    finally:
        db.dispose()


@pytest.mark.parametrize('args', [
    ['--name', 'a\nb'],
    ['--name', 'rtl\u202eevil'],
    ['--name', 'x' * 10000],
    ['--name', 'ok', '--woffset', 'nan'],
    ['--name', 'ok', '--wscale', 'inf'],
    ['--name', 'ok', '--woffset=-inf'],
], ids=['newline', 'bidi', 'long', 'woffset-nan', 'wscale-inf',
        'woffset-minus-inf'])
def test_cli_cell_create_refuses_bad_values_in_one_line(manage_conf, args):
    path, connection = manage_conf
    status, lines = run_manage(path, 'cell', 'create', '--transport-url',
                               URL, *args)
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith('nova-cells-manage: ')
    assert _rows(connection) == []


def test_cli_refuses_an_http_url(manage_conf):
    path, connection = manage_conf
    status, lines = run_manage(path, 'cell', 'create', '--name', 'c1',
                               '--transport-url', 'http://x/')
    assert (status, len(lines)) == (2, 1)
    assert 'not a messaging transport' in lines[0]
    assert _rows(connection) == []


def test_cli_update_refuses_nan_and_keeps_the_row(manage_conf):
    path, connection = manage_conf
    assert run_manage(path, 'cell', 'create', '--name', 'c1',
                      '--transport-url', URL)[0] == 0
    status, lines = run_manage(path, 'cell', 'update', '--cell_name', 'c1',
                               '--woffset', 'nan')
    assert (status, len(lines)) == (2, 1)
    assert _rows(connection)[0]['weight_offset'] == 0.0


@pytest.mark.parametrize('command', [
    ['cell', 'create', '--name', 'c1', '--transport-url', URL],
    ['cell', 'update', '--cell_name', 'c1', '--woffset', '1'],
    ['cell', 'delete', '--cell_name', 'c1'],
    ['cell', 'disable', '--cell_name', 'c1'],
    ['cell', 'drain', '--cell_name', 'c1'],
    ['cell', 'enable', '--cell_name', 'c1'],
], ids=lambda c: c[1])
def test_cli_refuses_table_writes_when_cells_config_is_set(
        manage_conf, tmp_path, command):
    path, connection = manage_conf
    cells_file = tmp_path / 'cells.json'
    cells_file.write_text('{}')
    with open(path, 'a') as conf_file:
        conf_file.write('[cells]\ncells_config = %s\n' % cells_file)
    status, lines = run_manage(path, *command)
    assert status != 0
    assert len(lines) == 1 and 'cells_config is set' in lines[0]
    assert _rows(connection) == []


# -- cells_config gets the same rules ----------------------------------------

@pytest.mark.parametrize('entries, reason', [
    ({'a\nb': {'transport_url': URL, 'is_parent': False}}, 'control'),
    ({'c1': {'transport_url': 'http://x/', 'is_parent': False}},
     'not a messaging transport'),
    ({'c1': {'transport_url': URL, 'is_parent': False,
             'weight_offset': float('nan')}}, 'finite'),
    ({'c1': {'is_parent': False}}, 'transport_url is required'),
    ({'c1': 'rabbit://h/'}, 'must be an object'),
], ids=['newline-name', 'http-url', 'nan-weight', 'no-url', 'not-object'])
def test_cells_config_entries_get_the_same_rules(tmp_path, entries, reason):
    path = tmp_path / 'cells.json'
    # json.dumps writes NaN, and json.load reads it back: a file can hold it.
    path.write_text(json.dumps(entries))
    with pytest.raises(ValueError) as info:
        state.FileCellSource(str(path)).load()
    assert reason in str(info.value)
    assert '\n' not in str(info.value)


# -- configuration: one validation, every section, unknown names warned ----

@pytest.mark.parametrize('text, where', [
    ('[cells]\nram_weight_multiplier = nan\n', 'ram_weight_multiplier'),
    ('[cells]\noffset_weight_multiplier = inf\n', 'offset_weight_multiplier'),
    ('[database]\nmax_pool_size = lots\n', '[database] max_pool_size'),
    ('[oslo_messaging_rabbit]\nheartbeat_timeout_threshold = x\n',
     '[oslo_messaging_rabbit] heartbeat_timeout_threshold'),
], ids=['nan-multiplier', 'inf-multiplier', 'database-type',
        'rabbit-type'])
def test_find_problems_covers_floats_and_library_sections(make_conf, text,
                                                          where):
    from nova_cells.conf import validation
    problems = [str(p) for p in validation.find_problems(make_conf(text))]
    assert any(where in p for p in problems), problems


def test_an_unknown_option_in_our_sections_is_one_warning(make_conf, caplog):
    from nova_cells.conf import validation
    conf = make_conf('[cells]\nsinging = require\nname = api\n'
                     '[upgrade_levels]\ncels = 1.0\n'
                     '[oslo_messaging_rabbit]\nnot_ours = 1\n')
    with caplog.at_level('WARNING'):
        validation.warn_unknown_options(conf)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert 'singing' in lines[0] and '[cells]' in lines[0]
    assert 'cels' in lines[1] and '[upgrade_levels]' in lines[1]


# -- one line, no traceback -------------------------------------------------

def test_a_config_file_that_is_a_directory_is_one_line(tmp_path):
    status, lines = run_manage(str(tmp_path), 'cell', 'list')
    assert status == 2
    assert lines == ['nova-cells-manage: cannot read the configuration: '
                     '[Errno 21] Is a directory: %r' % str(tmp_path)]


def test_db_sync_to_an_unknown_revision_is_one_line(manage_conf):
    path, _connection = manage_conf
    status, lines = run_manage(path, 'db', 'sync', 'bogus')
    assert status == 2
    assert lines == ["nova-cells-manage: error: db sync bogus: Can't locate "
                     "revision identified by 'bogus'"]


@pytest.mark.parametrize('section, text, named', [
    ('DEFAULT', 'transport_url = rabbit://u:S3cret-pw@h:notaport/v',
     '[DEFAULT] transport_url'),
    ('database', 'max_pool_size = lots', '[database] max_pool_size'),
    ('oslo_messaging_rabbit', 'rabbit_retry_interval = soon',
     '[oslo_messaging_rabbit] rabbit_retry_interval'),
], ids=['broker-url', 'database-type', 'rabbit-type'])
@pytest.mark.parametrize('command', [['tree'], ['capacities'],
                                     ['cell', 'list']],
                         ids=['tree', 'capacities', 'cell-list'])
def test_a_bad_value_is_one_line_for_every_command(manage_conf, section,
                                                   text, named, command):
    path, _connection = manage_conf
    with open(path, 'a') as conf_file:
        conf_file.write('[%s]\n%s\n' % (section, text))
    status, lines = run_manage(path, *command)
    assert status == 2
    assert len(lines) == 1 and named in lines[0], lines
    assert 'S3cret-pw' not in lines[0]


@pytest.mark.parametrize('text, where', [
    ('[cells]\nmax_hop_count =\n', '[cells] max_hop_count'),
    ('[cells]\nreserve_percent =\n', '[cells] reserve_percent'),
    ('[cells]\nname = a$nil\n', '[cells] name'),
], ids=['empty-int', 'empty-float', 'substitution-of-nothing'])
def test_values_found_by_the_fuzzer_are_problems_not_tracebacks(
        make_conf, text, where):
    from nova_cells.conf import validation
    problems = [str(p) for p in validation.find_problems(make_conf(text))]
    assert any(p.startswith(where) for p in problems), problems


def test_an_error_quoting_a_unicode_line_break_stays_one_line(capsys):
    """Found by the fuzzer: a transport URL of '\\x85' (NEL) made
    "Invalid transport URL ...: No scheme specified" two lines, as
    ``str.splitlines`` (and a log reader) sees them."""
    from nova_cells.cmd import _common
    with pytest.raises(SystemExit):
        _common.die('nova-cells-manage: error: Invalid transport URL '
                    '\x85: No scheme specified')
    err = capsys.readouterr().err
    assert err.splitlines() == [
        'nova-cells-manage: error: Invalid transport URL \\x85: No scheme '
        'specified']


def test_several_problems_stay_one_line_each(capsys):
    from nova_cells.cmd import _common
    with pytest.raises(SystemExit):
        _common.die('prog: invalid configuration: a\u2028b\n'
                    'prog: invalid configuration: c')
    assert capsys.readouterr().err.splitlines() == [
        'prog: invalid configuration: a\\u2028b',
        'prog: invalid configuration: c']
