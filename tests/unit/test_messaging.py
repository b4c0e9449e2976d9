"""Intercell routing end to end, in process, on ``fake://`` (reference §4.4-
§4.9, §10.2, §10.3, §10.8) and hostile input to the receiving side.

The tree (tree_support.LAYOUT) is api -> c1, c2, c3 -> g1..g6: ten cells,
each with its own SQLite database, state manager, runner and oslo.messaging
servers, talking nova's wire JSON through fake://.
"""

from concurrent import futures
import json
import time
import uuid as uuidlib

import pytest

from nova_cells import context
from nova_cells import exception
from nova_cells.messaging import runner as messaging
from tests.unit import tree_support
from tests.unit.tree_support import ALL_PATHS, CALL_TIMEOUT, PATHS


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    """The ten-cell tree, started; shared by the tests that stop nothing
    (and restore what they change)."""
    recorder = tree_support.Recorder()
    with tree_support.running_tree(tmp_path_factory.mktemp('tree'),
                                   recorder=recorder) as t:
        t.recorder = recorder
        yield t


@pytest.fixture
def own_tree(tmp_path):
    """A private started tree, for tests that stop cells."""
    recorder = tree_support.Recorder()
    with tree_support.running_tree(tmp_path, recorder=recorder) as t:
        t.recorder = recorder
        yield t


@pytest.fixture
def ctxt():
    return context.get_admin_context()


def _runner(tree, name):
    return tree.cells[name].runner


def _no_slots_left(tree):
    """Every waiting slot was closed, in every cell (polls for late hops)."""
    return tree_support.wait_until(
        lambda: all(len(c.runner.slots) == 0 for c in tree.cells.values()),
        timeout=CALL_TIMEOUT + 1)


# -- targeted -----------------------------------------------------------------

@pytest.mark.parametrize('target, hops', [
    pytest.param('api', 1, id='self'),
    pytest.param('api!c1', 2, id='child'),
    pytest.param('api!c2!g4', 3, id='grandchild-g4'),
    pytest.param('api!c3!g6', 3, id='grandchild-g6'),
])
def test_targeted_call_down_returns_target_value(tree, ctxt, target, hops):
    response = _runner(tree, 'api').targeted(ctxt, target, 'whoami', {},
                                             need_response=True)
    assert response.failure is False, response.value
    assert response.cell_name == target
    assert response.value_or_raise() == {
        'name': target.split('!')[-1], 'routing_path': target,
        'hop_count': hops, 'max_hop_count': 10}


def test_targeted_call_up_from_grandchild_to_api(tree, ctxt):
    response = _runner(tree, 'g5').targeted(ctxt, 'g5!c3!api', 'whoami', {},
                                            direction='up',
                                            need_response=True)
    assert response.value_or_raise()['routing_path'] == 'g5!c3!api'
    assert response.value['name'] == 'api'


def test_targeted_call_with_cell_state_target(tree, ctxt):
    api = _runner(tree, 'api')
    child = api.state_manager.get_child_cell('c2')
    response = api.targeted(ctxt, child, 'whoami', {}, need_response=True)
    assert response.value_or_raise()['routing_path'] == 'api!c2'
    me = api.state_manager.get_my_state()
    response = api.targeted(ctxt, me, 'whoami', {}, need_response=True)
    assert response.value_or_raise()['routing_path'] == 'api'


def test_targeted_cast_runs_at_target_and_returns_none(tree, ctxt):
    result = _runner(tree, 'api').targeted(
        ctxt, 'api!c1!g2', 'record', {'tag': 'targeted-cast'})
    assert result is None
    assert tree_support.wait_until(
        lambda: tree.recorder.cells(tag='targeted-cast') == ['g2'])


def test_targeted_none_target_is_routing_inconsistency(tree, ctxt):
    with pytest.raises(exception.CellRoutingInconsistency,
                       match='No cell given'):
        _runner(tree, 'api').targeted(ctxt, None, 'whoami', {},
                                      need_response=True)


