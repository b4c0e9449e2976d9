"""Signed intercell links between real daemons on RabbitMQ (issue 8 item 5).

api -> child, one ``nova-cells`` process each (own vhost, own database),
``[cells] signing = require`` in both, and keys in both ``cells`` tables
(set with ``nova-cells-manage cell update --signing_key``):

* builds go through (down: the build, signed by api; up: the instance
  updates, signed by child), and the signature on the wire is the HMAC of
  the exact message JSON under the sender's first key;
* forged builds published straight onto the child's broker with kombu,
  claiming to come from api (no signature; a signature under a wrong key;
  a good signature over other text) change nothing in either database and
  each leaves a rejection line naming its uuid and the claimed sender; the
  same message with a good signature does build (so the forgeries were
  real builds, refused only for their signatures);
* a key rotation without a flag day: child [old, new] while api still
  signs with old; api switches to [new, old]; child drops old.  Builds
  sent at every step all land, and no rejection is logged.
"""

import contextlib
import json
import uuid as uuidlib

import pytest

from tests.functional import fixtures
from tests.functional import tree_support
from tests.functional.tree_support import AmqpCapture
from tests.functional.tree_support import Flavor
from tests.functional.tree_support import ProcessTree

from nova_cells.service import assembly
from nova_cells import context as cells_context
from nova_cells.transport import signing

pytestmark = pytest.mark.functional

LAYOUT = {'api': {'child': {}}}
SMALL = Flavor(2, 'm1.small', 2048, 1, 20)
OLD, NEW, WRONG = 'ft-old-key-8d1f', 'ft-new-key-51c9', 'ft-wrong-key-00aa'
REJECTED = 'Rejected intercell message'
EXTRA = {
    'DEFAULT': {'service_down_time': 3600},
    'cells': {'local_scheduler_driver': 'builtin',
              'signing': 'require',
              'parent_update_interval': 2,
              'call_timeout': 5,
              'scheduler_retries': 0},
}


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with contextlib.ExitStack() as stack:
        tree = ProcessTree(LAYOUT, tmp_path_factory.mktemp('signed'), stack,
                           extra=EXTRA)
        tree.prepare([SMALL], {'child': [('child-cmp1', 262144, 128,
                                          4000)]})
        _set_keys(tree, 'api', 'child', [OLD])
        _set_keys(tree, 'child', 'api', [OLD])
        tree.capture = stack.enter_context(AmqpCapture(
            tree['child'].url,
            [(tree_support.topic_exchange(), 'cells.intercell.targeted')]))
        tree.start()
        yield tree


@pytest.fixture(autouse=True)
def _attach_logs(request, tree):
    tree_support.register_daemons(request, tree)


def _set_keys(tree, cell, neighbour, keys):
    args = ['cell', 'update', '--cell_name', neighbour]
    for key in keys:
        args += ['--signing_key', key]
    result = fixtures.run_manage(tree[cell].conf, *args, check=True)
    assert not any(k in result.stdout + result.stderr for k in keys)


def _ctxt():
    return cells_context.RequestContext(user_id='ft-user',
                                        project_id='ft-project')


def _request(api_db_url, name):
    uuid = str(uuidlib.uuid4())
    tree_support.create_api_instances(api_db_url, [(uuid, name, SMALL)])
    return uuid, tree_support.build_kwargs(
        tree_support.instance_object(uuid, name, SMALL), SMALL)


def _build(tree, count, name):
    api = tree['api']
    uuids = []
    with tree_support.cells_api(api.url) as (cells_api, _admin):
        for index in range(count):
            uuid, kwargs = _request(api.db_url, '%s-%d' % (name, index))
            cells_api.build_instances(_ctxt(), **kwargs)
            uuids.append(uuid)
    return uuids


def _wait_active(tree, uuids, timeout=20):
    def fetch():
        rows = tree_support.rows_by_uuid(tree['api'].db_url)
        return {u: rows[u]['vm_state'] for u in uuids}
    return fixtures.poll_until(
        fetch, lambda states: set(states.values()) == {'active'},
        timeout=timeout, interval=0.2)


def _forged_build(tree, name):
    """A build as api sends it to child, in the JSON the daemons use."""
    uuid, kwargs = _request(tree['api'].db_url, name)
    ctxt = _ctxt()
    serializer = assembly.object_serializer()
    message = tree_support.cells_message(
        'targeted', 'build_instances', 'api', 'down',
        {'build_inst_kwargs': serializer.serialize_entity(ctxt, kwargs)},
        target_cell='api!child')
    return uuid, message['uuid'], json.dumps(message)


def _publish(tree, text, signature=None):
    args = {'message': text}
    if signature is not None:
        args['signature'] = signature
    tree_support.publish_raw(tree['child'].url, [
        ('nova', 'cells.intercell.targeted',
         tree_support.oslo_envelope(None, args=args))])


