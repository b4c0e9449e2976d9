"""``nova-cells-manage`` against real SQLite, PostgreSQL and MySQL databases.

The CLI runs as a subprocess; what it stored is checked with SQLAlchemy on
the database itself, and what it printed is checked for passwords.
"""

import contextlib
import dataclasses
import json

import oslo_messaging
from oslo_config import cfg
import pytest
import sqlalchemy as sa
from sqlalchemy import pool as sa_pool

from nova_cells.db import migration
from tests.functional.fixtures import DB_BACKENDS
from tests.functional.fixtures import insert_row
from tests.functional.fixtures import live_rows
from tests.functional.fixtures import non_empty_lines
from tests.functional.fixtures import run_manage
from tests.functional.fixtures import run_many
from tests.functional.fixtures import run_many_confs
from tests.functional.fixtures import sync_schema
from tests.functional.fixtures import table_rows
from tests.functional.fixtures import throwaway_database
from tests.functional.fixtures import write_cells_conf

pytestmark = pytest.mark.functional

UNUSED_BROKER = 'rabbit://guest:guest@127.0.0.1:5672/nc-ft-never-created'
UNREACHABLE_DB = 'postgresql+psycopg2://nobody:secret@127.0.0.1:1/x'

CHILD_PW = 'childPW-s3cr3t'
PARENT_PW = 'parentPW-s3cr3t'
URL_PW = 'urlPW-s3cr3t'
NEW_PW = 'newPW-s3cr3t'
PASSWORDS = (CHILD_PW, PARENT_PW, URL_PW, NEW_PW, 'secret')

CREATE_CHILD = ('cell', 'create', '--name', 'child1', '--cell_type', 'child',
                '--hostname', 'rabbit-child', '--port', '5672',
                '--username', 'cuser', '--password', CHILD_PW,
                '--virtual_host', 'cvhost')
CREATE_PARENT = ('cell', 'create', '--name', 'parent1', '--cell_type',
                 'parent', '--broker_hosts', 'h1:5672,h2:5673',
                 '--username', 'puser', '--password', PARENT_PW)
CREATE_BY_URL = ('cell', 'create', '--name', 'byurl', '--transport-url',
                 'rabbit://uuser:%s@rabbit-url:5674/uvhost' % URL_PW,
                 '--api_url', 'http://api.example.com:8774')


def _parse_url(url):
    return oslo_messaging.TransportURL.parse(cfg.ConfigOpts(), url)


def _hosts(url):
    """``[(username, password, hostname, port), ...]`` of a stored URL."""
    return [(h.username, h.password, h.hostname, h.port)
            for h in _parse_url(url).hosts]


def _by_name(rows):
    return {row['name']: row for row in rows}


def _assert_no_password(*outputs):
    for text in outputs:
        for password in PASSWORDS:
            assert password not in text, text


def _assert_ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_no_password(result.stdout, result.stderr)
    return result.stdout


@pytest.fixture
def conf(tmp_path, database_url):
    """A cells.conf on an empty database of each backend."""
    return write_cells_conf(tmp_path, UNUSED_BROKER, database_url)


@pytest.fixture
def synced_conf(tmp_path, synced_database_url):
    """A cells.conf on a database of each backend with the schema at head."""
    return write_cells_conf(tmp_path, UNUSED_BROKER, synced_database_url)


def test_db_sync_then_version_prints_head(conf):
    head = migration.head_version()

    sync = run_manage(conf, 'db', 'sync')
    assert sync.returncode == 0, sync.stdout + sync.stderr
    assert head in sync.stdout

    version = run_manage(conf, 'db', 'version')
    assert version.returncode == 0, version.stdout + version.stderr
    assert version.stdout.strip() == head

    engine = sa.create_engine(conf.connection, poolclass=sa_pool.NullPool)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {'cells', 'services', 'compute_nodes', 'instance_types',
            'alembic_version'} <= tables