@pytest.mark.parametrize('hops_away, target, max_hop_count, reached', [
    pytest.param(0, 'api', 1, True, id='k0-max1-local'),
    pytest.param(1, 'api!c1', 1, False, id='k1-max1-cut-at-api'),
    pytest.param(1, 'api!c1', 2, True, id='k1-max2'),
    pytest.param(2, 'api!c1!g1', 1, False, id='k2-max1-cut-at-api'),
    pytest.param(2, 'api!c1!g1', 2, False, id='k2-max2-cut-at-child'),
    pytest.param(2, 'api!c1!g1', 3, True, id='k2-max3'),
    pytest.param(2, 'api!c1!g1', 10, True, id='k2-max10-default'),
])
def test_targeted_needs_max_hop_count_k_plus_one(tree, ctxt, monkeypatch,
                                                 hops_away, target,
                                                 max_hop_count, reached):
    api = _runner(tree, 'api')
    monkeypatch.setattr(api.settings, 'max_hop_count', max_hop_count)
    started = time.monotonic()
    response = api.targeted(ctxt, target, 'whoami', {}, need_response=True)
    assert time.monotonic() - started < CALL_TIMEOUT, \
        'a hop-count failure is an answer, not a timeout'
    if reached:
        assert response.failure is False
        assert response.value['hop_count'] == hops_away + 1
        assert response.value['max_hop_count'] == max_hop_count
    else:
        assert response.failure is True
        assert isinstance(response.value, exception.CellMaxHopCountReached)
        # the hop that refused: hop_count there == max_hop_count
        assert response.value.hop_count == max_hop_count
        with pytest.raises(exception.CellMaxHopCountReached):
            response.value_or_raise()


@pytest.mark.parametrize('target, where, reason', [
    pytest.param('api!c2!nope', 'api!c2', 'Unknown child',
                 id='unknown-grandchild'),
    pytest.param('other!c1', 'api', 'destination is other!c1',
                 id='wrong-root'),
    pytest.param('api!c1!g1!deeper', 'api!c1!g1', 'Unknown child',
                 id='below-a-leaf'),
    pytest.param('api!nope', 'api', 'Unknown child', id='unknown-child'),
    pytest.param('api!c1!g3', 'api!c1', 'Unknown child',
                 id='grandchild-of-another-child'),
])
def test_unknown_target_is_routing_inconsistency(tree, ctxt, target, where,
                                                 reason):
    started = time.monotonic()
    response = _runner(tree, 'api').targeted(ctxt, target, 'whoami', {},
                                             need_response=True)
    assert time.monotonic() - started < CALL_TIMEOUT
    assert response.failure is True
    assert isinstance(response.value, exception.CellRoutingInconsistency)
    assert reason in str(response.value)
    assert response.cell_name == where, 'named by the cell that noticed'
    with pytest.raises(exception.CellRoutingInconsistency):
        response.value_or_raise()


def test_targeted_up_to_unknown_parent(tree, ctxt):
    response = _runner(tree, 'g1').targeted(ctxt, 'g1!c2', 'whoami', {},
                                            direction='up',
                                            need_response=True)
    assert isinstance(response.value, exception.CellRoutingInconsistency)
    assert 'Unknown parent' in str(response.value)


def test_targeted_handler_error_reaches_caller(tree, ctxt):
    # whoami takes no kwargs: the TypeError at g4 comes back as TypeError.
    response = _runner(tree, 'api').targeted(ctxt, 'api!c2!g4', 'whoami',
                                             {'bogus': 1}, need_response=True)
    assert response.failure and response.cell_name == 'api!c2!g4'
    assert isinstance(response.value, TypeError)


