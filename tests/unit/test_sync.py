"""Instance sync through the cells RPC API (reference §4.12, §5.3):
``CellsAPI`` against the ``cells`` topic of cells in an in-process tree
``api -> child -> gc`` (+ ``child2``), checking every cell's database; and
what the client puts on the wire at each version cap."""

import datetime
import uuid

import pytest

from nova_cells import conf as nc_conf
from nova_cells import context
from nova_cells.db import instances as db_instances
from nova_cells.endpoints import sync as sync_endpoint
from nova_cells.objects import instance as instance_obj
from nova_cells.objects import instance_info_cache as info_cache_obj
from nova_cells import rpcapi
from tests.unit import tree_support

LAYOUT = {'api': {'child': {'gc': {}}, 'child2': {}}}
ADMIN = context.get_admin_context()
GC_PATH = 'api!child!gc'


def _uuid():
    return str(uuid.uuid4())


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with tree_support.running_tree(tmp_path_factory.mktemp('sync'),
                                   layout=LAYOUT) as running:
        running.start_cells_rpc('api')
        running.start_cells_rpc('gc')
        yield running


def row(tree, name, instance_uuid):
    try:
        return db_instances.instance_get(tree.cells[name].db, instance_uuid,
                                         read_deleted='yes')
    except Exception:
        return None


def add(tree, name, **values):
    values.setdefault('uuid', _uuid())
    values.setdefault('display_name', 'vm')
    values.setdefault('project_id', 'p1')
    values.setdefault('vm_state', 'active')
    return db_instances.instance_create(tree.cells[name].db, values)['uuid']


def in_gc_and_top(tree, **values):
    instance_uuid = add(tree, 'gc', host='gc-host1', **values)
    add(tree, 'api', uuid=instance_uuid, host='gc-host1',
        cell_name=GC_PATH, **values)
    return instance_uuid


def eventually(check, timeout=5):
    return tree_support.wait_until(check, timeout=timeout)


def top_has(tree, instance_uuid, **expected):
    def check():
        found = row(tree, 'api', instance_uuid)
        return found is not None and all(found[k] == v
                                         for k, v in expected.items())
    return eventually(check)


# -- sync_instances (1.1) -----------------------------------------------------

def test_sync_instances_repairs_stale_missing_and_deleted(tree):
    stale = in_gc_and_top(tree)
    db_instances.instance_update(tree.cells['gc'].db, stale,
                                 {'vm_state': 'error', 'host': 'gc-host9'})
    missing = add(tree, 'gc', display_name='missing', host='gc-host1')
    deleted = in_gc_and_top(tree)
    db_instances.instance_destroy(tree.cells['gc'].db, deleted)

    tree.cells_api('api').sync_instances(ADMIN, deleted=True)

    assert top_has(tree, stale, vm_state='error', host='gc-host9',
                   cell_name=GC_PATH)
    assert top_has(tree, missing, display_name='missing', deleted=0,
                   cell_name=GC_PATH)
    assert eventually(lambda: row(tree, 'api', deleted)['deleted'] != 0)


def test_sync_instances_filters_by_project_and_time(tree):
    mine = add(tree, 'gc', project_id='p-sync')
    other = add(tree, 'gc', project_id='p-other')
    since = datetime.datetime.utcnow() - datetime.timedelta(minutes=5)
    tree.cells_api('api').sync_instances(ADMIN, project_id='p-sync',
                                         updated_since=since)
    assert top_has(tree, mine, project_id='p-sync')
    # a sync of everything after it: once it is applied, the first had
    # long been applied, and `other` was not part of it
    marker = add(tree, 'gc', project_id='p-sync')
    tree.cells_api('api').sync_instances(ADMIN, project_id='p-sync')
    assert top_has(tree, marker)
    assert row(tree, 'api', other) is None


def test_sync_instances_is_not_run_at_the_top(tree):
    only_at_top = add(tree, 'api', vm_state='building')
    tree.cells_api('api').sync_instances(ADMIN)
    marker = add(tree, 'gc')
    tree.cells_api('api').sync_instances(ADMIN)
    assert top_has(tree, marker)
    assert row(tree, 'api', only_at_top)['cell_name'] is None


