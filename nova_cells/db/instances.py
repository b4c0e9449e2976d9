"""Queries on ``instances``, ``instance_faults`` and compute-node claims.

Rows come and go as plain dicts.  ``instance_update`` takes nova's
expected-state guards: the update applies only if ``vm_state`` /
``task_state`` currently hold one of the expected values, checked and
written in one transaction, which is what protects the top from
out-of-order updates (reference §4.12).
"""

import functools

from oslo_db import exception as db_exc
from oslo_utils import timeutils
import sqlalchemy as sa

from nova_cells.db import columns
from nova_cells.db import models
from nova_cells.db import outbox as db_outbox
from nova_cells import exception

__all__ = ['INSTANCE_COLUMNS', 'instance_create', 'instance_get',
           'instance_get_all', 'instance_count_by_vm_state',
           'instance_update', 'instance_destroy',
           'instance_fault_create', 'instance_fault_get_by_instance',
           'fault_values',
           'claim_and_place', 'place_on_best', 'TopUpdate',
           'apply_top_updates']

INSTANCE_COLUMNS = frozenset(c.name for c in models.Instance.__table__.columns)
_INSTANCES = models.Instance.__table__
# Its columns are those of the values it is run with (built once: see
# _claim_statement).
_INSTANCE_INSERT = _INSTANCES.insert()


def _only_columns(values):
    """The instance columns of ``values``, in their columns' types (a
    nova ``Instance``'s ``cleaned`` is a boolean, its column an integer)."""
    return columns.for_table(_INSTANCES, values)


def _instance_query(read_deleted='no'):
    query = sa.select(models.Instance)
    if read_deleted == 'no':
        query = query.where(models.Instance.deleted == 0)
    elif read_deleted == 'only':
        query = query.where(models.Instance.deleted != 0)
    return query


def instance_create(db, values):
    """Create an instance row and return it (the columns' defaults filled
    in, as the ORM's flush left them); a Core INSERT, as each leaf runs
    one per instance it builds.

    :raises InstanceExists: on a duplicate uuid.
    """
    values = _only_columns(values)
    values.setdefault('deleted', 0)
    try:
        with db.connection_writer() as conn:
            result = conn.execute(_INSTANCE_INSERT, values)
            row = dict.fromkeys(INSTANCE_COLUMNS)
            row.update(result.last_inserted_params())
            row['id'] = result.inserted_primary_key[0]
            return row
    except db_exc.DBDuplicateEntry:
        raise exception.InstanceExists(name=values.get('uuid'))


def _set_columns(row, values):
    """Write ``values`` (instance columns only) and stamp ``updated_at``."""
    for key, value in _only_columns(values).items():
        setattr(row, key, value)
    row.updated_at = timeutils.utcnow()


def _get_row(session, uuid, read_deleted='no'):
    row = session.execute(_instance_query(read_deleted).where(
        models.Instance.uuid == uuid)).scalars().first()
    if row is None:
        raise exception.InstanceNotFound(instance_id=uuid)
    return row


def instance_get(db, uuid, read_deleted='no'):
    with db.reader() as session:
        return _get_row(session, uuid, read_deleted).as_dict()


def instance_get_all(db, read_deleted='no', filters=None, limit=None,
                     marker=None, sort_key='id'):
    """Instances, optionally filtered by column equality and paged."""
    query = _instance_query(read_deleted)
    for key, value in (filters or {}).items():
        query = query.where(getattr(models.Instance, key) == value)
    if marker is not None:
        query = query.where(models.Instance.id > marker)
    query = query.order_by(getattr(models.Instance, sort_key))
    if limit:
        query = query.limit(limit)
    with db.reader() as session:
        return [row.as_dict() for row in session.execute(query).scalars()]


def instance_count_by_vm_state(db):
    """``{vm_state: count}`` of the live instances: one GROUP BY, cheap
    enough for every ``cell_status`` answer."""
    query = (sa.select(models.Instance.vm_state, sa.func.count())
             .where(models.Instance.deleted == 0)
             .group_by(models.Instance.vm_state))
    with db.reader() as session:
        return {state or 'unknown': count
                for state, count in session.execute(query)}