def test_targeted_unknown_method_reaches_caller_named(tree, ctxt):
    response = _runner(tree, 'api').targeted(ctxt, 'api!c1!g1', 'no_such',
                                             {}, need_response=True)
    assert response.failure and response.cell_name == 'api!c1!g1'
    assert 'no_such' in str(response.value)


def test_broadcast_method_is_not_reachable_as_targeted(tree, ctxt):
    # 'explode' is only in the broadcast table.
    response = _runner(tree, 'api').targeted(
        ctxt, 'api!c1', 'explode', {'cells': []}, need_response=True)
    assert response.failure and 'explode' in str(response.value)


# -- broadcast ----------------------------------------------------------------

def test_broadcast_call_down_gathers_one_answer_per_cell(tree, ctxt):
    started = time.monotonic()
    answers = _runner(tree, 'api').broadcast(ctxt, 'whoami', {},
                                             need_response=True)
    assert time.monotonic() - started < CALL_TIMEOUT
    assert sorted(r.cell_name for r in answers) == ALL_PATHS
    assert len(answers) == 10, 'exactly one answer per cell'
    for response in answers:
        assert response.failure is False, response
        assert response.value['routing_path'] == response.cell_name
        assert response.value['name'] == response.cell_name.split('!')[-1]
        assert response.value['hop_count'] == \
            len(response.cell_name.split('!'))
    assert _no_slots_left(tree)


def test_broadcast_cell_status_from_every_cell(tree, ctxt):
    answers = _runner(tree, 'api').broadcast(ctxt, 'cell_status', {},
                                             need_response=True)
    got = {r.cell_name: r.value_or_raise() for r in answers}
    assert sorted(got) == ALL_PATHS
    assert sorted(c['name'] for c in got['api!c2']['children']) == \
        ['g3', 'g4']
    assert [p['name'] for p in got['api!c2']['parents']] == ['api']
    assert got['api']['parents'] == [] and got['api!c1!g1']['children'] == []
    for path, status in got.items():
        assert status['name'] == path.split('!')[-1]


def test_broadcast_call_up_from_grandchild(tree, ctxt):
    answers = _runner(tree, 'g5').broadcast(ctxt, 'whoami', {},
                                            direction='up',
                                            need_response=True)
    assert sorted(r.cell_name for r in answers) == \
        ['g5', 'g5!c3', 'g5!c3!api']
    assert all(not r.failure for r in answers)
    assert tree_support.by_cell(answers)['g5!c3!api'].value['name'] == 'api'


def test_broadcast_without_local_run(tree, ctxt):
    answers = _runner(tree, 'api').broadcast(ctxt, 'whoami', {},
                                             need_response=True,
                                             run_locally=False)
    assert sorted(r.cell_name for r in answers) == \
        [p for p in ALL_PATHS if p != 'api'], \
        'the originator skips itself, every other cell runs it'


def test_broadcast_cast_runs_everywhere(tree, ctxt):
    result = _runner(tree, 'api').broadcast(ctxt, 'record',
                                            {'tag': 'broadcast-cast'})
    assert result is None
    assert tree_support.wait_until(
        lambda: len(tree.recorder.cells(tag='broadcast-cast')) == 10)
    assert sorted(tree.recorder.cells(tag='broadcast-cast')) == \
        sorted(PATHS), 'once in each cell'


def test_broadcast_up_cast_without_local_run(tree, ctxt):
    _runner(tree, 'g2').broadcast(ctxt, 'record', {'tag': 'up-cast'},
                                  direction='up', run_locally=False)
    assert tree_support.wait_until(
        lambda: sorted(tree.recorder.cells(tag='up-cast')) == ['api', 'c1'])
    time.sleep(0.2)
    assert sorted(tree.recorder.cells(tag='up-cast')) == ['api', 'c1']


