"""Golden wire tests: our intercell messages against real nova-cells ones.

tests/unit/golden_wire.json holds samples captured from the original
nova-cells (nova 19.3.2) on RabbitMQ, in a tree api -> child -> gc (copied
from the reference's wire_samples.json).  For each sample:

(a) we build the same message with our real classes (a MessageRunner named
    like the sample's sender, its real state manager over SQLite, a driver
    that records what it would cast) and compare the JSON: same keys, same
    value types, same values except uuid, timestamp and request id;
(b) we feed the sample's exact ``message_json`` to a runner of the
    receiving cell and check how it is understood and processed.

None of the samples carries a failure, so the failure response case is
built from the reference (§4.8).
"""

import copy
import datetime
import json
import os

import oslo_messaging
from oslo_messaging import transport as om_transport
import pytest

from nova_cells import context
from nova_cells import exception
from nova_cells.messaging import runner as messaging
from nova_cells.cells import propagation
from nova_cells.messaging import responses as cells_responses
from tests.unit import helpers
from tests.unit import tree_support

with open(os.path.join(os.path.dirname(__file__), 'golden_wire.json')) as f:
    GOLDEN = json.load(f)
SAMPLES = GOLDEN['samples']
ENVELOPES = GOLDEN['envelopes']

# Values that differ on every run; compared by type only.
VOLATILE = {'uuid', 'timestamp', 'request_id'}
# String values that are JSON documents themselves; compared parsed.
NESTED_JSON = {'orig_message'}
FAILURE_KEYS = {'class', 'module', 'message', 'tb', 'args', 'kwargs'}


def sample(key):
    return SAMPLES[key]['message']


def sample_json(key):
    return SAMPLES[key]['message_json']


def assert_same_wire(ours, theirs, where='message', volatile=VOLATILE):
    """Same keys, same value types, same values (volatile: type only).

    JSON-in-JSON (``orig_message`` and each of ``responses``) is compared
    parsed, recursively.
    """
    assert type(ours) is type(theirs), '%s: %s is not %s' % (
        where, type(ours).__name__, type(theirs).__name__)
    if isinstance(theirs, dict):
        assert set(ours) == set(theirs), '%s: keys differ by %s' % (
            where, sorted(set(ours) ^ set(theirs)))
        for key in theirs:
            here = '%s.%s' % (where, key)
            if key in volatile:
                assert type(ours[key]) is type(theirs[key]), here
            elif key in NESTED_JSON:
                assert_same_wire(json.loads(ours[key]),
                                 json.loads(theirs[key]), here, volatile)
            elif key == 'responses':
                assert len(ours[key]) == len(theirs[key]), here
                for i, (a, b) in enumerate(zip(ours[key], theirs[key])):
                    assert_same_wire(json.loads(a), json.loads(b),
                                     '%s[%d]' % (here, i), volatile)
            else:
                assert_same_wire(ours[key], theirs[key], here, volatile)
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same_wire(a, b, '%s[%d]' % (where, i), volatile)
    else:
        assert ours == theirs, '%s: %r != %r' % (where, ours, theirs)


def _only_sent(runner, to=None, message_type=None):
    sent = [s for s in runner.driver.sent
            if to in (None, s[0]) and message_type in (None, s[1])]
    assert len(sent) == 1, runner.driver.sent
    return json.loads(sent[0][2])


def _peer_context(**extra):
    """The user context of the samples, plus secrets that must not leak."""
    return context.RequestContext(user_id='peer-user',
                                  project_id='peer-project', is_admin=True,
                                  **extra)


def _tables(**handlers):
    """Test tables plus ``kind:name -> handler`` (e.g. targeted_x=...)."""
    tables = tree_support.tables_factory()()
    for key, handler in handlers.items():
        kind, name = key.split('__')
        tables.table(kind).method(name)(handler)
    return tables


def _add_sample_hosts(db):
    """Rows from which nova computes the update_capacities sample exactly:
    4 hosts of 16 GiB RAM / 200 GiB disk, flavors 2048 MB and 4096 MB with
    20 GB root disk, 10 % reserve."""
    for i in range(4):
        host = 'gc-cmp%d' % (i + 1)
        helpers.add_compute_service(db, host)
        helpers.add_compute_node(db, host, memory_mb=16384,
                                 free_ram_mb=16384, local_gb=200,
                                 free_disk_gb=200)
    helpers.add_flavor(db, 'm1.small', 2048, 20)
    helpers.add_flavor(db, 'm1.medium', 4096, 20)


