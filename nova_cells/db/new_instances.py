"""Writing the rows of an instance this cell builds, and reading them back.

:func:`create_or_load` writes what
:func:`nova_cells.handoff.new_instance.prepare` made, in ONE transaction per
instance, so that a build delivered twice (durable forwarding resends what
was not confirmed) finds either all of an instance's rows or none: a
duplicate uuid rolls the whole instance back and :func:`load` reads the
rows the first delivery wrote.

Before the instances, once per build (:func:`shared_rows`), what nova
shares between instances: the project's ``default`` security group (nova
ensured it on every instance create, neutron or not) and the ``s3_images``
integers behind the images' EC2 ids.  Neither has a unique key in nova's
schema; as nova, a race may make two rows, and the oldest is the one used.

Core statements, each built once: a leaf runs them for every instance.
"""

import collections
import dataclasses
import threading
import typing

from oslo_db import exception as db_exc
from oslo_utils import timeutils
import sqlalchemy as sa

from nova_cells.db import columns
from nova_cells.db import models
from nova_cells import exception

__all__ = ['Created', 'SharedRows', 'KnownRows', 'shared_rows',
           'create_first', 'create_or_load', 'load']

_T = {model.__tablename__: model.__table__ for model in (
    models.Instance, models.InstanceExtra, models.InstanceSystemMetadata,
    models.InstanceMetadata, models.InstanceInfoCache,
    models.InstanceIdMapping, models.S3Image, models.SecurityGroup,
    models.SecurityGroupInstanceAssociation, models.SecurityGroupIngressRule,
    models.SecurityGroupDefaultRule, models.BlockDeviceMapping,
    models.InstanceAction)}
_INSERTS = {name: table.insert() for name, table in _T.items()}
_SG = _T['security_groups']
_S3 = _T['s3_images']
_GROUPS_BY_NAME = sa.select(_SG).where(
    _SG.c.project_id == sa.bindparam('g_project'), _SG.c.deleted == 0,
    _SG.c.name.in_(sa.bindparam('g_names', expanding=True))).order_by(
    _SG.c.id)
_S3_BY_UUID = sa.select(_S3.c.uuid, sa.func.min(_S3.c.id)).where(
    _S3.c.deleted == 0,
    _S3.c.uuid.in_(sa.bindparam('s_uuids', expanding=True))).group_by(
    _S3.c.uuid)
_DEFAULT_RULES = sa.select(_T['security_group_default_rules']).where(
    _T['security_group_default_rules'].c.deleted == 0)

DEFAULT_GROUP = 'default'


@dataclasses.dataclass
class SharedRows(object):
    """What the instances of one build share: the security groups to
    associate (rows, by name) and the EC2 integers of the images."""

    groups: dict
    s3_ids: dict


@dataclasses.dataclass
class Created(object):
    """An instance's rows as written (or found), for
    :func:`nova_cells.handoff.new_instance.as_loaded`."""

    row: dict
    extra: typing.Optional[dict]
    system_metadata: dict
    metadata: dict
    info_cache: typing.Optional[dict]
    security_groups: list
    mapping_id: typing.Optional[int]
    image_ids: tuple
    bdms: list
    created: bool


class KnownRows(object):
    """Shared rows this cell has seen, which never change once made: each
    project's ``default`` security group (nova refuses to delete it) and
    each image's ``s3_images`` integer (never deleted).  A build whose
    project and images are all known reads neither again (two SELECTs
    per build in a leaf); any other group is read every time (it may have
    been deleted).  At most ``size`` of each, the least recently used
    forgotten first; shared by the threads of one daemon.
    """

    def __init__(self, size=4096):
        self.size = size
        self._groups = collections.OrderedDict()
        self._s3_ids = collections.OrderedDict()
        self._lock = threading.Lock()

    def find(self, project_id, names, uuids):
        """The :class:`SharedRows` of a build, when all are known (else
        None)."""
        if list(names) != [DEFAULT_GROUP]:
            return None
        with self._lock:
            group = self._groups.get(project_id)
            if group is None or any(u not in self._s3_ids for u in uuids):
                return None
            self._groups.move_to_end(project_id)
            for uuid in uuids:
                self._s3_ids.move_to_end(uuid)
            return SharedRows(groups={DEFAULT_GROUP: group},
                              s3_ids={u: self._s3_ids[u] for u in uuids})

    def learn(self, project_id, shared):
        """Remember the lasting part of ``shared``, found or made."""
        group = shared.groups.get(DEFAULT_GROUP)
        with self._lock:
            if group is not None:
                self._remember(self._groups, project_id, group)
            for uuid, s3_id in shared.s3_ids.items():
                self._remember(self._s3_ids, uuid, s3_id)

    def _remember(self, table, key, value):
        table[key] = value
        table.move_to_end(key)
        while len(table) > self.size:
            table.popitem(last=False)