@pytest.mark.parametrize('raising, kind, expected_type', [
    pytest.param(['g4'], 'value', ValueError, id='one-leaf-value-error'),
    pytest.param(['c1'], 'value', ValueError,
                 id='middle-cell-its-children-still-answer'),
    pytest.param(['api'], 'value', ValueError, id='originator-itself'),
    pytest.param(['g1', 'c3', 'g6'], 'nova', exception.CellNotFound,
                 id='three-cells-nova-exception-with-kwargs'),
])
def test_broadcast_handler_error_tagged_with_its_cell(tree, ctxt, raising,
                                                      kind, expected_type):
    answers = _runner(tree, 'api').broadcast(
        ctxt, 'explode', {'cells': raising, 'kind': kind},
        need_response=True)
    got = tree_support.by_cell(answers)
    assert sorted(got) == ALL_PATHS
    failed = sorted(p for p, r in got.items() if r.failure)
    assert failed == sorted(PATHS[name] for name in raising)
    for path in failed:
        name = path.split('!')[-1]
        assert isinstance(got[path].value, expected_type)
        if kind == 'value':
            assert 'boom in %s' % name in str(got[path].value)
        else:
            assert got[path].value.cell_name == 'x-' + name
    for path in set(got) - set(failed):
        assert got[path].value == path.split('!')[-1]


def test_broadcast_unknown_method_fails_in_every_cell(tree, ctxt):
    answers = _runner(tree, 'api').broadcast(ctxt, 'no_such_broadcast', {},
                                             need_response=True)
    assert sorted(r.cell_name for r in answers) == ALL_PATHS
    assert all(r.failure and 'no_such_broadcast' in str(r.value)
               for r in answers)


def test_broadcast_cut_by_max_hop_count_names_cells_not_reached(
        tree, ctxt, monkeypatch):
    api = _runner(tree, 'api')
    monkeypatch.setattr(api.settings, 'max_hop_count', 2)
    answers = api.broadcast(ctxt, 'whoami', {}, need_response=True)
    got = tree_support.by_cell(answers)
    assert sorted(got) == ALL_PATHS
    ok = sorted(p for p, r in got.items() if not r.failure)
    assert ok == ['api', 'api!c1', 'api!c2', 'api!c3'], \
        'api and its 3 children run it'
    for name in ('g1', 'g2', 'g3', 'g4', 'g5', 'g6'):
        response = got[PATHS[name]]
        assert response.failure, name
        assert isinstance(response.value, exception.CellMaxHopCountReached)
        assert response.value.hop_count == 2


def test_broadcast_max_hop_count_one_only_originator(tree, ctxt,
                                                     monkeypatch):
    api = _runner(tree, 'api')
    monkeypatch.setattr(api.settings, 'max_hop_count', 1)
    got = tree_support.by_cell(api.broadcast(ctxt, 'whoami', {},
                                             need_response=True))
    assert sorted(got) == ['api', 'api!c1', 'api!c2', 'api!c3']
    assert not got['api'].failure
    assert all(isinstance(got[p].value, exception.CellMaxHopCountReached)
               for p in ('api!c1', 'api!c2', 'api!c3'))


# -- a silent cell ------------------------------------------------------------

def test_broadcast_with_stopped_cell_names_it_and_keeps_the_rest(own_tree,
                                                                 ctxt):
    own_tree.stop(['g3'])
    started = time.monotonic()
    answers = _runner(own_tree, 'api').broadcast(ctxt, 'whoami', {},
                                                 need_response=True)
    elapsed = time.monotonic() - started
    assert elapsed < CALL_TIMEOUT + 2, elapsed
    got = tree_support.by_cell(answers)
    assert sorted(got) == ALL_PATHS
    ok = [p for p, r in got.items() if not r.failure]
    assert len(ok) == 9
    silent = got['api!c2!g3']
    assert silent.failure is True
    assert isinstance(silent.value, exception.CellTimeout)
    assert silent.value.cell_name == 'api!c2!g3'
    assert _no_slots_left(own_tree)