def test_golden_fixture_is_self_consistent():
    for key, entry in SAMPLES.items():
        assert json.loads(entry['message_json']) == entry['message'], key
    assert not any('"failure": true' in e['message_json'].replace('\\', '')
                   for e in SAMPLES.values()), \
        'no failure sample: the failure case is built from §4.8'


# -- (a) our messages equal nova's --------------------------------------------

def test_build_update_capabilities_up_fanout(db):
    key = 'targeted/update_capabilities/up/fanout'
    gc = tree_support.make_runner(db, 'gc', parents=['child'],
                                  capabilities=['hypervisor=kvm',
                                                'os=linux'])
    propagation.tell_parents_our_capabilities(gc, context.get_admin_context())
    ours = _only_sent(gc, to='child')
    assert_same_wire(ours, sample(key))
    assert list(ours) == list(json.loads(sample_json(key))), \
        "nova's key order"
    assert SAMPLES[key]['exchange'] == 'cells.intercell.targeted_fanout'


def test_build_update_capacities_up_fanout(db):
    key = 'targeted/update_capacities/up/fanout'
    _add_sample_hosts(db)
    gc = tree_support.make_runner(db, 'gc', parents=['child'])
    propagation.tell_parents_our_capacities(gc, context.get_admin_context())
    ours = _only_sent(gc, to='child')
    # Beyond nova (doc/differences.rst): free vcpus ride along in their
    # own key, which a nova parent sums through like the others.
    vcpu_free = ours['method_kwargs']['capacities'].pop('vcpu_free')
    # 4 hosts x 8 vcpus; 1-vcpu flavors; 10 % reserve: int(8 - 0.8) x 4.
    assert vcpu_free == {'total': 32, 'units_by_vcpus': {'1': 28}}
    assert_same_wire(ours, sample(key))
    assert ours['method_kwargs']['capacities'] == {
        'ram_free': {'total_mb': 65536,
                     'units_by_mb': {'2048': 28, '4096': 12}},
        'disk_free': {'total_mb': 819200, 'units_by_mb': {'20480': 36}}}


def test_build_announce_capabilities_down(db):
    key = 'targeted/announce_capabilities/down'
    child = tree_support.make_runner(db, 'child', children=['gc'])
    propagation.ask_children_for_capabilities(child,
                                              context.get_admin_context())
    ours = _only_sent(child, to='gc')
    assert_same_wire(ours, sample(key))
    assert SAMPLES[key]['routing_key'] == 'cells.intercell.targeted'


def test_build_broadcast_compute_node_stats_down(db):
    key = 'broadcast/compute_node_stats/down'
    api = tree_support.make_runner(db, 'api', children=['child'],
                                   call_timeout=0)
    ctxt = _peer_context(auth_token='secret-token',
                         service_catalog=[{'type': 'compute'}])
    answers = api.broadcast(ctxt, 'compute_node_stats', {},
                            need_response=True)
    ours = _only_sent(api, to='child')
    assert_same_wire(ours, sample(key))
    assert list(ours) == list(json.loads(sample_json(key)))
    # §10.4: the token and catalog stay in the originating cell ...
    assert ours['ctxt']['auth_token'] is None
    assert ours['ctxt']['service_catalog'] == []
    # ... and the caller's context is left alone.
    assert ctxt.auth_token == 'secret-token'
    assert ctxt.service_catalog == [{'type': 'compute'}]
    # nothing answered within call_timeout=0: the child is named
    assert isinstance(tree_support.by_cell(answers)['api!child'].value,
                      exception.CellTimeout)


def _incoming(key, routing_path, hop_count):
    """The original message of a response sample, as it reached gc."""
    orig = json.loads(sample(key)['method_kwargs']['orig_message'])
    orig.update(routing_path=routing_path, hop_count=hop_count)
    return orig


def _sample_value(key):
    return json.loads(sample(key)['method_kwargs']['responses'][0])['value']


