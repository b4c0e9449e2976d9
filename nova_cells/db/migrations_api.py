"""Queries on a cell's ``migrations`` table (``os-migrations`` through the
cells API), as nova's ``migration_get_all_by_filters`` for the filters the
cells API passes on."""

import sqlalchemy as sa

from nova_cells.db.api import _live
from nova_cells.db import models

__all__ = ['migration_create', 'migration_get_all_by_filters']

_M = models.Migration


def migration_create(db, values):
    with db.writer() as session:
        row = _M(**values)
        session.add(row)
        session.flush()
        return row.as_dict()


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


def migration_get_all_by_filters(db, filters):
    """Filters: ``status`` (one or a list), ``host`` (source or dest
    compute), ``source_compute``, ``node`` (source or dest node),
    ``instance_uuid``, ``migration_type``, ``hidden``; others (e.g.
    ``cell_name``) are ignored, as nova did."""
    filters = filters or {}
    query = _live(_M).order_by(_M.id)
    if 'status' in filters:
        query = query.where(_M.status.in_(_as_list(filters['status'])))
    if 'host' in filters:
        query = query.where(sa.or_(_M.source_compute == filters['host'],
                                   _M.dest_compute == filters['host']))
    if 'node' in filters:
        query = query.where(sa.or_(_M.source_node == filters['node'],
                                   _M.dest_node == filters['node']))
    for key in ('source_compute', 'instance_uuid', 'migration_type',
                'hidden'):
        if key in filters:
            query = query.where(getattr(_M, key) == filters[key])
    with db.reader() as session:
        return [row.as_dict() for row in session.execute(query).scalars()]