def test_cell_status_with_a_callers_wait_names_only_the_stopped_cell(
        tmp_path, ctxt):
    """``tree --timeout``: the wait the caller gives rides with the
    broadcast, so c2 gives up on its stopped leaf before api gives up on
    c2, and the answer comes within that wait, not after call_timeout
    (30 s here) at each level."""
    small = {'api': {'c2': {'g3': {}, 'g4': {}}}}
    with tree_support.running_tree(tmp_path, layout=small,
                                   call_timeout=30) as own_tree:
        own_tree.stop(['g3'])
        with futures.ThreadPoolExecutor(1) as pool:
            asked = pool.submit(
                _runner(own_tree, 'api').broadcast, ctxt, 'cell_status',
                {'wait': 1.5}, need_response=True)
            # A hang guard, far below call_timeout: the outcome is checked.
            answers = asked.result(timeout=10)
        got = tree_support.by_cell(answers)
        assert sorted(got) == ['api', 'api!c2', 'api!c2!g3', 'api!c2!g4']
        assert [p for p, r in got.items() if r.failure] == ['api!c2!g3']
        assert isinstance(got['api!c2!g3'].value, exception.CellTimeout)
        assert got['api!c2!g4'].value['name'] == 'g4'
        assert _no_slots_left(own_tree)


def test_targeted_call_to_stopped_cell_times_out_named(tmp_path, ctxt):
    small = {'api': {'c2': {'g3': {}}}}
    with tree_support.running_tree(tmp_path, layout=small) as own_tree:
        own_tree.stop(['g3'])
        api = _runner(own_tree, 'api')
        api.settings.call_timeout = 1
        started = time.monotonic()
        response = api.targeted(ctxt, 'api!c2!g3', 'whoami', {},
                                need_response=True)
        assert 0.9 < time.monotonic() - started < 3
        assert isinstance(response.value, exception.CellTimeout)
        assert response.value.cell_name == 'api!c2!g3'
        assert len(api.slots) == 0


class Msg(object):
    """What wait_timeout reads of a message."""

    max_hop_count = 10

    def __init__(self, hop_count, wait=None):
        self.hop_count = hop_count
        self.wait = wait

    def caller_wait(self):
        return self.wait


def test_wait_timeout_shrinks_with_depth():
    runner = messaging.MessageRunner('x', None, None, None, None,
                                     messaging.RunnerSettings(10, 11))

    waits = [runner.wait_timeout(Msg(h)) for h in (1, 2, 3, 10)]
    assert waits[0] == 11, 'the originator waits call_timeout'
    assert waits == sorted(waits, reverse=True)
    assert waits[-1] > 0


def test_wait_timeout_keeps_within_the_callers_wait():
    """``tree --timeout``: the originator waits what its caller waits, each
    hop below a quarter less, so the answers of a level are back before
    the level above gives up (a stopped leaf took call_timeout at every
    level: 55 s for ``tree --timeout 5``)."""
    runner = messaging.MessageRunner('x', None, None, None, None,
                                     messaging.RunnerSettings(10, 60))

    waits = [runner.wait_timeout(Msg(h, wait=4.0)) for h in (1, 2, 3)]
    assert waits == [4.0, 3.0, 2.25]
    # Never longer than call_timeout (less at each hop, as without it).
    assert runner.wait_timeout(Msg(1, wait=600.0)) == 60
    assert runner.wait_timeout(Msg(2, wait=600.0)) == pytest.approx(
        60 * (1 - 1 / 11.0))


# -- hostile input ------------------------------------------------------------

def _wire(message_type='targeted', **overrides):
    """A valid wire dict as c1 would receive it from api."""
    data = {'message_type': message_type,
            'ctxt': context.get_admin_context().to_dict(),
            'method_name': 'whoami', 'method_kwargs': {},
            'direction': 'down', 'need_response': False, 'fanout': False,
            'uuid': str(uuidlib.uuid4()), 'routing_path': 'api',
            'hop_count': 1, 'max_hop_count': 10}
    if message_type in ('targeted', 'response'):
        data['target_cell'] = 'api!c1'
    if message_type == 'response':
        data.update(method_name='parse_responses', response_uuid='r',
                    method_kwargs={'orig_message': '{}', 'responses': []})
    for key, value in overrides.items():
        if value is _DROP:
            data.pop(key)
        else:
            data[key] = value
    return data