def test_build_response_parse_responses_up(db):
    """gc answers api's targeted service_get_by_compute_host: the response
    goes back along the full reversed path, fanout only at the last hop."""
    key = 'response/parse_responses/up'
    service = _sample_value(key)

    def service_get_by_compute_host(runner, message, host_name):
        assert host_name == 'gc-cmp2'
        return service

    gc = tree_support.make_runner(
        db, 'gc', parents=['child'], tables=_tables(
            targeted__service_get_by_compute_host=service_get_by_compute_host))
    assert gc.process_json(json.dumps(_incoming(key, 'api!child', 2))) is None
    ours = _only_sent(gc, to='child')
    # the request's uuid, timestamp and request id are carried through.
    assert_same_wire(ours, sample(key), volatile={'uuid'})
    assert list(ours) == list(json.loads(sample_json(key))), \
        "nova's key order"
    assert ours['response_uuid'] == sample(key)['response_uuid']
    assert ours['uuid'] != ours['response_uuid'], 'a fresh own uuid'


def test_build_response_parse_responses_up_fanout(db):
    """gc answers api's broadcast service_get_all: the response goes to the
    neighbour that sent it (gc!child), as a fanout."""
    key = 'response/parse_responses/up/fanout'
    services = _sample_value(key)

    def service_get_all(runner, message, filters):
        assert filters is None
        return services

    gc = tree_support.make_runner(
        db, 'gc', parents=['child'],
        tables=_tables(broadcast__service_get_all=service_get_all))
    assert gc.process_json(json.dumps(_incoming(key, 'api!child', 2))) is None
    ours = _only_sent(gc, to='child')
    assert_same_wire(ours, sample(key), volatile={'uuid'})
    assert ours['fanout'] is True and ours['target_cell'] == 'gc!child'


def test_build_failure_response(db):
    """§4.8: a failure travels as a JSON string with exactly nova's keys."""
    key = 'response/parse_responses/up'

    def service_get_by_compute_host(runner, message, host_name):
        raise exception.ServiceNotFound(service_id=host_name)

    gc = tree_support.make_runner(
        db, 'gc', parents=['child'], tables=_tables(
            targeted__service_get_by_compute_host=service_get_by_compute_host))
    gc.process_json(json.dumps(_incoming(key, 'api!child', 2)))
    ours = _only_sent(gc, to='child')
    [response] = [json.loads(r)
                  for r in ours['method_kwargs']['responses']]
    assert set(response) == {'cell_name', 'value', 'failure'}
    assert (response['cell_name'], response['failure']) == ('api!child!gc',
                                                            True)
    assert isinstance(response['value'], str)
    failure = json.loads(response['value'])
    assert set(failure) == FAILURE_KEYS
    assert failure['class'] == 'ServiceNotFound'
    assert failure['module'] == 'nova.exception'
    assert failure['message'] == 'Service gc-cmp2 could not be found.'
    assert failure['kwargs'] == {'service_id': 'gc-cmp2', 'code': 404}
    assert failure['args'] == ['Service gc-cmp2 could not be found.']
    assert failure['tb'] and all(isinstance(t, str) for t in failure['tb'])
    # the rest of the message is the success sample's shape
    theirs = copy.deepcopy(sample(key))
    theirs['method_kwargs']['responses'] = ours['method_kwargs']['responses']
    assert_same_wire(ours, theirs, volatile={'uuid'})


# -- (b) nova's messages are understood ---------------------------------------

