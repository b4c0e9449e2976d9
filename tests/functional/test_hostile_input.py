"""A running ``nova-cells`` survives garbage on every intercell queue.

One daemon, cell ``hcell``, with a parent ``hparent`` and a child ``hkid``
whose brokers (vhosts) exist but run no daemon: the test plays both
neighbours with kombu.  Malformed messages are published STRAIGHT onto the
daemon's broker with kombu (not through oslo.messaging nor any project
code), to each of its intercell destinations:

* the topic queues ``cells.intercell.<type>`` and the server queues
  ``cells.intercell.<type>.<host>`` (exchange ``nova``),
* the fanout exchanges ``cells.intercell.<type>_fanout``,

for ``<type>`` in targeted, broadcast, response.  The garbage ranges from
a body that is not JSON, through broken oslo envelopes, to well-formed
envelopes whose cells message is not JSON, lacks keys, has wrong types,
loops through ``hcell`` or names a method that does not exist.

Afterwards, on the same destination, a valid message must still work, and
the daemon's log must have one line per rejected message, naming its uuid
when it had one.  The valid messages are checked end to end:

* targeted: ``announce_capacities`` from the parent makes ``hcell`` send
  ``update_capacities`` to the parent's broker;
* broadcast: a broadcast from the parent is passed on to the child's
  broker;
* response: ``CellsAPI.get_cell_status`` makes ``hcell`` ask its child and
  wait; the test answers as the child would, and the call returns that
  answer.

The envelope format is the one of the original's wire samples
(``full_envelopes`` in the reference's wire_samples.json), rebuilt here.
"""

import collections
import concurrent.futures
import contextlib
import json
import re
import uuid as uuidlib

import pytest

from tests.functional import fixtures
from tests.functional import tree_support
from tests.functional.tree_support import AmqpCapture
from tests.functional.tree_support import cells_message
from tests.functional.tree_support import oslo_envelope
from tests.functional.tree_support import ProcessTree

pytestmark = pytest.mark.functional

OWN, PARENT, CHILD = 'hcell', 'hparent', 'hkid'
LAYOUT = {PARENT: {OWN: {CHILD: {}}}}
CALL_TIMEOUT = 10

EXTRA = {'cells': {'call_timeout': CALL_TIMEOUT,
                   # No periodic push to the parent while the test runs:
                   # every update_capacities seen there answers the test.
                   'parent_update_interval': 3600,
                   # The counts below are of oslo.messaging's own lines;
                   # the kombu transport's one line per rejected envelope
                   # is tests/unit/test_kombu_transport.py's.
                   'intercell_transport': 'oslo.messaging'}}

REJECTED = 'Rejected intercell message'
# What oslo.messaging logs (the project's code never sees these): the
# rabbit driver when it cannot decode a message, the RPC server when the
# dispatcher cannot call the endpoint.
OSLO_LINES = {'transport': 'Failed to process message ... skipping it.',
              'dispatcher': 'Exception during message handling'}


@pytest.fixture(scope='module')
def cell(tmp_path_factory):
    """The one daemon, and captures on its neighbours' brokers."""
    with contextlib.ExitStack() as stack:
        tree = ProcessTree(LAYOUT, tmp_path_factory.mktemp('hostile'), stack,
                           extra=EXTRA, debug=True)
        tree.provision()
        me = tree[OWN]
        fixtures.sync_schema(me.db_url)
        tree_support.insert_rows(me.db_url, 'cells', [
            dict(name=name, is_parent=is_parent, transport_url=url,
                 weight_offset=0.0, weight_scale=1.0, deleted=0)
            for name, is_parent, url in tree.neighbour_rows()[OWN]])
        parent_capture = stack.enter_context(AmqpCapture(
            tree[PARENT].url,
            [(tree_support.fanout_exchange('cells.intercell.targeted'), ''),
             (tree_support.topic_exchange(), 'cells.intercell.targeted'),
             (tree_support.fanout_exchange('cells.intercell.response'), ''),
             (tree_support.topic_exchange(), 'cells.intercell.response')]))
        child_capture = stack.enter_context(AmqpCapture(
            tree[CHILD].url,
            [(tree_support.topic_exchange(), 'cells.intercell.broadcast')]))
        tree.start_cell(OWN)
        yield Cell(tree, me, parent_capture, child_capture)