def test_cell_create_list_show_update_delete(synced_conf):
    conf = synced_conf
    url = conf.connection

    # -- create, three ways ---------------------------------------------------
    for args, name, kind in ((CREATE_CHILD, 'child1', 'child'),
                             (CREATE_PARENT, 'parent1', 'parent'),
                             (CREATE_BY_URL, 'byurl', 'child')):
        out = _assert_ok(run_manage(conf, *args))
        assert name in out and kind in out, out

    rows = _by_name(live_rows(url, 'cells'))
    assert set(rows) == {'child1', 'parent1', 'byurl'}
    child, parent, byurl = rows['child1'], rows['parent1'], rows['byurl']
    assert not child['is_parent'] and parent['is_parent'] and \
        not byurl['is_parent']
    assert _hosts(child['transport_url']) == [
        ('cuser', CHILD_PW, 'rabbit-child', 5672)]
    assert _parse_url(child['transport_url']).virtual_host == 'cvhost'
    assert _hosts(parent['transport_url']) == [
        ('puser', PARENT_PW, 'h1', 5672), ('puser', PARENT_PW, 'h2', 5673)]
    assert byurl['transport_url'] == \
        'rabbit://uuser:%s@rabbit-url:5674/uvhost' % URL_PW
    assert byurl['api_url'] == 'http://api.example.com:8774'
    for row in rows.values():
        assert (row['weight_offset'], row['weight_scale']) == (0.0, 1.0)

    # -- list and show (read-only: run side by side) -------------------------
    shown = run_many(conf, {
        'list': ['cell', 'list'],
        'list-json': ['cell', 'list', '--format', 'json'],
        'show': ['cell', 'show', '--cell_name', 'parent1'],
        'show-json': ['cell', 'show', '--cell_name', 'parent1',
                      '--format', 'json'],
    })
    outputs = {key: _assert_ok(result) for key, result in shown.items()}

    # One JSON form of a cell: cell list's items are cell show's.
    listed = json.loads(outputs['list-json'])
    assert [(c['name'], c['type'], _hosts(c['transport_url'])[0],
             _parse_url(c['transport_url']).virtual_host)
            for c in listed] == [
        ('child1', 'child', ('cuser', '***', 'rabbit-child', 5672),
         'cvhost'),
        ('parent1', 'parent', ('puser', '***', 'h1', 5672), ''),
        ('byurl', 'child', ('uuser', '***', 'rabbit-url', 5674), 'uvhost')]
    assert [c['id'] for c in listed] == [child['id'], parent['id'],
                                         byurl['id']]

    table = outputs['list']
    for header in ('Id', 'Name', 'Type', 'Username', 'Hostname', 'Port',
                   'VHost'):
        assert header in table
    table_lines = {line.split('|')[2].strip(): line
                   for line in table.splitlines() if line.startswith('| ')
                   and not line.startswith('| Id ')}
    assert set(table_lines) == {'child1', 'parent1', 'byurl'}
    assert 'parent' in table_lines['parent1']
    assert 'rabbit-child' in table_lines['child1']

    detail = json.loads(outputs['show-json'])
    assert detail == listed[1]
    assert detail['name'] == 'parent1'
    assert detail['type'] == 'parent' and detail['is_parent'] is True
    assert _hosts(detail['transport_url']) == [
        ('puser', '***', 'h1', 5672), ('puser', '***', 'h2', 5673)]
    assert 'transport_url' in outputs['show'] and '***' in outputs['show']
    assert 'parent1' in outputs['show']

    # -- update: weight offset and password ----------------------------------
    before = _by_name(live_rows(url, 'cells'))
    out = _assert_ok(run_manage(conf, 'cell', 'update', '--cell_name',
                                'child1', '--woffset', '2.5',
                                '--password', NEW_PW))
    assert 'child1' in out
    after = _by_name(live_rows(url, 'cells'))
    updated = after['child1']
    assert updated['weight_offset'] == 2.5
    assert updated['weight_scale'] == 1.0
    assert _hosts(updated['transport_url']) == [
        ('cuser', NEW_PW, 'rabbit-child', 5672)]
    assert _parse_url(updated['transport_url']).virtual_host == 'cvhost'
    assert updated['is_parent'] == before['child1']['is_parent']
    assert after['parent1'] == before['parent1']
    assert after['byurl'] == before['byurl']

    # -- delete ---------------------------------------------------------------
    out = _assert_ok(run_manage(conf, 'cell', 'delete', '--cell_name',
                                'byurl'))
    assert 'byurl' in out
    assert set(_by_name(live_rows(url, 'cells'))) == {'child1', 'parent1'}
    assert after['child1'] == _by_name(live_rows(url, 'cells'))['child1']


