"""Every nova object captured on the wire round-trips through our classes.

The primitives come from ``golden_objects.json`` (made by make_golden.py
from the original's captured messages).  For each one, deserializing gives
an object of the named class, and serializing that gives back the same
primitive: same name, namespace, version, data keys and values, and the
same ``nova_object.changes`` as a set.
"""

import copy
import json

import pytest
from oslo_versionedobjects import exception as ovo_exc

from nova_cells.objects import base
from tests.unit.objects import make_golden

with open(make_golden.FIXTURE) as _handle:
    GOLDEN = json.load(_handle)['primitives']

CHANGES = 'nova_object.changes'


def _case_id(entry):
    primitive = entry['primitive']
    return '%s-%s@%s' % (primitive['nova_object.name'],
                         primitive['nova_object.version'], entry['where'])


def canonical(node):
    """JSON text of a primitive with every ``changes`` list as a set."""
    def _normalize(item):
        if isinstance(item, dict):
            return {key: (sorted(value) if key == CHANGES else
                          _normalize(value)) for key, value in item.items()}
        if isinstance(item, (list, tuple)):
            return [_normalize(value) for value in item]
        return item
    # Through JSON, as on the wire: tuples become lists, datetimes strings.
    return json.dumps(_normalize(json.loads(json.dumps(node))),
                      sort_keys=True, indent=1)


def test_fixture_is_not_empty():
    names = {entry['primitive']['nova_object.name'] for entry in GOLDEN}
    assert {'Instance', 'Flavor', 'Service', 'BlockDeviceMappingList',
            'NetworkRequestList', 'KeyPairList'} <= names


@pytest.mark.parametrize('entry', GOLDEN, ids=_case_id)
def test_golden_primitive_round_trips(entry, serializer):
    original = entry['primitive']
    obj = serializer.deserialize_entity(None, copy.deepcopy(original))

    assert isinstance(obj, base.NovaObject)
    assert obj.obj_name() == original['nova_object.name']
    assert obj.VERSION == original['nova_object.version']
    again = serializer.serialize_entity(None, obj)
    assert canonical(again) == canonical(original)


@pytest.mark.parametrize('entry', GOLDEN, ids=_case_id)
def test_golden_primitive_is_not_modified(entry, serializer):
    original = entry['primitive']
    given = copy.deepcopy(original)
    serializer.deserialize_entity(None, given)
    assert given == original


def test_whole_payload_round_trips(serializer):
    """Objects nested in plain dicts and lists, as in build_inst_kwargs."""
    by_name = {}
    for entry in GOLDEN:
        by_name.setdefault(entry['primitive']['nova_object.name'],
                           entry['primitive'])
    payload = {'instances': [by_name['Instance']],
               'filter_properties': {'instance_type': by_name['Flavor'],
                                     'scheduler_hints': {}},
               'requested_networks': by_name['NetworkRequestList'],
               'security_groups': ['default'],
               'admin_password': None}
    objs = serializer.deserialize_entity(None, copy.deepcopy(payload))
    assert objs['instances'][0].obj_name() == 'Instance'
    assert objs['filter_properties']['instance_type'].obj_name() == 'Flavor'
    assert objs['security_groups'] == ['default']
    again = serializer.serialize_entity(None, objs)
    assert canonical(again) == canonical(payload)


def test_fixture_matches_wire_samples():
    """The committed fixture is what make_golden.py makes from the
    samples kept in the repository (tests/reference/)."""
    fresh = make_golden.build_fixture(make_golden.DEFAULT_SOURCE)
    assert fresh['primitives'] == GOLDEN


class TestVersions(object):
    """What a primitive we do not know exactly does on the way in.

    Documented behaviour: an older minor version is accepted and sent back
    as that version; a newer minor or another major raises
    IncompatibleObjectVersion naming the object and both versions (there is
    no conductor to backport, as in the original nova-cells); a third
    version component is dropped.
    """

    @staticmethod
    def _flavor(version):
        for entry in GOLDEN:
            primitive = entry['primitive']
            if primitive['nova_object.name'] == 'Flavor':
                primitive = copy.deepcopy(primitive)
                primitive['nova_object.version'] = version
                return primitive
        raise AssertionError('no Flavor in the fixture')

    def test_newer_minor_is_refused_clearly(self, serializer):
        with pytest.raises(ovo_exc.IncompatibleObjectVersion) as caught:
            serializer.deserialize_entity(None, self._flavor('1.9'))
        message = str(caught.value)
        assert 'Flavor' in message
        assert '1.9' in message
        assert '1.2' in message

    def test_other_major_is_refused(self, serializer):
        with pytest.raises(ovo_exc.IncompatibleObjectVersion):
            serializer.deserialize_entity(None, self._flavor('2.0'))

    def test_older_minor_is_accepted_and_kept(self, serializer):
        obj = serializer.deserialize_entity(None, self._flavor('1.1'))
        assert obj.VERSION == '1.1'
        primitive = serializer.serialize_entity(None, obj)
        assert primitive['nova_object.version'] == '1.1'

    def test_patch_component_is_dropped(self, serializer):
        obj = serializer.deserialize_entity(None, self._flavor('1.2.7'))
        assert obj.VERSION == '1.2'

    def test_unknown_object_is_refused(self, serializer):
        primitive = self._flavor('1.0')
        primitive['nova_object.name'] = 'NoSuchThing'
        with pytest.raises(ovo_exc.UnsupportedObjectError):
            serializer.deserialize_entity(None, primitive)

    def test_other_namespace_is_refused(self, serializer):
        primitive = self._flavor('1.2')
        primitive['nova_object.namespace'] = 'glance'
        with pytest.raises(ovo_exc.UnsupportedObjectError):
            serializer.deserialize_entity(None, primitive)


def test_unknown_fields_are_ignored(serializer):
    """A newer peer's extra field (even marked changed) is dropped."""
    primitive = copy.deepcopy(TestVersions._flavor('1.2'))
    primitive['nova_object.data']['from_the_future'] = 'x'
    primitive[CHANGES] = list(primitive.get(CHANGES, [])) + ['from_the_future']

    flavor = serializer.deserialize_entity(None, primitive)

    assert 'from_the_future' not in flavor.fields
    assert not hasattr(flavor, 'from_the_future')
    again = serializer.serialize_entity(None, flavor)
    assert 'from_the_future' not in again['nova_object.data']
    assert 'from_the_future' not in again.get(CHANGES, [])