def _check_expected(row, expected_vm_state, expected_task_state):
    """Raise when ``row`` (an ORM row, or a dict of its columns) is not in
    an expected state (nova's guards against out-of-order updates)."""
    get = row.get if isinstance(row, dict) else \
        (lambda field: getattr(row, field))
    for field, expected, error in (
            ('vm_state', expected_vm_state,
             exception.UnexpectedVMStateError),
            ('task_state', expected_task_state,
             exception.UnexpectedTaskStateError)):
        if expected is None:
            continue
        allowed = expected if isinstance(expected, (list, tuple, set)) \
            else [expected]
        actual = get(field)
        if actual not in allowed:
            raise error(instance_uuid=get('uuid'), expected=list(allowed),
                        actual=actual)


def instance_update(db, uuid, values, expected_vm_state=None,
                    expected_task_state=None, read_deleted='no'):
    """Update and return ``(old, new)`` row dicts.

    :raises InstanceNotFound:, :raises UnexpectedVMStateError:,
        :raises UnexpectedTaskStateError: (nothing written then).
    """
    with db.writer() as session:
        row = _get_row(session, uuid, read_deleted)
        _check_expected(row, expected_vm_state, expected_task_state)
        old = row.as_dict()
        _set_columns(row, values)
        session.flush()
        return old, row.as_dict()


class TopUpdate(object):
    """One update to apply at the top (see :func:`apply_top_updates`).

    :param values: columns to set on an existing row.
    :param create_values: ``callable() -> dict``, the whole row, called
        only when the row does not exist yet (rare: building it for every
        update would be work thrown away on the hot path).
    :param expected: ``{'expected_vm_state': ..., 'expected_task_state':
        ...}`` guards; a mismatch drops the update.
    """

    __slots__ = ('uuid', 'values', 'create_values', 'expected')

    def __init__(self, uuid, values, create_values, expected=None):
        self.uuid = uuid
        self.values = values
        self.create_values = create_values
        self.expected = expected or {}


# What the top reads of a row before applying updates to it: the guards'
# columns (nova's expected states), not the whole row.
_STATE_COLUMNS = (models.Instance.id, models.Instance.uuid,
                  models.Instance.vm_state, models.Instance.task_state,
                  models.Instance.deleted)


_STATES_BY_UUID = sa.select(*_STATE_COLUMNS).where(
    models.Instance.uuid.in_(sa.bindparam('s_uuids', expanding=True)))


@functools.lru_cache(maxsize=256)
def _update_by_uuid(columns):
    """The UPDATE of ``columns`` of one row by ``b_uuid``, built once per
    set of columns (the top runs one per batch of updates)."""
    return sa.update(models.Instance).where(
        models.Instance.uuid == sa.bindparam('b_uuid')).values(
        {name: sa.bindparam(name) for name in columns})


def apply_top_updates(db, updates, marks=()):
    """Apply ``updates`` (:class:`TopUpdate`, in order) in ONE transaction:
    one SELECT of the rows' guard columns, one batch of UPDATEs (a single
    round trip on psycopg2), one commit.  ``marks``, the uuids of the
    received messages these updates are the effect of, are marked applied
    in the same transaction (:func:`~nova_cells.db.outbox.inbox_insert`;
    one already marked raises ``Duplicate`` and writes nothing).

    Updates of one instance in the batch apply in order: each is checked
    against the state the earlier ones left, and their columns are merged
    into one UPDATE of that row.  Returns, per update, a dict of the row's
    ``id``, ``uuid``, guard columns and the columns written (the whole new
    row when it was created), or the guard error (an
    ``UnexpectedVMStateError``/``UnexpectedTaskStateError`` instance) when
    it was dropped as out of order.  Any other failure (a duplicate row
    created meanwhile by someone else) raises and writes nothing: the
    caller then applies the updates one by one.
    """
    uuids = sorted({u.uuid for u in updates})
    now = timeutils.utcnow()
    results = []
    writes = {}
    with db.writer() as session:
        conn = session.connection()
        states = {row.uuid: dict(row._mapping) for row in conn.execute(
            _STATES_BY_UUID, {'s_uuids': uuids})}
        for update in updates:
            state = states.get(update.uuid)
            if state is None:
                row = models.Instance(
                    **_only_columns(update.create_values()))
                row.deleted = 0
                session.add(row)
                session.flush()
                states[update.uuid] = row.as_dict()
                results.append(row.as_dict())
                continue
            try:
                _check_expected(state,
                                update.expected.get('expected_vm_state'),
                                update.expected.get('expected_task_state'))
            except (exception.UnexpectedVMStateError,
                    exception.UnexpectedTaskStateError) as exc:
                results.append(exc)
                continue
            values = _only_columns(update.values)
            values['updated_at'] = now
            state.update(values)
            writes.setdefault(update.uuid, {}).update(values)
            results.append(dict(state))
        _write_rows(conn, writes)
        if marks:
            db_outbox.inbox_insert(conn, list(marks), now)
    return results