# -- errors: exit status 2, one line, nothing written -------------------------

@dataclasses.dataclass
class ErrorCase(object):
    id: str
    args: tuple
    mentions: str  # a text the one-line message must contain
    # Where it runs: a duplicate name depends on each database's unique
    # constraint error; the other cases are refused before anything is
    # written, the same way on every database, so they run on SQLite only
    # (each case costs an interpreter start-up).
    backends: tuple = ('sqlite',)


ALL_DATABASES = DB_BACKENDS

ERROR_CASES = [
    ErrorCase('duplicate-name',
              ('cell', 'create', '--name', 'child1', '--hostname', 'h9',
               '--port', '5672', '--password', NEW_PW), 'child1',
              ALL_DATABASES),
    ErrorCase('duplicate-name-by-rename',
              ('cell', 'update', '--cell_name', 'parent1', '--name',
               'child1'), 'child1', ALL_DATABASES),
    ErrorCase('show-unknown-cell',
              ('cell', 'show', '--cell_name', 'nosuchcell'), 'nosuchcell'),
    ErrorCase('update-unknown-cell',
              ('cell', 'update', '--cell_name', 'nosuchcell', '--woffset',
               '3'), 'nosuchcell'),
    ErrorCase('delete-unknown-cell',
              ('cell', 'delete', '--cell_name', 'nosuchcell'), 'nosuchcell'),
    ErrorCase('malformed-url',
              ('cell', 'create', '--name', 'badurl', '--transport-url',
               'rabbit//x'), 'rabbit//x'),
    ErrorCase('malformed-url-with-password',
              ('cell', 'create', '--name', 'badurl2', '--transport-url',
               'rabbit//user:%s@x' % URL_PW), 'URL'),
    ErrorCase('url-port-out-of-range',
              ('cell', 'create', '--name', 'badport', '--transport-url',
               'rabbit://user:%s@h:99999/' % URL_PW), 'URL'),
    ErrorCase('update-malformed-url',
              ('cell', 'update', '--cell_name', 'child1', '--transport-url',
               'rabbit//x'), 'rabbit//x'),
    ErrorCase('bad-name',
              ('cell', 'create', '--name', 'a!b', '--hostname', 'h',
               '--port', '5672'), 'a!b'),
    ErrorCase('bad-new-name',
              ('cell', 'update', '--cell_name', 'child1', '--name', 'a.b'),
              'a.b'),
    ErrorCase('broker-hosts-without-port',
              ('cell', 'create', '--name', 'noport', '--broker_hosts', 'h1'),
              'h1'),
    ErrorCase('broker-hosts-one-without-port',
              ('cell', 'create', '--name', 'noport2', '--broker_hosts',
               'h1:5672,h2'), 'h2'),
]

# The rows every error case starts from (inserted with SQLAlchemy Core).
SEED_CELLS = [
    dict(name='child1', is_parent=False, weight_offset=0.0,
         weight_scale=1.0, deleted=0,
         transport_url='rabbit://cuser:%s@rabbit-child:5672/cvhost'
                       % CHILD_PW),
    dict(name='parent1', is_parent=True, weight_offset=0.0,
         weight_scale=1.0, deleted=0,
         transport_url='rabbit://puser:%s@h1:5672,puser:%s@h2:5673/'
                       % (PARENT_PW, PARENT_PW)),
]