_DROP = object()

HOSTILE = [
    pytest.param('not json {', 'not JSON', id='not-json'),
    pytest.param('', 'not JSON', id='empty-string'),
    pytest.param(None, 'not JSON', id='none'),
    pytest.param(42, 'not JSON', id='an-int'),
    pytest.param('[1, 2, 3]', 'not a JSON object', id='json-list'),
    pytest.param('"a string"', 'not a JSON object', id='json-string'),
    pytest.param('null', 'not a JSON object', id='json-null'),
    pytest.param('{}', 'message_type', id='empty-object'),
    pytest.param(_wire(uuid=_DROP), 'uuid', id='missing-uuid'),
    pytest.param(_wire(ctxt=_DROP), 'ctxt', id='missing-ctxt'),
    pytest.param(_wire(target_cell=_DROP), 'target_cell',
                 id='targeted-missing-target'),
    pytest.param(_wire('response', response_uuid=_DROP), 'response_uuid',
                 id='response-missing-response-uuid'),
    pytest.param(_wire(hop_count='3'), 'hop_count', id='hop-count-string'),
    pytest.param(_wire(hop_count=True), 'hop_count', id='hop-count-bool'),
    pytest.param(_wire(hop_count=-1), 'negative hop_count',
                 id='hop-count-negative'),
    pytest.param(_wire(max_hop_count=2.5), 'max_hop_count',
                 id='max-hop-count-float'),
    pytest.param(_wire(need_response='yes'), 'need_response',
                 id='need-response-yes'),
    pytest.param(_wire(fanout=1), 'fanout', id='fanout-int'),
    pytest.param(_wire(routing_path=5), 'routing_path',
                 id='routing-path-int'),
    pytest.param(_wire(routing_path=''), 'empty routing_path',
                 id='routing-path-empty'),
    pytest.param(_wire(method_kwargs=[1]), 'method_kwargs',
                 id='method-kwargs-list'),
    pytest.param(_wire(method_name=None), 'method_name',
                 id='method-name-null'),
    pytest.param(_wire(ctxt='admin'), 'ctxt', id='ctxt-string'),
    pytest.param(_wire(direction='sideways'), 'direction',
                 id='direction-sideways'),
    pytest.param(_wire(message_type='rpc'), 'unknown message_type',
                 id='unknown-message-type'),
    pytest.param(_wire(routing_path='api!c1'), 'loop', id='loop-through-me'),
    pytest.param(_wire(routing_path='c1!x'), 'loop',
                 id='loop-originated-by-me'),
]


def _as_text(raw):
    return json.dumps(raw) if isinstance(raw, dict) else raw


@pytest.mark.parametrize('raw, reason', HOSTILE)
def test_message_from_json_rejects_hostile_input(tree, raw, reason):
    with pytest.raises(messaging.MalformedMessage) as info:
        _runner(tree, 'c1').message_from_json(_as_text(raw))
    assert reason in str(info.value)


def test_message_from_json_rejects_a_bad_ctxt(tree):
    # A ctxt whose timestamp does not parse must be a MalformedMessage too.
    raw = _wire()
    raw['ctxt']['timestamp'] = 'yesterday'
    with pytest.raises(messaging.MalformedMessage):
        _runner(tree, 'c1').message_from_json(json.dumps(raw))


