"""Queries on the ``block_device_mapping`` table: the API cell's copy of
the disks of instances below (``bdm_update_or_create_at_top``,
``bdm_destroy_at_top``), as nova's db API (``legacy=False``)."""

from nova_cells.db.api import _live
from nova_cells.db.api import _soft_delete
from nova_cells.db import models

__all__ = ['bdm_create', 'bdm_update', 'bdm_update_or_create',
           'bdm_get_all_by_instance', 'bdm_destroy_by_instance_and_device',
           'bdm_destroy_by_instance_and_volume']

_B = models.BlockDeviceMapping
# The top keeps its own id and timestamps.
_COLUMNS = frozenset(c.key for c in _B.__table__.columns) - {
    'id', 'created_at', 'updated_at', 'deleted_at', 'deleted'}


def _values(values):
    return {k: v for k, v in values.items() if k in _COLUMNS}


def bdm_create(db, values):
    with db.writer() as session:
        row = _B(**dict(_values(values), deleted=0))
        session.add(row)
        session.flush()
        return row.as_dict()


def bdm_update(db, bdm_id, values):
    with db.writer() as session:
        row = session.get(_B, bdm_id)
        if row is None or row.deleted:
            return None
        for key, value in _values(values).items():
            setattr(row, key, value)
        session.flush()
        return row.as_dict()


def _match(session, instance_uuid, **where):
    query = _live(_B).where(_B.instance_uuid == instance_uuid)
    for key, value in where.items():
        query = query.where(getattr(_B, key) == value)
    return session.execute(query.order_by(_B.id)).scalars()


def bdm_update_or_create(db, values):
    """Update the instance's BDM with the same device name (for a
    ``blank``/``image`` swap without one: the same volume), else create."""
    with db.writer() as session:
        row = None
        if values.get('device_name'):
            row = _match(session, values.get('instance_uuid'),
                         device_name=values['device_name']).first()
        if row is None:
            row = _B(deleted=0)
            session.add(row)
        for key, value in _values(values).items():
            setattr(row, key, value)
        session.flush()
        return row.as_dict()


def bdm_get_all_by_instance(db, instance_uuid):
    with db.reader() as session:
        return [row.as_dict() for row in _match(session, instance_uuid)]


def _destroy(db, instance_uuid, **where):
    with db.writer() as session:
        count = 0
        for row in _match(session, instance_uuid, **where):
            _soft_delete(row)
            count += 1
        return count


def bdm_destroy_by_instance_and_device(db, instance_uuid, device_name):
    return _destroy(db, instance_uuid, device_name=device_name)


def bdm_destroy_by_instance_and_volume(db, instance_uuid, volume_id):
    return _destroy(db, instance_uuid, volume_id=volume_id)