class Cell(object):
    def __init__(self, tree, me, parent_capture, child_capture):
        self.tree = tree
        self.me = me
        self.url = me.url
        self.host = me.conf.host
        self.daemon = me.daemon
        self.parent = parent_capture
        self.child = child_capture

    def destination(self, message_type, kind):
        """(exchange, routing key) of one of the daemon's destinations."""
        topic = 'cells.intercell.%s' % message_type
        if kind == 'topic':
            return 'nova', topic
        if kind == 'server':
            return 'nova', '%s.%s' % (topic, self.host)
        return '%s_fanout' % topic, ''

    def log(self):
        return self.daemon.log()

    def log_mark(self):
        return len(self.daemon.stdout()), len(self.daemon.stderr())

    def log_since(self, mark):
        """What the daemon logged (on either stream) after ``mark``."""
        return self.daemon.stdout()[mark[0]:] + self.daemon.stderr()[mark[1]:]


@pytest.fixture(autouse=True)
def _attach_logs(request, cell):
    tree_support.register_daemons(request, cell.tree)


# -- the hostile messages -----------------------------------------------------

Hostile = collections.namedtuple('Hostile', 'case body uuid expect answer')
# expect: 'transport' / 'dispatcher' (refused by oslo.messaging before the
# project sees it; OSLO_LINES),
# 'rejected' (refused by the runner: "Rejected intercell message"),
# 'failed' (routed to this cell, the method failed: logged with its uuid).


def _valid(message_type, method_name, method_kwargs=None, uuid=None,
           need_response=False):
    """A well-formed message of ``message_type`` for this cell, as its
    neighbour would send it (targeted/broadcast from the parent, response
    from the child)."""
    if message_type == 'targeted':
        return cells_message('targeted', method_name, PARENT, 'down',
                             method_kwargs, uuid=uuid,
                             need_response=need_response,
                             target_cell='%s!%s' % (PARENT, OWN))
    if message_type == 'broadcast':
        return cells_message('broadcast', method_name, PARENT, 'down',
                             method_kwargs, uuid=uuid,
                             need_response=need_response)
    return cells_message('response', method_name, CHILD, 'up',
                         method_kwargs, uuid=uuid,
                         target_cell='%s!%s' % (CHILD, OWN),
                         response_uuid=str(uuidlib.uuid4()))


_REAL_METHOD = {'targeted': 'announce_capacities',
                'broadcast': 'cell_status',
                'response': 'parse_responses'}


def _changed(of_type, changes):
    """A well-formed message of type ``of_type`` with ``changes`` applied
    (``KeyError`` as a value deletes the key)."""
    uuid = str(uuidlib.uuid4())
    message = _valid(of_type, 'no_such_method', uuid=uuid)
    for key, value in changes.items():
        if value is KeyError:
            del message[key]
        else:
            message[key] = value
    return uuid, oslo_envelope(json.dumps(message))