@pytest.mark.parametrize('key, receiver, neighbours', [
    pytest.param('targeted/update_capabilities/up/fanout', 'child',
                 dict(parents=['api'], children=['gc']), id='update-caps'),
    pytest.param('targeted/update_capacities/up/fanout', 'child',
                 dict(parents=['api'], children=['gc']), id='update-capa'),
    pytest.param('targeted/announce_capabilities/down', 'gc',
                 dict(parents=['child']), id='announce-caps'),
    pytest.param('broadcast/compute_node_stats/down', 'child',
                 dict(parents=['api'], children=['gc']), id='broadcast'),
    pytest.param('response/parse_responses/up', 'child',
                 dict(parents=['api'], children=['gc']), id='response'),
    pytest.param('response/parse_responses/up/fanout', 'child',
                 dict(parents=['api'], children=['gc']),
                 id='response-fanout'),
])
def test_receive_sample(db, key, receiver, neighbours):
    theirs = sample(key)
    runner = tree_support.make_runner(db, receiver, **neighbours)
    message = runner.message_from_json(sample_json(key))
    assert message.message_type == theirs['message_type']
    assert message.method_name == theirs['method_name']
    expected_path = '%s!%s' % (theirs['routing_path'], receiver)
    assert str(message.routing_path) == expected_path
    assert message.hop_count == theirs['hop_count'] + 1
    assert message.max_hop_count == theirs['max_hop_count']
    assert (message.direction, message.need_response, message.fanout,
            message.uuid) == (theirs['direction'], theirs['need_response'],
                              theirs['fanout'], theirs['uuid'])
    if 'target_cell' in theirs:
        assert str(message.target_cell) == theirs['target_cell']
    if 'response_uuid' in theirs:
        assert message.response_uuid == theirs['response_uuid']
    ctxt = message.ctxt
    assert (ctxt.user_id, ctxt.project_id, ctxt.is_admin, ctxt.request_id,
            ctxt.read_deleted) == (
        theirs['ctxt']['user_id'], theirs['ctxt']['project_id'],
        theirs['ctxt']['is_admin'], theirs['ctxt']['request_id'], 'no')
    # what we would send on about it keeps nova's wire exactly
    assert json.loads(message.to_json())['method_kwargs'] == \
        theirs['method_kwargs']


def test_process_update_capabilities_sample(db):
    child = tree_support.make_runner(db, 'child', parents=['api'],
                                     children=['gc'],
                                     capabilities=['hypervisor=xen'])
    child.process_json(sample_json('targeted/update_capabilities/up/fanout'))
    gc = child.state_manager.get_child_cell('gc')
    assert gc.capabilities == {'hypervisor': {'kvm'}, 'os': {'linux'}}
    # and the child passes its aggregate up at once, as nova did
    ours = _only_sent(child, to='api')
    assert (ours['method_name'], ours['target_cell'], ours['fanout']) == (
        'update_capabilities', 'child!api', True)
    assert ours['method_kwargs'] == {
        'cell_name': 'child',
        'capabilities': {'hypervisor': ['kvm', 'xen'], 'os': ['linux']}}


def test_process_update_capacities_sample(db):
    key = 'targeted/update_capacities/up/fanout'
    child = tree_support.make_runner(db, 'child', parents=['api'],
                                     children=['gc'])
    child.process_json(sample_json(key))
    capacities = sample(key)['method_kwargs']['capacities']
    assert child.state_manager.get_capacities('gc') == capacities
    ours = _only_sent(child, to='api')
    assert ours['method_name'] == 'update_capacities'
    assert ours['method_kwargs'] == {'cell_name': 'child',
                                     'capacities': capacities}


def test_process_announce_capabilities_sample_answers_like_nova(db):
    """gc, asked by child, sends exactly the update_capabilities sample."""
    gc = tree_support.make_runner(db, 'gc', parents=['child'],
                                  capabilities=['hypervisor=kvm',
                                                'os=linux'])
    gc.process_json(sample_json('targeted/announce_capabilities/down'))
    ours = _only_sent(gc, to='child')
    assert_same_wire(ours, sample('targeted/update_capabilities/up/fanout'))


def test_process_broadcast_sample_forwards_and_answers(db):
    key = 'broadcast/compute_node_stats/down'

    def compute_node_stats(runner, message):
        return {'count': 0, 'vcpus': 0}

    child = tree_support.make_runner(
        db, 'child', parents=['api'], children=['gc'], call_timeout=0,
        tables=_tables(broadcast__compute_node_stats=compute_node_stats))
    child.process_json(sample_json(key))
    forwarded = _only_sent(child, to='gc')
    theirs = dict(sample(key), routing_path='api!child', hop_count=2)
    assert_same_wire(forwarded, theirs, volatile={'timestamp'})
    answer = _only_sent(child, to='api')
    assert (answer['message_type'], answer['target_cell'], answer['fanout'],
            answer['direction'], answer['response_uuid']) == (
        'response', 'child!api', True, 'up', sample(key)['uuid'])
    got = {r['cell_name']: r for r in
           map(json.loads, answer['method_kwargs']['responses'])}
    assert got['api!child'] == {'cell_name': 'api!child', 'failure': False,
                                'value': {'count': 0, 'vcpus': 0}}
    assert got['api!child!gc']['failure'] is True, 'gc was silent'
    assert json.loads(got['api!child!gc']['value'])['class'] == 'CellTimeout'


