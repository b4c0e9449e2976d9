"""Instance sync at the top (reference §4.12 and its expected-state guards,
§10.27-28): nova_cells.top.instances.update_at_top, destroy_at_top and
fault_create_at_top on a real SQLite database."""

import datetime
import uuid

import pytest

from nova_cells.db import instances as db_instances
from nova_cells.db import models
from nova_cells.top import instances
from nova_cells.objects import instance as instance_obj

CELL = 'api!child1!gc2'


def _uuid():
    return str(uuid.uuid4())


def top_row(db, instance_uuid):
    return db_instances.instance_get(db, instance_uuid, read_deleted='yes')


def seed(db, **values):
    values.setdefault('uuid', _uuid())
    values.setdefault('display_name', 'vm')
    values.setdefault('cell_name', 'api!old')
    return db_instances.instance_create(db, values)


def unchanged(**fields):
    """An Instance as heal / sync_instances send it: loaded, no changes."""
    instance = instance_obj.Instance(**fields)
    instance.obj_reset_changes()
    assert not instance.obj_what_changed()
    return instance


# -- creating and applying ----------------------------------------------------

@pytest.mark.parametrize('make', [
    pytest.param(lambda u: instance_obj.Instance(
        uuid=u, display_name='new-vm', vm_state='building',
        task_state='scheduling', host=None, project_id='p'),
        id='changed-fields'),
    pytest.param(lambda u: unchanged(
        uuid=u, display_name='new-vm', vm_state='building',
        task_state='scheduling', host=None, project_id='p'),
        id='no-changes-heal'),
])
def test_update_of_a_missing_row_creates_it_with_cell_name(db, make):
    instance_uuid = _uuid()
    row = instances.update_at_top(db, make(instance_uuid), CELL)
    stored = top_row(db, instance_uuid)
    assert row['id'] == stored['id']
    assert {k: stored[k] for k in ('cell_name', 'display_name', 'vm_state',
                                   'task_state', 'project_id', 'deleted')} \
        == {'cell_name': CELL, 'display_name': 'new-vm',
            'vm_state': 'building', 'task_state': 'scheduling',
            'project_id': 'p', 'deleted': 0}


def test_update_applies_only_the_changed_fields(db):
    row = seed(db, host='h1', display_name='old-name', vm_state='building',
               task_state='spawning')
    update = unchanged(uuid=row['uuid'], host='stale-host',
                       display_name='stale-name')
    update.vm_state = 'active'
    update.task_state = None
    instances.update_at_top(db, update, CELL)
    stored = top_row(db, row['uuid'])
    assert (stored['vm_state'], stored['task_state']) == ('active', None)
    assert (stored['host'], stored['display_name']) == ('h1', 'old-name'), \
        'fields not marked changed are left alone'
    assert stored['cell_name'] == CELL


def test_update_without_changes_repairs_stale_values(db):
    # §10.27: nova applied nothing but cell_name from a heal/sync update
    row = seed(db, host='h1', vm_state='building', task_state='spawning',
               power_state=0, display_name='vm')
    heal = unchanged(uuid=row['uuid'], host='h2', vm_state='active',
                     task_state=None, power_state=1, display_name='vm')
    instances.update_at_top(db, heal, CELL)
    stored = top_row(db, row['uuid'])
    assert {k: stored[k] for k in ('host', 'vm_state', 'task_state',
                                   'power_state', 'cell_name')} == {
        'host': 'h2', 'vm_state': 'active', 'task_state': None,
        'power_state': 1, 'cell_name': CELL}


def test_fields_the_top_never_takes_from_below(db):
    row = seed(db, display_name='vm')
    update = instance_obj.Instance(uuid=row['uuid'], id=row['id'] + 1000,
                                   cell_name='bogus', metadata={'k': 'v'},
                                   display_name='renamed')
    instances.update_at_top(db, update, CELL)
    stored = top_row(db, row['uuid'])
    assert (stored['id'], stored['cell_name'], stored['display_name']) == (
        row['id'], CELL, 'renamed')


