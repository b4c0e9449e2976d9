"""Issue 23 on RabbitMQ: the signed tree cannot be rewired over the
``cells`` topic, a non-admin is refused every cell admin call, answers
carry no password, and a bad broker stops the daemon with one line.

Two daemons (api -> c1) with ``[cells] signing = require``; the link from
api to c1 holds a key set by the local operator (``nova-cells-manage``).
An RPC client on api's vhost, the way anyone with access to that vhost
could, tries every call the issue found open.
"""

import contextlib
import json
import subprocess
import time

import pytest

from tests.functional import fixtures
from tests.functional import tree_support
from tests.functional.tree_support import ProcessTree

from nova_cells import context as cells_context
from nova_cells import exception
from nova_cells.transport import signing
from nova_cells import transport_url

pytestmark = pytest.mark.functional

LAYOUT = {'api': {'c1': {}}}
EXTRA = {'cells': {'db_check_interval': 0, 'signing': 'require'}}
ADMIN = cells_context.get_admin_context()
USER = cells_context.RequestContext(user_id='joe', project_id='demo',
                                    is_admin=False, roles=['member'])
KEY = 'ft-link-key-0123456789'


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with contextlib.ExitStack() as stack:
        tree = ProcessTree(LAYOUT, tmp_path_factory.mktemp('hardening'),
                           stack, extra=EXTRA)
        tree.provision()
        tree.sync_schemas(cli=False)
        tree.wire(cli=False)
        # The local operator keys the link, on both sides.
        for cell, neighbour in (('api', 'c1'), ('c1', 'api')):
            fixtures.run_manage(tree[cell].conf, 'cell', 'update',
                                '--cell_name', neighbour, '--signing_key',
                                KEY, check=True)
        tree.start()
        yield tree


@pytest.fixture(autouse=True)
def _logs(request, tree):
    tree_support.register_daemons(request, tree)


@pytest.fixture(scope='module')
def api(tree):
    with tree_support.nova_api_client(tree['api'].url) as client:
        yield client


def _rows(tree):
    """api's cells table as stored (URL and keys included)."""
    return sorted((r['name'], r['transport_url'], r['signing_keys'],
                   r['is_parent'])
                  for r in fixtures.live_rows(tree['api'].db_url, 'cells'))


def _names(api):
    return sorted(c['name'] for c in api.get_cell_info_for_neighbors(ADMIN))


@pytest.mark.parametrize('call', [
    lambda api: api.cell_create(ADMIN, {
        'name': 'p2', 'transport_url': 'rabbit://evil:x@evil.example/',
        'is_parent': True}),
    lambda api: api.cell_update(ADMIN, 'c1', {
        'transport_url': 'rabbit://evil:x@evil.example/'}),
    lambda api: api.cell_update(ADMIN, 'c1', {'signing_keys': None}),
    lambda api: api.cell_update(ADMIN, 'c1', {'signing_keys': '["mine"]'}),
    lambda api: api.cell_update(ADMIN, 'c1', {'is_parent': True}),
    lambda api: api.cell_delete(ADMIN, 'c1'),
], ids=['add-keyless-parent', 'repoint-url', 'remove-keys', 'replace-keys',
        'flip-side', 'delete-link'])
def test_a_link_cannot_be_changed_over_the_cells_topic(api, tree, call):
    before = _rows(tree)
    with pytest.raises(exception.CellLinkChangeRefused) as info:
        call(api)
    assert 'only the local operator' in str(info.value)
    assert _rows(tree) == before
    assert _names(api) == ['c1']


@pytest.mark.parametrize('call', [
    lambda api: api.cell_get(USER, 'c1'),
    lambda api: api.cell_create(USER, {
        'name': 'c9', 'transport_url': 'rabbit://h/v', 'is_parent': False}),
    lambda api: api.cell_update(USER, 'c1', {'weight_offset': 5.0}),
    lambda api: api.cell_delete(USER, 'c1'),
], ids=['get', 'create', 'update', 'delete'])
def test_a_non_admin_is_refused_every_cell_admin_call(api, tree, call):
    before = _rows(tree)
    with pytest.raises(exception.PolicyNotAuthorized):
        call(api)
    assert _rows(tree) == before


