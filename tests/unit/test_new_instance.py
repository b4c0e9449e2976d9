"""A build a cell keeps: the rows it writes and the Instance it hands off,
held to the original's.

The input is the original's own build message (wire sample
``targeted/build_instances/down``: two instances, an image-backed root
disk, the default security group).  The same build, in the same capture,
reached a leaf whose conductor cast is sample ``oslo/conductor/
build_instances``; another original leaf's rows after a build are in
``nova_stein/leaf_rows_after_build.json``.  The database here is nova
19.3.2's own cell schema (``tests/nova_stein.py``), so a column or table
we write that nova lacks fails here too.
"""

import copy
import json

import pytest
import sqlalchemy as sa

from nova_cells import context as cells_context
from nova_cells.db import new_instances
from nova_cells.handoff import new_instance
from nova_cells.objects import base as objects_base
from tests import nova_stein

objects_base.register_all()
SAMPLES = json.loads((nova_stein.REFERENCE.parent /
                      'wire_samples.json').read_text())['samples']
BUILD = SAMPLES['targeted/build_instances/down']['message']
CAST = SAMPLES['oslo/conductor/build_instances']['oslo_message']['args']
CHANGES = 'nova_object.changes'


def _kwargs():
    serializer = objects_base.NovaObjectSerializer()
    return serializer.deserialize_entity(
        None, copy.deepcopy(BUILD['method_kwargs']['build_inst_kwargs']))


def _ctxt():
    return cells_context.RequestContext.from_dict(BUILD['ctxt'])


def _build(db, kwargs=None, use_neutron=True):
    kwargs = kwargs or _kwargs()
    news = new_instance.prepare(_ctxt(), kwargs, use_neutron)
    shared = new_instances.shared_rows(
        db, 'peer-project', 'peer-user', news[0].security_groups,
        news[0].image_refs)
    return [new_instances.create_or_load(db, new, shared) for new in news]


def _rows_of(db, uuid):
    """Every row of nova's cell tables that names the instance."""
    found = {}
    with db.engine.connect() as conn:
        metadata = sa.MetaData()
        metadata.reflect(conn)
        for table in metadata.sorted_tables:
            key = ('instance_uuid' if 'instance_uuid' in table.c else
                   'uuid' if table.name == 'instances' else None)
            if key is None:
                continue
            rows = [dict(r._mapping) for r in conn.execute(
                sa.select(table).where(table.c[key] == uuid))]
            if rows:
                found[table.name] = rows
    return found


def _non_null(rows):
    return [sorted(k for k, v in row.items() if v is not None)
            for row in rows]


def test_each_instance_gets_the_rows_the_original_leaf_wrote(nova_db):
    created = _build(nova_db)
    reference = nova_stein.leaf_rows()
    assert len(created) == 2
    for rows in created:
        ours = _rows_of(nova_db, rows.row['uuid'])
        assert set(ours) == set(reference)
        for table, expected in reference.items():
            assert len(ours[table]) == len(expected), table
            assert sorted(_non_null(ours[table])) == \
                sorted(_non_null(expected)), table


def test_the_ec2_ids_are_mapped_as_nova_mapped_them(nova_db):
    created = _build(nova_db)
    with nova_db.engine.connect() as conn:
        mappings = conn.execute(sa.text(
            'SELECT id, uuid FROM instance_id_mappings ORDER BY id')).all()
        images = conn.execute(sa.text('SELECT uuid FROM s3_images')).all()
    assert [m.uuid for m in mappings] == [r.row['uuid'] for r in created]
    # One image row for both instances.
    assert [i.uuid for i in images] == [created[0].row['image_ref']]


def test_the_project_default_group_is_ensured_once(nova_db):
    _build(nova_db)
    kwargs = _kwargs()
    for instance in kwargs['instances']:
        instance.uuid = instance.uuid[:-4] + 'beef'
    _build(nova_db, kwargs)
    with nova_db.engine.connect() as conn:
        groups = conn.execute(sa.text(
            'SELECT name, project_id FROM security_groups')).all()
        associations = conn.execute(sa.text(
            'SELECT count(*) FROM security_group_instance_association')
        ).scalar()
    assert [tuple(g) for g in groups] == [('default', 'peer-project')]
    assert associations == 0    # neutron: the ports hold the groups