def test_process_response_sample_forwards_fanout_on_last_hop(db):
    child = tree_support.make_runner(db, 'child', parents=['api'],
                                     children=['gc'])
    child.process_json(sample_json('response/parse_responses/up'))
    ours = _only_sent(child, to='api')
    theirs = sample('response/parse_responses/up')
    assert (ours['routing_path'], ours['hop_count'], ours['fanout']) == (
        'gc!child', 2, True)
    assert_same_wire(ours, dict(theirs, routing_path='gc!child',
                                hop_count=2, fanout=True), volatile=set())


def test_process_response_fanout_sample_fills_the_waiting_slot(db):
    key = 'response/parse_responses/up/fanout'
    child = tree_support.make_runner(db, 'child', parents=['api'],
                                     children=['gc'])
    slot = child.slots.open(sample(key)['response_uuid'], ['gc'])
    child.process_json(sample_json(key))
    received, missing = slot.wait(0)
    assert missing == []
    assert received == sample(key)['method_kwargs']['responses']
    [response] = [json.loads(r) for r in received]
    assert (response['cell_name'], response['failure']) == ('api!child!gc',
                                                            False)
    assert child.driver.sent == [], 'consumed here, not forwarded'


def _nova_failure_response(cls, module, message, kwargs):
    """A response message as nova would send it (sample + a failure)."""
    key = 'response/parse_responses/up'
    theirs = copy.deepcopy(sample(key))
    failure = json.dumps({'class': cls, 'module': module, 'message': message,
                          'tb': ['Traceback (most recent call last):\n'],
                          'args': [message], 'kwargs': kwargs})
    theirs['method_kwargs']['responses'] = [json.dumps(
        {'cell_name': 'api!child!gc', 'value': failure, 'failure': True})]
    theirs.update(routing_path='gc!child', hop_count=2)
    return theirs


@pytest.mark.parametrize('cls, module, kwargs, expected, attr', [
    pytest.param('ServiceNotFound', 'nova.exception',
                 {'service_id': 'gc-cmp2', 'code': 404},
                 exception.ServiceNotFound, 'service_id', id='nova-known'),
    pytest.param('CellTimeout', 'nova.exception', {'code': 500},
                 exception.CellTimeout, None, id='nova-cell-timeout'),
    pytest.param('FlavorDiskTooSmall', 'nova.exception',
                 {'code': 400}, oslo_messaging.RemoteError,
                 None, id='nova-class-we-lack'),
    pytest.param('ValueError', 'exceptions', {}, ValueError, None,
                 id='py2-builtin'),
    pytest.param('ValueError', 'builtins', {}, ValueError, None,
                 id='py3-builtin'),
    pytest.param('Boom', 'evil.module', {}, oslo_messaging.RemoteError,
                 None, id='unknown-module'),
])
def test_receive_nova_failure_response(db, cls, module, kwargs, expected,
                                       attr):
    api = tree_support.make_runner(db, 'api', children=['child'])
    theirs = _nova_failure_response(cls, module, 'it failed', kwargs)
    slot = api.slots.open(theirs['response_uuid'])
    api.process_json(json.dumps(theirs))
    received, _missing = slot.wait(0)
    [response] = [api.decode_response(context.get_admin_context(), r)
                  for r in received]
    assert response.failure and response.cell_name == 'api!child!gc'
    assert type(response.value) is expected
    if attr:
        assert getattr(response.value, attr) == kwargs[attr]
    with pytest.raises(expected):
        response.value_or_raise()


# -- §10.4, §10.6 -------------------------------------------------------------

