"""Healing the top (reference §8.2, §8.3, §10.27-29): nova_cells.top.heal on a
real SQLite database, then ``CellsManager._heal_instances`` in an
in-process tree ``api -> child -> gc`` (fake:// broker, one SQLite database
per cell), checking the top's rows."""

import datetime
import uuid

import pytest

from nova_cells import context
from nova_cells.db import instances as db_instances
from nova_cells.db import models
from nova_cells.messaging import services as cell_services
from nova_cells.top import heal
from tests.unit import tree_support

NOW = datetime.datetime(2026, 3, 1, 12, 0, 0)
LAYOUT = {'api': {'child': {'gc': {}}}}
ADMIN = context.get_admin_context()


def _uuid():
    return str(uuid.uuid4())


def add(db, **values):
    """A row as nova-compute leaves it; timestamps may be forced."""
    values.setdefault('uuid', _uuid())
    values.setdefault('display_name', 'vm')
    values.setdefault('project_id', 'p1')
    values.setdefault('vm_state', 'active')
    stamps = {k: values.pop(k) for k in ('created_at', 'updated_at',
                                         'deleted_at', 'deleted')
              if k in values}
    row = db_instances.instance_create(db, values)
    if stamps:
        with db.writer() as session:
            obj = session.get(models.Instance, row['id'])
            for key, value in stamps.items():
                setattr(obj, key, obj.id if key == 'deleted' and value
                        else value)
    return row['uuid']


# -- get_instances_to_sync --------------------------------------------------

def test_pages_through_every_instance_once(db):
    uuids = [add(db) for _ in range(7)]
    pages = []

    def shuffler(rows):
        pages.append(len(rows))
        rows.reverse()

    got = list(heal.get_instances_to_sync(db, uuids_only=True, limit=3,
                                          shuffle=True, shuffler=shuffler))
    assert sorted(got) == sorted(uuids) and len(got) == 7
    assert pages == [3, 3, 1], 'shuffled per page of `limit` rows'
    assert got[:3] == list(reversed(uuids[:3]))


@pytest.mark.parametrize('kwargs, expected', [
    pytest.param({}, {'old', 'recent', 'new', 'gone', 'other'}, id='all'),
    pytest.param({'deleted': False}, {'old', 'recent', 'new', 'other'},
                 id='not-deleted'),
    pytest.param({'updated_since': NOW - datetime.timedelta(hours=1)},
                 {'recent', 'new', 'gone'}, id='changes-since'),
    pytest.param({'project_id': 'p2'}, {'other'}, id='project'),
    pytest.param({'updated_since': NOW - datetime.timedelta(hours=1),
                  'deleted': False}, {'recent', 'new'},
                 id='changes-since-not-deleted'),
])
def test_filters(db, kwargs, expected):
    long_ago = NOW - datetime.timedelta(days=2)
    names = {
        add(db, display_name='old', created_at=long_ago,
            updated_at=long_ago): 'old',
        add(db, display_name='recent', created_at=long_ago,
            updated_at=NOW - datetime.timedelta(minutes=5)): 'recent',
        # created recently, never updated: nova's changes-since missed it
        add(db, display_name='new', created_at=NOW,
            updated_at=None): 'new',
        add(db, display_name='gone', created_at=long_ago,
            updated_at=long_ago, deleted=True, deleted_at=NOW): 'gone',
        add(db, display_name='other', project_id='p2', created_at=long_ago,
            updated_at=long_ago): 'other',
    }
    found = heal.get_instances_to_sync(db, limit=2, **kwargs)
    instances = list(found)
    assert {names[i.uuid] for i in instances} == expected
    gone = [i for i in instances if names[i.uuid] == 'gone']
    assert all(i.deleted for i in gone)
    assert not any(i.deleted for i in instances if i not in gone)


# -- the Healer alone, with a recording runner -------------------------------

class _StateManager(object):
    def __init__(self, parents):
        self.parents = parents

    def get_parent_cells(self):
        return self.parents


class RecordingRunner(object):
    """What the Healer uses of a MessageRunner; records broadcasts."""

    def __init__(self, db, parents=('api',)):
        self.services = cell_services.CellServices(db=db)
        self.state_manager = _StateManager(list(parents))
        self.our_name = 'child'
        self.sent = []

    def broadcast(self, ctxt, method_name, kwargs, direction='down',
                  need_response=False, run_locally=True, fanout=False):
        assert (direction, run_locally) == ('up', False)
        self.sent.append((method_name, kwargs['instance']))


def test_runs_progress_through_the_list(db):
    uuids = {add(db) for _ in range(5)}
    runner = RecordingRunner(db)
    healer = heal.Healer(runner, heal.HealSettings(num_instances=2))
    runs = [healer.heal(ADMIN) for _ in range(3)]
    assert [len(r) for r in runs] == [2, 2, 2]
    assert set(runs[0] + runs[1] + runs[2][:1]) == uuids, \
        'three runs of two walk the whole list, then start again'
    assert runs[2][1] in uuids
    assert [m for m, _i in runner.sent] == ['instance_update_at_top'] * 6
    sent = runner.sent[0][1]
    assert not sent.obj_what_changed(), 'sent as loaded: a full repair'