# -- instance_delete_everywhere (1.27) ----------------------------------------

def test_hard_delete_everywhere(tree):
    instance_uuid = in_gc_and_top(tree)
    instance = instance_obj.Instance(uuid=instance_uuid)
    tree.cells_api('api').instance_delete_everywhere(ADMIN, instance, 'hard')
    assert eventually(
        lambda: row(tree, 'api', instance_uuid)['deleted'] != 0)
    assert row(tree, 'gc', instance_uuid)['deleted'] != 0
    assert row(tree, 'child', instance_uuid) is None
    assert row(tree, 'child2', instance_uuid) is None


def test_soft_delete_everywhere_keeps_the_rows(tree):
    instance_uuid = in_gc_and_top(tree)
    tree.cells_api('api').instance_delete_everywhere(
        ADMIN, instance_obj.Instance(uuid=instance_uuid), 'soft')
    assert top_has(tree, instance_uuid, vm_state='soft-delete',
                   task_state=None, deleted=0)
    below = row(tree, 'gc', instance_uuid)
    assert (below['vm_state'], below['deleted']) == ('soft-delete', 0)
    assert below['deleted_at'] is not None


def test_delete_everywhere_of_an_unknown_instance_changes_nothing(tree):
    before = db_instances.instance_get_all(tree.cells['gc'].db,
                                           read_deleted='yes')
    tree.cells_api('api').instance_delete_everywhere(
        ADMIN, instance_obj.Instance(uuid=_uuid()), 'hard')
    marker = add(tree, 'gc')
    tree.cells_api('api').sync_instances(ADMIN)
    assert top_has(tree, marker)
    after = db_instances.instance_get_all(tree.cells['gc'].db,
                                          read_deleted='yes')
    assert [r for r in after if r['uuid'] != marker] == before


# -- the *_at_top casts of a compute cell (1.0, 1.35) -------------------------

def test_instance_update_at_top_from_a_grandchild(tree):
    instance_uuid = in_gc_and_top(tree, vm_state='building')
    update = instance_obj.Instance(uuid=instance_uuid)
    update.obj_reset_changes()
    update.vm_state = 'active'
    update.host = 'gc-host3'
    tree.cells_api('gc').instance_update_at_top(ADMIN, update)
    assert top_has(tree, instance_uuid, vm_state='active', host='gc-host3',
                   cell_name=GC_PATH)


def test_the_top_applies_an_update_unlooked_up_and_a_copy_never(
        tree, monkeypatch):
    """The top's inbox does not look an update up before the TopWriter
    writes it with its mark; a copy that comes again later (its
    confirmation lost) is found by that mark and not applied over a newer
    state."""
    from nova_cells.db import outbox as db_outbox
    api_db = tree.cells['api'].db
    lookups = []
    real_contains = db_outbox.inbox_contains

    def counting(database, message_uuid):
        if database is api_db:
            lookups.append(message_uuid)
        return real_contains(database, message_uuid)
    monkeypatch.setattr(db_outbox, 'inbox_contains', counting)
    sent_up = []
    child_driver = tree.cells['child'].driver
    real_deliver = child_driver.deliver_message_to_cell

    def recording(cell_state, message_type, text, ctxt, timeout):
        sent_up.append(text)
        return real_deliver(cell_state, message_type, text, ctxt, timeout)
    monkeypatch.setattr(child_driver, 'deliver_message_to_cell', recording)

    instance_uuid = in_gc_and_top(tree, vm_state='building')
    for state in ('active', 'stopped'):
        update = instance_obj.Instance(uuid=instance_uuid)
        update.obj_reset_changes()
        update.vm_state = state
        tree.cells_api('gc').instance_update_at_top(ADMIN, update)
        assert top_has(tree, instance_uuid, vm_state=state)
    first_copy = [t for t in sent_up if '"active"' in t]
    assert len(first_copy) == 1
    assert lookups == []

    assert tree.cells['api'].runner.process_json(first_copy[0]) is None
    assert row(tree, 'api', instance_uuid)['vm_state'] == 'stopped'


