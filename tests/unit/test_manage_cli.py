"""``nova-cells-manage`` as an operator meets it (the CLI part of "Operating
it like an OpenStack service"): logging, ``--version``, one JSON form per
cell, every capacity in the table, one line for a cell that is not a
neighbour, an empty database, and ``tree --timeout`` handed down to the
daemon.  Commands run in-process on SQLite, as the console script runs
them; what needs the daemon is answered by a stand-in for it."""

import json
import logging
import sys
import threading
import types

from amqp import exceptions as amqp_exc
import oslo_messaging
import pytest

from nova_cells.cmd import _common
from nova_cells.cmd import cells as cmd_cells
from nova_cells.cmd import manage
from nova_cells.cmd import manage_views
from nova_cells.cmd import table
from nova_cells.db import api as db_api
from nova_cells.db import schema
from nova_cells.demo import cmd as demo_cmd
from nova_cells import manager
from nova_cells.messaging import messages
from nova_cells import rpcapi
from nova_cells import version
from tests.unit import helpers
from tests.unit.test_lifecycle_client import FakeRPCClient

EMPTY_DATABASE = 'empty database: run `nova-cells-manage db sync`'


def run(argv, main=manage.main):
    """``(status, stdout, stderr)`` of one in-process command."""
    return helpers.run_main(argv, main)


def write_conf(tmp_path, connection, extra='', cells_extra=''):
    path = tmp_path / 'cells.conf'
    path.write_text('[DEFAULT]\ntransport_url = fake://\n%s'
                    '[cells]\nname = api\ncell_type = api\n%s'
                    '[database]\nconnection = %s\n'
                    % (extra, cells_extra, connection))
    return str(path)


@pytest.fixture
def conf_path(tmp_path):
    """A cells.conf on a synced SQLite file."""
    path = write_conf(tmp_path, 'sqlite:///%s' % (tmp_path / 'c.sqlite'))
    assert run(['--config-file', path, 'db', 'sync'])[0] == 0
    return path


@pytest.fixture
def empty_conf_path(tmp_path):
    return write_conf(tmp_path, 'sqlite:///%s' % (tmp_path / 'e.sqlite'))


# -- --version ----------------------------------------------------------------

@pytest.mark.parametrize('main', [manage.main, cmd_cells.main,
                                  demo_cmd.main],
                         ids=['nova-cells-manage', 'nova-cells',
                              'nova-cells-demo'])
def test_every_command_has_version(main):
    status, out, err = run(['--version'], main=main)
    assert (status, out.strip(), err) == (0, version.version_string(), '')
    assert out.strip() not in ('', 'unknown')


# -- logging ------------------------------------------------------------------

def test_debug_logs_debug_to_stderr_only(conf_path):
    status, out, err = run(['--config-file', conf_path, '--debug', 'cell',
                            'list'])
    assert status == 0, err
    debug = [line for line in err.splitlines() if ' DEBUG ' in line]
    assert any('nova_cells.cmd.manage' in line and 'cell list' in line
               for line in debug), err
    # stdout is the table alone: scripts read it.
    assert out.startswith('+-') and 'DEBUG' not in out


def test_without_debug_warnings_and_above_only(tmp_path):
    path = write_conf(tmp_path, 'sqlite:///%s' % (tmp_path / 'w.sqlite'),
                      cells_extra='not_an_option = 1\n')
    assert run(['--config-file', path, 'db', 'sync'])[0] == 0
    status, out, err = run(['--config-file', path, 'cell', 'list'])
    assert status == 0, err
    assert ' DEBUG ' not in err and ' INFO ' not in err
    # The configuration's unknown option: one WARNING, through oslo.log.
    warnings = [line for line in err.splitlines() if ' WARNING ' in line]
    assert len(warnings) == 1 and 'not_an_option' in warnings[0], err