# -- once per build -----------------------------------------------------------

def _shared_keys(group_names, image_refs):
    return (sorted(set(group_names) | {DEFAULT_GROUP}),
            sorted({ref for ref in image_refs if ref}))


def _found_shared(conn, project_id, names, uuids):
    """The shared rows, when every one exists already (else None)."""
    groups = _groups(conn, project_id, names)
    s3_ids = _s3_ids(conn, uuids)
    if len(groups) < len(names) or len(s3_ids) < len(uuids):
        return None
    return SharedRows(groups=groups, s3_ids=s3_ids)


def create_first(db, new, project_id, user_id, known=None, claim=None):
    """:func:`shared_rows` and :func:`create_or_load` of a build's first
    instance, in one transaction when the shared rows exist (every build
    of a project but its first): a transaction less per build.

    :param known: the cell's :class:`KnownRows`, which spares reading the
        shared rows it knows (and learns those read or made here).
    :param claim: taken first in that transaction (``claim.within(conn)``,
        the received build's claim, which raises when a copy holds it or
        applied it); alone (``claim.alone()``) when that transaction is
        rolled back because a row exists already (an earlier delivery
        wrote the instance).  Rolled back for any other reason, the
        claim is not held (``claim.forget()``).
    :returns: ``(SharedRows, Created)``.
    """
    names, uuids = _shared_keys(new.security_groups, new.image_refs)
    now = timeutils.utcnow()
    shared = known.find(project_id, names, uuids) if known else None
    written = None
    try:
        with db.connection_writer() as conn:
            if claim is not None:
                claim.within(conn)
            if shared is None:
                shared = _found_shared(conn, project_id, names, uuids)
            if shared is not None:
                written = _write(conn, new, shared, now)
    except db_exc.DBDuplicateEntry:
        if claim is not None:
            claim.alone()
        return shared, _load_existing(db, new, shared)
    except BaseException:
        if claim is not None:
            claim.forget()          # rolled back with the rest
        raise
    if written is None:
        shared = shared_rows(db, project_id, user_id, new.security_groups,
                             new.image_refs)
        created = create_or_load(db, new, shared)
    else:
        created = _created(new, shared, written[0], written[1], now)
    if known is not None:
        known.learn(project_id, shared)
    return shared, created


def shared_rows(db, project_id, user_id, group_names, image_refs):
    """The project's security groups the build needs (``default`` made
    when the project has none, as nova's ``security_group_ensure_default``
    did on every instance create) and the images' ``s3_images`` integers
    (made when missing); a read alone once they exist.

    :raises SecurityGroupNotFoundForProject: a requested group (other than
        ``default``) does not exist in the project (nova-network).
    """
    names, uuids = _shared_keys(group_names, image_refs)
    with db.connection_reader() as conn:
        groups = _groups(conn, project_id, names)
        s3_ids = _s3_ids(conn, uuids)
    if DEFAULT_GROUP not in groups:
        groups.update(_ensure_default_group(db, project_id, user_id))
    missing = set(names) - set(groups)
    if missing:
        raise exception.SecurityGroupNotFoundForProject(
            project_id=project_id, security_group_id=sorted(missing)[0])
    if len(s3_ids) < len(uuids):
        s3_ids.update(_create_s3_ids(db, [u for u in uuids
                                          if u not in s3_ids]))
    return SharedRows(groups=groups, s3_ids=s3_ids)


