"""A received message's context stays its wire dict until read.

A middle cell forwards the ``ctxt`` it received (without the auth token and
the service catalog) instead of rebuilding a RequestContext and turning it
back into a dict; the cell that runs the method rebuilds it.
"""

import json
import uuid as uuidlib

from oslo_utils import timeutils
import pytest

from nova_cells import context
from nova_cells import exception
from nova_cells import handlers
from nova_cells.messaging import runner as messaging
from nova_cells import wire_guard

from tests.unit import tree_support


def _wire_ctxt(**overrides):
    values = context.RequestContext(user_id='alice', project_id='p1',
                                    roles=['member']).to_dict()
    values.update(overrides)
    return values


def _targeted(target, ctxt, method='whoami', routing_path='api'):
    return json.dumps({
        'message_type': 'targeted', 'ctxt': ctxt, 'method_name': method,
        'method_kwargs': {}, 'direction': 'down', 'need_response': False,
        'fanout': False, 'uuid': str(uuidlib.uuid4()),
        'routing_path': routing_path, 'hop_count': 1, 'max_hop_count': 10,
        'target_cell': target})


@pytest.fixture
def seen():
    return []


@pytest.fixture
def child(db, seen):
    """A middle cell: parent api, child gc; ``whoami`` records the
    context its handler got."""
    def tables():
        built = handlers.default_tables()

        def whoami(runner, message):
            seen.append(message.ctxt)
            return runner.our_name
        built.table('targeted').method('whoami')(whoami)
        return built
    return tree_support.make_runner(db, 'child', parents=('api',),
                                    children=('gc',), tables=tables())


def _forwarded_ctxt(runner):
    (name, message_type, text), = runner.driver.sent
    assert (name, message_type) == ('gc', 'targeted')
    return json.loads(text)['ctxt']


def test_a_middle_cell_forwards_the_context_it_received(child, monkeypatch):
    rebuilt = []
    original = context.RequestContext.from_dict.__func__

    def counting(cls, values):
        rebuilt.append(values)
        return original(cls, values)
    monkeypatch.setattr(context.RequestContext, 'from_dict',
                        classmethod(counting))
    received = _wire_ctxt()

    assert child.process_json(_targeted('api!child!gc', received)) is None

    assert _forwarded_ctxt(child) == received
    assert rebuilt == []


def test_a_key_we_do_not_know_is_not_passed_on(child):
    # It may hold a credential (a service token): the context is rebuilt,
    # as every hop did before, and only nova's keys go on.
    received = _wire_ctxt(service_token='secret', auth_token_info={'x': 1})

    child.process_json(_targeted('api!child!gc', received))

    forwarded = _forwarded_ctxt(child)
    assert 'service_token' not in forwarded
    assert 'auth_token_info' not in forwarded
    assert forwarded['user_id'] == 'alice'


@pytest.mark.parametrize('field, sent, forwarded', [
    ('timestamp', '2026-12-06T07:12:57.365738+00:00',
     '2026-12-06T07:12:57.365738'),
    ('timestamp', '2026-12-06T12:12:57.365738+05:00',
     '2026-12-06T07:12:57.365738'),
    ('is_admin', None, False),
    ('read_deleted', None, 'no'),
])
def test_values_not_in_novas_form_are_rebuilt_before_going_on(
        child, field, sent, forwarded):
    child.process_json(_targeted('api!child!gc', _wire_ctxt(**{field: sent})))

    assert _forwarded_ctxt(child)[field] == forwarded


def test_an_empty_request_id_gets_a_new_one(child):
    child.process_json(_targeted('api!child!gc', _wire_ctxt(request_id='')))

    assert _forwarded_ctxt(child)['request_id'].startswith('req-')


def test_what_must_not_leave_a_cell_is_dropped_when_passing_through(child):
    received = _wire_ctxt(auth_token='secret-token',
                          service_catalog=[{'type': 'compute'}])

    child.process_json(_targeted('api!child!gc', received))

    forwarded = _forwarded_ctxt(child)
    assert forwarded['auth_token'] is None
    assert forwarded['service_catalog'] == []
    assert dict(forwarded, auth_token='secret-token',
                service_catalog=[{'type': 'compute'}]) == received