class _CountingSerializer(object):
    """The runner's serializer, counting what it decodes."""

    def __init__(self, real):
        self.real = real
        self.decoded = []

    def deserialize_entity(self, ctxt, value):
        self.decoded.append(value)
        return self.real.deserialize_entity(ctxt, value)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_a_middle_cell_passes_an_update_up_without_decoding_it(
        tree, monkeypatch):
    """``instance_update_at_top`` does nothing below the top: the child
    forwards the primitive as received and the top alone decodes it."""
    counters = {}
    for name in ('child', 'api'):
        runner = tree.cells[name].runner
        counters[name] = _CountingSerializer(runner.serializer)
        monkeypatch.setattr(runner, 'serializer', counters[name])
    instance_uuid = in_gc_and_top(tree, vm_state='building')
    update = instance_obj.Instance(uuid=instance_uuid)
    update.obj_reset_changes()
    update.vm_state = 'active'
    tree.cells_api('gc').instance_update_at_top(ADMIN, update)
    assert top_has(tree, instance_uuid, vm_state='active', cell_name=GC_PATH)
    assert counters['child'].decoded == []
    assert counters['api'].decoded


def test_instance_destroy_at_top_from_a_grandchild(tree):
    instance_uuid = in_gc_and_top(tree)
    tree.cells_api('gc').instance_destroy_at_top(
        ADMIN, instance_obj.Instance(uuid=instance_uuid))
    assert eventually(
        lambda: row(tree, 'api', instance_uuid)['deleted'] != 0)


def test_instance_fault_create_at_top_from_a_grandchild(tree):
    instance_uuid = in_gc_and_top(tree)
    tree.cells_api('gc').instance_fault_create_at_top(
        ADMIN, {'id': 42, 'instance_uuid': instance_uuid, 'code': 500,
                'message': 'boom', 'details': 'trace', 'host': 'gc-host1',
                'created_at': datetime.datetime.utcnow()})
    faults = eventually(lambda: db_instances.instance_fault_get_by_instance(
        tree.cells['api'].db, instance_uuid))
    assert [(f['message'], f['code'], f['host']) for f in faults] == [
        ('boom', 500, 'gc-host1')]


def test_info_cache_update_at_top_from_a_grandchild(tree):
    instance_uuid = add(tree, 'gc')
    add(tree, 'api', uuid=instance_uuid, cell_name=None)
    cache = info_cache_obj.InstanceInfoCache(instance_uuid=instance_uuid)
    tree.cells_api('gc').instance_info_cache_update_at_top(ADMIN, cache)
    assert top_has(tree, instance_uuid, cell_name=GC_PATH)


def test_instance_update_at_top_capped_at_kilo(tree, tmp_path):
    instance_uuid = in_gc_and_top(tree)
    conf_file = tmp_path / 'kilo.conf'
    conf_file.write_text('[upgrade_levels]\ncells = kilo\n')
    conf = nc_conf.new_config(['--config-file', str(conf_file)])
    gc = tree.cells['gc']
    api = rpcapi.CellsAPI(conf, tree._transport('gc'),
                          serializer=gc.runner.serializer,
                          exchange=tree.exchange_for_url(tree.url_of('gc')))
    update = instance_obj.Instance(uuid=instance_uuid, vm_state='rescued',
                                   launched_at=datetime.datetime(2026, 1, 1))
    api.instance_update_at_top(ADMIN, update)
    assert top_has(tree, instance_uuid, vm_state='rescued',
                   launched_at=datetime.datetime(2026, 1, 1))


# -- what goes on the wire ----------------------------------------------------

class _Prepared(object):
    def __init__(self, log, version):
        self.log, self.version = log, version

    def cast(self, ctxt, method, **kwargs):
        self.log.append((self.version, method, kwargs))


class _Client(object):
    def __init__(self, cap):
        self.cap = cap
        self.log = []

    def can_send_version(self, version):
        return tuple(map(int, version.split('.'))) <= \
            tuple(map(int, self.cap.split('.')))

    def prepare(self, version):
        assert self.can_send_version(version), version
        return _Prepared(self.log, version)