def test_update_after_destroy_does_not_resurrect_a_second_row(db):
    row = seed(db, vm_state='active')
    instances.destroy_at_top(db, row['uuid'])
    instances.update_at_top(
        db, instance_obj.Instance(uuid=row['uuid'], host='late'), CELL)
    rows = [r for r in db_instances.instance_get_all(db, read_deleted='yes')
            if r['uuid'] == row['uuid']]
    assert len(rows) == 1 and rows[0]['deleted'] != 0
    assert rows[0]['host'] == 'late'


# -- expected-state guards ----------------------------------------------------

@pytest.mark.parametrize('vm_state, task_state, expected', [
    pytest.param('building', None,
                 {'expected_vm_state': ['building', None]}, id='building'),
    pytest.param('active', 'rebuild_block_device_mapping',
                 {'expected_task_state': ['rebuild_block_device_mapping',
                                          'rebuilding']},
                 id='rebuild_block_device_mapping'),
    pytest.param('active', 'rebuild_spawning',
                 {'expected_task_state': ['rebuild_spawning',
                                          'rebuild_block_device_mapping',
                                          'rebuilding']},
                 id='rebuild_spawning'),
    pytest.param('active', 'resize_migrating',
                 {'expected_task_state': ['resize_migrating',
                                          'resize_prep']},
                 id='resize_migrating'),
    pytest.param('active', 'resize_migrated',
                 {'expected_task_state': ['resize_migrated',
                                          'resize_migrating',
                                          'resize_prep']},
                 id='resize_migrated'),
    pytest.param('active', 'resize_finish',
                 {'expected_task_state': ['resize_finish', 'resize_migrated',
                                          'resize_migrating', 'resize_prep']},
                 id='resize_finish'),
    pytest.param('building', 'resize_prep',
                 {'expected_vm_state': ['building', None]},
                 id='other-task-state-no-expectation'),
    pytest.param('active', 'spawning', {}, id='no-expectation'),
])
def test_expected_states_are_novas(vm_state, task_state, expected):
    instance = instance_obj.Instance(uuid=_uuid(), vm_state=vm_state,
                                     task_state=task_state)
    assert instances.expected_states(instance) == expected


# (top vm_state, top task_state, update fields, applied?)
GUARD_CASES = [
    pytest.param('active', None, {'vm_state': 'building'}, False,
                 id='late-building-does-not-overwrite-active'),
    pytest.param('error', None, {'vm_state': 'building'}, False,
                 id='late-building-does-not-overwrite-error'),
    pytest.param('building', 'scheduling', {'vm_state': 'building'}, True,
                 id='building-over-building'),
    pytest.param(None, None, {'vm_state': 'building'}, True,
                 id='building-over-unset'),
    pytest.param('active', 'resize_finish', {'task_state': 'resize_migrated'},
                 False, id='resize_migrated-after-resize_finish-dropped'),
    pytest.param('active', 'resize_migrating',
                 {'task_state': 'resize_migrated'}, True,
                 id='resize_migrated-after-resize_migrating'),
    pytest.param('active', 'resize_prep', {'task_state': 'resize_finish'},
                 True, id='resize_finish-after-resize_prep'),
    pytest.param('active', None, {'task_state': 'resize_migrating'}, False,
                 id='resize_migrating-after-resize-done-dropped'),
    pytest.param('active', 'rebuilding', {'task_state': 'rebuild_spawning'},
                 True, id='rebuild_spawning-after-rebuilding'),
    pytest.param('active', None, {'task_state': 'rebuild_spawning'}, False,
                 id='rebuild_spawning-after-rebuild-done-dropped'),
    pytest.param('active', 'deleting', {'task_state': 'spawning'}, True,
                 id='unguarded-task-state-always-applied'),
]


@pytest.mark.parametrize('top_vm, top_task, update, applied', GUARD_CASES)
def test_out_of_order_updates_are_dropped(db, top_vm, top_task, update,
                                          applied):
    row = seed(db, vm_state=top_vm, task_state=top_task, host='h1')
    result = instances.update_at_top(
        db, instance_obj.Instance(uuid=row['uuid'], host='h2', **update),
        CELL)
    stored = top_row(db, row['uuid'])
    if applied:
        assert result is not None
        assert {k: stored[k] for k in update} == update
        assert stored['host'] == 'h2'
    else:
        assert result is None, 'dropped'
        assert (stored['vm_state'], stored['task_state'], stored['host'],
                stored['cell_name']) == (top_vm, top_task, 'h1', 'api!old'), \
            'nothing of a dropped update is written'