def test_deleted_instances_go_up_as_destroy(db):
    gone = add(db, deleted=True, deleted_at=datetime.datetime.utcnow())
    runner = RecordingRunner(db)
    heal.Healer(runner, heal.HealSettings(num_instances=5)).heal(ADMIN)
    assert [(m, i.uuid) for m, i in runner.sent] == [
        ('instance_destroy_at_top', gone)]


def test_one_fresh_list_per_run_at_most(db):
    only = add(db)
    runner = RecordingRunner(db)
    healer = heal.Healer(runner, heal.HealSettings(num_instances=10))
    assert healer.heal(ADMIN) == [only]
    assert healer.heal(ADMIN) == [only]


def test_threshold_limits_what_is_healed(db):
    long_ago = datetime.datetime.utcnow() - datetime.timedelta(days=3)
    add(db, created_at=long_ago, updated_at=long_ago)
    fresh = add(db)
    runner = RecordingRunner(db)
    healer = heal.Healer(runner, heal.HealSettings(
        num_instances=10, updated_at_threshold=3600))
    assert healer.heal(ADMIN) == [fresh]
    healer = heal.Healer(runner, heal.HealSettings(
        num_instances=10, updated_at_threshold=0))
    assert len(healer.heal(ADMIN)) == 2, '0: no limit'


def test_the_top_heals_nothing(db):
    add(db)
    runner = RecordingRunner(db, parents=())
    assert heal.Healer(runner, heal.HealSettings(num_instances=5)).heal(
        ADMIN) == []
    assert runner.sent == []


def test_nothing_to_heal(db):
    runner = RecordingRunner(db)
    assert heal.Healer(runner).heal(ADMIN) == []


# -- in a tree: _heal_instances puts the top right ----------------------------

@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with tree_support.running_tree(
            tmp_path_factory.mktemp('heal'), layout=LAYOUT,
            overrides={'instance_update_num_instances': 100,
                       'heal_interval': 1}) as running:
        yield running


def _row(tree, name, instance_uuid):
    try:
        return db_instances.instance_get(tree.cells[name].db, instance_uuid,
                                         read_deleted='yes')
    except Exception:
        return None


def _in_both(tree, **values):
    """An instance in gc's database and (as built) at the top."""
    instance_uuid = add(tree.cells['gc'].db, host='gc-host1',
                        task_state=None, **values)
    add(tree.cells['api'].db, uuid=instance_uuid, host='gc-host1',
        task_state=None, cell_name='api!child!gc', **values)
    return instance_uuid


def _top_matches(tree, instance_uuid, **expected):
    def check():
        row = _row(tree, 'api', instance_uuid)
        return row is not None and all(row[k] == v
                                       for k, v in expected.items())
    return tree_support.wait_until(check, timeout=5)


def test_heal_repairs_fields_changed_in_the_child(tree):
    instance_uuid = _in_both(tree)
    db_instances.instance_update(
        tree.cells['gc'].db, instance_uuid,
        {'vm_state': 'stopped', 'task_state': 'powering-on',
         'host': 'gc-host2', 'power_state': 4})
    tree.cells['gc'].manager._heal_instances(ADMIN)
    assert _top_matches(tree, instance_uuid, vm_state='stopped',
                        task_state='powering-on', host='gc-host2',
                        power_state=4, cell_name='api!child!gc')


def test_heal_recreates_a_row_missing_at_the_top(tree):
    instance_uuid = add(tree.cells['gc'].db, display_name='lost',
                        host='gc-host1', memory_mb=512)
    assert _row(tree, 'api', instance_uuid) is None
    tree.cells['gc'].manager._heal_instances(ADMIN)
    assert _top_matches(tree, instance_uuid, display_name='lost',
                        host='gc-host1', memory_mb=512, deleted=0,
                        cell_name='api!child!gc')


def test_heal_deletes_at_the_top_what_was_deleted_below(tree):
    instance_uuid = _in_both(tree)
    db_instances.instance_destroy(tree.cells['gc'].db, instance_uuid)
    tree.cells['gc'].manager._heal_instances(ADMIN)
    assert tree_support.wait_until(
        lambda: _row(tree, 'api', instance_uuid)['deleted'] != 0, timeout=5)


def test_the_periodic_task_runs_at_heal_interval(tree):
    manager = tree.cells['gc'].manager
    assert manager._periodic_spacing['_heal_instances'] == 1
    instance_uuid = _in_both(tree)
    db_instances.instance_update(tree.cells['gc'].db, instance_uuid,
                                 {'vm_state': 'paused'})
    manager._periodic_last_run['_heal_instances'] = None
    manager.run_periodic_tasks(ADMIN)
    assert _top_matches(tree, instance_uuid, vm_state='paused')


def test_the_top_does_not_heal(tree):
    assert tree.cells['api'].manager.healer.heal(ADMIN) == []