def test_the_configurations_log_file_is_the_daemons(tmp_path):
    """A cell's configuration names the daemon's log file: the command
    logs to stderr, and to a file only when given one itself."""
    daemon_log = tmp_path / 'daemon.log'
    own_log = tmp_path / 'own.log'
    path = write_conf(tmp_path, 'sqlite:///%s' % (tmp_path / 'l.sqlite'),
                      extra='log_file = %s\n' % daemon_log)
    assert run(['--config-file', path, 'db', 'sync'])[0] == 0
    status, _out, err = run(['--config-file', path, '--debug', 'cell',
                             'list'])
    assert status == 0 and ' DEBUG ' in err
    assert not daemon_log.exists()
    status, _out, _err = run(['--config-file', path, '--debug',
                              '--log-file', str(own_log), 'cell', 'list'])
    assert status == 0
    assert 'DEBUG nova_cells.cmd.manage' in own_log.read_text()
    assert not daemon_log.exists()


def test_logging_is_put_back_for_an_in_process_caller(conf_path):
    root = logging.getLogger()
    before = (list(root.handlers), root.level, sys.excepthook)
    assert run(['--config-file', conf_path, '--debug', 'cell', 'list'])[0] \
        == 0
    assert (list(root.handlers), root.level, sys.excepthook) == before


# -- one JSON form per cell ---------------------------------------------------

def test_cell_list_json_items_are_cell_show_json(conf_path):
    for args in (['--name', 'child1', '--transport-url',
                  'rabbit://u:pw1@h1:5672/v'],
                 ['--name', 'top', '--cell_type', 'parent',
                  '--transport-url', 'rabbit://u:pw2@h2:5673/']):
        assert run(['--config-file', conf_path, 'cell', 'create'] +
                   args)[0] == 0
    status, out, err = run(['--config-file', conf_path, 'cell', 'list',
                            '--format', 'json'])
    assert status == 0, err
    listed = json.loads(out)
    assert [c['name'] for c in listed] == ['child1', 'top']
    for item in listed:
        status, shown, err = run(['--config-file', conf_path, 'cell',
                                  'show', '--cell_name', item['name'],
                                  '--format', 'json'])
        assert status == 0, err
        assert item == json.loads(shown)
    child, top = listed
    assert (child['id'], child['type'], child['state'],
            child['transport_url']) == (1, 'child', 'enabled',
                                        'rabbit://u:***@h1:5672/v')
    assert top['type'] == 'parent' and top['is_parent'] is True
    assert 'pw1' not in out and 'pw2' not in out
    # Lowercase keys, as cell show's.
    assert all(key == key.lower() for key in child)


# -- capacities: every key ----------------------------------------------------

CAPACITIES = {
    'ram_free': {'total_mb': 30720,
                 'units_by_mb': {'512': 54, '2048': 13, '16384': 1}},
    'disk_free': {'total_mb': 512000,
                  'units_by_mb': {'0': 0, '20480': 22}},
    'vcpu_free': {'total': 24, 'units_by_vcpus': {'1': 21, '4': 5}},
}


def test_capacity_rows_show_every_capacity():
    rows = manage_views._capacity_rows(CAPACITIES)
    assert rows == [
        ('disk_free', '0', 'MB', 0, 512000),
        ('disk_free', '20480', 'MB', 22, 512000),
        ('ram_free', '512', 'MB', 54, 30720),
        ('ram_free', '2048', 'MB', 13, 30720),
        ('ram_free', '16384', 'MB', 1, 30720),
        ('vcpu_free', '1', 'vcpus', 21, 24),
        ('vcpu_free', '4', 'vcpus', 5, 24),
    ]


def test_a_capacity_without_sizes_still_shows_its_total():
    rows = manage_views._capacity_rows({
        'ram_free': {'total_mb': 1024, 'units_by_mb': {}},
        'gpu_free': {'total': 2, 'units_by_gpus': {'1': 2}}})
    assert rows == [('gpu_free', '1', 'gpus', 2, 2),
                    ('ram_free', None, 'MB', None, 1024)]