def _api(cap):
    api = rpcapi.CellsAPI.__new__(rpcapi.CellsAPI)
    api.client = _Client(cap)
    return api


def _instance():
    return instance_obj.Instance(uuid='4f0d3c5e-6a7b-4c8d-9e0f-1a2b3c4d5e6f',
                                 vm_state='active',
                                 launched_at=datetime.datetime(2026, 1, 1))


@pytest.mark.parametrize('method, cap, version, as_dict', [
    pytest.param('instance_update_at_top', '1.38', '1.35', False,
                 id='update-1.35'),
    pytest.param('instance_update_at_top', '1.34', '1.34', True,
                 id='update-1.34'),
    pytest.param('instance_destroy_at_top', '1.38', '1.35', False,
                 id='destroy-1.35'),
    pytest.param('instance_destroy_at_top', '1.34', '1.34', True,
                 id='destroy-1.34'),
])
def test_at_top_versions(method, cap, version, as_dict):
    api = _api(cap)
    getattr(api, method)(ADMIN, _instance())
    [(sent_version, sent_method, kwargs)] = api.client.log
    assert (sent_version, sent_method) == (version, method)
    if as_dict:
        assert kwargs['instance'] == {
            'uuid': '4f0d3c5e-6a7b-4c8d-9e0f-1a2b3c4d5e6f',
            'vm_state': 'active', 'launched_at': '2026-01-01T00:00:00.000000',
            'name': ''}, "nova's obj_to_primitive, extra fields too"
    else:
        assert isinstance(kwargs['instance'], instance_obj.Instance)


@pytest.mark.parametrize('cap, version', [('1.27', '1.27'), ('1.26', '1.0')],
                         ids=['objects', 'primitive'])
def test_delete_everywhere_versions(cap, version):
    api = _api(cap)
    api.instance_delete_everywhere(ADMIN, _instance(), 'soft')
    [(sent_version, method, kwargs)] = api.client.log
    assert (sent_version, method, kwargs['delete_type']) == (
        version, 'instance_delete_everywhere', 'soft')
    assert isinstance(kwargs['instance'], dict) == (version == '1.0')


def test_info_cache_update_goes_as_instance_update():
    api = _api('1.38')
    cache = info_cache_obj.InstanceInfoCache(instance_uuid=_uuid())
    api.instance_info_cache_update_at_top(ADMIN, cache)
    [(version, method, kwargs)] = api.client.log
    assert (version, method) == ('1.35', 'instance_update_at_top')
    sent = kwargs['instance']
    assert (sent.uuid, sent.info_cache) == (cache.instance_uuid, cache)


def test_sync_instances_and_fault_wire():
    api = _api('1.38')
    api.sync_instances(ADMIN, project_id='p',
                       updated_since=datetime.datetime(2026, 1, 2, 3, 4, 5))
    api.instance_fault_create_at_top(ADMIN, {
        'id': 7, 'instance_uuid': 'u', 'code': 500,
        'created_at': datetime.datetime(2026, 1, 1)})
    assert api.client.log == [
        ('1.1', 'sync_instances', {'project_id': 'p',
                                   'updated_since': '2026-01-02T03:04:05',
                                   'deleted': False}),
        ('1.0', 'instance_fault_create_at_top', {'instance_fault': {
            'id': 7, 'instance_uuid': 'u', 'code': 500,
            'created_at': '2026-01-01T00:00:00.000000'}})]


def test_server_upgrades_primitive_instances():
    upgraded = sync_endpoint.instance_from_primitive(
        {'uuid': 'x', 'vm_state': 'active', 'deleted': True,
         'launched_at': '2026-01-01T00:00:00.000000', 'bogus': 1,
         'flavor': {'nova_object.name': 'Flavor'}})
    assert isinstance(upgraded, instance_obj.Instance)
    assert (upgraded.uuid, upgraded.vm_state, upgraded.deleted) == (
        'x', 'active', True)
    assert upgraded.launched_at.year == 2026
    assert not upgraded.obj_attr_is_set('flavor')
