"""Flavor: in-place edits of extra_specs/projects are changes, as in nova."""

import pytest

from nova_cells.objects import base
from tests.unit.objects import fakes


@pytest.mark.parametrize('field, edit', [
    ('extra_specs', lambda f: f.extra_specs.update({'k': 'v'})),
    ('projects', lambda f: f.projects.append('other')),
], ids=['extra_specs', 'projects'])
def test_in_place_edit_is_a_change(field, edit):
    flavor = fakes.flavor()
    flavor.obj_reset_changes()
    edit(flavor)
    assert flavor.obj_what_changed() == {field}


def test_received_specs_not_marked_changed_stay_clean():
    """The sender's marks are kept (nova itself marked a received non-empty
    extra_specs as changed; see Flavor._obj_from_primitive)."""
    sent = fakes.flavor()
    sent.obj_reset_changes()
    sent.name = 'renamed'
    serializer = base.NovaObjectSerializer()
    flavor = serializer.deserialize_entity(
        None, serializer.serialize_entity(None, sent))
    assert flavor.obj_what_changed() == {'name'}
    flavor.extra_specs['more'] = 'x'
    assert flavor.obj_what_changed() == {'name', 'extra_specs'}


def test_backport_to_1_1_drops_description():
    data = fakes.backported_data(fakes.flavor(), '1.1')
    assert 'description' not in data
    assert data['flavorid'] == '1'