def _write_rows(conn, writes):
    """``{uuid: values}``: one UPDATE per row, rows with the same columns
    sent together, in uuid order (concurrent batches lock alike)."""
    by_columns = {}
    for uuid in sorted(writes):
        values = writes[uuid]
        by_columns.setdefault(tuple(sorted(values)), []).append(
            dict(values, b_uuid=uuid))
    for names, params in by_columns.items():
        _execute_many(conn, _update_by_uuid(names), params)


def _execute_many(conn, statement, params):
    """``executemany``, in one round trip on psycopg2 (its
    ``execute_batch``; SQLAlchemy's psycopg2 dialect loops one statement
    per row for an UPDATE unless the engine is made with
    ``executemany_mode='values_plus_batch'``, which oslo.db does not
    offer)."""
    if len(params) == 1 or conn.dialect.driver != 'psycopg2':
        conn.execute(statement, params)
        return
    # Imported here: psycopg2 is there only where PostgreSQL is used.
    from psycopg2 import extras
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cursor:
        extras.execute_batch(cursor, _compiled_text(statement, conn.dialect),
                             params, page_size=len(params))


@functools.lru_cache(maxsize=256)
def _compiled_text(statement, dialect):
    """The SQL of a statement made once (:func:`_update_by_uuid`), for a
    dialect, compiled once."""
    return str(statement.compile(dialect=dialect))


def deleted_by_compute(row, now):
    """What a compute host writes of an instance it deleted, before
    nova's ``destroy()``: ``deleted`` (an ERROR instance stays ERROR), no
    task, the termination time."""
    return {'vm_state': row['vm_state'] if row['vm_state'] == 'error'
            else 'deleted', 'task_state': None,
            'terminated_at': row['terminated_at'] or now}


# Rows nova's instance_destroy soft-deleted with the instance, by the
# column naming it; tags and console tokens it deleted.  Not the actions:
# nova kept them for operators ("what happened to this instance").
_SOFT_DELETED_WITH = tuple((model.__table__, 'instance_uuid') for model in (
    models.SecurityGroupInstanceAssociation, models.InstanceInfoCache,
    models.InstanceMetadata, models.InstanceFault, models.InstanceExtra,
    models.InstanceSystemMetadata, models.BlockDeviceMapping,
    models.Migration)) + ((models.InstanceIdMapping.__table__, 'uuid'),)
_DELETED_WITH = ((models.Tag.__table__, 'resource_id'),
                 (models.ConsoleAuthToken.__table__, 'instance_uuid'))


def _soft_delete_statement(table, column):
    """oslo.db's ``soft_delete()``: ``deleted`` = the row's id, the time
    of deletion, ``updated_at`` left as it was."""
    return (sa.update(table)
            .where(table.c[column] == sa.bindparam('d_uuid'),
                   table.c.deleted == 0)
            .values(deleted=table.c.id, deleted_at=sa.bindparam('d_now'),
                    updated_at=table.c.updated_at))