def test_a_context_without_request_id_gets_one_once(child):
    received = _wire_ctxt()
    del received['request_id']

    child.process_json(_targeted('api!child!gc', received))

    forwarded = _forwarded_ctxt(child)
    assert forwarded['request_id'].startswith('req-')
    assert forwarded['user_id'] == 'alice'


def test_the_cell_that_runs_the_method_reads_a_full_context(child, seen):
    child.process_json(_targeted('api!child', _wire_ctxt(),
                                 routing_path='api'))

    ctxt, = seen
    assert isinstance(ctxt, context.RequestContext)
    assert (ctxt.user_id, ctxt.project_id) == ('alice', 'p1')
    assert ctxt.roles == ['member']


def test_the_envelope_carries_the_forwarded_context(child):
    captured = []
    child.driver.on_send = lambda name, message: captured.append(
        message.outgoing_context().to_dict())
    received = _wire_ctxt(auth_token='secret-token')

    child.process_json(_targeted('api!child!gc', received))

    envelope, = captured
    assert envelope == _forwarded_ctxt(child)
    envelope['tracing'] = 'written by oslo.messaging'
    assert 'tracing' not in _forwarded_ctxt(child)


@pytest.mark.parametrize('bad', [
    pytest.param({'timestamp': 'yesterday'}, id='timestamp-not-iso'),
    pytest.param({'timestamp': 12}, id='timestamp-not-text'),
    pytest.param({'service_catalog': 'compute'}, id='catalog-not-a-list'),
    pytest.param({'service_catalog': 7}, id='catalog-a-number'),
])
def test_a_context_that_would_not_rebuild_is_rejected_on_arrival(child, bad):
    text = _targeted('api!child!gc', _wire_ctxt(**bad))

    with pytest.raises(exception.MalformedMessage):
        child.message_from_json(text)
    assert child.process_json(text) is None
    assert child.driver.sent == []


@pytest.mark.parametrize('values', [
    {'timestamp': 'yesterday'}, {'timestamp': 12},
    {'service_catalog': 'compute'}, {'service_catalog': 7},
    {'timestamp': '2026-12-06T07:12:57.365738'}, {}, {'roles': ['a']},
])
def test_what_the_arrival_check_accepts_rebuilds(values):
    # Stricter at most: a text catalog rebuilt as a list of letters before.
    try:
        context.RequestContext.from_dict(values).to_dict()
        rebuilds = True
    except (TypeError, ValueError, AttributeError):
        rebuilds = False
    try:
        context.check_wire_ctxt(values)
        accepted = True
    except (TypeError, ValueError):
        accepted = False
    assert rebuilds or not accepted
    assert accepted or 'service_catalog' in values or not rebuilds


def test_runner_module_keeps_rejecting_non_object_contexts(child):
    text = _targeted('api!child!gc', ['not', 'an', 'object'])
    with pytest.raises(messaging.MalformedMessage):
        child.message_from_json(text)


@pytest.mark.parametrize('text, depth', [
    ('{"a": [1, {"b": []}]}', 4),
    ('[' * 5 + ']' * 5, 5),
    (b'{"a": "{[{["}', 1),
    ('{"a": "x\\"[[[["}', 1),
    (b'{"a": "x"}', 1),
])
def test_nesting_is_read_from_the_text_without_parsing(text, depth):
    assert wire_guard.nesting_of(text) == depth


def test_a_deep_message_is_still_refused(child):
    deep = {'x': 0}
    for _level in range(messaging.MAX_NESTING + 1):
        deep = {'x': deep}
    text = _targeted('api!child!gc', _wire_ctxt(deep=deep))
    with pytest.raises(messaging.MalformedMessage) as info:
        child.message_from_json(text)
    assert 'nested deeper' in str(info.value)


