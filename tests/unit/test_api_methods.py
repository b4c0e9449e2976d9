"""The one declaration of each cells RPC method (nova_cells.api_methods)
against what uses it: the client, the endpoints, the intercell handlers
and the durable methods."""

import inspect

import pytest

from nova_cells import api_methods
from nova_cells import endpoints
from nova_cells import handlers
from nova_cells import manager
from nova_cells.messaging import delivery
from nova_cells import rpcapi


def _exposed(cls):
    """Names of ``cls``'s methods oslo.messaging may dispatch to."""
    return {name for name, value in inspect.getmembers(cls)
            if getattr(value, 'exposed', False)}


def _endpoint_classes():
    return (manager.CellsManager,) + endpoints.ENDPOINT_CLASSES


def test_every_declared_method_has_exactly_one_endpoint():
    owners = {}
    for cls in _endpoint_classes():
        for name in _exposed(cls):
            owners.setdefault(name, []).append(cls.__name__)
    assert set(owners) == set(api_methods.METHODS)
    assert {n: o for n, o in owners.items() if len(o) > 1} == {}


def test_an_undeclared_method_cannot_be_exposed():
    with pytest.raises(Exception) as caught:
        class Endpoint(object):
            @api_methods.expose
            def not_in_the_api(self, ctxt):
                return None
    # Python 3.11 wraps the KeyError of __set_name__ in a RuntimeError.
    error = caught.value.__cause__ or caught.value
    assert isinstance(error, KeyError)
    assert 'not_in_the_api' in str(error)


def test_an_exposed_method_is_dispatchable_under_its_attribute_name():
    class Endpoint(object):
        @api_methods.expose
        def start_instance(self, ctxt, instance):
            return instance
    assert Endpoint.start_instance.exposed is True
    assert Endpoint().start_instance(None, 'i') == 'i'


def test_every_endpoint_serves_the_newest_declared_version():
    assert api_methods.SERVER_VERSION == '1.42'
    for cls in _endpoint_classes():
        assert cls.target.version == api_methods.SERVER_VERSION


def test_every_client_method_is_declared_and_every_declared_one_exists():
    declared = {client for method in api_methods.METHODS.values()
                for client in method.clients}
    public = {name for name, value in inspect.getmembers(rpcapi.CellsAPI)
              if callable(value) and not name.startswith('_')}
    assert declared <= public
    # What else the client has is not a method of the API.
    assert public - declared == {'can_send_version'}


def test_no_client_method_picks_its_own_version_or_kind():
    """Every send goes through api_methods.send (its version one of the
    declared, cast or call as declared)."""
    from nova_cells.client import lifecycle, queries, sync
    for module in (rpcapi, lifecycle, queries, sync):
        source = inspect.getsource(module)
        assert '.prepare(' not in source, module.__name__


def test_every_intercell_message_an_endpoint_sends_has_a_handler():
    tables = handlers.default_tables()
    missing = [(method.name, message_type, name)
               for method in api_methods.METHODS.values()
               for message_type, name in method.sends
               if tables.find(message_type, name) is None]
    assert missing == []


def test_durable_methods_come_from_the_declarations():
    assert delivery.DURABLE_METHODS is api_methods.DURABLE_METHODS
    assert delivery.DURABLE_METHODS == {
        'build_instances', 'instance_update_at_top',
        'instance_destroy_at_top', 'instance_fault_create_at_top',
        'bdm_update_or_create_at_top', 'bdm_destroy_at_top',
        'instance_update_from_api', 'instance_delete_everywhere',
        'terminate_instance', 'soft_delete_instance'}


class _Recorder(object):
    def __init__(self, cap=(1, 40)):
        self.cap = cap
        self.sent = []

    def can_send_version(self, version):
        return tuple(int(p) for p in version.split('.')) <= self.cap

    def prepare(self, **options):
        self.options = options
        return self

    def cast(self, ctxt, name, **kwargs):
        self.sent.append(('cast', self.options, name, kwargs))

    def call(self, ctxt, name, **kwargs):
        self.sent.append(('call', self.options, name, kwargs))
        return 'answer'


def test_send_uses_the_declared_version_and_kind():
    client = _Recorder()
    api_methods.send(client, None, 'start_instance', {'instance': 1}, False)
    assert api_methods.send(client, None, 'get_capacities', {}, True,
                            timeout=None) == 'answer'
    assert client.sent == [
        ('cast', {'version': '1.12'}, 'start_instance', {'instance': 1}),
        ('call', {'version': '1.9', 'timeout': None}, 'get_capacities', {})]


@pytest.mark.parametrize('name, call, version, why', [
    ('start_instance', True, None, 'declared a cast'),
    ('get_capacities', False, None, 'declared a call'),
    ('start_instance', False, '1.13', 'not sent at version 1.13'),
    ('no_such_method', False, None, 'not declared'),
])
def test_send_refuses_what_is_not_declared(name, call, version, why):
    client = _Recorder()
    with pytest.raises((ValueError, KeyError), match=why):
        api_methods.send(client, None, name, {}, call, version)
    assert client.sent == []


def test_either_method_is_a_cast_or_a_call_as_the_caller_says():
    client = _Recorder()
    api_methods.send(client, None, 'stop_instance', {}, False)
    api_methods.send(client, None, 'stop_instance', {}, True)
    assert [kind for kind, *_rest in client.sent] == ['cast', 'call']


@pytest.mark.parametrize('cap, expected', [
    ((1, 40), '1.31'), ((1, 31), '1.31'), ((1, 30), '1.12'),
    ((1, 6), '1.12')])
def test_newest_sendable_falls_back_to_the_oldest(cap, expected):
    assert api_methods.newest_sendable(
        _Recorder(cap), 'stop_instance') == expected