_DESTROY = tuple(_soft_delete_statement(t, c)
                 for t, c in _SOFT_DELETED_WITH) + tuple(
    sa.delete(t).where(t.c[c] == sa.bindparam('d_uuid'))
    for t, c in _DELETED_WITH)


def instance_destroy(db, uuid, compute_deleted=False):
    """Soft-delete an instance and its other rows, as nova's
    ``instance_destroy``: the row keeps its state (the top destroys what
    a cell below says is gone, and nova's top changed nothing else).

    :param compute_deleted: first write what the compute host writes
        (:func:`deleted_by_compute`), for a cell that plays it.
    :returns: the row as it was left.
    :raises InstanceNotFound:
    """
    now = timeutils.utcnow()
    with db.writer() as session:
        row = _get_row(session, uuid).as_dict()
        values = {'updated_at': row['updated_at']}
        if compute_deleted:
            values.update(deleted_by_compute(row, now), updated_at=now)
        values.update(deleted=row['id'], deleted_at=now)
        conn = session.connection()
        conn.execute(sa.update(_INSTANCES).where(
            _INSTANCES.c.id == row['id']).values(values))
        for statement in _DESTROY:
            conn.execute(statement, {'d_uuid': uuid, 'd_now': now})
        row.update(values)
        return row


def fault_values(values):
    """An ``instance_faults`` row from ``values``: its columns only (not
    the id), live, the message cut to the column's 255 characters."""
    values = {k: v for k, v in columns.for_table(
        models.InstanceFault.__table__, values).items() if k != 'id'}
    values.setdefault('deleted', 0)
    values['message'] = (values.get('message') or '')[:255]
    return values


def add_error_fault(conn, uuid, message, now):
    """In ``conn``'s transaction, the fault of an instance this cell put
    in ERROR itself (no host, code 500, ``message`` as its details too):
    what an operator reads in ``nova show`` of a build that went
    nowhere."""
    conn.execute(models.InstanceFault.__table__.insert(), fault_values({
        'instance_uuid': uuid, 'code': 500, 'message': message,
        'details': message, 'host': None, 'created_at': now}))


def instance_fault_create(db, values):
    values = fault_values(values)
    with db.writer() as session:
        row = models.InstanceFault(**values)
        session.add(row)
        session.flush()
        return row.as_dict()


def instance_fault_get_by_instance(db, uuid):
    with db.reader() as session:
        rows = session.execute(sa.select(models.InstanceFault).where(
            models.InstanceFault.instance_uuid == uuid,
            models.InstanceFault.deleted == 0).order_by(
            models.InstanceFault.id.desc()))
        return [row.as_dict() for row in rows.scalars()]


def _claim_statement():
    """One conditional UPDATE: it takes the resources only while the node
    still has them, so two concurrent builds can never over-commit it.

    Built once with bound parameters: every build runs it, and building
    the expression (and its cache key) cost more than executing it."""
    node = models.ComputeNode.__table__.c
    return (sa.update(models.ComputeNode.__table__)
            .where(node.id == sa.bindparam('c_node_id'), node.deleted == 0,
                   node.free_ram_mb >= sa.bindparam('c_ram'),
                   node.free_disk_gb >= sa.bindparam('c_disk'),
                   node.vcpus * sa.func.coalesce(
                       sa.func.nullif(node.cpu_allocation_ratio, 0), 1.0) -
                   node.vcpus_used >= sa.bindparam('c_vcpus'))
            .values(free_ram_mb=node.free_ram_mb - sa.bindparam('c_ram'),
                    free_disk_gb=node.free_disk_gb - sa.bindparam('c_disk'),
                    memory_mb_used=node.memory_mb_used + sa.bindparam(
                        'c_ram'),
                    local_gb_used=node.local_gb_used + sa.bindparam(
                        'c_disk'),
                    vcpus_used=node.vcpus_used + sa.bindparam('c_vcpus'),
                    running_vms=sa.func.coalesce(node.running_vms, 0) + 1,
                    updated_at=sa.bindparam('c_now')))