@dataclasses.dataclass
class ErrorRun(object):
    before: list
    after: list
    result: object


def _run_error_cases(backend, stack, tmp_path_factory):
    """``{case id: ErrorRun}`` for every error case of ``backend``.

    Each case gets its own seeded database, so that a case which writes
    shows up in its own before/after only; the cases then run side by side
    (one interpreter start-up of wall time instead of one per case).
    """
    cases = [c for c in ERROR_CASES if backend in c.backends]
    confs, before = {}, {}
    for case in cases:
        tmp = tmp_path_factory.mktemp('%s-%s' % (backend, case.id))
        url = stack.enter_context(throwaway_database(backend, tmp))
        sync_schema(url)
        for values in SEED_CELLS:
            insert_row(url, 'cells', **values)
        confs[case.id] = write_cells_conf(tmp, UNUSED_BROKER, url)
        before[case.id] = table_rows(url, 'cells')
    results = run_many_confs({c.id: (confs[c.id], c.args) for c in cases})
    return {c.id: ErrorRun(before[c.id],
                           table_rows(confs[c.id].connection, 'cells'),
                           results[c.id])
            for c in cases}


@pytest.fixture(scope='module')
def error_runs(tmp_path_factory):
    """``error_runs(backend)`` -> ``{case id: ErrorRun}``, run once."""
    runs = {}
    with contextlib.ExitStack() as stack:
        def get(backend):
            if backend not in runs:
                runs[backend] = _run_error_cases(backend, stack,
                                                 tmp_path_factory)
            return runs[backend]
        yield get


def _error_params():
    return [pytest.param(backend, case, id='%s-%s' % (backend, case.id))
            for backend in DB_BACKENDS for case in ERROR_CASES
            if backend in case.backends]


@pytest.mark.parametrize('backend, case', _error_params())
def test_error_exits_2_with_one_line_and_changes_nothing(backend, case,
                                                         error_runs):
    run = error_runs(backend)[case.id]
    output = run.result.stdout + run.result.stderr

    assert run.result.returncode == 2, output
    lines = non_empty_lines(output)
    assert len(lines) == 1, output
    assert case.mentions in lines[0], lines[0]
    _assert_no_password(output)
    assert run.after == run.before, 'the cells table changed'


def test_unreachable_database_is_one_line_without_password(tmp_path):
    conf = write_cells_conf(tmp_path, UNUSED_BROKER, UNREACHABLE_DB)

    result = run_manage(conf, 'cell', 'list')

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    lines = non_empty_lines(output)
    assert len(lines) == 1, output
    assert '[database] connection' in lines[0], lines[0]
    _assert_no_password(output)


@pytest.mark.parametrize('broker, says', [
    ('no-daemon', "no answer within 2 s from this cell's nova-cells"),
    ('no-vhost', 'the broker in [DEFAULT] transport_url '
                 '(rabbit://guest:***@127.0.0.1:5672/nc-ft-never-created) '
                 'refused: '),
])
def test_tree_without_a_daemon_is_one_line_within_its_timeout(
        tmp_path, rabbit_url, synced_sqlite_url, broker, says):
    """A broker with no nova-cells listening: one line after --timeout,
    not seconds later while the transport closes; a vhost the broker
    does not have: one line at once (it was a traceback).  The
    subprocess's timeout is the hang guard (the command's, not a timing
    to assert: on a loaded machine it started and ended past 12 s)."""
    url = rabbit_url if broker == 'no-daemon' else UNUSED_BROKER
    conf = write_cells_conf(tmp_path, url, synced_sqlite_url)

    result = run_manage(conf, 'tree', '--timeout', '2')

    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    lines = non_empty_lines(output)
    assert len(lines) == 1, output
    assert lines[0].startswith('nova-cells-manage: error: ' + says), \
        lines[0]
    _assert_no_password(output)