@pytest.fixture
def daemon(monkeypatch):
    """A stand-in for the local nova-cells: ``ask_daemon`` hands each
    call a fake CellsAPI whose answers the test sets, recording every
    call."""
    api = types.SimpleNamespace(calls=[], answers={})

    def answer(name):
        def method(ctxt, *args, **kwargs):
            api.calls.append((name, args, kwargs))
            value = api.answers[name]
            if isinstance(value, Exception):
                raise value
            return value
        return method

    for name in ('get_capacities', 'get_cell_info_for_neighbors',
                 'get_cell_status'):
        setattr(api, name, answer(name))

    def ask(conf, call, timeout, ctxt=None):
        api.timeout = timeout
        return call(api, ctxt, timeout)
    monkeypatch.setattr(manage_views, 'ask_daemon', ask)
    return api


def test_capacities_table_shows_vcpus(conf_path, daemon):
    daemon.answers['get_capacities'] = CAPACITIES
    status, out, err = run(['--config-file', conf_path, 'capacities'])
    assert status == 0, err
    lines = out.splitlines()
    header = [c.strip() for c in lines[1].strip('|').split('|')]
    assert header == ['Resource', 'Size', 'Unit', 'Free units',
                      'Free in all']
    body = [[c.strip() for c in line.strip('|').split('|')]
            for line in lines[3:-1]]
    assert ['vcpu_free', '4', 'vcpus', '5', '24'] in body
    assert ['ram_free', '2048', 'MB', '13', '30720'] in body
    assert len(body) == 7


# -- a cell that is not a neighbour -------------------------------------------

NEIGHBOURS = [{'name': 'child2', 'is_parent': False},
              {'name': 'child1', 'is_parent': False},
              {'name': 'top', 'is_parent': True}]


def _not_found(name):
    # What oslo.messaging hands back for the daemon's CellNotFound.
    return oslo_messaging.RemoteError(
        'CellNotFound', "Cell %s doesn't exist." % name,
        'Traceback (most recent call last):\n...')


@pytest.mark.parametrize('name, line', [
    ('nosuch', 'nosuch is not a neighbour of api; neighbours: child1, '
               'child2; parent top'),
    ('top', 'top is a parent of api: capacities are shown for api and its '
            'children only (children: child1, child2)'),
])
def test_capacities_of_a_cell_that_is_not_a_neighbour(conf_path, daemon,
                                                      name, line):
    daemon.answers['get_capacities'] = _not_found(name)
    daemon.answers['get_cell_info_for_neighbors'] = NEIGHBOURS
    status, out, err = run(['--config-file', conf_path, 'capacities',
                            '--cell_name', name])
    assert status == 2
    assert out == ''
    assert err.splitlines() == ['nova-cells-manage: error: %s' % line]
    assert 'RemoteError' not in err and 'Traceback' not in err


def test_capacities_of_a_child_still_works(conf_path, daemon):
    daemon.answers['get_capacities'] = CAPACITIES
    status, out, err = run(['--config-file', conf_path, 'capacities',
                            '--cell_name', 'child1', '--format', 'json'])
    assert status == 0, err
    assert json.loads(out) == CAPACITIES
    assert daemon.calls == [('get_capacities', ('child1',),
                             {'timeout': daemon.timeout})]


def test_another_remote_error_is_one_line(conf_path, daemon):
    daemon.answers['get_capacities'] = oslo_messaging.RemoteError(
        'ValueError', 'bad thing\nmore', 'Traceback ...')
    status, _out, err = run(['--config-file', conf_path, 'capacities'])
    assert status == 2
    assert err.splitlines() == [
        "nova-cells-manage: error: ValueError from this cell's nova-cells: "
        "bad thing"]


# -- an empty database --------------------------------------------------------

def test_a_command_on_an_empty_database_says_db_sync(empty_conf_path):
    status, out, err = run(['--config-file', empty_conf_path, 'cell',
                            'list'])
    assert status == 2 and out == ''
    (line,) = err.splitlines()
    assert line.endswith(': ' + EMPTY_DATABASE), line
    assert 'no such table' not in line


def test_db_version_of_an_empty_database(empty_conf_path):
    status, out, err = run(['--config-file', empty_conf_path, 'db',
                            'version'])
    assert (status, out) == (0, 'None\n')
    assert err.splitlines() == ['nova-cells-manage: ' + EMPTY_DATABASE]


