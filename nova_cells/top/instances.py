"""Instance records of a cell, and how updates from below land at the top.

Converts between the ``Instance`` object that travels in messages and the
``instances`` row, and implements the "at the top" side of instance sync
(reference §4.12): ``update_at_top``, ``destroy_at_top``,
``fault_create_at_top``.

Difference from nova, on purpose: an update that carries no changed fields
(what heal and ``sync_instances`` send) applies every field it carries, so
stale values at the top are repaired; nova only reset ``cell_name`` then
(§10.27).
"""

from oslo_log import log as logging
from oslo_utils import timeutils

from nova_cells.db import instances as db_instances
from nova_cells import exception
from nova_cells.objects import instance as instance_obj

__all__ = ['to_db_values', 'from_db_row', 'expected_states',
           'decode_update', 'top_update', 'update_at_top', 'destroy_at_top',
           'fault_create_at_top', 'EXPECTED_TASK_STATES']

LOG = logging.getLogger(__name__)

# Fields the top never takes from below (nova's list).
_NEVER_SYNCED = ('id', 'security_groups', 'volumes', 'cell_name', 'name',
                 'metadata')

EXPECTED_TASK_STATES = {
    'rebuild_block_device_mapping': ['rebuild_block_device_mapping',
                                     'rebuilding'],
    'rebuild_spawning': ['rebuild_spawning', 'rebuild_block_device_mapping',
                         'rebuilding'],
    'resize_migrating': ['resize_migrating', 'resize_prep'],
    'resize_migrated': ['resize_migrated', 'resize_migrating',
                        'resize_prep'],
    'resize_finish': ['resize_finish', 'resize_migrated',
                      'resize_migrating', 'resize_prep'],
}
_FLAVOR_COLUMNS = ('memory_mb', 'vcpus', 'root_gb', 'ephemeral_gb')


def to_db_values(instance, fields=None):
    """Column values of ``instance`` (only ``fields`` when given)."""
    names = fields if fields is not None else [
        f for f in instance.fields if instance.obj_attr_is_set(f)]
    values = {name: getattr(instance, name) for name in names
              if name in db_instances.INSTANCE_COLUMNS and
              instance.obj_attr_is_set(name)}
    if instance.obj_attr_is_set('flavor') and instance.flavor is not None:
        for column in _FLAVOR_COLUMNS:
            values.setdefault(column, getattr(instance.flavor, column))
        values.setdefault('instance_type_id', instance.flavor.id
                          if instance.flavor.obj_attr_is_set('id') else None)
    for key in ('created_at', 'updated_at', 'deleted_at', 'launched_at',
                'terminated_at'):
        if values.get(key) is not None:
            values[key] = timeutils.normalize_time(values[key])
    if 'deleted' in values:
        values['deleted'] = values['deleted'] and (values.get('id') or 1)
    return values


def from_db_row(row):
    """An ``Instance`` with the row's columns set, changes reset."""
    instance = instance_obj.Instance()
    for name, value in row.items():
        if name in instance.fields and name != 'deleted':
            setattr(instance, name, value)
    instance.deleted = bool(row.get('deleted'))
    instance.obj_reset_changes()
    return instance


def expected_states(instance):
    """nova's guards against out-of-order updates (reference §4.12)."""
    expected = {}
    if instance.obj_attr_is_set('vm_state') and \
            instance.vm_state == 'building':
        expected['expected_vm_state'] = ['building', None]
    task_state = instance.task_state if \
        instance.obj_attr_is_set('task_state') else None
    if task_state in EXPECTED_TASK_STATES:
        expected['expected_task_state'] = EXPECTED_TASK_STATES[task_state]
    return expected


def _fields_to_apply(instance):
    # The fields set on this object (its own change list): what
    # obj_what_changed() returns too, less the nested objects with changes
    # of their own, which are no columns (to_db_values reads the flavor
    # anyway), and without walking all ~80 fields for them: this runs for
    # every update at the top (tools/bench/sync.py).
    changed = {f for f in instance._changed_fields if f in instance.fields}
    if not changed:
        changed = instance.obj_what_changed()
    if not changed:
        changed = {f for f in instance.fields if instance.obj_attr_is_set(f)}
    return [f for f in changed if f not in _NEVER_SYNCED]