def test_an_update_passing_a_middle_cell_is_not_rebuilt(db, monkeypatch):
    """A broadcast whose handler does nothing here (an instance update on
    its way to the top) goes on without its context being rebuilt."""
    rebuilt = []
    original = context.RequestContext.from_dict.__func__

    def counting(cls, values):
        rebuilt.append(values)
        return original(cls, values)
    middle = tree_support.make_runner(db, 'child', parents=('api',),
                                      children=('gc',))
    received = _wire_ctxt()
    text = json.dumps({
        'message_type': 'broadcast', 'ctxt': received,
        'method_name': 'instance_update_at_top',
        'method_kwargs': {'instance': {'uuid': str(uuidlib.uuid4())}},
        'direction': 'up', 'need_response': False, 'fanout': False,
        'uuid': str(uuidlib.uuid4()), 'routing_path': 'gc', 'hop_count': 1,
        'max_hop_count': 10})
    monkeypatch.setattr(context.RequestContext, 'from_dict',
                        classmethod(counting))

    assert middle.process_json(text) is None

    (name, message_type, sent), = middle.driver.sent
    assert (name, message_type) == ('api', 'broadcast')
    assert json.loads(sent)['ctxt'] == received
    assert rebuilt == []


def _update_from(child_name):
    return json.dumps({
        'message_type': 'broadcast', 'ctxt': _wire_ctxt(),
        'method_name': 'instance_update_at_top',
        'method_kwargs': {'instance': {'uuid': str(uuidlib.uuid4())}},
        'direction': 'up', 'need_response': False, 'fanout': False,
        'uuid': str(uuidlib.uuid4()), 'routing_path': child_name,
        'hop_count': 1, 'max_hop_count': 10})


def test_the_top_looks_an_update_up_unless_its_writer_marks_it(db):
    from nova_cells.top import topwriter
    top = tree_support.make_runner(db, 'api', children=('child',))
    text = _update_from('child')

    assert not top.message_from_json(text).finds_its_copies()
    top.services.top_writer = topwriter.TopWriter(db)
    assert top.message_from_json(text).finds_its_copies()


def test_an_answer_carries_no_token_back(db):
    target = tree_support.make_runner(db, 'gc', parents=('child',))
    received = _wire_ctxt(auth_token='secret-token',
                          service_catalog=[{'type': 'compute'}])
    text = json.dumps({
        'message_type': 'targeted', 'ctxt': received, 'method_name': 'whoami',
        'method_kwargs': {}, 'direction': 'down', 'need_response': True,
        'fanout': False, 'uuid': str(uuidlib.uuid4()),
        'routing_path': 'api!child', 'hop_count': 2, 'max_hop_count': 10,
        'target_cell': 'api!child!gc'})

    target.process_json(text)

    (name, message_type, sent), = target.driver.sent
    assert (name, message_type) == ('child', 'response')
    answer = json.loads(sent)
    assert answer['ctxt']['auth_token'] is None
    assert answer['ctxt']['service_catalog'] == []
    assert 'secret-token' not in answer['method_kwargs']['orig_message']


@pytest.mark.parametrize('text', [
    '2026-12-07T09:53:18.123456', '2026-12-07T09:53:18',
    '2026-12-07T09:53:18.000000', '2026-12-07T09:53:18+02:00',
    '2026-12-07T09:53:18Z', '2026-12-07 09:53:18', '2026-02-30T09:53:18',
    '2026-12-07T25:53:18', '\u0662026-12-07T09:53:18', 'yesterday'])
def test_a_timestamp_reads_as_oslo_reads_it(text):
    """The C parser taken for our own form gives what oslo's ISO 8601
    parser (UTC assumed, made naive) gives, and refuses what it refuses."""
    def read(parse):
        try:
            return parse(text)
        except ValueError:
            return ValueError
    ours = read(context._parse_timestamp.__wrapped__)
    oslo = read(lambda t: timeutils.normalize_time(
        timeutils.parse_isotime(t)))
    assert ours == oslo