def test_the_daemon_refuses_an_empty_database(tmp_path, capsys):
    database = db_api.Database('sqlite:///%s' % (tmp_path / 'd.sqlite'))
    conf = types.SimpleNamespace(database=types.SimpleNamespace(
        connection='sqlite:///%s' % (tmp_path / 'd.sqlite')))
    try:
        with pytest.raises(SystemExit) as exit_info:
            cmd_cells._check_database(conf, database)
    finally:
        database.dispose()
    assert exit_info.value.code == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(EMPTY_DATABASE) and 'None' not in line, line


def test_schema_problem_names_each_case(db, nova_db):
    assert schema.problem(db) is None
    assert 'adopt' in schema.problem(nova_db)
    with db.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE alembic_version SET version_num = '0003'")
    assert schema.problem(db) == ('at schema 0003, not %s: run '
                                  '`nova-cells-manage db sync`'
                                  % schema.HEAD_REVISION)


# -- tree --timeout -----------------------------------------------------------

STATUS = {'cells': [{'cell_name': 'api', 'value': {
    'name': 'api', 'capabilities': {}, 'capacities': {},
    'aggregated_capacities': {}, 'children': [], 'parents': [],
    'updated_at': None, 'instances': {}}}], 'failures': []}


@pytest.mark.parametrize('timeout', [1, 2, 5, 60])
def test_tree_tells_the_daemon_to_answer_within_its_timeout(
        conf_path, daemon, timeout):
    daemon.answers['get_cell_status'] = STATUS
    status, out, err = run(['--config-file', conf_path, 'tree',
                            '--timeout', str(timeout), '--format', 'json'])
    assert status == 0, err
    assert json.loads(out)['failures'] == []
    (call,) = daemon.calls
    assert call[0] == 'get_cell_status'
    assert call[2]['timeout'] == timeout == daemon.timeout
    # The daemon's wait leaves room for its answer to come back.
    assert 0 < call[2]['wait'] < timeout
    assert call[2]['wait'] >= timeout - 1


@pytest.mark.parametrize('refusal', [
    oslo_messaging.RemoteError('UnsupportedVersion',
                               'Endpoint does not support RPC version 1.41',
                               ''),
    oslo_messaging.UnsupportedVersion('1.41', method='get_cell_status'),
], ids=['remote-error', 'rebuilt'])
def test_tree_asks_a_daemon_older_than_1_41_without_the_wait(
        conf_path, monkeypatch, refusal):
    calls = []

    class OldDaemon(object):
        def get_cell_status(self, ctxt, **kwargs):
            calls.append(kwargs)
            if 'wait' in kwargs:
                raise refusal
            return STATUS

    monkeypatch.setattr(manage_views, 'ask_daemon',
                        lambda conf, call, timeout: call(OldDaemon(), None,
                                                         timeout))
    status, out, err = run(['--config-file', conf_path, 'tree',
                            '--timeout', '5', '--format', 'json'])
    assert status == 0, err
    assert json.loads(out)['failures'] == []
    assert [sorted(c) for c in calls] == [['timeout', 'wait'], ['timeout']]
    assert 1 <= calls[1]['timeout'] <= 5
    assert 'RPC 1.41' in err and 'WARNING' in err


def test_tree_default_timeout_is_call_timeout_plus_ten(conf_path, daemon):
    daemon.answers['get_cell_status'] = STATUS
    assert run(['--config-file', conf_path, 'tree'])[0] == 0
    assert daemon.timeout == 60 + 10
    assert daemon.calls[0][2]['wait'] == 69


@pytest.mark.parametrize('cap, wait, sent', [
    ('1.41', 3.5, ('call', '1.41', 'get_cell_status', {'wait': 3.5})),
    ('1.40', 3.5, ('call', '1.39', 'get_cell_status', {})),
    ('1.41', None, ('call', '1.39', 'get_cell_status', {})),
])
def test_get_cell_status_sends_the_wait_from_1_41(cap, wait, sent):
    api = rpcapi.CellsAPI.__new__(rpcapi.CellsAPI)
    api.client = FakeRPCClient(cap)
    api.get_cell_status('ctxt', timeout=4, wait=wait)
    assert api.client.sent == [sent]