# What an update reads of its instance beside the fields it changed
# (guards, the flavor's columns).
_READ_BY_AN_UPDATE = ('uuid', 'vm_state', 'task_state', 'flavor')


def decode_update(instance, deserialize):
    """``(instance, whole)`` of an ``instance_update_at_top`` from the
    wire: the instance with only what the update reads decoded (the fields
    it changed, :data:`_READ_BY_AN_UPDATE`), and ``whole()``, the whole
    instance, to create a row the top does not have.

    The wire carries the whole instance (nova's compute cells sent it so);
    decoding its ~80 fields and nested objects was a quarter of the top's
    CPU per build, for the few fields an update writes.  An instance that
    changed nothing (heal, ``sync_instances``: every field is applied) or
    is not a primitive is decoded whole.
    """
    if not isinstance(instance, dict):
        return instance, lambda: instance
    changes = instance.get('nova_object.changes')
    data = instance.get('nova_object.data')
    if not changes or not isinstance(data, dict):
        whole = deserialize(instance)
        return whole, lambda: whole
    read = set(changes).union(_READ_BY_AN_UPDATE)
    part = dict(instance)
    part['nova_object.data'] = {k: v for k, v in data.items() if k in read}
    return deserialize(part), lambda: deserialize(instance)


def top_update(instance, cell_name, whole=None):
    """The :class:`~nova_cells.db.instances.TopUpdate` that applies an
    update from cell ``cell_name`` (the rules of :func:`update_at_top`).

    :param whole: ``() -> Instance``, the whole instance when ``instance``
        holds only what the update reads (:func:`decode_update`).
    """
    return db_instances.TopUpdate(
        instance.uuid, _update_values(instance, cell_name),
        lambda: _create_values(whole() if whole else instance, cell_name),
        expected_states(instance))


def _update_values(instance, cell_name):
    values = to_db_values(instance, _fields_to_apply(instance))
    values['cell_name'] = cell_name
    values.pop('deleted', None)
    return values


def _create_values(instance, cell_name):
    values = to_db_values(instance)
    values.update(cell_name=cell_name, uuid=instance.uuid)
    values.pop('id', None)
    values.pop('deleted', None)
    return values


def update_at_top(db, instance, cell_name, whole=None):
    """Apply an update from cell ``cell_name`` to the top's row.

    Creates the row when missing (as nova did), from ``whole()`` when
    given (see :func:`top_update`).  An update that arrives out of order
    (guard mismatch) is dropped with a log line.
    :returns: the row dict, or None when dropped.
    """
    try:
        _old, new = db_instances.instance_update(
            db, instance.uuid, _update_values(instance, cell_name),
            read_deleted='yes', **expected_states(instance))
        return new
    except exception.InstanceNotFound:
        try:
            return db_instances.instance_create(
                db, _create_values(whole() if whole else instance,
                                   cell_name))
        except exception.InstanceExists:
            return update_at_top(db, instance, cell_name, whole)
    except (exception.UnexpectedVMStateError,
            exception.UnexpectedTaskStateError) as exc:
        LOG.info('Dropping out-of-order update of %s from %s: %s',
                 instance.uuid, cell_name, exc)
        return None


def destroy_at_top(db, instance_uuid):
    """Delete the top's row; a missing row is not an error."""
    try:
        return db_instances.instance_destroy(db, instance_uuid)
    except exception.InstanceNotFound:
        LOG.debug('Instance %s already gone at the top', instance_uuid)
        return None


def fault_create_at_top(db, fault):
    """Record a fault (a dict of the DB row, as nova sent it; its dates
    arrive as ISO strings)."""
    values = dict(fault)
    values.pop('id', None)
    for key in ('created_at', 'updated_at', 'deleted_at'):
        if isinstance(values.get(key), str):
            values[key] = timeutils.normalize_time(
                timeutils.parse_isotime(values[key]))
    return db_instances.instance_fault_create(db, values)
