"""The cells query API for records: task logs, instance actions and events,
migrations and keypairs, through CellsAPI over fake:// in an in-process
tree (api -> c1 (-> g1), c2); see test_queries for the services/nodes."""

import datetime
import uuid

import pytest

from nova_cells.db import actions as db_actions
from nova_cells.db import keypairs as db_keypairs
from nova_cells.db import migrations_api as db_migrations
from nova_cells.db import task_log as db_task_log
from nova_cells import exception
from nova_cells.objects import keypair as keypair_obj
from nova_cells.objects import migration as migration_obj
from tests.unit.test_queries import ADMIN
from tests.unit.test_queries import client_for
from tests.unit.test_queries import query_tree

BEGIN = datetime.datetime(2026, 3, 1, 0, 0, 0)
END = datetime.datetime(2026, 4, 1, 0, 0, 0)
INSTANCE = str(uuid.UUID(int=7))
OTHER = str(uuid.UUID(int=8))


def _seed_records(tree):
    for name in ('c1', 'g1'):
        db = tree.cells[name].db
        for host in ('%s-h1' % name, '%s-h2' % name):
            db_task_log.task_log_begin_task(db, 'instance_usage_audit',
                                            BEGIN, END, host, task_items=3)
    g1 = tree.cells['g1'].db
    first = db_actions.action_start(g1, {
        'action': 'create', 'instance_uuid': INSTANCE, 'request_id': 'req-1',
        'user_id': 'alice', 'project_id': 'demo', 'deleted': 0,
        'created_at': BEGIN})
    db_actions.action_start(g1, {
        'action': 'reboot', 'instance_uuid': INSTANCE, 'request_id': 'req-2',
        'user_id': 'alice', 'project_id': 'demo', 'deleted': 0,
        'created_at': END})
    for event in ('compute__do_build_and_run_instance', 'schedule'):
        db_actions.action_event_start(g1, {
            'event': event, 'action_id': first['id'], 'result': 'Success',
            'host': 'g1-h1', 'deleted': 0})
    for name, status in (('c1', 'finished'), ('g1', 'migrating'),
                         ('g1', 'finished'), ('c2', 'error')):
        db_migrations.migration_create(tree.cells[name].db, {
            'uuid': str(uuid.uuid4()), 'source_compute': name + '-h1',
            'dest_compute': name + '-h2', 'instance_uuid': INSTANCE,
            'status': status, 'migration_type': 'resize', 'hidden': False,
            'deleted': 0})
    db_keypairs.key_pair_create(tree.cells['api'].db, {
        'name': 'mykey', 'user_id': 'alice', 'fingerprint': 'aa:bb',
        'public_key': 'ssh-rsa AAAA alice', 'type': 'ssh', 'deleted': 0})
    # a keypair in a child's DB is never what get_keypair_at_top returns
    db_keypairs.key_pair_create(tree.cells['c1'].db, {
        'name': 'mykey', 'user_id': 'alice', 'fingerprint': 'zz',
        'public_key': 'ssh-rsa child copy', 'type': 'ssh', 'deleted': 0})


@pytest.fixture(scope='module')
def qtree(tmp_path_factory):
    with query_tree(tmp_path_factory.mktemp('records')) as (tree, api):
        _seed_records(tree)
        tree.start_cells_rpc('g1')
        yield tree, api


@pytest.fixture
def api(qtree):
    return qtree[1]


# -- task_log_get_all ---------------------------------------------------------

def test_task_log_get_all_everywhere(api):
    logs = api.task_log_get_all(ADMIN, 'instance_usage_audit', BEGIN, END)
    assert sorted(entry['host'] for entry in logs) == [
        'api!c1!g1@g1-h1', 'api!c1!g1@g1-h2', 'api!c1@c1-h1',
        'api!c1@c1-h2']
    for entry in logs:
        cell = entry['host'].split('@')[0]
        assert entry['id'].startswith(cell + '@')
        assert entry['state'] == 'RUNNING' and entry['task_items'] == 3


def test_task_log_get_all_one_cell_and_one_host(api):
    logs = api.task_log_get_all(ADMIN, 'instance_usage_audit', BEGIN, END,
                                host='api!c1!g1')
    assert sorted(e['host'] for e in logs) == ['api!c1!g1@g1-h1',
                                               'api!c1!g1@g1-h2']
    logs = api.task_log_get_all(ADMIN, 'instance_usage_audit', BEGIN, END,
                                host='api!c1@c1-h2', state='RUNNING')
    assert [e['host'] for e in logs] == ['api!c1@c1-h2']
    assert api.task_log_get_all(ADMIN, 'instance_usage_audit', BEGIN, END,
                                host='api!c1@c1-h2', state='DONE') == []
    assert api.task_log_get_all(ADMIN, 'other', BEGIN, END) == []