def test_cell_get_style_answers_carry_no_password(api, tree):
    url = tree['c1'].url
    password = transport_url.parse(url).hosts[0].password
    assert password
    row = api.cell_get(ADMIN, 'c1')
    updated = api.cell_update(ADMIN, 'c1', {'weight_offset': 1.5})
    info = api.get_cell_info_for_neighbors(ADMIN)
    for answer in (row, updated, info):
        text = json.dumps(answer, default=str)
        assert ':%s@' % password not in text
        assert KEY not in text
    assert row['transport_url'] == transport_url.mask(url)
    assert updated['weight_offset'] == 1.5
    api.cell_update(ADMIN, 'c1', {'weight_offset': 0.0})


def test_the_tree_still_serves_after_the_refusals(api, tree):
    # The signed link api -> c1 is unchanged: a query crosses it.
    status = api.get_cell_status(ADMIN)
    assert status['failures'] == []
    assert len(status['cells']) == 2
    assert _names(api) == ['c1']


# -- the daemon's own broker, checked at start-up ---------------------------

def _broken(url, what):
    parsed = transport_url.parse(url)
    host = parsed.hosts[0]
    parts = {'user': host.username, 'password': host.password,
             'port': host.port or 5672, 'vhost': parsed.virtual_host}
    parts[what] = {'password': 'wrong-password', 'vhost': 'no-such-vhost',
                   'port': 1}[what]
    return 'rabbit://%(user)s:%(password)s@127.0.0.1:%(port)d/%(vhost)s' \
        % parts


@pytest.mark.parametrize('what', ['password', 'vhost', 'port'])
def test_a_bad_broker_is_one_line_and_status_2(tmp_path, rabbit_url,
                                               synced_sqlite_url, what):
    conf = fixtures.write_cells_conf(tmp_path, _broken(rabbit_url, what),
                                     synced_sqlite_url, name='solo',
                                     cell_type='api')
    started = time.monotonic()
    result = subprocess.run([fixtures.NOVA_CELLS, '--config-file',
                             str(conf.path)], capture_output=True, text=True,
                            timeout=60, env=fixtures._subprocess_env())
    assert result.returncode == 2, result.stderr
    lines = fixtures.non_empty_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith('nova-cells: cannot use the broker in '
                               '[DEFAULT] transport_url')
    assert 'wrong-password' not in lines[0]
    assert 'Traceback' not in result.stderr + result.stdout
    assert time.monotonic() - started < 40


# -- bounded waits in the CLI ------------------------------------------------

@pytest.mark.parametrize('command', [['tree', '--timeout', '5'],
                                     ['capacities', '--timeout', '5']],
                         ids=['tree', 'capacities'])
def test_a_cli_call_with_the_broker_down_ends_in_about_its_timeout(
        tmp_path, synced_sqlite_url, command):
    conf = fixtures.write_cells_conf(
        tmp_path, 'rabbit://guest:guest@127.0.0.1:1/none', synced_sqlite_url,
        name='api', cell_type='api')
    started = time.monotonic()
    result = fixtures.run_manage(conf, *command)
    took = time.monotonic() - started
    assert result.returncode == 2
    lines = fixtures.non_empty_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert 'no answer within 5 s' in lines[0]
    assert took < 15, took      # it once waited over 90 s


# -- the wire: a deep signed message, a forged report ---------------------

def _signed_envelope(message_text):
    return tree_support.oslo_envelope(None, args={
        'message': message_text,
        'signature': signing.sign(KEY, message_text)})


def _publish_to_api(tree, message_text):
    tree_support.publish_raw(tree['api'].url, [(
        tree_support.topic_exchange(), 'cells.intercell.targeted',
        _signed_envelope(message_text))])