def test_nova_network_associates_the_requested_groups(nova_db):
    created = _build(nova_db, use_neutron=False)
    loaded = new_instance.as_loaded(created[0])
    assert [g.name for g in loaded.security_groups] == ['default']
    with nova_db.engine.connect() as conn:
        assert conn.execute(sa.text(
            'SELECT count(*) FROM security_group_instance_association')
        ).scalar() == 2


def _normalized(primitive):
    """Change lists as sets; the info cache's own creation time aside
    (now, here; the original's was its own now)."""
    def walk(node, path=()):
        if isinstance(node, dict):
            return {k: (sorted(v) if k == CHANGES else walk(v, path + (k,)))
                    for k, v in node.items()
                    if path[-2:] != ('info_cache', 'nova_object.data') or
                    k != 'created_at'}
        if isinstance(node, list):
            return [walk(v, path) for v in node]
        return node
    return walk(json.loads(json.dumps(primitive)))


def test_the_conductor_gets_the_instances_the_original_sent(nova_db):
    serializer = objects_base.NovaObjectSerializer()
    ours = [serializer.serialize_entity(None, new_instance.as_loaded(c))
            for c in _build(nova_db)]
    assert _normalized(ours) == _normalized(CAST['instances'])


def test_only_flavor_and_ec2_ids_are_marked_changed(nova_db):
    loaded = new_instance.as_loaded(_build(nova_db)[0])
    assert loaded.obj_what_changed() == {'flavor', 'ec2_ids'}
    assert loaded.ec2_ids.instance_id == 'i-00000001'
    assert loaded.ec2_ids.ami_id == 'ami-00000001'
    assert loaded.display_name.endswith('-1')


def test_a_resent_build_finds_every_row_and_writes_none(nova_db):
    first = _build(nova_db)
    uuid = first[0].row['uuid']
    before = _rows_of(nova_db, uuid)
    again = _build(nova_db)
    assert [r.created for r in again] == [False, False]
    assert _rows_of(nova_db, uuid) == before
    serializer = objects_base.NovaObjectSerializer()
    assert _normalized(serializer.serialize_entity(
        None, new_instance.as_loaded(again[0]))) == _normalized(
        serializer.serialize_entity(None, new_instance.as_loaded(first[0])))


@pytest.mark.parametrize('count, names', [
    (1, [('vm', 'vm')]),
    (3, [('vm-1', 'vm-1'), ('vm-2', 'vm-2'), ('vm-3', 'vm-3')]),
], ids=['one', 'three'])
def test_names_as_novas_compute_cell_gave_them(count, names):
    got = [new_instance._names('vm', 'u', i, count)[:2]
           for i in range(count)]
    assert got == names


@pytest.mark.parametrize('name, expected', [
    ('My VM_1', 'my-vm-1'),
    ('..x..', 'x'),
    ('\u00e9t\u00e9', '\u00e9t\u00e9'),
    ('\u4e2d', ''),
    ('a' * 70, 'a' * 63),
], ids=['spaces', 'dots', 'latin1', 'cjk', 'long'])
def test_hostnames_are_sanitized_as_nova_did(name, expected):
    assert new_instance.sanitize_hostname(name) == expected


def test_a_swap_disk_without_size_takes_the_flavors(nova_db):
    kwargs = _kwargs()
    flavor = kwargs['filter_properties']['instance_type']
    flavor.swap = 512
    kwargs['block_device_mapping'] = [
        {'source_type': 'blank', 'destination_type': 'local',
         'guest_format': 'swap', 'boot_index': -1, 'volume_size': None,
         'device_name': None, 'delete_on_termination': True},
        {'source_type': 'blank', 'destination_type': 'local',
         'guest_format': None, 'boot_index': -1, 'volume_size': None,
         'device_name': None, 'delete_on_termination': True}]
    news = new_instance.prepare(_ctxt(), kwargs)
    # The ephemeral disk of a flavor without one (size 0) is not made.
    assert [b['volume_size'] for b in news[0].bdms] == [512]