def hostile_messages(message_type):
    """Every hostile message for a destination of ``message_type``."""
    found = []

    def add(case, body, uuid=None, expect='rejected', answer=False):
        found.append(Hostile(case, body, uuid, expect, answer))

    real = _REAL_METHOD[message_type]

    def inner():
        """A cells message that would be logged with its uuid if it ran:
        what oslo.messaging must refuse must never reach the runner."""
        uuid = str(uuidlib.uuid4())
        return uuid, json.dumps(_valid(message_type, 'no_such_method',
                                       uuid=uuid))

    # -- refused by oslo.messaging (transport level) -----------------------
    add('body-not-json', b'{"oslo.version": "2.0", "oslo.mess',
        expect='transport')
    add('body-not-utf8', b'\xff\xfe\x00garbage', expect='transport')
    add('body-json-list', b'[1, 2, 3]', expect='transport')
    add('oslo-message-not-json',
        oslo_envelope(None, raw_inner='{"method": "process_message", "a'),
        expect='transport')
    add('oslo-message-not-object', oslo_envelope(None, raw_inner='[1]'),
        expect='transport')
    uuid, text = inner()
    add('oslo-version-unsupported',
        oslo_envelope(text, oslo_version='99.0'), uuid, expect='transport')
    # -- refused by the RPC dispatcher (no such endpoint method / args) ----
    uuid, text = inner()
    add('rpc-method-unknown',
        oslo_envelope(text, method='no_such_rpc_method'), uuid,
        expect='dispatcher')
    uuid, text = inner()
    add('rpc-method-private', oslo_envelope(text, method='__init__'), uuid,
        expect='dispatcher')
    add('rpc-args-missing', oslo_envelope(None, args={}),
        expect='dispatcher')
    uuid, text = inner()
    add('rpc-args-extra',
        oslo_envelope(None, args={'message': text, 'evil': 1}), uuid,
        expect='dispatcher')
    uuid, text = inner()
    add('rpc-version-too-new', oslo_envelope(text, version='2.0'), uuid,
        expect='dispatcher')

    # -- reach the runner: the cells message itself is bad -----------------
    add('cells-not-json', oslo_envelope('this is {not json'))
    add('cells-empty-string', oslo_envelope(''))
    add('cells-not-object', oslo_envelope('["targeted", 1]'))
    add('cells-not-a-string',
        oslo_envelope(None, args={'message': _valid(message_type,
                                                    'no_such_method')}))
    add('cells-null', oslo_envelope(None, args={'message': None}))
    uuid = str(uuidlib.uuid4())
    add('missing-keys', oslo_envelope(json.dumps(
        {'message_type': message_type, 'uuid': uuid})), uuid)
    for case, changes in (
            ('missing-routing-path', {'routing_path': KeyError}),
            ('missing-ctxt', {'ctxt': KeyError}),
            ('wrong-type-hop-count', {'hop_count': '1'}),
            ('wrong-type-bool-hop-count', {'hop_count': True}),
            ('wrong-type-need-response', {'need_response': 'yes'}),
            ('wrong-type-ctxt', {'ctxt': 'admin'}),
            ('wrong-type-method-kwargs', {'method_kwargs': ['x']}),
            ('wrong-type-method-name', {'method_name': 42}),
            ('wrong-type-routing-path', {'routing_path': [PARENT]}),
            ('bad-direction', {'direction': 'sideways'}),
            ('negative-hop-count', {'hop_count': -1}),
            ('empty-routing-path', {'routing_path': ''}),
            ('unknown-message-type', {'message_type': 'shout'}),
            ('loop-through-me', {'routing_path': '%s!%s' % (
                CHILD if message_type == 'response' else PARENT, OWN)}),
            ('loop-originated-by-me', {'routing_path': OWN})):
        uuid, body = _changed(message_type, changes)
        add(case, body, uuid)
    if message_type != 'response':
        # A malformed *call*: the sender waits, so it gets a failure back.
        uuid, body = _changed(message_type, {'need_response': True,
                                             'method_kwargs': 'not a dict'})
        add('malformed-call', body, uuid, answer=True)

    # -- well-formed, routed here, the method cannot run --------------------
    for case, method, kwargs in (
            ('unknown-method', 'no_such_method', {}),
            ('private-method', '__init__', {}),
            ('dunder-method', '__class__', {}),
            ('bad-kwargs', real, {'bogus': 1})):
        uuid = str(uuidlib.uuid4())
        add(case, oslo_envelope(json.dumps(
            _valid(message_type, method, kwargs, uuid=uuid))), uuid,
            expect='failed')
    if message_type == 'response':
        uuid = str(uuidlib.uuid4())
        add('responses-not-a-list', oslo_envelope(json.dumps(_valid(
            'response', 'parse_responses',
            {'orig_message': '{}', 'responses': 'not a list'}, uuid=uuid))),
            uuid, expect='failed')
    return found


# -- the valid message after the garbage --------------------------------------

def _targeted_still_works(cell, exchange, routing_key):
    uuid = str(uuidlib.uuid4())
    message = _valid('targeted', 'announce_capacities', uuid=uuid)
    tree_support.publish_raw(cell.url, [(exchange, routing_key,
                                         oslo_envelope(json.dumps(message)))])
    reply = cell.parent.wait_for(
        lambda m: m['method_name'] == 'update_capacities')
    assert reply is not None, 'no update_capacities reached the parent'
    assert (reply['message_type'], reply['routing_path'],
            reply['target_cell'], reply['direction']) == \
        ('targeted', OWN, '%s!%s' % (OWN, PARENT), 'up'), reply
    assert reply['method_kwargs']['cell_name'] == OWN, reply


def _broadcast_still_works(cell, exchange, routing_key):
    uuid = str(uuidlib.uuid4())
    message = _valid('broadcast', 'cell_status', uuid=uuid)
    tree_support.publish_raw(cell.url, [(exchange, routing_key,
                                         oslo_envelope(json.dumps(message)))])
    passed_on = cell.child.wait_for(lambda m: m['uuid'] == uuid)
    assert passed_on is not None, 'the broadcast was not passed on'
    assert (passed_on['routing_path'], passed_on['hop_count']) == \
        ('%s!%s' % (PARENT, OWN), 2), passed_on


def _response_still_works(cell, exchange, routing_key):
    marker = str(uuidlib.uuid4())
    with tree_support.cells_api(cell.url) as (api, ctxt), \
            concurrent.futures.ThreadPoolExecutor(1) as pool:
        call = pool.submit(api.get_cell_status, ctxt,
                           timeout=CALL_TIMEOUT + 5)
        asked = cell.child.wait_for(
            lambda m: m['method_name'] == 'cell_status' and
            m['routing_path'] == OWN and m['need_response'])
        assert asked is not None, 'hcell did not ask its child'
        answer = cells_message(
            'response', 'parse_responses', CHILD, 'up',
            {'orig_message': json.dumps(asked),
             'responses': [json.dumps({
                 'cell_name': '%s!%s' % (OWN, CHILD),
                 'value': {'name': CHILD, 'marker': marker},
                 'failure': False})]},
            target_cell='%s!%s' % (CHILD, OWN), response_uuid=asked['uuid'],
            fanout=not routing_key)
        tree_support.publish_raw(cell.url, [(exchange, routing_key,
                                             oslo_envelope(json.dumps(
                                                 answer)))])
        status = call.result(timeout=CALL_TIMEOUT + 10)
    assert status['failures'] == [], status
    by_path = {c['cell_name']: c['value'] for c in status['cells']}
    assert set(by_path) == {OWN, '%s!%s' % (OWN, CHILD)}, status
    assert by_path['%s!%s' % (OWN, CHILD)] == {'name': CHILD,
                                               'marker': marker}


