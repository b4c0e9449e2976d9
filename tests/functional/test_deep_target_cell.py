"""A build pinned with ``target_cell`` three levels down, through real
daemons, whatever the cells in between run.

api -> child -> gc -> ggc, a vhost and a database per cell; api and ggc
are ``nova-cells`` daemons of ours (ggc with the builtin hand-off and one
compute host), and child and gc are either daemons of ours too or
stand-ins for an original nova-cells (:mod:`tests.functional.
original_standin`), which route what passes through as nova 19.3.2 does
and schedule nothing.

An admin's build pinned to ``api!child!gc!ggc`` must land in ggc (active
there, ``cell_name`` = the full path at the top).  The api cell sends it
as nova's top cell did, one message to the full pinned path; the old way,
one level at a time with the hint kept, is shown to be lost by an original
middle cell (its TargetCellFilter re-originates the build from its own
name and cannot route it).  A pin to a cell that does not exist ends in
ERROR with a fault at the top when the cell that cannot route it is ours,
and is dropped (logged) by an original, as nova did.
"""

import collections
import contextlib
import json
import uuid as uuidlib

import pytest

from tests.functional import fixtures
from tests.functional.original_standin import OriginalStandIn
from tests.functional import tree_support
from tests.functional.tree_support import Flavor
from tests.functional.tree_support import ProcessTree

from nova_cells.service import assembly
from nova_cells import context as cells_context

pytestmark = pytest.mark.functional

LAYOUT = {'api': {'child': {'gc': {'ggc': {}}}}}
LEAF = 'api!child!gc!ggc'
SMALL = Flavor(2, 'm1.small', 2048, 1, 20)
HOSTS = {'ggc': [('ggc-cmp1', 65536, 32, 800)]}
SETTLE_TIMEOUT = 30
NO_CELLS = 'No cells available matching scheduling criteria.'

EXTRA = {
    'DEFAULT': {'service_down_time': 3600},
    'cells': {'local_scheduler_driver': 'builtin',
              'call_timeout': 5,
              'scheduler_retries': 0,
              'outbox_resend_interval': 2},
}

ADMIN = cells_context.RequestContext(user_id='ft-user',
                                     project_id='ft-project', is_admin=True,
                                     roles=['admin'])

Tree = collections.namedtuple('Tree', 'cells standins')


@pytest.fixture(scope='module', params=[
    pytest.param((), id='all-ours'),
    pytest.param(('child',), id='original-child'),
    pytest.param(('child', 'gc'), id='original-child-and-gc'),
])
def tree(request, tmp_path_factory):
    """The tree, with the middle cells named by the parameter replaced by
    stand-ins; everything stops with the module (daemons, stand-in
    threads and connections, databases, vhosts)."""
    originals = request.param
    with contextlib.ExitStack() as stack:
        cells = ProcessTree(LAYOUT, tmp_path_factory.mktemp('deep'), stack,
                            extra=EXTRA)
        cells.prepare([SMALL], HOSTS)
        standins = {name: stack.enter_context(
            OriginalStandIn.for_cell(cells, name)) for name in originals}
        # All at once (not level by level): no test here needs the
        # capacities that a child reports when it starts.
        ours = [name for name in cells.cells if name not in originals]
        for name in ours:
            cells.start_cell(name, wait=False)
        for name in ours:
            cells.wait_ready(name)
        yield Tree(cells, standins)


@pytest.fixture(autouse=True)
def _attach_logs(request, tree):
    tree_support.register_daemons(request, tree.cells)


def _new_rows(tree, count=1):
    """nova-api's first step: the rows at the top."""
    requests = [(str(uuidlib.uuid4()), 'ft-deep-vm-%d' % i, SMALL)
                for i in range(count)]
    tree_support.create_api_instances(tree.cells['api'].db_url, requests)
    return requests


def _build(tree, target, count=1):
    """An admin's build pinned to ``target``, as nova-api casts it."""
    api = tree.cells['api']
    requests = _new_rows(tree, count)
    with tree_support.cells_api(api.url) as (cells_api, _admin):
        for uuid, name, flavor in requests:
            kwargs = tree_support.build_kwargs(
                tree_support.instance_object(uuid, name, flavor), flavor)
            kwargs['filter_properties']['scheduler_hints'] = {
                'target_cell': target}
            cells_api.build_instances(ADMIN, **kwargs)
    return [u for u, _n, _f in requests]


def _settled_rows(tree, uuids, url=None):
    def fetch():
        rows = tree_support.rows_by_uuid(url or tree.cells['api'].db_url)
        return {u: rows.get(u) for u in uuids}
    return fixtures.poll_until(
        fetch, lambda rows: all(r is not None and r['vm_state'] != 'building'
                                for r in rows.values()),
        timeout=SETTLE_TIMEOUT, interval=0.2)


