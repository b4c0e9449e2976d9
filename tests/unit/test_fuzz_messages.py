"""Hostile input to the receiving side, fuzzed with hypothesis (issue 8).

Every intercell message a cell receives goes through
``MessageRunner.process_json``.  Whatever arrives (random JSON, mutated
golden messages of the original nova-cells, huge strings, deep nesting,
wrong types in the envelope, loops in ``routing_path``, forged hop counts)
the runner must:

* never raise, and ``message_from_json`` raises nothing but
  MalformedMessage;
* keep serving: a valid message processed right after is answered
  correctly;
* reject a message over ``max_message_size`` without parsing it (nor
  answering it), in bounded memory.

The runners are tree_support's stand-alone ones (real state manager over
SQLite, a driver that records what would be cast), shared by the module:
hypothesis runs many examples per test and function-scoped fixtures are
not reset between them.  Each example clears what the driver recorded.
"""

import json
import logging
import tracemalloc
import types

import hypothesis
from hypothesis import HealthCheck
from hypothesis import strategies as st
import pytest

from nova_cells import context
from nova_cells.db import api as db_api
from nova_cells.db import migration
from nova_cells import exception
from nova_cells.messaging import runner as messaging
from tests.unit.test_messaging import _wire
from tests.unit import test_wire_golden
from tests.unit import tree_support

SMALL_LIMIT = 4096
FUZZ = dict(deadline=None, database=None, print_blob=True,
            suppress_health_check=[HealthCheck.too_slow,
                                   HealthCheck.data_too_large,
                                   HealthCheck.filter_too_much,
                                   HealthCheck.large_base_example])


def fuzz(max_examples):
    return hypothesis.settings(max_examples=max_examples, **FUZZ)


# -- the cells ----------------------------------------------------------------

# name -> (runner name, parents, children); 'c1' is the cell _wire() builds
# messages for (from api); 'child' and 'gc' receive the golden samples.
CELLS = {'c1': ('c1', ['api'], ['g1', 'g2']),
         'small': ('c1', ['api'], ['g1', 'g2']),
         'child': ('child', ['api'], ['gc']),
         'gc': ('gc', ['child'], [])}
PARENT = {'c1': 'api', 'child': 'api', 'gc': 'child'}


@pytest.fixture(scope='module')
def cells(tmp_path_factory):
    recorder = tree_support.Recorder()
    factory = tree_support.tables_factory(recorder)
    runners, databases = {}, []
    for key, (name, parents, children) in CELLS.items():
        path = tmp_path_factory.mktemp('fuzz-' + key) / 'cell.sqlite'
        database = db_api.Database('sqlite:///' + str(path))
        migration.db_sync(database)
        databases.append(database)
        runners[key] = tree_support.make_runner(
            database, name, parents=parents, children=children,
            tables=factory(), call_timeout=0)
    runners['small'].settings.max_message_size = SMALL_LIMIT
    yield types.SimpleNamespace(recorder=recorder, **runners)
    for database in databases:
        database.dispose()


def _sent(runner):
    """What the runner cast since the last call, then forget it."""
    sent = list(runner.driver.sent)
    runner.driver.sent[:] = []
    return sent


def _answers(runner, sent):
    """The responses carried by the response messages in ``sent``."""
    ctxt = context.get_admin_context()
    out = []
    for _to, kind, text in sent:
        assert kind == 'response'
        for answer in json.loads(text)['method_kwargs']['responses']:
            out.append(runner.decode_response(ctxt, answer))
    return out


def assert_still_serving(runner, key='c1'):
    """A valid targeted call and a valid broadcast call, from the parent,
    are processed and answered correctly."""
    name, parent = runner.our_name, PARENT[key]
    _sent(runner)
    call = _wire(routing_path=parent, target_cell='%s!%s' % (parent, name),
                 need_response=True)
    assert runner.process_json(json.dumps(call)) is None
    sent = _sent(runner)
    assert [(to, kind) for to, kind, _t in sent] == [(parent, 'response')]
    [answer] = _answers(runner, sent)
    assert answer.value_or_raise() == {
        'name': name, 'routing_path': '%s!%s' % (parent, name),
        'hop_count': 2, 'max_hop_count': 10}

    cast = _wire('broadcast', routing_path=parent, need_response=True)
    assert runner.process_json(json.dumps(cast)) is None
    sent = _sent(runner)
    children = CELLS[key][2]
    assert sorted((to, kind) for to, kind, _t in sent) == sorted(
        [(c, 'broadcast') for c in children] + [(parent, 'response')])
    got = tree_support.by_cell(_answers(runner, [s for s in sent
                                                 if s[1] == 'response']))
    here = '%s!%s' % (parent, name)
    assert sorted(got) == sorted([here] + ['%s!%s' % (here, c)
                                           for c in children])
    assert got[here].value_or_raise()['name'] == name
    # call_timeout=0: the children are named as timed out, not dropped
    assert all(got[p].failure for p in got if p != here)