def _captured_builds(tree):
    """(oslo args, cells message) of each build the child's broker got
    (a copy: the capture queue is bound like the daemon's own)."""
    tree.capture.wait_for(lambda m: False, timeout=0)  # drain into received
    return [(inner['args'], m) for inner, m in tree.capture.received
            if m and m['method_name'] == 'build_instances']


def _rejections(tree, name):
    return [line for line in tree[name].daemon.log().splitlines()
            if REJECTED in line]


def test_builds_go_through_signed_links(tree):
    tree.capture.clear()
    uuids = _build(tree, 2, 'signed')
    states = _wait_active(tree, uuids)
    assert set(states.values()) == {'active'}, (states, tree.logs()[-5000:])
    builds = _captured_builds(tree)
    assert len(builds) == 2, tree.capture.received
    for args, _message in builds:
        assert args['signature'] == signing.sign(OLD, args['message'])
    child_rows = tree_support.rows_by_uuid(tree['child'].db_url)
    assert set(uuids) <= set(child_rows)
    assert not _rejections(tree, 'api') and not _rejections(tree, 'child')


def test_forged_builds_change_nothing_and_are_logged(tree):
    forged = []
    for case in ('unsigned', 'wrong-key', 'other-text'):
        uuid, message_uuid, text = _forged_build(tree, 'forged-' + case)
        signature = {'unsigned': None,
                     'wrong-key': signing.sign(WRONG, text),
                     'other-text': signing.sign(OLD, text + ' ')}[case]
        _publish(tree, text, signature)
        forged.append((case, uuid, message_uuid))
    # A control: the same kind of message, signed with the right key.
    control, control_message, text = _forged_build(tree, 'control')
    _publish(tree, text, signing.sign(OLD, text))
    states = _wait_active(tree, [control])
    assert states == {control: 'active'}, tree.logs()[-5000:]

    lines = fixtures.poll_until(
        lambda: _rejections(tree, 'child'),
        lambda found: len(found) >= len(forged), timeout=5)
    assert len(lines) == len(forged), lines
    for case, _uuid, message_uuid in forged:
        # One line each (the server may process them in any order).
        [line] = [line for line in lines if message_uuid in line]
        assert 'claiming to come from api' in line, line
        assert ('unsigned' if case == 'unsigned' else 'bad signature') in \
            line, (case, line)
    log = tree.logs()
    assert not any(key in log for key in (OLD, NEW, WRONG))
    assert control_message not in '\n'.join(lines)

    child_rows = tree_support.rows_by_uuid(tree['child'].db_url)
    api_rows = tree_support.rows_by_uuid(tree['api'].db_url)
    for case, uuid, _message_uuid in forged:
        assert uuid not in child_rows, case
        assert (api_rows[uuid]['vm_state'], api_rows[uuid]['host']) == \
            ('building', None), case
    assert control in child_rows
    tree.assert_running()


def test_key_rotation_loses_nothing(tree):
    marks = {n: len(_rejections(tree, n)) for n in ('api', 'child')}
    child_before = len(fixtures.live_rows(tree['child'].db_url, 'instances'))
    built = []
    steps = [
        # (who changes, the neighbour row, new keys, key api signs with)
        ('child', 'api', [OLD, NEW], OLD),
        ('api', 'child', [NEW, OLD], NEW),
        ('child', 'api', [NEW], NEW),
        ('api', 'child', [NEW], NEW),
    ]
    for cell, neighbour, keys, signing_key in steps:
        _set_keys(tree, cell, neighbour, keys)
        tree.capture.clear()
        uuids = _build(tree, 2, 'rot-%s-%d' % (cell, len(built)))
        states = _wait_active(tree, uuids)
        assert set(states.values()) == {'active'}, (
            cell, keys, states, tree.logs()[-5000:])
        builds = _captured_builds(tree)
        assert len(builds) == 2, tree.capture.received
        for args, _message in builds:
            assert args['signature'] == signing.sign(signing_key,
                                                     args['message'])
        built += uuids

    # Nothing lost, nothing refused, nothing extra.
    states = _wait_active(tree, built)
    assert set(states.values()) == {'active'} and len(states) == 8
    child_rows = tree_support.rows_by_uuid(tree['child'].db_url)
    assert set(built) <= set(child_rows)
    assert len(fixtures.live_rows(tree['child'].db_url, 'instances')) == \
        child_before + len(built)
    assert {n: len(_rejections(tree, n)) for n in marks} == marks, \
        tree.logs()[-5000:]

    # The old key is gone on both sides: what it signs is refused now.
    uuid, message_uuid, text = _forged_build(tree, 'old-key')
    _publish(tree, text, signing.sign(OLD, text))
    lines = fixtures.poll_until(
        lambda: _rejections(tree, 'child')[marks['child']:],
        lambda found: found, timeout=5)
    assert lines and message_uuid in lines[0] and 'bad signature' in \
        lines[0], lines
    assert uuid not in tree_support.rows_by_uuid(tree['child'].db_url)