def _fault(tree, uuid):
    return fixtures.poll_until(
        lambda: [r['message'] for r in fixtures.live_rows(
            tree.cells['api'].db_url, 'instance_faults')
            if r['instance_uuid'] == uuid],
        bool, timeout=SETTLE_TIMEOUT, interval=0.2)


def _assert_landed(tree, uuids):
    rows = _settled_rows(tree, uuids)
    for row in rows.values():
        assert (row['vm_state'], row['cell_name']) == ('active', LEAF), (
            row, tree.cells.logs()[-20000:])
        assert row['host'] == 'ggc-cmp1', row
    below = _settled_rows(tree, uuids, tree.cells['ggc'].db_url)
    for uuid, row in below.items():
        assert (row['vm_state'], row['host']) == ('active', 'ggc-cmp1'), row


def _is_build_of(event, uuids):
    """True when ``event`` (a stand-in's) is about a build of ``uuids``."""
    if event['method'] != 'build_instances':
        return False
    instances = event['message']['method_kwargs']['build_inst_kwargs'][
        'instances']
    return bool({i['nova_object.data']['uuid'] for i in instances} &
                set(uuids))


def test_a_build_pinned_three_levels_down_lands_there(tree):
    uuids = _build(tree, LEAF, count=2)
    _assert_landed(tree, uuids)
    # An original in the middle only routed it: the one message to the
    # full path, passed on with its name appended, nothing scheduled.
    for name, standin in tree.standins.items():
        cell = tree.cells[name]
        events = [e for e in list(standin.events) if _is_build_of(e, uuids)]
        assert [(e['event'], e['to'], e['message']['target_cell'],
                 e['message']['routing_path']) for e in events] == [
            ('routed', cell.children[0], LEAF, cell.path)] * 2, events


def test_the_old_hop_by_hop_message_is_lost_by_an_original_child(tree):
    """What the scheduler used to send: a build for the child, the hint
    kept for the child to follow.  An original child re-originates it from
    its own name and cannot route it (the build was lost; nova logged
    it); a child of ours follows the pin to the full path."""
    (uuid, name, flavor), = _new_rows(tree)
    kwargs = tree_support.build_kwargs(
        tree_support.instance_object(uuid, name, flavor), flavor)
    kwargs['filter_properties']['scheduler_hints'] = {'target_cell': LEAF}
    serializer = assembly.object_serializer()
    message = tree_support.cells_message(
        'targeted', 'build_instances', 'api', target_cell='api!child',
        method_kwargs={'build_inst_kwargs': serializer.serialize_entity(
            ADMIN, kwargs)})
    tree_support.publish_raw(tree.cells['child'].url, [(
        'nova', 'cells.intercell.targeted',
        tree_support.oslo_envelope(json.dumps(message)))])
    standin = tree.standins.get('child')
    if standin is None:
        _assert_landed(tree, [uuid])
        return
    dropped = standin.wait_for(
        lambda e: e.get('reoriginated_from') == message['uuid'])
    assert dropped is not None, standin.events
    assert (dropped['event'], dropped['message']['routing_path'],
            dropped['message']['target_cell']) == ('dropped', 'child', LEAF)
    assert dropped['reason'] == (
        'Inconsistency in cell routing: destination is %s but routing_path '
        'is child' % LEAF)
    row = tree_support.rows_by_uuid(tree.cells['api'].db_url)[uuid]
    assert (row['vm_state'], row['cell_name']) == ('building', None)


def test_a_pin_to_no_cell_fails_where_a_cell_of_ours_cannot_route_it(tree):
    """gc has no child ``nope``: gc of ours fails the build at the top
    with a fault; an original gc logs it and drops it, as nova did."""
    target = 'api!child!gc!nope'
    (uuid,) = _build(tree, target)
    standin = tree.standins.get('gc')
    if standin is not None:
        dropped = standin.wait_for(lambda e: _is_build_of(e, [uuid]) and
                                   e['event'] == 'dropped')
        assert dropped is not None, standin.events
        assert dropped['reason'] == ('Inconsistency in cell routing: '
                                     'Unknown child when routing to %s'
                                     % target)
        return
    row = _settled_rows(tree, [uuid])[uuid]
    assert row['vm_state'] == 'error', (row, tree.cells.logs()[-20000:])
    assert _fault(tree, uuid) == [
        '%s target_cell %s: api!child!gc has no child nope'
        % (NO_CELLS, target)]