def assert_rejected_cleanly(runner, text):
    """process_json returns None, message_from_json raises nothing but
    MalformedMessage (or returns a message)."""
    assert runner.process_json(text) is None
    try:
        runner.message_from_json(text)
    except messaging.MalformedMessage as exc:
        # --hypothesis-show-statistics: how far the examples get
        hypothesis.event('rejected: %s' % str(exc.kwargs.get('reason',
                                                             ''))[:20])
    else:
        hypothesis.event('accepted')


# -- strategies ---------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers() |
           st.integers(min_value=-10 ** 400, max_value=10 ** 400) |
           st.floats() | st.text(max_size=30))
json_values = st.recursive(
    scalars,
    lambda inner: (st.lists(inner, max_size=5) |
                   st.dictionaries(st.text(max_size=10), inner, max_size=5)),
    max_leaves=25)
# Text that is not (necessarily) JSON at all.
raw_texts = (st.text(max_size=200) |
             st.binary(max_size=200) |
             json_values.map(json.dumps).map(lambda s: s[:len(s) // 2]))


# -- random JSON --------------------------------------------------------------

@fuzz(600)
@hypothesis.given(value=json_values)
def test_random_json_value_is_rejected_and_cell_keeps_serving(cells, value):
    text = json.dumps(value)
    assert cells.c1.process_json(text) is None
    with pytest.raises(messaging.MalformedMessage):
        cells.c1.message_from_json(text)
    assert_still_serving(cells.c1)


@fuzz(300)
@hypothesis.given(text=raw_texts)
def test_random_text_is_rejected_and_cell_keeps_serving(cells, text):
    assert_rejected_cleanly(cells.c1, text)
    _sent(cells.c1)
    assert_still_serving(cells.c1)


# -- wrong types in the envelope ---------------------------------------------

ENVELOPE = dict(messaging.messages._COMMON_KEYS)


def _wrong_for(kind):
    def wrong(value):
        if kind is int:
            return not isinstance(value, int) or isinstance(value, bool)
        return not isinstance(value, kind)
    return wrong


@st.composite
def wrong_envelopes(draw):
    message_type = draw(st.sampled_from(messaging.MESSAGE_TYPES))
    keys = dict(ENVELOPE, **dict(messaging.messages._EXTRA_KEYS[
        message_type]))
    key = draw(st.sampled_from(sorted(keys)))
    value = draw(json_values.filter(_wrong_for(keys[key])))
    need_response = draw(st.booleans())
    data = _wire(message_type, need_response=need_response)
    data[key] = value
    return key, data


@fuzz(500)
@hypothesis.given(case=wrong_envelopes())
def test_wrong_type_for_an_envelope_key_is_rejected(cells, case):
    key, data = case
    text = json.dumps(data)
    with pytest.raises(messaging.MalformedMessage) as info:
        cells.c1.message_from_json(text)
    assert key in str(info.value)
    _sent(cells.c1)
    assert cells.c1.process_json(text) is None
    sent = _sent(cells.c1)
    assert all(to == 'api' and kind == 'response' for to, kind, _t in sent)
    if sent:
        # only a targeted/broadcast call with a usable path is answered
        [answer] = _answers(cells.c1, sent)
        assert answer.failure and key in str(answer.value)
    assert_still_serving(cells.c1)


@st.composite
def random_envelopes(draw):
    """Every key either valid or random, some keys missing, extra keys."""
    message_type = draw(st.sampled_from(messaging.MESSAGE_TYPES + ('x',)))
    data = _wire(message_type if message_type != 'x' else 'targeted',
                 need_response=draw(st.booleans()))
    data['message_type'] = message_type
    for key in sorted(data):
        choice = draw(st.sampled_from(['keep', 'keep', 'random', 'drop']))
        if choice == 'random':
            data[key] = draw(json_values)
        elif choice == 'drop':
            del data[key]
    data.update(draw(st.dictionaries(st.text(max_size=8), json_values,
                                     max_size=3)))
    return data


@fuzz(400)
@hypothesis.given(data=random_envelopes())
def test_random_envelope_never_raises(cells, data):
    assert_rejected_cleanly(cells.c1, json.dumps(data))
    assert_still_serving(cells.c1)


# -- golden messages, mutated -------------------------------------------------

SAMPLES = test_wire_golden.SAMPLES


def _paths(value, prefix=()):
    """Every (path of keys/indexes) inside a JSON value, the root first."""
    yield prefix
    if isinstance(value, dict):
        for key in value:
            yield from _paths(value[key], prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


def _mutate(value, path, op, new):
    if not path:
        return new if op != 'wrap' else [value]
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if op == 'drop':
        del parent[last]
    elif op == 'wrap':
        parent[last] = [parent[last]]
    else:
        parent[last] = new
    return value


@st.composite
def mutated_golden(draw):
    key = draw(st.sampled_from(sorted(SAMPLES)))
    receiver = SAMPLES[key]['vhost'][len('v1'):]
    text = SAMPLES[key]['message_json']
    how = draw(st.sampled_from(['tree', 'tree', 'tree', 'nested', 'text']))
    if how == 'text':
        # byte-level damage: cut, insert or overwrite characters
        pos = draw(st.integers(0, len(text)))
        junk = draw(st.text(max_size=5))
        cut = draw(st.integers(0, 5))
        return receiver, text[:pos] + junk + text[pos + cut:]
    message = json.loads(text)
    if how == 'nested':
        # the JSON inside the JSON (orig_message, each response) too
        kwargs = message['method_kwargs']
        inner = [k for k in ('orig_message',) if k in kwargs]
        if inner:
            doc = json.loads(kwargs['orig_message'])
            paths = list(_paths(doc))
            path = paths[draw(st.integers(0, len(paths) - 1))]
            kwargs['orig_message'] = json.dumps(_mutate(
                doc, path, draw(st.sampled_from(['set', 'drop', 'wrap'])) if
                path else 'set', draw(json_values)))
            return receiver, json.dumps(message)
    paths = list(_paths(message))
    path = paths[draw(st.integers(0, len(paths) - 1))]
    op = draw(st.sampled_from(['set', 'drop', 'wrap'])) if path else 'set'
    return receiver, json.dumps(_mutate(message, path, op,
                                        draw(json_values)))


@fuzz(700)
@hypothesis.given(case=mutated_golden())
def test_mutated_golden_message_never_raises(cells, case):
    receiver, text = case
    runner = getattr(cells, receiver)
    assert_rejected_cleanly(runner, text)
    assert_still_serving(runner, receiver)


def test_golden_messages_are_accepted_unmutated(cells):
    """The mutation test starts from messages the runners understand."""
    for entry in SAMPLES.values():
        runner = getattr(cells, entry['vhost'][len('v1'):])
        message = runner.message_from_json(entry['message_json'])
        assert message.uuid == entry['message']['uuid']


# -- huge strings and the size limit ------------------------------------------

@fuzz(200)
@hypothesis.given(size=st.integers(0, 3 * SMALL_LIMIT),
                  char=st.sampled_from(['x', '\u00e9', '\u6f22',
                                        '\U0001f600']),
                  need_response=st.booleans(), ensure_ascii=st.booleans())
def test_message_over_the_limit_is_rejected_unparsed(cells, size, char,
                                                     need_response,
                                                     ensure_ascii):
    small = cells.small
    tag = 'huge-%d-%d' % (size, need_response)
    data = _wire(method_name='record', need_response=need_response,
                 method_kwargs={'tag': tag + '|' + char * size})
    text = json.dumps(data, ensure_ascii=ensure_ascii)
    nbytes = len(text.encode('utf-8'))
    _sent(small)
    if nbytes > SMALL_LIMIT:
        with pytest.raises(exception.MessageTooLarge):
            small.process_json(text)
    else:
        assert small.process_json(text) is None
    sent = _sent(small)
    recorded = [c for c, m, k in cells.recorder.calls
                if m == 'record' and k['tag'].startswith(tag + '|')]
    if nbytes > SMALL_LIMIT:
        assert recorded == [] and sent == [], 'not run, not answered'
        with pytest.raises(messaging.MalformedMessage) as info:
            small.message_from_json(text)
        assert 'exceeds max_message_size %d' % SMALL_LIMIT in str(info.value)
    else:
        assert recorded == ['c1']
        assert len(sent) == int(need_response)
    del cells.recorder.calls[:]


@fuzz(100)
@hypothesis.given(size=st.integers(SMALL_LIMIT + 1, 64 * SMALL_LIMIT),
                  valid_json=st.booleans())
def test_huge_garbage_reason_is_the_size_not_the_json(cells, size,
                                                      valid_json):
    """The reason names the size even when the text is not JSON: the
    parser was never reached."""
    text = json.dumps(['x' * size]) if valid_json else '{' * size
    with pytest.raises(messaging.MalformedMessage) as info:
        cells.small.message_from_json(text)
    assert str(info.value).endswith(
        'message of %d bytes exceeds max_message_size %d'
        % (len(text), SMALL_LIMIT))
    with pytest.raises(exception.MessageTooLarge):
        cells.small.process_json(text)
    assert _sent(cells.small) == []


@pytest.mark.parametrize('extra, rejected', [
    pytest.param(0, False, id='at-the-limit'),
    pytest.param(-1, False, id='one-under'),
    pytest.param(1, True, id='one-over'),
])
def test_size_limit_is_exact(cells, caplog, extra, rejected):
    """Focused: a message of exactly max_message_size bytes is processed,
    one byte more is rejected, with a log line naming both sizes."""
    runner = cells.small
    data = _wire(method_name='record', need_response=True,
                 method_kwargs={'tag': 'limit'})
    base = len(json.dumps(data))
    data['method_kwargs']['tag'] += 'x' * (SMALL_LIMIT + extra - base)
    text = json.dumps(data)
    assert len(text) == SMALL_LIMIT + extra
    _sent(runner)
    del cells.recorder.calls[:]
    with caplog.at_level(logging.DEBUG, logger='nova_cells.messaging.runner'):
        if rejected:
            # Raised to the sender: a durable message stays unconfirmed.
            with pytest.raises(exception.MessageTooLarge):
                runner.process_json(text)
        else:
            assert runner.process_json(text) is None
    sent = _sent(runner)
    lines = [r.getMessage() for r in caplog.records
             if 'exceeds max_message_size' in r.getMessage()]
    if rejected:
        assert lines == ['Rejected intercell message: Malformed intercell '
                         'message ?: message of %d bytes exceeds '
                         'max_message_size %d' % (len(text), SMALL_LIMIT)]
        assert sent == [] and cells.recorder.calls == []
    else:
        assert lines == []
        assert [(to, kind) for to, kind, _t in sent] == [('api', 'response')]
        assert cells.recorder.cells(method='record') == ['c1']
    del cells.recorder.calls[:]


def test_size_limit_counts_utf8_bytes_not_characters(cells):
    runner = cells.small
    data = _wire(method_kwargs={'tag': ''})
    base = len(json.dumps(data))
    # 2-byte characters: under the limit in characters, over it in bytes
    data['method_kwargs']['tag'] = '\u00e9' * ((SMALL_LIMIT - base) // 2 + 8)
    text = json.dumps(data, ensure_ascii=False)
    assert len(text) <= SMALL_LIMIT < len(text.encode('utf-8'))
    with pytest.raises(messaging.MalformedMessage,
                       match='message of %d bytes'
                       % len(text.encode('utf-8'))):
        runner.message_from_json(text)
    with pytest.raises(messaging.MalformedMessage, match='exceeds'):
        runner.message_from_json(text.encode('utf-8'))


def test_default_limit_is_8_mib_and_read_from_conf(make_conf):
    assert messaging.RunnerSettings().max_message_size == 8 * 1024 * 1024
    conf = make_conf('[cells]\nmax_message_size = 2048\n')
    assert messaging.RunnerSettings.from_conf(conf).max_message_size == 2048


def _process_refused_or_none(runner, text):
    """Process hostile ``text``: None, or refused as too large (raised to
    its sender, which keeps a durable message unconfirmed)."""
    try:
        assert runner.process_json(text) is None
    except exception.MessageTooLarge:
        pass


def test_hostile_batch_stays_in_bounded_memory(cells):
    """8 MiB + 1 messages (the default limit) are rejected without being
    parsed: parsing one would allocate more than the bound by itself (the
    first one ~34 MB); deep nesting is cut short by the parser."""
    runner = cells.c1
    limit = runner.settings.max_message_size
    assert limit == 8 * 1024 * 1024
    batch = ['[' + '"x",' * ((limit + 1) // 4) + '"x"]',
             '{"a": "' + 'x' * limit + '"}',
             '[' * 10000 + ']' * 10000,
             '{"a": ' * 10000 + '1' + '}' * 10000,
             json.dumps(_wire(method_kwargs={'x': 'y' * 100000}))]
    assert all(len(text) > limit for text in batch[:2])
    _sent(runner)
    tracemalloc.start()
    try:
        for _round in range(3):
            for text in batch:
                _process_refused_or_none(runner, text)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024, 'peak %d bytes' % peak
    _sent(runner)
    assert_still_serving(runner)


# -- deep nesting -------------------------------------------------------------

@fuzz(120)
@hypothesis.given(depth=st.integers(1, 20000) | st.sampled_from([10000]),
                  where=st.sampled_from(['root', 'kwargs', 'ctxt', 'path']),
                  bracket=st.sampled_from(['[]', '{}']),
                  need_response=st.booleans())
def test_deep_nesting_is_rejected_or_processed(cells, depth, where, bracket,
                                               need_response):
    runner = cells.c1
    inner = '1'
    opening, closing = ('[', ']') if bracket == '[]' else ('{"k": ', '}')
    nested = opening * depth + inner + closing * depth
    if where == 'root':
        text = nested
    else:
        data = _wire(need_response=need_response)
        hole = {'kwargs': ('method_kwargs', {'x': 0}),
                'ctxt': ('ctxt', dict(data['ctxt'], x=0)),
                'path': ('routing_path', 0)}[where]
        data[hole[0]] = hole[1]
        text = json.dumps(data).replace('"x": 0', '"x": ' + nested).replace(
            '"routing_path": 0', '"routing_path": ' + nested)
    _sent(runner)
    assert runner.process_json(text) is None
    sent = _sent(runner)
    try:
        runner.message_from_json(text)
        reason = None
    except messaging.MalformedMessage as exc:
        reason = exc.kwargs['reason']
    hypothesis.event('rejected: %s' % reason if reason else 'accepted')
    # Checked on the text before any parse (nova_cells.wire_guard):
    # the parser's own, stack-dependent limit is never reached.
    levels = depth if where == 'root' else depth + 1 + (where == 'ctxt')
    if levels > messaging.MAX_NESTING:
        assert reason == ('nested deeper than %d levels'
                          % messaging.MAX_NESTING)
    if where in ('kwargs', 'ctxt') and need_response and (
            reason is None or not reason.startswith(('not JSON',
                                                     'nested deeper'))):
        # parsed: answered; a failure unless well-formed (whoami has no
        # argument x; ctxt ignores unknown keys).  Too deep: never parsed,
        # not even to answer.
        [answer] = _answers(runner, sent)
        assert answer.failure is (reason is not None or where == 'kwargs')
    assert_still_serving(runner)


# -- loops in routing_path ----------------------------------------------------

cell_names = st.sampled_from(['api', 'c2', 'g1', 'g2', 'x', '']) | \
    st.text(alphabet=st.characters(blacklist_characters='!'), max_size=8)


@fuzz(300)
@hypothesis.given(before=st.lists(cell_names, max_size=4),
                  after=st.lists(cell_names, max_size=4),
                  message_type=st.sampled_from(messaging.MESSAGE_TYPES),
                  direction=st.sampled_from(['up', 'down']),
                  need_response=st.booleans())
def test_loop_through_this_cell_is_not_run_nor_answered(
        cells, before, after, message_type, direction, need_response):
    runner = cells.c1
    path = '!'.join(before + ['c1'] + after)
    data = _wire(message_type, routing_path=path, direction=direction,
                 need_response=need_response, method_name='record',
                 method_kwargs={'tag': 'loop'})
    if message_type != 'broadcast':
        data['target_cell'] = path + '!g1'
    text = json.dumps(data)
    with pytest.raises(messaging.MalformedMessage, match='loop'):
        runner.message_from_json(text)
    _sent(runner)
    assert runner.process_json(text) is None
    assert _sent(runner) == [], 'no answer along a loop'
    assert cells.recorder.cells(tag='loop') == []
    assert_still_serving(runner)


# -- forged hop counts --------------------------------------------------------

hop_counts = (st.integers(-3, 15) | st.integers() |
              st.integers(min_value=-10 ** 400, max_value=10 ** 400) |
              st.sampled_from([10 ** 30, 2 ** 63, -2 ** 63]) | scalars)


def _valid_count(value):
    return isinstance(value, int) and not isinstance(value, bool)


@fuzz(600)
@hypothesis.given(hop_count=hop_counts, max_hop_count=hop_counts,
                  message_type=st.sampled_from(['targeted', 'broadcast']),
                  need_response=st.booleans())
def test_forged_hop_count(cells, hop_count, max_hop_count, message_type,
                          need_response):
    """Obeyed when well-formed (forwarded only under max_hop_count, with a
    failure answer per cell cut off), rejected otherwise; always answered
    when an answer is wanted."""
    runner = cells.c1
    tag = 'hops'
    data = _wire(message_type, hop_count=hop_count,
                 max_hop_count=max_hop_count, need_response=need_response,
                 method_name='record', method_kwargs={'tag': tag})
    if message_type == 'targeted':
        data['target_cell'] = 'api!c1!g1'
    text = json.dumps(data)
    _sent(runner)
    del cells.recorder.calls[:]
    assert runner.process_json(text) is None
    sent = _sent(runner)
    forwarded = sorted(to for to, kind, _t in sent if kind == message_type)
    answers = _answers(runner, [s for s in sent if s[1] == 'response'])
    assert all(to == 'api' for to, kind, _t in sent if kind == 'response')
    well_formed = (_valid_count(hop_count) and _valid_count(max_hop_count)
                   and hop_count >= 0)
    if not well_formed:
        assert forwarded == [] and cells.recorder.calls == []
        assert len(answers) == int(need_response)
        assert all(a.failure for a in answers)
        return
    here = hop_count + 1
    may_forward = here < max_hop_count
    if message_type == 'targeted':
        assert forwarded == (['g1'] if may_forward else [])
        if need_response and not may_forward:
            [answer] = answers
            assert answer.failure and answer.value.hop_count == here
        else:
            assert answers == []
    else:
        assert cells.recorder.cells(tag=tag) == ['c1']
        assert forwarded == (['g1', 'g2'] if may_forward else [])
        if need_response:
            got = tree_support.by_cell(answers)
            assert sorted(got) == ['api!c1', 'api!c1!g1', 'api!c1!g2']
            assert got['api!c1'].failure is False
        else:
            assert answers == []
    del cells.recorder.calls[:]


@pytest.mark.parametrize('hop_count, max_hop_count, expected', [
    pytest.param(1, 10, 11.0, id='originator'),
    pytest.param(1, 10 ** 400, 11.0, id='huge-max-is-not-a-float'),
    pytest.param(10 ** 400, 10 ** 400 + 5, 0.0, id='huge-both'),
    pytest.param(10 ** 400, 10, 0.0, id='huge-hop-count'),
    pytest.param(12, 10, 0.0, id='past-the-limit'),
])
def test_wait_timeout_of_forged_hop_counts(cells, hop_count, max_hop_count,
                                           expected):
    """Found by test_forged_hop_count: a received max_hop_count of 10**400
    made wait_timeout overflow a float, and the broadcast was never
    answered."""
    message = types.SimpleNamespace(hop_count=hop_count,
                                    max_hop_count=max_hop_count,
                                    caller_wait=lambda: None)
    runner = messaging.MessageRunner('c1', None, None, None, None,
                                     messaging.RunnerSettings(10, 11))
    assert runner.wait_timeout(message) == pytest.approx(expected)
    # A caller's wait shortens it, never lengthens it, at any depth.
    message.caller_wait = lambda: 5.0
    assert runner.wait_timeout(message) <= min(expected, 5.0)