# -- destroy and faults -------------------------------------------------------

def test_destroy_of_a_missing_row_is_fine(db):
    assert instances.destroy_at_top(db, _uuid()) is None


def test_destroy_soft_deletes_the_row_as_the_original(db):
    """nova's top only soft-deleted: the state, termination time and
    update time stay as they were."""
    row = seed(db, vm_state='active')
    destroyed = instances.destroy_at_top(db, row['uuid'])
    stored, = [r for r in db_instances.instance_get_all(db, 'yes')
               if r['uuid'] == row['uuid']]
    assert stored['deleted'] == destroyed['deleted'] == row['id']
    assert stored['deleted_at'] is not None
    assert (stored['vm_state'], stored['task_state'], stored['terminated_at'],
            stored['updated_at']) == (
        'active', row['task_state'], row['terminated_at'],
        row['updated_at'])
    assert instances.destroy_at_top(db, row['uuid']) is None, 'twice is fine'


def test_destroy_soft_deletes_the_instances_other_rows(db):
    row = seed(db, vm_state='active')
    uuid = row['uuid']
    with db.writer() as session:
        for model in (models.InstanceExtra, models.InstanceInfoCache,
                      models.InstanceSystemMetadata, models.InstanceMetadata,
                      models.BlockDeviceMapping, models.InstanceFault):
            values = {'instance_uuid': uuid, 'deleted': 0}
            if model in (models.InstanceSystemMetadata,
                         models.InstanceMetadata):
                values.update(key='k', value='v')
            if model is models.InstanceFault:
                values['code'] = 500
            session.add(model(**values))
        session.add(models.InstanceIdMapping(uuid=uuid, deleted=0))
        session.add(models.InstanceAction(instance_uuid=uuid, deleted=0,
                                          action='create'))
        session.add(models.Tag(resource_id=uuid, tag='t'))
    instances.destroy_at_top(db, uuid)
    with db.reader() as session:
        def live(model, column='instance_uuid'):
            return session.query(model).filter(
                getattr(model, column) == uuid, model.deleted == 0).count()
        assert [live(m) for m in (
            models.InstanceExtra, models.InstanceInfoCache,
            models.InstanceSystemMetadata, models.InstanceMetadata,
            models.BlockDeviceMapping, models.InstanceFault)] == [0] * 6
        assert live(models.InstanceIdMapping, 'uuid') == 0
        # Kept for operators, as nova kept them.
        assert live(models.InstanceAction) == 1
        assert session.query(models.Tag).count() == 0


@pytest.mark.parametrize('created_at, expected', [
    pytest.param('2026-03-01T12:00:00.000000', datetime.datetime(
        2026, 3, 1, 12, 0, 0), id='naive-iso-from-to_primitive'),
    pytest.param('2026-03-01T12:00:00Z', datetime.datetime(
        2026, 3, 1, 12, 0, 0), id='iso-z'),
    pytest.param('2026-03-01T12:00:00+00:00', datetime.datetime(
        2026, 3, 1, 12, 0, 0), id='iso-utc-offset'),
    pytest.param('2026-03-01T14:00:00+02:00', datetime.datetime(
        2026, 3, 1, 12, 0, 0), id='iso-other-offset-converted-to-utc'),
    pytest.param(datetime.datetime(2026, 3, 1, 12, 0, 0), datetime.datetime(
        2026, 3, 1, 12, 0, 0), id='datetime'),
])
def test_fault_create_accepts_iso_string_dates(db, created_at, expected):
    instance_uuid = _uuid()
    fault = {'id': 77, 'instance_uuid': instance_uuid, 'code': 500,
             'message': 'No valid host was found.', 'details': 'trace',
             'host': 'gc2-host1', 'created_at': created_at,
             'updated_at': None, 'deleted_at': None, 'deleted': False}
    instances.fault_create_at_top(db, fault)
    stored, = db_instances.instance_fault_get_by_instance(db, instance_uuid)
    assert stored['created_at'] == expected
    assert (stored['message'], stored['details'], stored['host'],
            stored['code']) == ('No valid host was found.', 'trace',
                                'gc2-host1', 500)
    assert fault['created_at'] == created_at, 'the input is not changed'


