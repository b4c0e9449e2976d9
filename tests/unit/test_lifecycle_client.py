"""The lifecycle client methods of CellsAPI: nova's names, versions, cast
or call, and wire arguments (reference §5.3), recorded from a fake
oslo.messaging client."""

import pytest

from nova_cells.client import lifecycle
from nova_cells.endpoints import lifecycle as endpoints_lifecycle
from nova_cells import handlers
from tests.unit import sched_support as ss


class FakeRPCClient(object):
    def __init__(self, cap='1.40'):
        self.cap = tuple(int(p) for p in cap.split('.'))
        self.sent = []
        self.version = None

    def can_send_version(self, version):
        return tuple(int(p) for p in version.split('.')) <= self.cap

    def prepare(self, version=None, **kw):
        self.version = version
        return self

    def cast(self, ctxt, method, **kwargs):
        self.sent.append(('cast', self.version, method, kwargs))

    def call(self, ctxt, method, **kwargs):
        self.sent.append(('call', self.version, method, kwargs))
        return 'answer'


class Client(lifecycle.LifecycleClient):
    def __init__(self, cap='1.40', enabled=True):
        self.client = FakeRPCClient(cap)
        self.enabled = enabled


INSTANCE = object()
CTXT = ss.USER


CASES = [
    ('start_instance', (INSTANCE,), {}, 'cast', '1.12', 'start_instance',
     {'instance': INSTANCE}),
    ('stop_instance', (INSTANCE,), {}, 'cast', '1.31', 'stop_instance',
     {'instance': INSTANCE, 'do_cast': True, 'clean_shutdown': True}),
    ('stop_instance', (INSTANCE,), {'do_cast': False}, 'call', '1.31',
     'stop_instance',
     {'instance': INSTANCE, 'do_cast': False, 'clean_shutdown': True}),
    ('reboot_instance', (INSTANCE, {'bdi': 1}, 'HARD'), {}, 'cast', '1.14',
     'reboot_instance', {'instance': INSTANCE, 'reboot_type': 'HARD'}),
    ('suspend_instance', (INSTANCE,), {}, 'cast', '1.15',
     'suspend_instance', {'instance': INSTANCE}),
    ('resume_instance', (INSTANCE,), {}, 'cast', '1.15', 'resume_instance',
     {'instance': INSTANCE}),
    ('pause_instance', (INSTANCE,), {}, 'cast', '1.19', 'pause_instance',
     {'instance': INSTANCE}),
    ('unpause_instance', (INSTANCE,), {}, 'cast', '1.19',
     'unpause_instance', {'instance': INSTANCE}),
    ('terminate_instance', (INSTANCE, []), {'delete_type': 'force_delete'},
     'cast', '1.36', 'terminate_instance',
     {'instance': INSTANCE, 'delete_type': 'force_delete'}),
    ('soft_delete_instance', (INSTANCE,), {}, 'cast', '1.18',
     'soft_delete_instance', {'instance': INSTANCE}),
    ('live_migrate_instance', (INSTANCE, 'h1', True, False), {}, 'cast',
     '1.20', 'live_migrate_instance',
     {'instance': INSTANCE, 'block_migration': True,
      'disk_over_commit': False, 'host_name': 'h1'}),
    ('revert_resize', (INSTANCE, None, None), {}, 'cast', '1.21',
     'revert_resize', {'instance': INSTANCE}),
    ('confirm_resize', (INSTANCE, None, None), {'cast': False}, 'cast',
     '1.21', 'confirm_resize', {'instance': INSTANCE}),
    ('reset_network', (INSTANCE,), {}, 'cast', '1.22', 'reset_network',
     {'instance': INSTANCE}),
    ('inject_network_info', (INSTANCE,), {}, 'cast', '1.23',
     'inject_network_info', {'instance': INSTANCE}),
    ('snapshot_instance', (INSTANCE, 'img'), {}, 'cast', '1.24',
     'snapshot_instance', {'instance': INSTANCE, 'image_id': 'img'}),
    ('backup_instance', (INSTANCE, 'img', 'daily', 2), {}, 'cast', '1.24',
     'backup_instance', {'instance': INSTANCE, 'image_id': 'img',
                         'backup_type': 'daily', 'rotation': 2}),
    ('rebuild_instance', (INSTANCE, 'pw', [['/f', 'x']], 'img', 'old', {},
                          []), {'preserve_ephemeral': True,
                                'kwargs': {'a': 1}},
     'cast', '1.25', 'rebuild_instance',
     {'instance': INSTANCE, 'image_href': 'img', 'admin_password': 'pw',
      'files_to_inject': [['/f', 'x']], 'preserve_ephemeral': True,
      'kwargs': {'a': 1}}),
    ('set_admin_password', (INSTANCE, 'pw'), {}, 'cast', '1.29',
     'set_admin_password', {'instance': INSTANCE, 'new_pass': 'pw'}),
    ('instance_update_from_api', (INSTANCE, 'active', None, False), {},
     'cast', '1.16', 'instance_update_from_api',
     {'instance': INSTANCE, 'expected_vm_state': 'active',
      'expected_task_state': None, 'admin_state_reset': False}),
]