_CLAIM = _claim_statement()
_LIVE_BY_UUID = (_INSTANCES.c.uuid == sa.bindparam('b_uuid'),
                 _INSTANCES.c.deleted == 0)
# SET takes the columns of the parameters given with it (not b_uuid).
_PLACE = sa.update(_INSTANCES).where(*_LIVE_BY_UUID)
_PLACED_ROW = sa.select(_INSTANCES).where(*_LIVE_BY_UUID)
_CELLS_BY_UUID = (sa.select(_INSTANCES.c.uuid, _INSTANCES.c.cell_name)
                  .where(_INSTANCES.c.deleted == 0)
                  .where(_INSTANCES.c.uuid.in_(
                      sa.bindparam('b_uuids', expanding=True))))


def claim_and_place(db, node_id, memory_mb, disk_gb, vcpus, uuid, values):
    """Claim a node's resources and write the instance's placement in one
    transaction: both happen or neither (no node charged for an instance
    that was never placed), in one round trip of the pool.

    Core statements, no ORM: the builtin hand-off runs this once per
    instance it builds, and the ORM's bulk UPDATE, row load and flush
    were a sixth of a leaf cell's CPU per build.

    :returns: the updated instance row, or None when the node no longer
        has room (nothing written then).
    :raises InstanceNotFound: no live row of ``uuid`` (nothing written).
    """
    now = timeutils.utcnow()
    with db.connection_writer() as conn:
        return _claim_and_place(conn, node_id, memory_mb, disk_gb, vcpus,
                                uuid, values, now)


def _claim_and_place(conn, node_id, memory_mb, disk_gb, vcpus, uuid, values,
                     now, read_back=True):
    """The claim and the placement in ``conn``; the placed row when
    ``read_back`` (else True: a caller that has the instance in hand
    spends no SELECT on it), None when the node has no room left."""
    values = dict(_only_columns(values), updated_at=now)
    if conn.execute(_CLAIM, {'c_node_id': node_id, 'c_ram': memory_mb,
                             'c_disk': disk_gb, 'c_vcpus': vcpus,
                             'c_now': now}).rowcount != 1:
        return None
    if conn.execute(_PLACE, dict(values, b_uuid=uuid)).rowcount != 1:
        raise exception.InstanceNotFound(instance_id=uuid)
    if not read_back:
        return True
    return dict(conn.execute(_PLACED_ROW, {'b_uuid': uuid}).one()._mapping)


def place_on_best(db, read_nodes, rank, memory_mb, disk_gb, vcpus, uuid,
                  then=None):
    """Read the nodes, rank them and place the instance on the first that
    still has room (:func:`claim_and_place`), all in one transaction: a
    build's placement costs one, however many nodes lose the race.

    :param read_nodes: ``(conn) -> (nodes, services by host)``.
    :param rank: ``(nodes, services) -> [(node, placement values)]``, best
        first.
    :param then: ``(conn, node, values) -> anything``, run in the same
        transaction once placed (what tells of the placement is recorded
        with it).
    :returns: ``(node, what then returned)``, or ``(None, None)`` when no
        node has room (nothing written then).
    :raises InstanceNotFound: no live row of ``uuid``.
    """
    now = timeutils.utcnow()
    with db.connection_writer() as conn:
        for node, values in rank(*read_nodes(conn)):
            row = _claim_and_place(conn, node['id'], memory_mb, disk_gb,
                                   vcpus, uuid, values, now,
                                   read_back=then is None)
            if row is not None:
                return node, (then(conn, node, values) if then is not None
                              else row)
    return None, None


def instance_cells_by_uuid(db, uuids):
    """``{uuid: cell_name}`` of the live instances among ``uuids`` (one
    query, on a Core connection: every scheduling cell but the top runs it
    for each build it receives): where a server group's members are, as
    the top knows it, or which instances a cell already holds."""
    if not uuids:
        return {}
    with db.connection_reader() as conn:
        return {uuid: cell for uuid, cell in conn.execute(
            _CELLS_BY_UUID, {'b_uuids': list(uuids)})}