def test_outgoing_context_has_no_token_nor_catalog(db):
    api = tree_support.make_runner(db, 'api', children=['c1'])
    ctxt = _peer_context(auth_token='secret-token',
                         service_catalog=[{'type': 'image'}])
    api.targeted(ctxt, 'api!c1', 'whoami', {})
    api.broadcast(ctxt, 'record', {})
    for _to, _type, raw in api.driver.sent:
        sent_ctxt = json.loads(raw)['ctxt']
        assert sent_ctxt['auth_token'] is None
        assert sent_ctxt['service_catalog'] == []
        assert 'secret-token' not in raw
        assert sent_ctxt['user_id'] == 'peer-user'
        assert set(sent_ctxt) == set(sample(
            'broadcast/compute_node_stats/down')['ctxt'])
    assert len(api.driver.sent) == 2
    assert ctxt.auth_token == 'secret-token'


class _BoxSerializer(oslo_messaging.Serializer):
    """Serializes every value into a fresh {'boxed': ...} primitive."""

    def serialize_entity(self, ctxt, entity):
        return {'boxed': repr(entity)}

    def deserialize_entity(self, ctxt, entity):
        return ('unboxed', entity)

    def serialize_context(self, ctxt):
        return ctxt.to_dict()

    def deserialize_context(self, ctxt):
        return ctxt


def test_to_json_does_not_mutate_method_kwargs(db):
    runner = tree_support.make_runner(db, 'api', children=['c1'],
                                      serializer=_BoxSerializer())
    when = datetime.datetime(2020, 1, 2, 3, 4, 5)
    inner = {'x': [1, 2]}
    kwargs = {'when': when, 'inner': inner, 'caps': {'a': {'v'}}}
    snapshot = copy.deepcopy(kwargs)
    message = messaging._TargetedMessage(runner, context.get_admin_context(),
                                         'whoami', kwargs, 'down', 'api!c1')
    first = message.to_json()
    assert message.to_json() == first, 'idempotent'
    assert kwargs == snapshot
    assert message.method_kwargs is kwargs
    assert kwargs['when'] is when and kwargs['inner'] is inner
    assert json.loads(first)['method_kwargs'] == {
        k: {'boxed': repr(v)} for k, v in snapshot.items()}


def test_broadcast_call_local_handler_gets_objects_after_sending(db):
    """§10.6: nova sent to the neighbours first and then ran the local
    handler on the primitives to_json had left behind."""
    seen = []

    def capture(runner, message, thing):
        seen.append(thing)
        return 'ok'

    api = tree_support.make_runner(db, 'api', children=['c1'],
                                   serializer=_BoxSerializer(),
                                   tables=_tables(broadcast__capture=capture))
    thing = object()
    api.broadcast(context.get_admin_context(), 'capture', {'thing': thing},
                  need_response=True)
    assert [s[0] for s in api.driver.sent] == ['c1'], 'sent first'
    assert seen == [thing], 'the local run got the object itself'
    sent = json.loads(api.driver.sent[0][2])
    assert sent['method_kwargs'] == {'thing': {'boxed': repr(thing)}}


def test_received_kwargs_are_deserialized_for_the_handler(db):
    seen = []

    def capture(runner, message, thing):
        seen.append(thing)

    child = tree_support.make_runner(
        db, 'c1', parents=['api'], serializer=_BoxSerializer(),
        tables=_tables(targeted__capture=capture))
    raw = dict(sample('targeted/announce_capabilities/down'),
               routing_path='api', target_cell='api!c1',
               method_name='capture', method_kwargs={'thing': {'boxed': 1}})
    child.process_json(json.dumps(raw))
    assert seen == [('unboxed', {'boxed': 1})]


# -- the oslo envelope, on a real tree named like the samples' ----------------

@pytest.fixture
def sample_tree(tmp_path, monkeypatch):
    """api -> child -> gc on fake://, every oslo cast recorded."""
    casts = []
    real_send = om_transport.Transport._send

    def recording_send(self, target, ctxt, message, *args, **kwargs):
        casts.append((target, ctxt, message))
        return real_send(self, target, ctxt, message, *args, **kwargs)

    monkeypatch.setattr(om_transport.Transport, '_send', recording_send)
    layout = {'api': {'child': {'gc': {}}}}
    with tree_support.running_tree(tmp_path, layout=layout) as tree:
        tree.casts = casts
        yield tree