def _groups(conn, project_id, names):
    found = {}
    for row in conn.execute(_GROUPS_BY_NAME, {'g_project': project_id,
                                              'g_names': names}):
        found.setdefault(row.name, dict(row._mapping))
    return found


def _ensure_default_group(db, project_id, user_id):
    """The ``default`` group and its copies of the default rules, in a
    transaction of their own (a concurrent build making it too is found
    instead, as nova did)."""
    now = timeutils.utcnow()
    values = {'name': DEFAULT_GROUP, 'description': DEFAULT_GROUP,
              'user_id': user_id, 'project_id': project_id, 'deleted': 0,
              'created_at': now}
    try:
        with db.connection_writer() as conn:
            group_id = conn.execute(_INSERTS['security_groups'],
                                    values).inserted_primary_key[0]
            rules = [{'protocol': r.protocol, 'from_port': r.from_port,
                      'to_port': r.to_port, 'cidr': r.cidr,
                      'parent_group_id': group_id, 'deleted': 0,
                      'created_at': now}
                     for r in conn.execute(_DEFAULT_RULES)]
            if rules:
                conn.execute(_INSERTS['security_group_rules'], rules)
    except db_exc.DBDuplicateEntry:
        with db.connection_reader() as conn:
            return _groups(conn, project_id, [DEFAULT_GROUP])
    return {DEFAULT_GROUP: dict(values, id=group_id, updated_at=None,
                                deleted_at=None)}


def _s3_ids(conn, uuids):
    if not uuids:
        return {}
    return dict(conn.execute(_S3_BY_UUID, {'s_uuids': uuids}).all())


def _create_s3_ids(db, uuids):
    now = timeutils.utcnow()
    with db.connection_writer() as conn:
        return {uuid: conn.execute(_INSERTS['s3_images'], {
            'uuid': uuid, 'deleted': 0,
            'created_at': now}).inserted_primary_key[0] for uuid in uuids}


# -- per instance -------------------------------------------------------------

def _insert(conn, table, values):
    return conn.execute(_INSERTS[table],
                        columns.for_table(_T[table], values))


def _insert_many(conn, table, rows):
    if rows:
        conn.execute(_INSERTS[table],
                     [columns.for_table(_T[table], row) for row in rows])


def _key_rows(uuid, items, now):
    return [{'instance_uuid': uuid, 'key': key, 'value': value,
             'deleted': 0, 'created_at': now} for key, value in items]


def _write(conn, new, shared, now):
    """Every row of ``new``; returns the instance row's id and the EC2
    mapping's (in nova's order: the instance, then the rest)."""
    values = dict(new.values)
    values.setdefault('created_at', now)
    instance_id = _insert(conn, 'instances', values).inserted_primary_key[0]
    uuid = new.uuid
    _insert(conn, 'instance_extra', dict(new.extra, instance_uuid=uuid,
                                         deleted=0, created_at=now))
    _insert_many(conn, 'instance_system_metadata',
                 _key_rows(uuid, new.system_metadata.items(), now))
    _insert_many(conn, 'instance_metadata',
                 _key_rows(uuid, new.metadata.items(), now))
    _insert(conn, 'instance_info_caches', {
        'instance_uuid': uuid, 'network_info': new.network_info,
        'deleted': 0, 'created_at': now})
    _insert_many(conn, 'security_group_instance_association', [
        {'security_group_id': shared.groups[name]['id'],
         'instance_uuid': uuid, 'deleted': 0, 'created_at': now}
        for name in dict.fromkeys(new.security_groups)])
    mapping_id = _insert(conn, 'instance_id_mappings', {
        'uuid': uuid, 'deleted': 0,
        'created_at': now}).inserted_primary_key[0]
    _insert_many(conn, 'block_device_mapping',
                 [dict(b, created_at=now) for b in new.bdms])
    _insert(conn, 'instance_actions', dict(new.action, created_at=now))
    return instance_id, mapping_id