def test_task_log_get_all_unknown_cell(api):
    with pytest.raises(exception.CellRoutingInconsistency):
        api.task_log_get_all(ADMIN, 'instance_usage_audit', BEGIN, END,
                             host='api!nope@h')


# -- instance actions ---------------------------------------------------------

def _instance(cell_name, instance_uuid=INSTANCE):
    return {'uuid': instance_uuid, 'cell_name': cell_name}


def test_actions_get_newest_first(api):
    actions = api.actions_get(ADMIN, _instance('api!c1!g1'))
    assert [a['action'] for a in actions] == ['reboot', 'create']
    assert actions[0]['request_id'] == 'req-2'
    assert api.actions_get(ADMIN, _instance('api!c1!g1', OTHER)) == []


def test_action_get_by_request_id_and_events(api):
    action = api.action_get_by_request_id(ADMIN, _instance('api!c1!g1'),
                                          'req-1')
    assert action['action'] == 'create'
    events = api.action_events_get(ADMIN, _instance('api!c1!g1'),
                                   action['id'])
    assert sorted(e['event'] for e in events) == [
        'compute__do_build_and_run_instance', 'schedule']
    assert api.action_get_by_request_id(ADMIN, _instance('api!c1!g1'),
                                        'req-nope') is None


@pytest.mark.parametrize('method, args', [
    ('actions_get', ()),
    ('action_get_by_request_id', ('req-1',)),
    ('action_events_get', (1,)),
])
def test_actions_without_cell_raise_instance_unknown_cell(api, method,
                                                          args):
    with pytest.raises(exception.InstanceUnknownCell):
        getattr(api, method)(ADMIN, _instance(None), *args)


def test_actions_of_unknown_cell(api):
    with pytest.raises(exception.CellRoutingInconsistency):
        api.actions_get(ADMIN, _instance('api!ghost'))


# -- get_migrations -----------------------------------------------------------

def _statuses(migrations):
    assert isinstance(migrations, migration_obj.MigrationList)
    return sorted(m.status for m in migrations)


def test_get_migrations_everywhere_below(api):
    assert _statuses(api.get_migrations(ADMIN, {})) == [
        'error', 'finished', 'finished', 'migrating']
    assert _statuses(api.get_migrations(ADMIN, {'status': 'finished'})) == \
        ['finished', 'finished']
    assert _statuses(api.get_migrations(ADMIN, {'host': 'g1-h2'})) == [
        'finished', 'migrating']


def test_get_migrations_of_one_cell(api):
    assert _statuses(api.get_migrations(ADMIN, {'cell_name': 'c2'})) == \
        ['error']
    # deeper than the immediate children (nova could not: §10.34)
    assert _statuses(api.get_migrations(ADMIN, {'cell_name': 'c1!g1'})) == \
        ['finished', 'migrating']
    assert _statuses(api.get_migrations(ADMIN,
                                        {'cell_name': 'api!c1'})) == \
        ['finished']


def test_get_migrations_of_unknown_cell_is_empty(api):
    assert list(api.get_migrations(ADMIN, {'cell_name': 'ghost'})) == []


# -- get_keypair_at_top -------------------------------------------------------

def test_get_keypair_at_top_from_a_grandchild(qtree):
    tree, _api = qtree
    g1 = client_for(tree, 'g1')
    keypair = g1.get_keypair_at_top(ADMIN, 'alice', 'mykey')
    assert isinstance(keypair, keypair_obj.KeyPair)
    assert keypair.public_key == 'ssh-rsa AAAA alice'
    assert keypair.fingerprint == 'aa:bb'


def test_get_keypair_at_top_missing(qtree):
    tree, _api = qtree
    g1 = client_for(tree, 'g1')
    with pytest.raises(exception.KeypairNotFound):
        g1.get_keypair_at_top(ADMIN, 'alice', 'nope')


def test_get_keypair_at_top_at_the_top_itself(api):
    # the API cell has no parents: nobody above to ask
    with pytest.raises(exception.KeypairNotFound):
        api.get_keypair_at_top(ADMIN, 'alice', 'mykey')