STILL_WORKS = {'targeted': _targeted_still_works,
               'broadcast': _broadcast_still_works,
               'response': _response_still_works}

DESTINATIONS = [pytest.param(t, k, id='%s-%s' % (t, k))
                for t in ('targeted', 'broadcast', 'response')
                for k in ('topic', 'server', 'fanout')]


def _lines_with(text, needle):
    return [line for line in text.splitlines() if needle in line]


def _oslo_lines(text, kind):
    """oslo.messaging's ERROR lines of ``kind`` (the first line of each
    entry: a traceback's continuation lines carry no "[request id]")."""
    return [line for line in text.splitlines()
            if re.search(r' ERROR oslo[._]messaging\S* \[', line) and
            OSLO_LINES[kind] in line]


@pytest.mark.parametrize('message_type, kind', DESTINATIONS)
def test_destination_survives_hostile_input(cell, message_type, kind):
    exchange, routing_key = cell.destination(message_type, kind)
    hostile = hostile_messages(message_type)
    log_mark = cell.log_mark()
    cell.parent.clear()

    tree_support.publish_raw(cell.url, [(exchange, routing_key, h.body)
                                        for h in hostile])

    # The next valid message on the same destination still works.
    STILL_WORKS[message_type](cell, exchange, routing_key)
    assert cell.daemon.running(), cell.log()

    # One log line per refused message; the uuid when it had one.
    expected = collections.Counter(h.expect for h in hostile)
    by_oslo = ('transport', 'dispatcher')

    def counts(log):
        found = {k: len(_oslo_lines(log, k)) for k in by_oslo}
        found['rejected'] = len(_lines_with(log, REJECTED))
        return found

    def complete(log):
        return all(h.uuid in log for h in hostile
                   if h.uuid and h.expect not in by_oslo) and \
            all(counts(log)[k] >= expected[k]
                for k in by_oslo + ('rejected',))

    log = fixtures.poll_until(lambda: cell.log_since(log_mark), complete,
                              timeout=5)
    assert counts(log) == {k: expected[k]
                           for k in by_oslo + ('rejected',)}, \
        '\n'.join(line for line in log.splitlines() if ' ERROR ' in line
                  and '[' in line)
    missing = []
    for h in hostile:
        if not h.uuid:
            continue
        lines = _lines_with(log, h.uuid)
        if h.expect in by_oslo:
            assert not lines, 'refused by oslo.messaging, yet processed:' \
                ' %s\n%s' % (h.case, '\n'.join(lines))
            continue
        if h.expect == 'rejected':
            lines = [line for line in lines if REJECTED in line]
        if not lines:
            missing.append('%s (%s, %s)' % (h.case, h.expect, h.uuid))
    assert not missing, 'no log line for: %s\n%s' % (', '.join(missing), log)
    for h in hostile:
        if h.uuid and h.case.startswith('loop'):
            assert any('loop' in line for line in _lines_with(log, h.uuid))

    # A malformed call is answered with a failure naming why.
    for h in hostile:
        if not h.answer:
            continue
        reply = cell.parent.wait_for(
            lambda m: m.get('response_uuid') == h.uuid, timeout=5)
        assert reply is not None, 'no failure sent back for %s' % h.case
        response = json.loads(reply['method_kwargs']['responses'][0])
        assert response['failure'] is True, response
        assert 'MalformedMessage' in response['value'], response


def test_daemon_still_serves_rpc_after_all_that(cell):
    with fixtures.CellsRPC(cell.url) as client:
        assert client.ping(arg='still here') == {'service': 'cells',
                                                 'arg': 'still here'}
    _response_still_works(cell, *cell.destination('response', 'topic'))
    assert cell.daemon.running(), cell.log()
    # Every intercell queue still has its consumer and nothing is stuck.
    for topic in tree_support.INTERCELL_TOPICS:
        for name in (topic, '%s.%s' % (topic, cell.host)):
            assert tree_support.queue_state(cell.url, name) == (0, 1), name
    assert 'Stop step' not in cell.log()
