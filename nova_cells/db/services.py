"""Queries on a cell's ``services`` and ``compute_nodes`` for the cells
query API (``service_get_all``, ``compute_node_stats``, ...), as nova's
``nova.db.sqlalchemy.api`` ran them.  Rows leave as plain dicts.
"""

from oslo_utils import timeutils
import sqlalchemy as sa

from nova_cells.db.api import _live
from nova_cells.db.api import _soft_delete
from nova_cells.db import models
from nova_cells import exception

__all__ = ['service_get', 'service_get_all', 'service_get_by_compute_host',
           'service_update', 'service_destroy', 'compute_node_get',
           'compute_node_get_by_uuid', 'compute_node_search_by_hypervisor',
           'compute_node_get_all', 'compute_node_statistics',
           'STATISTICS_FIELDS']

#: The keys of ``compute_node_statistics``, in nova's order.
STATISTICS_FIELDS = ('count', 'vcpus', 'memory_mb', 'local_gb', 'vcpus_used',
                     'memory_mb_used', 'local_gb_used', 'free_ram_mb',
                     'free_disk_gb', 'current_workload', 'running_vms',
                     'disk_available_least')

_S = models.Service
_CN = models.ComputeNode


def service_get(db, service_id):
    """:raises ServiceNotFound:."""
    with db.reader() as session:
        row = session.execute(
            _live(_S).where(_S.id == service_id)).scalars().first()
        if row is None:
            raise exception.ServiceNotFound(service_id=service_id)
        return row.as_dict()


def service_get_all(db, disabled=None):
    """Every live service; only (not) disabled ones when ``disabled`` is
    True (False)."""
    query = _live(_S).order_by(_S.id)
    if disabled is not None:
        query = query.where(_S.disabled == bool(disabled))
    with db.reader() as session:
        return [row.as_dict() for row in session.execute(query).scalars()]


def service_get_by_compute_host(db, host):
    """The ``nova-compute`` service of ``host``.

    :raises ComputeHostNotFound:
    """
    with db.reader() as session:
        row = session.execute(
            _live(_S).where(_S.host == host, _S.binary == 'nova-compute')
        ).scalars().first()
        if row is None:
            raise exception.ComputeHostNotFound(host=host)
        return row.as_dict()


def service_update(db, host, binary, values):
    """Update the service (host, binary) with ``values``; return it.

    :raises HostBinaryNotFound:
    """
    allowed = {c.key for c in _S.__table__.columns} - {'id'}
    with db.writer() as session:
        row = session.execute(
            _live(_S).where(_S.host == host, _S.binary == binary)
        ).scalars().first()
        if row is None:
            raise exception.HostBinaryNotFound(host=host, binary=binary)
        for key, value in values.items():
            if key in allowed:
                setattr(row, key, value)
        row.updated_at = timeutils.utcnow()
        session.flush()
        return row.as_dict()


def service_destroy(db, service_id):
    """Soft-delete a service and, for nova-compute, its compute nodes (as
    nova's ``service_destroy``).  :raises ServiceNotFound:."""
    with db.writer() as session:
        row = session.execute(
            _live(_S).where(_S.id == service_id)).scalars().first()
        if row is None:
            raise exception.ServiceNotFound(service_id=service_id)
        _soft_delete(row)
        if row.binary == 'nova-compute':
            nodes = session.execute(_live(_CN).where(sa.or_(
                _CN.service_id == service_id, _CN.host == row.host)))
            for node in nodes.scalars():
                _soft_delete(node)
        session.flush()


def _node(db, where, missing):
    with db.reader() as session:
        row = session.execute(_live(_CN).where(where)).scalars().first()
        if row is None:
            raise exception.ComputeHostNotFound(host=missing)
        return row.as_dict()


def compute_node_get(db, compute_id):
    """:raises ComputeHostNotFound:."""
    try:
        compute_id = int(compute_id)
    except (TypeError, ValueError):
        raise exception.ComputeHostNotFound(host=compute_id)
    return _node(db, _CN.id == compute_id, compute_id)


def compute_node_get_by_uuid(db, uuid):
    """:raises ComputeHostNotFound:."""
    return _node(db, _CN.uuid == uuid, uuid)


def compute_node_get_all(db):
    with db.reader() as session:
        rows = session.execute(_live(_CN).order_by(_CN.id))
        return [row.as_dict() for row in rows.scalars()]


def compute_node_search_by_hypervisor(db, hypervisor_match):
    """Nodes whose ``hypervisor_hostname`` contains ``hypervisor_match``."""
    query = _live(_CN).where(
        _CN.hypervisor_hostname.like('%%%s%%' % hypervisor_match)
    ).order_by(_CN.id)
    with db.reader() as session:
        return [row.as_dict() for row in session.execute(query).scalars()]


def compute_node_statistics(db):
    """Sums over the nodes of enabled, live ``nova-compute`` services, as
    nova's ``compute_node_statistics``: a dict of ints."""
    join = sa.and_(sa.or_(_CN.host == _S.host, _CN.service_id == _S.id),
                   _S.disabled == sa.false(), _S.binary == 'nova-compute',
                   _S.deleted == 0)
    columns = [sa.func.count().label('count')] + [
        sa.func.sum(sa.func.coalesce(getattr(_CN, name), 0)).label(name)
        for name in STATISTICS_FIELDS[1:]]
    query = sa.select(*columns).select_from(_CN).join(_S, join).where(
        _CN.deleted == 0)
    with db.reader() as session:
        row = session.execute(query).one()
    return {name: int(row[index] or 0)
            for index, name in enumerate(STATISTICS_FIELDS)}