def _created(new, shared, instance_id, mapping_id, now):
    row = dict.fromkeys(c.name for c in _T['instances'].columns)
    row.update(columns.for_table(_T['instances'], new.values))
    row.setdefault('created_at', now)
    row.update(id=instance_id, created_at=row['created_at'] or now)
    return Created(
        row=row, extra=new.extra,
        system_metadata=new.system_metadata, metadata=new.metadata,
        info_cache={'network_info': new.network_info, 'created_at': now,
                    'updated_at': None, 'deleted_at': None, 'deleted': 0},
        security_groups=[shared.groups[n] for n in
                         dict.fromkeys(new.security_groups)],
        mapping_id=mapping_id,
        image_ids=tuple(shared.s3_ids.get(ref) if ref else None
                        for ref in new.image_refs),
        bdms=new.bdms, created=True)


def create_or_load(db, new, shared):
    """Write ``new``'s rows in one transaction, or, when its instance row
    exists (an earlier delivery of the build), read what is there.

    :returns: a :class:`Created`.
    """
    now = timeutils.utcnow()
    try:
        with db.connection_writer() as conn:
            instance_id, mapping_id = _write(conn, new, shared, now)
    except db_exc.DBDuplicateEntry:
        return _load_existing(db, new, shared)
    return _created(new, shared, instance_id, mapping_id, now)


def _load_existing(db, new, shared):
    """The rows an earlier delivery of the build wrote."""
    found = load(db, new.uuid, new.image_refs, shared.s3_ids)
    if found.mapping_id is None:
        found.mapping_id = _create_mapping(db, new.uuid)
    return found


def _create_mapping(db, uuid):
    """The EC2 id of an instance made without one (by nova-api at the
    top, or by an older nova-cells): nova made it on first load too."""
    with db.connection_writer() as conn:
        return conn.execute(_INSERTS['instance_id_mappings'], {
            'uuid': uuid, 'deleted': 0,
            'created_at': timeutils.utcnow()}).inserted_primary_key[0]


# -- reading back -------------------------------------------------------------

def _select(table, uuid_column='instance_uuid'):
    t = _T[table]
    return sa.select(t).where(t.c[uuid_column] == sa.bindparam('r_uuid'),
                              t.c.deleted == 0).order_by(t.c.id)


_READ = {name: _select(name) for name in (
    'instance_extra', 'instance_system_metadata', 'instance_metadata',
    'instance_info_caches', 'security_group_instance_association',
    'block_device_mapping')}
_READ['instances'] = _select('instances', 'uuid')
_READ['instance_id_mappings'] = _select('instance_id_mappings', 'uuid')
_GROUPS_BY_ID = sa.select(_SG).where(
    _SG.c.id.in_(sa.bindparam('g_ids', expanding=True))).order_by(_SG.c.id)


def _rows(conn, table, uuid):
    return [dict(r._mapping) for r in conn.execute(_READ[table],
                                                   {'r_uuid': uuid})]


def load(db, uuid, image_refs=(None, None, None), s3_ids=None):
    """The rows of an instance already in this database (a resent build);
    an instance made before this cell wrote them all gets what there is
    (no extra row, say, reads as None).

    :raises InstanceNotFound:
    """
    with db.connection_reader() as conn:
        rows = _rows(conn, 'instances', uuid)
        if not rows:
            raise exception.InstanceNotFound(instance_id=uuid)
        parts = {name: _rows(conn, name, uuid) for name in _READ
                 if name != 'instances'}
        group_ids = [a['security_group_id'] for a in
                     parts['security_group_instance_association']]
        groups = [dict(r._mapping) for r in conn.execute(
            _GROUPS_BY_ID, {'g_ids': group_ids})] if group_ids else []
    mapping = parts['instance_id_mappings']
    s3_ids = s3_ids or {}
    return Created(
        row=rows[0], extra=(parts['instance_extra'] or [None])[0],
        system_metadata={r['key']: r['value'] for r in
                         parts['instance_system_metadata']},
        metadata={r['key']: r['value'] for r in parts['instance_metadata']},
        info_cache=(parts['instance_info_caches'] or [None])[0],
        security_groups=groups,
        mapping_id=mapping[0]['id'] if mapping else None,
        image_ids=tuple(s3_ids.get(ref) if ref else None
                        for ref in image_refs),
        bdms=parts['block_device_mapping'], created=False)
