"""RequestContext: nova's wire keys, round-trip, for_other_cell, elevated."""

import datetime
import json

import pytest

from nova_cells import context

# Golden data: the ``ctxt`` of a real intercell message sent by nova 19.3.2
# (Stein), copied from the reference capture wire_samples.json
# (samples['broadcast/compute_node_get_all/down']['message']['ctxt']).
GOLDEN_CTXT = {
    "user": "peer-user",
    "tenant": "peer-project",
    "system_scope": None,
    "project": "peer-project",
    "domain": None,
    "user_domain": None,
    "project_domain": None,
    "is_admin": True,
    "read_only": False,
    "show_deleted": False,
    "auth_token": None,
    "request_id": "req-74edd02d-4e41-404d-aa20-5b7b10354c8d",
    "global_request_id": None,
    "resource_uuid": None,
    "roles": [],
    "user_identity": "peer-user peer-project - - -",
    "is_admin_project": True,
    "user_id": "peer-user",
    "project_id": "peer-project",
    "read_deleted": "no",
    "remote_address": None,
    "timestamp": "2026-11-27T20:35:42.398092",
    "quota_class": None,
    "user_name": None,
    "service_catalog": [],
    "project_name": None,
}


def _user_context(**kwargs):
    values = dict(user_id='u1', project_id='p1', is_admin=False,
                  auth_token='secret-token', roles=['member'],
                  service_catalog=[{'type': 'compute', 'name': 'nova'}],
                  request_id='req-00000000-0000-0000-0000-000000000001',
                  user_name='alice', project_name='proj',
                  remote_address='192.0.2.1', quota_class='gold',
                  timestamp=datetime.datetime(2019, 4, 4, 12, 0, 0, 123456))
    values.update(kwargs)
    return context.RequestContext(**values)


@pytest.mark.parametrize('ctxt', [
    pytest.param(_user_context(), id='user-context'),
    pytest.param(context.get_admin_context(), id='admin-context'),
])
def test_to_dict_has_exactly_the_golden_wire_keys(ctxt):
    assert set(ctxt.to_dict()) == set(GOLDEN_CTXT)


def test_to_dict_values():
    d = _user_context().to_dict()
    assert {k: d[k] for k in ('user', 'tenant', 'user_id', 'project_id',
                              'is_admin', 'read_deleted', 'timestamp',
                              'auth_token', 'roles', 'user_name',
                              'project_name', 'quota_class',
                              'remote_address')} == {
        'user': 'u1', 'tenant': 'p1', 'user_id': 'u1', 'project_id': 'p1',
        'is_admin': False, 'read_deleted': 'no',
        'timestamp': '2019-04-04T12:00:00.123456',
        'auth_token': 'secret-token', 'roles': ['member'],
        'user_name': 'alice', 'project_name': 'proj', 'quota_class': 'gold',
        'remote_address': '192.0.2.1'}
    json.dumps(d)  # the wire form is plain JSON


def test_golden_ctxt_round_trips_unchanged():
    ctxt = context.RequestContext.from_dict(GOLDEN_CTXT)
    assert ctxt.to_dict() == GOLDEN_CTXT
    assert ctxt.timestamp == datetime.datetime(2026, 11, 27, 20, 35, 42,
                                               398092)


def test_from_dict_round_trip_through_json():
    original = _user_context()
    wire = json.loads(json.dumps(original.to_dict()))
    rebuilt = context.RequestContext.from_dict(wire)
    assert rebuilt.to_dict() == original.to_dict()
    assert (rebuilt.user_id, rebuilt.project_id, rebuilt.auth_token,
            rebuilt.service_catalog, rebuilt.timestamp) == (
        'u1', 'p1', 'secret-token', [{'type': 'compute', 'name': 'nova'}],
        datetime.datetime(2019, 4, 4, 12, 0, 0, 123456))


@pytest.mark.parametrize('values, user_id, project_id, read_deleted', [
    pytest.param({'user': 'u', 'tenant': 't'}, 'u', 't', 'no',
                 id='old-user-tenant-keys-only'),
    pytest.param({'user_id': 'u', 'project_id': 'p', 'read_deleted': 'yes',
                  'unknown_future_key': 1}, 'u', 'p', 'yes',
                 id='unknown-keys-ignored'),
    pytest.param({'read_deleted': None}, None, None, 'no',
                 id='read_deleted-none-defaults-to-no'),
])
def test_from_dict_partial(values, user_id, project_id, read_deleted):
    ctxt = context.RequestContext.from_dict(values)
    assert (ctxt.user_id, ctxt.project_id, ctxt.read_deleted) == (
        user_id, project_id, read_deleted)


def test_for_other_cell_drops_secrets_without_mutating_original():
    original = _user_context()
    before = original.to_dict()
    other = original.for_other_cell()
    assert other is not original
    assert (other.auth_token, other.service_catalog) == (None, [])
    wire = other.to_dict()
    assert (wire['auth_token'], wire['service_catalog']) == (None, [])
    assert set(wire) == set(GOLDEN_CTXT)
    # everything else travels unchanged
    assert {k: v for k, v in wire.items()
            if k not in ('auth_token', 'service_catalog')} == {
        k: v for k, v in before.items()
        if k not in ('auth_token', 'service_catalog')}
    assert original.to_dict() == before
    assert original.auth_token == 'secret-token'


@pytest.mark.parametrize('read_deleted, expected_read_deleted', [
    pytest.param(None, 'no', id='keeps-read-deleted'),
    pytest.param('yes', 'yes', id='overrides-read-deleted'),
])
def test_elevated(read_deleted, expected_read_deleted):
    original = _user_context()
    admin = original.elevated(read_deleted=read_deleted)
    assert (admin.is_admin, admin.roles, admin.read_deleted) == (
        True, ['member', 'admin'], expected_read_deleted)
    assert (original.is_admin, original.roles, original.read_deleted) == (
        False, ['member'], 'no')
    assert admin.user_id == 'u1'


def test_elevated_does_not_duplicate_admin_role():
    admin = _user_context(roles=['admin']).elevated()
    assert admin.roles == ['admin']


def test_admin_context():
    ctxt = context.get_admin_context(read_deleted='yes')
    assert (ctxt.is_admin, ctxt.user_id, ctxt.project_id,
            ctxt.read_deleted) == (True, None, None, 'yes')
    assert ctxt.request_id.startswith('req-')


def test_for_other_cell_copies_only_when_something_must_go():
    """A context received from another cell has nothing to drop: it is
    sent on as it is (no copy on every hop); one holding a token or a
    catalog is copied and the original keeps them."""
    received = context.RequestContext.from_dict(
        _user_context().for_other_cell().to_dict())
    assert received.for_other_cell() is received
    with_catalog = context.RequestContext(user_id='u', service_catalog=[
        {'type': 'compute'}])
    other = with_catalog.for_other_cell()
    assert other is not with_catalog
    assert other.service_catalog == []
    assert with_catalog.service_catalog == [{'type': 'compute'}]