def _cells_message(cast):
    return json.loads(cast[2]['args']['message'])


def _assert_envelope(cast, envelope_key):
    target, ctxt, message = cast
    decoded = ENVELOPES[envelope_key]['decoded_oslo_message']
    nova_ctxt = {k[len('_context_'):]: v for k, v in decoded.items()
                 if k.startswith('_context_')}
    assert set(ctxt) == set(nova_ctxt)
    assert ctxt['auth_token'] is None and ctxt['service_catalog'] == []
    assert set(message) | {'_unique_id'} | {'_context_' + k for k in ctxt} \
        == set(decoded)
    assert (message['method'], message['version'], list(message['args'])) \
        == (decoded['method'], decoded['version'], list(decoded['args']))
    assert_same_wire(json.loads(message['args']['message']),
                     json.loads(decoded['args']['message']),
                     volatile={'uuid', 'timestamp', 'request_id',
                               'response_uuid'})
    return target


def test_envelope_of_update_capabilities_fanout(sample_tree):
    gc = sample_tree.cells['gc']
    gc.state_manager.my_cell_state.capabilities = {'hypervisor': {'kvm'},
                                                   'os': {'linux'}}
    del sample_tree.casts[:]
    propagation.tell_parents_our_capabilities(
        gc.runner, context.RequestContext(is_admin=True, auth_token='tok'))
    cast = next(c for c in sample_tree.casts
                if _cells_message(c)['routing_path'] == 'gc')
    target = _assert_envelope(cast, 'targeted_fanout')
    assert (target.topic, target.fanout, target.version) == (
        'cells.intercell.targeted', True, '1.0')


def test_envelope_of_targeted_call_and_broadcast_response(sample_tree):
    api = sample_tree.cells['api'].runner
    ctxt = _peer_context(auth_token='secret-token')
    del sample_tree.casts[:]
    response = api.targeted(ctxt, 'api!child!gc', 'whoami', {},
                            need_response=True)
    assert response.value_or_raise()['routing_path'] == 'api!child!gc'
    first = sample_tree.casts[0]
    message = _cells_message(first)
    assert (message['method_name'], message['routing_path']) == ('whoami',
                                                                 'api')
    envelope = ENVELOPES['targeted_call']['decoded_oslo_message']
    nova = json.loads(envelope['args']['message'])
    nova_ctxt = {k[len('_context_'):]: v for k, v in envelope.items()
                 if k.startswith('_context_')}
    assert set(first[1]) == set(nova_ctxt)
    assert first[1]['auth_token'] is None
    assert set(message) == set(nova)
    assert first[0].topic == 'cells.intercell.targeted'
    assert not first[0].fanout

    del sample_tree.casts[:]
    answers = api.broadcast(ctxt, 'whoami', {}, need_response=True)
    assert sorted(r.cell_name for r in answers) == ['api', 'api!child',
                                                    'api!child!gc']
    gc_answer = next(c for c in sample_tree.casts
                     if _cells_message(c)['message_type'] == 'response' and
                     _cells_message(c)['routing_path'] == 'gc')
    target, ctxt_sent, sent = gc_answer
    envelope = ENVELOPES['broadcast_response_fanout']['decoded_oslo_message']
    ours = json.loads(sent['args']['message'])
    theirs = json.loads(envelope['args']['message'])
    assert set(ours) == set(theirs)
    assert (ours['target_cell'], ours['fanout']) == (theirs['target_cell'],
                                                     theirs['fanout'])
    assert (target.topic, target.fanout) == ('cells.intercell.response', True)
    assert set(ctxt_sent) == set(nova_ctxt)


def test_failure_json_of_remote_exception_class_names():
    # a failure rebuilt from a remote cell and sent on keeps nova's names
    back = cells_responses.deserialize_failure(json.dumps(
        {'class': 'CellTimeout', 'module': 'nova.exception', 'message': 'm',
         'tb': [], 'args': ['m'], 'kwargs': {'cell_name': 'a', 'code': 500}}))
    again = json.loads(cells_responses.serialize_failure(back))
    assert (again['class'], again['module']) == ('CellTimeout',
                                                 'nova.exception')
    assert again['kwargs'] == {'cell_name': 'a', 'code': 500}