def test_a_deep_signed_message_is_refused_and_the_cell_serves_on(api, tree):
    deep = json.dumps(tree_support.cells_message(
        'targeted', 'announce_capacities', 'c1', direction='up',
        target_cell='c1!api'))
    deep = deep[:-1] + ', "x": ' + '[' * 200000 + ']' * 200000 + '}'
    _publish_to_api(tree, deep)
    fixtures.poll_until(lambda: tree['api'].daemon.log(),
                        lambda text: 'nested deeper than 100 levels' in text,
                        timeout=20)
    assert 'RecursionError' not in tree['api'].daemon.log()
    status = api.get_cell_status(ADMIN)
    assert status['failures'] == [] and len(status['cells']) == 2


def test_a_report_off_its_schema_or_for_another_cell_changes_nothing(
        api, tree):
    """Signed with the link's key, as c1 would: the report with strings is
    dropped; one naming another cell is taken as c1's own."""
    before = api.get_capacities(ADMIN, 'c1')
    bad = tree_support.cells_message(
        'targeted', 'update_capacities', 'c1', direction='up',
        target_cell='c1!api', fanout=True,
        method_kwargs={'cell_name': 'c1', 'capacities': {
            'ram_free': {'total_mb': 'lots', 'units_by_mb': {'1': 'x'}}}})
    _publish_to_api(tree, json.dumps(bad))
    fixtures.poll_until(lambda: tree['api'].daemon.log(),
                        lambda text: 'Dropped update_capacities' in text,
                        timeout=20)
    assert api.get_capacities(ADMIN, 'c1') == before
    # api's own aggregate still adds up and is answered.
    assert isinstance(api.get_capacities(ADMIN), dict)
    forged = tree_support.cells_message(
        'targeted', 'update_capabilities', 'c1', direction='up',
        target_cell='c1!api', fanout=True,
        method_kwargs={'cell_name': 'someone-else',
                       'capabilities': {'zone': ['from-c1']}})
    _publish_to_api(tree, json.dumps(forged))
    fixtures.poll_until(
        lambda: [c for c in api.get_cell_info_for_neighbors(ADMIN)
                 if c['name'] == 'c1'][0]['capabilities'],
        lambda caps: 'zone' in caps, timeout=20)


# -- start-up and the operator's CLI -----------------------------------------

def test_an_unknown_option_is_one_warning_at_start_up(
        tmp_path, rabbit_url, synced_sqlite_url, daemon_factory):
    conf = fixtures.write_cells_conf(
        tmp_path, rabbit_url, synced_sqlite_url, name='solo',
        cell_type='api', extra={'cells': {'singing': 'require'}})
    daemon = daemon_factory(conf)
    fixtures.wait_for_ping(rabbit_url, daemon=daemon)
    warnings = [line for line in daemon.log().splitlines()
                if 'Unknown option singing' in line]
    assert len(warnings) == 1, daemon.log()
    assert 'WARNING' in warnings[0] and '[cells]' in warnings[0]


@pytest.mark.parametrize('command', [
    ['cell', 'create', '--name', 'c2', '--transport-url',
     'rabbit://u:p@h:5672/v'],
    ['cell', 'disable', '--cell_name', 'c1'],
    ['cell', 'drain', '--cell_name', 'c1'],
    ['cell', 'delete', '--cell_name', 'c1'],
], ids=['create', 'disable', 'drain', 'delete'])
def test_table_writes_are_refused_when_cells_config_is_set(
        tmp_path, synced_sqlite_url, command):
    cells_json = tmp_path / 'cells.json'
    cells_json.write_text(json.dumps({'c1': {
        'transport_url': 'rabbit://u:p@h:5672/v', 'is_parent': False}}))
    conf = fixtures.write_cells_conf(
        tmp_path, 'rabbit://guest:guest@127.0.0.1:1/x', synced_sqlite_url,
        name='api', cell_type='api', cells_config=cells_json)
    result = fixtures.run_manage(conf, *command)
    assert result.returncode == 2
    lines = fixtures.non_empty_lines(result.stderr)
    assert len(lines) == 1 and 'cells_config is set' in lines[0], lines
    assert fixtures.live_rows(synced_sqlite_url, 'cells') == []