@pytest.mark.parametrize('raw, reason', HOSTILE + [
    pytest.param(dict(_wire(), ctxt={'timestamp': 'yesterday'}), None,
                 id='ctxt-bad-timestamp'),
    pytest.param(_wire(method_name='no_such'), None, id='unknown-method'),
    pytest.param(_wire(method_kwargs={'bogus': 1}), None,
                 id='wrong-kwargs'),
    pytest.param(_wire(target_cell='elsewhere!x'), None,
                 id='target-not-on-path'),
    pytest.param(_wire('response', target_cell='api!c1!nope'), None,
                 id='response-unroutable'),
    pytest.param(_wire('response', method_kwargs={'bogus': 1}), None,
                 id='response-bad-kwargs'),
    pytest.param(_wire('broadcast', method_name='no_such'), None,
                 id='broadcast-unknown-method'),
])
def test_process_json_never_raises_and_cell_keeps_serving(tree, ctxt, raw,
                                                          reason):
    c1 = _runner(tree, 'c1')
    assert c1.process_json(_as_text(raw)) is None
    response = _runner(tree, 'api').targeted(ctxt, 'api!c1', 'whoami', {},
                                             need_response=True)
    assert response.value_or_raise()['name'] == 'c1'


def _ask_c1(tree, raw):
    """Hand-deliver ``raw`` (routed from api) to c1 and collect, in api's
    slot opened for it, what c1 sends back."""
    api = _runner(tree, 'api')
    slot = api.slots.open(raw['uuid'], ['c1'])
    try:
        assert _runner(tree, 'c1').process_json(json.dumps(raw)) is None
        received, missing = slot.wait(CALL_TIMEOUT)
    finally:
        api.slots.close(raw['uuid'])
    assert missing == [], 'c1 answered the originator'
    return [api.decode_response(context.get_admin_context(), r)
            for r in received]


def test_unknown_method_with_need_response_answers_the_originator(tree):
    [response] = _ask_c1(tree, _wire(method_name='no_such_method',
                                     need_response=True))
    assert response.failure is True
    assert response.cell_name == 'api!c1'
    assert 'no_such_method' in str(response.value)


def test_malformed_with_need_response_answers_the_originator(tree):
    [response] = _ask_c1(tree, _wire(hop_count='3', need_response=True))
    assert response.failure is True
    assert response.cell_name == 'api!c1'
    assert 'hop_count' in str(response.value)


def test_broadcast_unknown_method_answers_with_neighbour_path(tree):
    answers = _ask_c1(tree, _wire('broadcast', method_name='no_such',
                                  need_response=True))
    # c1 and its two children each answer with a failure naming the method
    assert sorted(r.cell_name for r in answers) == \
        ['api!c1', 'api!c1!g1', 'api!c1!g2']
    assert all(r.failure and 'no_such' in str(r.value) for r in answers)


@pytest.mark.parametrize('hop_count, max_hop_count', [
    pytest.param(1, 2, id='reaches-limit-here'),
    pytest.param(5, 3, id='already-over-limit'),
])
def test_targeted_over_max_hop_count_answers_failure(tree, hop_count,
                                                     max_hop_count):
    [response] = _ask_c1(tree, _wire(target_cell='api!c1!g1',
                                     need_response=True,
                                     hop_count=hop_count,
                                     max_hop_count=max_hop_count))
    assert response.failure is True
    assert isinstance(response.value, exception.CellMaxHopCountReached)
    assert response.value.hop_count == hop_count + 1


def test_received_max_hop_count_is_the_senders_not_ours(tree):
    # c1's own max_hop_count is 10; the message's 50 is obeyed as sent.
    [response] = _ask_c1(tree, _wire(need_response=True, hop_count=40,
                                     max_hop_count=50))
    assert response.value_or_raise()['hop_count'] == 41
    assert response.value['max_hop_count'] == 50


