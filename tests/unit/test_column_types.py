"""Every value our code writes fits nova's column, on every database.

SQLite stores whatever it is given, so a boolean in an integer column (a
nova ``Instance``'s ``cleaned``) passed our tests and failed on
PostgreSQL.  Here each write path is fed what nova really sends (the
captured wire samples: booleans, datetimes with a zone, IP addresses,
nested objects) and each value that would reach the database driver is
checked against the type of its column in nova 19.3.2's own schema:
integers are ``int`` (never ``bool``), booleans ``bool``, strings ``str``
no longer than the column, datetimes naive (UTC).
"""

import copy
import datetime
import json

import pytest
import sqlalchemy as sa

from nova_cells import context as cells_context
from nova_cells.db import columns
from nova_cells.db import models
from nova_cells.top import instances
from nova_cells.handoff import builtin
from nova_cells.handoff import new_instance
from nova_cells.objects import base as objects_base
from tests import nova_stein
from tests.unit.objects import make_golden

objects_base.register_all()
NOVA = nova_stein.table_columns('main')
TABLES = models.BASE.metadata.tables

with open(make_golden.FIXTURE) as _handle:
    INSTANCES = [e['primitive'] for e in json.load(_handle)['primitives']
                 if e['primitive']['nova_object.name'] == 'Instance']


def _fits(column_type, value):
    if value is None:
        return True
    if isinstance(column_type, sa.Boolean):
        return type(value) is bool
    if isinstance(column_type, sa.Integer):
        return type(value) is int
    if isinstance(column_type, sa.Float):
        return type(value) in (int, float)
    if isinstance(column_type, sa.DateTime):
        return isinstance(value, datetime.datetime) and value.tzinfo is None
    if isinstance(column_type, sa.String):
        length = getattr(column_type, 'length', None)
        return isinstance(value, str) and (length is None or
                                           len(value) <= length)
    raise AssertionError('no rule for %r' % column_type)


def assert_fits(table, values):
    """``values`` as written to ``table`` (through :func:`columns.for_table`,
    as every write does) against nova's column types."""
    written = columns.for_table(TABLES[table], values)
    assert written, 'nothing of %s would be written' % table
    for name, value in written.items():
        column_type = NOVA[table][name]
        assert _fits(column_type, value), '%s.%s: %r (%s) into %r' % (
            table, name, value, type(value).__name__, column_type)


def _sample_build():
    message = nova_stein.wire_sample('targeted/build_instances/down')
    kwargs = objects_base.NovaObjectSerializer().deserialize_entity(
        None, copy.deepcopy(message['method_kwargs']['build_inst_kwargs']))
    return cells_context.RequestContext.from_dict(message['ctxt']), kwargs


def _new_instances():
    ctxt, kwargs = _sample_build()
    return new_instance.prepare(ctxt, kwargs, use_neutron=False)


NEW = _new_instances()


@pytest.mark.parametrize('index', range(len(NEW)), ids=lambda i: 'inst%d' % i)
def test_a_new_instances_rows_fit_novas_columns(index):
    new = NEW[index]
    assert_fits('instances', new.values)
    assert_fits('instance_extra', dict(new.extra, instance_uuid=new.uuid,
                                       deleted=0))
    for key, value in new.system_metadata.items():
        assert_fits('instance_system_metadata', {
            'instance_uuid': new.uuid, 'key': key, 'value': value})
    for bdm in new.bdms:
        assert_fits('block_device_mapping', bdm)
    assert_fits('instance_actions', new.action)


def test_the_sample_build_exercises_the_tricky_fields():
    values = columns.for_table(TABLES['instances'], NEW[0].values)
    # A boolean field in an integer column, boolean columns, a datetime.
    assert values['cleaned'] == 0 and type(values['cleaned']) is int
    assert type(values['locked']) is bool
    assert isinstance(values['created_at'], datetime.datetime)


def _deserialized(primitive):
    return objects_base.NovaObjectSerializer().deserialize_entity(
        None, copy.deepcopy(primitive))


@pytest.mark.parametrize('primitive', INSTANCES,
                         ids=lambda p: p['nova_object.data']['uuid'][:8])
def test_the_tops_writes_of_every_captured_instance_fit(primitive):
    instance = _deserialized(primitive)
    update = instances.top_update(instance, 'api!child!gc')
    assert_fits('instances', update.values)
    assert_fits('instances', update.create_values())


def test_every_field_of_a_captured_instance_is_written_as_its_column():
    instance = _deserialized(INSTANCES[0])
    values = instances.to_db_values(instance)
    assert {'cleaned', 'locked', 'created_at', 'access_ip_v4'} <= set(values)
    assert_fits('instances', values)


def test_a_placement_fits():
    node = {'host': 'h1', 'hypervisor_hostname': 'h1.example.org'}
    assert_fits('instances', builtin.BuiltinHandoff._placement(node))