@pytest.mark.parametrize('name,args,kwargs,kind,version,method,wire', CASES,
                         ids=['%s-%d' % (c[0], i)
                              for i, c in enumerate(CASES)])
def test_client_method(name, args, kwargs, kind, version, method, wire):
    client = Client()
    getattr(client, name)(CTXT, *args, **kwargs)
    assert client.client.sent == [(kind, version, method, wire)]


def test_stop_call_returns_the_answer():
    assert Client().stop_instance(CTXT, INSTANCE, do_cast=False) == 'answer'


def test_older_caps_drop_the_newer_arguments():
    client = Client(cap='1.29')
    client.stop_instance(CTXT, INSTANCE)
    client.terminate_instance(CTXT, INSTANCE, [], delete_type='delete')
    client.resize_instance(CTXT, INSTANCE, {'a': 1}, None, ss.flavor())
    (_k1, v1, _m1, w1), (_k2, v2, _m2, w2), (_k3, v3, _m3, w3) = \
        client.client.sent
    assert (v1, w1) == ('1.12', {'instance': INSTANCE, 'do_cast': True})
    assert (v2, w2) == ('1.18', {'instance': INSTANCE})
    assert v3 == '1.20' and 'clean_shutdown' not in w3


def test_resize_sends_a_primitive_flavor():
    client = Client()
    client.resize_instance(CTXT, INSTANCE, {'a': 1}, None, ss.flavor(),
                           clean_shutdown=False)
    (_kind, version, method, wire), = client.client.sent
    assert (version, method) == ('1.33', 'resize_instance')
    assert set(wire) == {'instance', 'flavor', 'extra_instance_updates',
                         'clean_shutdown'}
    assert isinstance(wire['flavor'], dict)
    assert (wire['flavor']['flavorid'], wire['flavor']['memory_mb']) == (
        '1', 2048)
    assert wire['clean_shutdown'] is False


def test_compute_api_method_cast_and_call():
    client = Client()
    client.cast_compute_api_method(CTXT, 'api!c', 'pause', 'u1', x=1)
    assert client.call_compute_api_method(CTXT, 'api!c', 'get', 'u1') == \
        'answer'
    cast, call = client.client.sent
    # nova cast without prepare(): the client's target version, 1.0.
    assert cast == ('cast', '1.0', 'run_compute_api_method', {
        'cell_name': 'api!c', 'call': False,
        'method_info': {'method': 'pause', 'method_args': ('u1',),
                        'method_kwargs': {'x': 1}}})
    assert call[0] == 'call' and call[3]['call'] is True


@pytest.mark.parametrize('name,args', [
    ('terminate_instance', (INSTANCE, [])),
    ('soft_delete_instance', (INSTANCE,)),
    ('revert_resize', (INSTANCE, None, None)),
    ('confirm_resize', (INSTANCE, None, None)),
    ('rebuild_instance', (INSTANCE, 'pw', [], 'img', 'old', {}, [])),
])
def test_nothing_sent_when_cells_are_disabled(name, args):
    client = Client(enabled=False)
    getattr(client, name)(CTXT, *args)
    assert client.client.sent == []


def test_client_endpoint_and_handlers_agree():
    """Each action is declared three times (client, endpoint, handler):
    the lists must agree (STYLE: avoid parallel method lists drifting)."""
    def public(cls):
        return {n for n in vars(cls) if not n.startswith('_') and
                callable(getattr(cls, n)) and
                n not in ('from_parts', 'target')}
    client = public(lifecycle.LifecycleClient)
    endpoint = public(endpoints_lifecycle.LifecycleEndpoint)
    table = set(handlers.default_tables().table('targeted').names())
    assert client - {'cast_compute_api_method',
                     'call_compute_api_method'} == \
        endpoint - {'run_compute_api_method'}
    assert endpoint <= table