def test_loop_is_not_run(tree):
    raw = _wire(routing_path='api!c1', method_name='record',
                method_kwargs={'tag': 'loop'}, need_response=True)
    c1 = _runner(tree, 'c1')
    assert c1.process_json(json.dumps(raw)) is None
    raw = _wire('broadcast', routing_path='api!c1!g1', method_name='record',
                method_kwargs={'tag': 'loop'}, direction='up')
    assert c1.process_json(json.dumps(raw)) is None
    time.sleep(0.2)
    assert tree.recorder.cells(tag='loop') == []


def test_late_response_for_unknown_uuid_is_dropped(tree):
    api = _runner(tree, 'api')
    late = _wire('response', routing_path='c1', target_cell='c1!api',
                 direction='up', response_uuid=str(uuidlib.uuid4()),
                 method_kwargs={'orig_message': '{}',
                                'responses': ['{"cell_name": "x"}']})
    assert api.process_json(json.dumps(late)) is None
    assert len(api.slots) == 0
    assert api.slots.put(late['response_uuid'], 'c1', ['x']) is False


def test_garbage_over_the_wire_does_not_stop_the_server(tree, ctxt):
    # Cast raw garbage to c1's real intercell server through fake://.
    api = tree.cells['api']
    url = tree.url_of('c1')
    client = api.driver._client(url, 'targeted')
    for garbage in ('not json', '[1]', json.dumps(_wire(hop_count='x'))):
        client.cast(ctxt, 'process_message', message=garbage)
    client.cast(ctxt, 'no_such_endpoint_method', message='x')
    response = api.runner.targeted(ctxt, 'api!c1', 'whoami', {},
                                   need_response=True)
    assert response.value_or_raise()['name'] == 'c1'


# -- responses that lie -------------------------------------------------------

LYING_RESPONSES = [
    pytest.param(['not json'], id='entry-not-json'),
    pytest.param(['[1, 2]'], id='entry-json-list'),
    pytest.param([5], id='entry-not-a-string'),
    pytest.param('abc', id='responses-a-string-not-a-list'),
]


def _forge_answer(runner, from_cell, responses):
    """on_send hook: answer each targeted/broadcast message sent to
    ``from_cell`` with a response message carrying ``responses``."""
    def on_send(cell_name, message):
        if cell_name != from_cell or message.message_type == 'response':
            return
        forged = _wire('response', routing_path=from_cell,
                       target_cell='%s!%s' % (from_cell, runner.our_name),
                       direction='up', response_uuid=message.uuid,
                       method_kwargs={'orig_message': '{}',
                                      'responses': responses})
        assert runner.process_json(json.dumps(forged)) is None
    return on_send


@pytest.mark.parametrize('responses', LYING_RESPONSES)
def test_lying_answer_to_targeted_call_is_a_failure_not_an_exception(
        db, ctxt, responses):
    """A neighbour answering garbage must not make the caller's call raise:
    the call returns a failure Response (like any other bad answer)."""
    api = tree_support.make_runner(db, 'api', children=['c1'],
                                   call_timeout=1)
    api.driver.on_send = _forge_answer(api, 'c1', responses)
    response = api.targeted(ctxt, 'api!c1', 'whoami', {}, need_response=True)
    assert [s[0] for s in api.driver.sent] == ['c1']
    assert response.failure is True
    assert len(api.slots) == 0


@pytest.mark.parametrize('responses', LYING_RESPONSES[:1])
def test_lying_answer_to_broadcast_call_keeps_the_other_answers(
        db, ctxt, responses):
    api = tree_support.make_runner(db, 'api', children=['c1', 'c2'],
                                   call_timeout=0.3)
    api.driver.on_send = _forge_answer(api, 'c1', responses)
    answers = api.broadcast(ctxt, 'whoami', {}, need_response=True)
    got = tree_support.by_cell(answers)
    assert got['api'].failure is False
    assert isinstance(got['api!c2'].value, exception.CellTimeout)
    assert any(r.failure for p, r in got.items() if p not in ('api',
                                                              'api!c2'))
    assert len(api.slots) == 0