def test_update_with_aware_non_utc_datetime_is_stored_as_utc(db):
    row = seed(db, vm_state='building')
    tz = datetime.timezone(datetime.timedelta(hours=2))
    update = instance_obj.Instance(
        uuid=row['uuid'], vm_state='active',
        launched_at=datetime.datetime(2026, 3, 1, 14, 0, 0, tzinfo=tz))
    instances.update_at_top(db, update, CELL)
    assert top_row(db, row['uuid'])['launched_at'] == datetime.datetime(
        2026, 3, 1, 12, 0, 0), 'naive UTC in the database, as nova'


# -- an update from the wire: only what it reads is decoded -------------------

def _wire(instance):
    from nova_cells.objects import base as objects_base
    objects_base.register_all()
    return objects_base.NovaObjectSerializer().serialize_entity(None,
                                                                instance)


def _decode(primitive):
    from nova_cells.objects import base as objects_base
    return objects_base.NovaObjectSerializer().deserialize_entity(
        None, primitive)


def _placed(instance_uuid):
    """A loaded instance with its placement changed, as a leaf sends it."""
    from nova_cells.objects import flavor as flavor_obj
    instance = instance_obj.Instance(
        uuid=instance_uuid, display_name='vm', project_id='p',
        user_id='u', vm_state='building', task_state='scheduling',
        hostname='vm', system_metadata={'image_min_ram': '0'},
        flavor=flavor_obj.Flavor(id=7, memory_mb=512, vcpus=1, root_gb=1,
                                 ephemeral_gb=0, flavorid='7', name='t'))
    instance.obj_reset_changes()
    instance.host, instance.node = 'h1', 'h1'
    instance.vm_state, instance.task_state = 'active', None
    return instance


def test_an_update_decodes_only_what_it_reads(db):
    instance_uuid = _uuid()
    seed(db, uuid=instance_uuid, vm_state='building',
         task_state='scheduling')
    primitive = _wire(_placed(instance_uuid))
    decoded = []

    def deserialize(value):
        decoded.append(value)
        return _decode(value)
    part, whole = instances.decode_update(primitive, deserialize)
    assert set(decoded[0]['nova_object.data']) == {
        'uuid', 'host', 'node', 'vm_state', 'task_state', 'flavor'}
    # It writes what the whole instance would have written.
    full = _decode(primitive)
    assert instances.top_update(part, CELL).values == \
        instances.top_update(full, CELL).values
    assert instances.expected_states(part) == \
        instances.expected_states(full)
    row = instances.update_at_top(db, part, CELL, whole)
    assert (row['host'], row['vm_state'], row['memory_mb'],
            row['display_name']) == ('h1', 'active', 512, 'vm')
    assert len(decoded) == 1        # the row was there: no whole decode


def test_a_missing_row_is_created_from_the_whole_instance(db):
    instance_uuid = _uuid()
    part, whole = instances.decode_update(_wire(_placed(instance_uuid)),
                                          _decode)
    row = instances.update_at_top(db, part, CELL, whole)
    stored = top_row(db, instance_uuid)
    assert row['id'] == stored['id']
    assert (stored['display_name'], stored['hostname'], stored['user_id'],
            stored['host'], stored['cell_name']) == ('vm', 'vm', 'u', 'h1',
                                                     CELL)


def test_an_update_without_changes_is_decoded_whole():
    heal = _wire(unchanged(uuid=_uuid(), display_name='vm', host='h1'))
    part, whole = instances.decode_update(heal, _decode)
    assert part.display_name == 'vm' and whole() is part
    made_here = instance_obj.Instance(uuid=_uuid())
    assert instances.decode_update(made_here, _decode)[0] is made_here