class _Runner(object):
    def __init__(self):
        self.sent = []

    def broadcast(self, ctxt, method, kwargs, **options):
        self.sent.append((method, kwargs, options))
        return []


@pytest.mark.parametrize('wait, kwargs', [
    (2.5, {'wait': 2.5}),
    (None, {}),
    (-1, {}),
    ('soon', {}),
    (float('nan'), {}),
])
def test_the_manager_hands_the_wait_to_the_broadcast(wait, kwargs):
    runner = _Runner()
    me = types.SimpleNamespace(msg_runner=runner)
    answer = manager.CellsManager.get_cell_status(me, 'ctxt', wait=wait)
    assert answer == {'cells': [], 'failures': []}
    assert runner.sent == [('cell_status', kwargs, {
        'direction': 'down', 'need_response': True, 'run_locally': True})]


@pytest.mark.parametrize('value, expected', [
    (2, 2.0), (0.5, 0.5), (0, None), (-3, None), (True, None),
    ('3', None), (None, None), (float('inf'), None), (float('nan'), None),
    (10 ** 400, None), ([1], None),
])
def test_valid_wait(value, expected):
    assert messages.valid_wait(value) == expected


# -- giving up ----------------------------------------------------------------

class _Transport(object):
    cleaned = 0

    def cleanup(self):
        self.cleaned += 1


@pytest.fixture
def transport(monkeypatch):
    made = _Transport()
    monkeypatch.setattr(manage_views.rpc, 'get_transport', lambda conf: made)
    monkeypatch.setattr(manage_views.rpcapi, 'CellsAPI',
                        lambda conf, transport: None)
    return made


DAEMON_CONF = types.SimpleNamespace(
    cells=types.SimpleNamespace(call_timeout=60), transport_url='fake://')


def test_ask_daemon_cleans_up_after_an_answer(transport):
    assert manage_views.ask_daemon(DAEMON_CONF, lambda api, c, t: t, 3) == 3
    assert transport.cleaned == 1


def test_ask_daemon_leaves_the_transport_after_a_timeout(transport):
    """Closing a transport still waiting for a reply took 3 s more: a
    command that gave up leaves it to the end of the process."""
    def call(api, ctxt, timeout):
        raise oslo_messaging.MessagingTimeout('Timed out waiting')
    with pytest.raises(oslo_messaging.MessagingTimeout):
        manage_views.ask_daemon(DAEMON_CONF, call, 3)
    assert transport.cleaned == 0


def test_ask_daemon_names_the_broker_that_refused(transport):
    """A vhost the broker does not have came out as amqp's traceback."""
    def call(api, ctxt, timeout):
        raise amqp_exc.NotAllowed(
            'Connection.open: (530) NOT_ALLOWED - vhost v9 not found')
    conf = types.SimpleNamespace(cells=DAEMON_CONF.cells,
                                 transport_url='rabbit://u:pw@h:5672/v9')
    with pytest.raises(_common.BrokerRefused) as caught:
        manage_views.ask_daemon(conf, call, 3)
    assert str(caught.value) == (
        'the broker in [DEFAULT] transport_url (rabbit://u:***@h:5672/v9) '
        'refused: Connection.open: (530) NOT_ALLOWED - vhost v9 not found')
    assert transport.cleaned == 0


def test_bounded_gives_up_at_the_timeout():
    never = threading.Event()
    with pytest.raises(_common.NoAnswer):
        _common.bounded(never.wait, 0.2)
    assert _common.bounded(lambda: 'ok', 5) == 'ok'


def test_tables_are_prettytable_boxes():
    text = table.format_table(('Id', 'Name'), [(1, 'a'), (None, 'bbb')])
    assert text.splitlines() == ['+----+------+',
                                 '| Id | Name |',
                                 '+----+------+',
                                 '| 1  | a    |',
                                 '|    | bbb  |',
                                 '+----+------+']
