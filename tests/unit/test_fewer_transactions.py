"""Fewer database transactions per build (commit 17e4c12), each saving
pinned with what keeps a build exactly-once:

* a cell that only sends builds on to a child claims nothing on arrival:
  the onward row (or the failure's updates) carries the build's mark, and
  a second copy is dropped there; a leaf claims a build in the
  transaction of its first instance's rows, and a build that ends here
  after all is claimed then too;
* a held durable message passing through is relayed with a confirmed
  send instead of an outbox row, whenever (and only when) it may be;
* the kombu ``cells`` server holds a build instead of journalling it;
* a leaf writes its first instance with the shared rows it reads;
* the builtin placement reads and claims in one transaction.

Stand-alone runners over SQLite whose drivers record what would be sent;
no broker.
"""

import contextlib
import functools
import json
import re
import threading
import uuid

from oslo_db import exception as db_exc
import oslo_messaging
import pytest
import sqlalchemy as sa

from nova_cells import context
from nova_cells.db import api as db_api
from nova_cells.db import instances as db_instances
from nova_cells.db import migration
from nova_cells.db import models
from nova_cells.db import new_instances
from nova_cells.db import outbox as db_outbox
from nova_cells.messaging import delivery
from nova_cells import exception
from nova_cells.filters import different_cell
from nova_cells.filters import target_cell
from nova_cells.handoff import new_instance
from nova_cells.scheduler import core as scheduler
from nova_cells.transport import api_server
from nova_cells.transport import lanes
from tests.unit import sched_support as ss
from tests.unit.test_builtin_handoff import add_host
from tests.unit.test_builtin_handoff import local_instance
from tests.unit.test_builtin_handoff import make_handoff
from tests.unit.test_builtin_handoff import node as node_row
from tests.unit.test_builtin_handoff import small
from tests.unit.test_cells_topic_server import _CTXT
from tests.unit import transport_doubles
from tests.unit.test_cells_topic_server import _server
from tests.unit.test_delivery import inbox_uuids
from tests.unit.test_new_instance import _ctxt as sample_ctxt
from tests.unit.test_new_instance import _kwargs as sample_kwargs
from tests.unit.test_scheduler import _api_build
from tests.unit.test_scheduler import durable_leaf
from tests.unit.test_scheduler import RecordingHandoff
from tests.unit import tree_support


# -- counting -----------------------------------------------------------------

@contextlib.contextmanager
def _events(db, name, record):
    """What ``record(*event arguments)`` returns for each ``name`` event
    of ``db``'s engine inside the block."""
    counted = []

    def listener(*args):
        counted.append(record(*args))
    sa.event.listen(db.engine, name, listener)
    try:
        yield counted
    finally:
        sa.event.remove(db.engine, name, listener)


def transactions(db):
    """The transactions begun on ``db``'s engine inside the block (as
    tools/bench/route.py's ``_DatabaseWork`` counts them)."""
    return _events(db, 'begin', lambda _conn: 1)


def claims(db):
    """The message uuids in ``cell_claims``."""
    with db.connection_reader() as conn:
        return [row[0] for row in conn.execute(
            sa.select(models.CellClaim.__table__.c.message_uuid))]


def journal(db):
    return [r for r in db_outbox.outbox_all(db)
            if r['direction'] == delivery.SELF]


@pytest.fixture
def recorded(monkeypatch):
    """[(received uuid carried, [(neighbour, direction)])] of each outbox
    transaction that committed (one refused as a copy is not listed)."""
    found = []
    real = db_outbox.outbox_add_many

    def add_many(database, entries, retry_in, received_uuid=None,
                 owner=None):
        ids = real(database, entries, retry_in, received_uuid, owner)
        found.append((received_uuid, [(e[1], e[2]) for e in entries]))
        return ids
    monkeypatch.setattr(db_outbox, 'outbox_add_many', add_many)
    return found


# -- a cell between the api and its child -------------------------------------

class Driver(tree_support.RecordingDriver):
    """Records sends (``sent``) and outbox deliveries (``delivered``), and
    both in the order the neighbour got them (``arrived``);
    ``confirms_sends``, ``ours``, ``refuse`` (a relay's send raises it)
    and ``unreachable`` (an outbox delivery raises it) as a test needs
    them."""

    confirms_sends = False

    def __init__(self):
        super(Driver, self).__init__()
        self.ours = True
        self.refuse = None
        self.unreachable = None
        self.delivered = []
        self.arrived = []

    def is_ours(self, cell_state):
        return self.ours

    def send_message_to_cell(self, cell_state, message):
        if self.refuse is not None:
            raise self.refuse
        super(Driver, self).send_message_to_cell(cell_state, message)
        self.arrived.append((cell_state.name, message.uuid))

    def deliver_message_to_cell(self, cell_state, message_type, text, ctxt,
                                timeout):
        if self.unreachable is not None:
            raise self.unreachable
        self.delivered.append((cell_state.name, json.loads(text)['uuid']))
        self.arrived.append(self.delivered[-1])

    def cast_recorded_message(self, cell_state, message_type, text, ctxt,
                              timeout):
        self.deliver_message_to_cell(cell_state, message_type, text, ctxt,
                                     timeout)


@pytest.fixture
def api(tmp_path):
    """The api cell (its own database) that casts to ``child``."""
    api_db = db_api.Database('sqlite:///' + str(tmp_path / 'api.sqlite'))
    migration.db_sync(api_db)
    runner = tree_support.make_runner(api_db, 'api', children=['child'])
    runner.services.db = api_db
    yield runner
    api_db.dispose()


@pytest.fixture
def child(db):
    """make(children=('gc',), filters=(), resend_interval=60,
    split=False, parents=('api',)): the ``child`` cell over ``db`` with
    durable forwarding and a scheduler (no retry; ``split``:
    split_builds_by_capacity), its driver a :class:`Driver`; another
    daemon of the same cell: ``parents=()`` (the rows are there)."""
    made = []

    def make(children=('gc',), filters=(), resend_interval=60,
             split=False, parents=('api',)):
        runner = tree_support.make_runner(db, 'child', parents=parents,
                                          children=children)
        runner.driver = Driver()
        runner.services.db = db
        runner.inbox = delivery.Inbox(db)
        runner.outbox = delivery.Outbox(db, runner.driver, runner.neighbour,
                                        resend_interval)
        runner.services.scheduler = scheduler.CellsScheduler(
            runner, list(filters), [], RecordingHandoff(),
            ss.cell_policy(), scheduler.SchedulerSettings(
                0, 0, split_builds_by_capacity=split),
            sleep=lambda seconds: None)
        made.append(runner)
        return runner
    yield make
    for runner in made:
        runner.outbox.stop()
        runner.inbox.stop()


def cast_build(api, target='api!child', hints=None, ctxt=ss.ADMIN,
               count=1):
    """The wire JSON of a build of ``count`` instances the api casts to
    ``target`` (their rows in the api's database, as nova-api made
    them)."""
    the_flavor = ss.flavor()
    made = [ss.new_instance(api.services.db, the_flavor, 'vm', ctxt)
            for _n in range(count)]
    api.targeted(ctxt, target, 'build_instances', {
        'build_inst_kwargs': ss.build_kwargs(made, the_flavor, hints)})
    return api.driver.sent[-1][2]


def uuid_of(text):
    return json.loads(text)['uuid']


# -- 1. a build that only passes on to a child is not claimed -----------------

def test_a_build_only_sent_on_to_a_child_is_not_claimed(
        api, child, db, recorded):
    """A cell with children and no hosts of its own cannot build: its
    whole effect is the onward row, which carries the mark.  No claim
    transaction; the copy is refused where the row would be written."""
    runner = child()
    assert not runner.services.scheduler.may_build_here()
    text = cast_build(api)
    runner.process_json(text)
    assert claims(db) == []
    assert recorded == [(uuid_of(text), [('gc', 'down')])]
    assert uuid_of(text) in inbox_uuids(db)
    runner.process_json(text)                   # the api's resend
    assert recorded == [(uuid_of(text), [('gc', 'down')])], 'exactly once'
    assert claims(db) == []


def _spy_connections(monkeypatch, module, name, seen):
    """Record the connection each call of ``module.name`` is given (its
    first argument), the call itself unchanged."""
    real = getattr(module, name)

    def spy(conn, *args, **kwargs):
        seen.append((name, conn))
        return real(conn, *args, **kwargs)
    monkeypatch.setattr(module, name, spy)


def test_a_leaf_claims_a_build_with_its_first_rows(api, child, db,
                                                   monkeypatch):
    """A leaf builds (rows, hand-off), which is not one transaction, so
    the build is claimed: not on arrival in a transaction of its own, but
    in the transaction that writes the first instance's rows (once the
    project's shared rows exist, as for all its builds but the first).
    A copy finds it applied."""
    runner = child(children=())
    sched = runner.services.scheduler
    runner.process_json(cast_build(api))        # the project's shared rows
    before = claims(db)
    seen, conns = [], []
    real = sched.build_instances

    def build_instances(message, build_inst_kwargs):
        seen.append(claims(db))
        return real(message, build_inst_kwargs)
    sched.build_instances = build_instances
    _spy_connections(monkeypatch, db_outbox, 'claims_in', conns)
    _spy_connections(monkeypatch, new_instances, '_write', conns)
    text = cast_build(api)
    runner.process_json(text)
    assert seen == [before], 'not claimed on arrival'
    assert [name for name, _conn in conns] == ['claims_in', '_write']
    assert conns[0][1] is conns[1][1], 'one transaction'
    assert sorted(claims(db)) == sorted(before + [uuid_of(text)])
    assert uuid_of(text) in inbox_uuids(db)
    runner.process_json(text)
    assert len(sched.handoff.calls) == 2


def test_a_copy_arriving_while_a_leaf_builds_is_refused(api, child, db):
    """The first delivery's claim, committed with its rows, is live while
    it hands the build off: a copy that arrives meanwhile (the sender gave
    up waiting) is refused with MessageNotTaken, writes nothing and hands
    nothing off; the sender keeps it and finds it applied later."""
    runner = child(children=())
    handoff = runner.services.scheduler.handoff
    text = cast_build(api)
    refused = []
    real = handoff.build_instances

    def build_instances(ctxt, build_inst_kwargs):
        real(ctxt, build_inst_kwargs)
        try:
            runner.process_json(text)           # the copy, meanwhile
        except exception.MessageNotTaken as exc:
            refused.append(exc)
    handoff.build_instances = build_instances
    runner.process_json(text)
    assert len(refused) == 1
    assert len(handoff.calls) == 1
    assert len(db_instances.instance_get_all(db)) == 1
    assert uuid_of(text) in inbox_uuids(db)
    handoff.build_instances = real
    runner.process_json(text)                   # the copy, resent later
    assert len(handoff.calls) == 1


def test_a_copy_arriving_before_the_first_rows_commit_is_refused(
        api, child, db, monkeypatch):
    """Two daemons of one leaf (one database): the second gets a copy
    while the first's claim and rows are written but not committed.  The
    claim is not visible yet, so the copy's own claim cannot see it; it
    is refused where the two claims meet, writes no row and hands nothing
    off, and the first builds once."""
    first, second = child(children=()), child(children=(), parents=())
    first.process_json(cast_build(api))         # the project's shared rows
    text = cast_build(api)
    real = new_instances._write
    outcome = []

    def copy_meanwhile():
        try:
            second.process_json(text)
            outcome.append('processed')
        except exception.MessageNotTaken as exc:
            outcome.append(exc)

    def write_with_a_copy_waiting(conn, *args, **kwargs):
        if threading.current_thread() is not copier and not copier.ident:
            copier.start()
            copier.join(0.5)        # it reaches the claim and waits there
        return real(conn, *args, **kwargs)
    copier = threading.Thread(target=copy_meanwhile)
    monkeypatch.setattr(new_instances, '_write', write_with_a_copy_waiting)
    first.process_json(text)
    copier.join(30)
    assert len(outcome) == 1 and isinstance(
        outcome[0], exception.MessageNotTaken), outcome
    assert len(first.services.scheduler.handoff.calls) == 2
    assert second.services.scheduler.handoff.calls == []
    assert len(db_instances.instance_get_all(db)) == 2
    assert uuid_of(text) in inbox_uuids(db)
    assert not second.inbox._applying, 'the copy counts nothing'
    second.process_json(text)                   # sent again later
    assert second.services.scheduler.handoff.calls == []


def test_a_leaf_claims_a_split_build_alone_before_its_parts(
        api, child, db, monkeypatch):
    """A leaf's build split instance by instance (split_builds_by_capacity)
    is claimed alone before its parts are built, not with the first
    part's rows: the parts are several transactions, and the mark must
    cover all of them.  A copy finds it applied and builds no part
    twice."""
    runner = child(children=(), split=True)
    handoff = runner.services.scheduler.handoff
    runner.process_json(cast_build(api))        # the project's shared rows
    before, calls_before = claims(db), len(handoff.calls)
    conns = []
    _spy_connections(monkeypatch, db_outbox, 'claims_in', conns)
    _spy_connections(monkeypatch, new_instances, '_write', conns)
    text = cast_build(api, count=2)
    runner.process_json(text)
    names = [name for name, _conn in conns]
    assert names[0] == 'claims_in' and names.count('claims_in') == 1
    assert '_write' in names
    assert conns[0][1] not in [conn for name, conn in conns[1:]], \
        'claimed in a transaction of its own'
    assert sorted(claims(db)) == sorted(before + [uuid_of(text)])
    built = [i.uuid for _ctxt, kwargs in handoff.calls[calls_before:]
             for i in kwargs['instances']]
    assert len(built) == 2 == len(set(built))
    assert len(db_instances.instance_get_all(db)) == 3
    runner.process_json(text)
    assert [i.uuid for _ctxt, kwargs in handoff.calls[calls_before:]
            for i in kwargs['instances']] == built, 'exactly once'


def test_a_build_applied_already_writes_nothing_in_a_leaf(api, child, db):
    """The mark is there: the claim in the first rows' transaction finds
    it, the transaction is rolled back (no row, no claim) and nothing is
    handed off."""
    runner = child(children=())
    text = cast_build(api)
    db_outbox.inbox_add(db, uuid_of(text))
    runner.process_json(text)
    assert runner.services.scheduler.handoff.calls == []
    assert claims(db) == []
    assert db_instances.instance_get_all(db) == []


def test_a_claim_rolled_back_with_its_rows_is_not_held(api, child, db,
                                                       monkeypatch):
    """The first rows' transaction fails (the database, not a copy):
    the claim taken in it is rolled back too, so the delivery neither
    counts it nor gives it back (the row there could be a copy's); the
    resend claims and builds it once."""
    runner = child(children=())
    handoff = runner.services.scheduler.handoff
    real = new_instances._write
    failures = []

    def write_fails_once(conn, *args, **kwargs):
        if failures:
            raise failures.pop()
        return real(conn, *args, **kwargs)
    monkeypatch.setattr(new_instances, '_write', write_fails_once)
    released = []
    monkeypatch.setattr(db_outbox, 'claim_release',
                        lambda *args: released.append(args))
    runner.process_json(cast_build(api))        # the project's shared rows
    text = cast_build(api)
    before = claims(db)
    failures.append(db_exc.DBDeadlock())
    with pytest.raises(exception.MessageNotTaken):
        runner.process_json(text)
    assert claims(db) == before
    assert released == [], 'a copy claiming it meanwhile keeps its claim'
    assert not runner.inbox._applying, 'nothing counted as applied'
    runner.process_json(text)                   # the resend
    assert len(handoff.calls) == 2
    assert uuid_of(text) in claims(db) and uuid_of(text) in inbox_uuids(db)
    assert not runner.inbox._applying


def test_a_leaf_claims_a_build_it_fails_before_failing_it(
        api, child, db, recorded):
    """A leaf's build that no cell can take (here, the hint keeps it out
    of the leaf itself) writes no row, so it is claimed alone before its
    instances are failed at the top: those updates carry its mark, and a
    copy finds it applied and fails nothing twice."""
    runner = child(children=(),
                   filters=[different_cell.DifferentCellFilter()])
    text = cast_build(api, hints={'different_cell': ['api!child']})
    runner.process_json(text)
    assert claims(db) == [uuid_of(text)]
    assert recorded == [(uuid_of(text), [('api', 'up'), ('api', 'up')])]
    runner.process_json(text)
    assert len(recorded) == 1, 'the copy failed nothing twice'
    assert not runner.inbox._applying


@pytest.mark.parametrize('claim_left', [False, True],
                         ids=['claim-purged', 'claim-left-over'])
def test_a_leaf_finding_an_earlier_deliverys_rows_claims_alone(
        api, child, db, claim_left):
    """An earlier delivery wrote the rows and ended before its mark (its
    claim purged, or left over by this daemon): the rows' transaction is
    rolled back on the duplicate uuid, claim and all, so the build is
    claimed in a transaction of its own (a claim left over taken over:
    the rolled-back claim does not count as this daemon applying it),
    the rows are loaded and handed off again."""
    runner = child(children=())
    handoff = runner.services.scheduler.handoff
    text = cast_build(api)
    runner.process_json(text)
    with db.connection_writer() as conn:
        conn.execute(models.CellInbox.__table__.delete())
        if not claim_left:
            conn.execute(models.CellClaim.__table__.delete())
    runner.process_json(text)
    assert len(handoff.calls) == 2
    assert [i.uuid for i in handoff.calls[1][1]['instances']] == \
        [i.uuid for i in handoff.calls[0][1]['instances']]
    assert len(db_instances.instance_get_all(db)) == 1
    assert claims(db) == [uuid_of(text)]
    assert uuid_of(text) in inbox_uuids(db)


def test_a_leaf_that_gained_a_child_claims_before_sending_on(
        api, child, db, recorded):
    """Left unclaimed on arrival as a leaf's build, one the scheduler
    sends to a child after all (the cell gained one meanwhile) is claimed
    before it goes: a copy applied as a leaf's would have been found, and
    a copy of this one finds the mark and sends nothing twice."""
    runner = child(children=())
    sched = runner.services.scheduler
    real = sched.build_instances

    def gain_a_child_then_build(message, build_inst_kwargs):
        assert message.scope.receipt.late, 'a leaf at arrival'
        db_api.cell_create(db, {'name': 'gc',
                                'transport_url': tree_support.neighbour_url(
                                    'gc'),
                                'is_parent': False, 'weight_offset': 0.0,
                                'weight_scale': 1.0})
        runner.state_manager.sync(force=True)
        return real(message, build_inst_kwargs)
    sched.build_instances = gain_a_child_then_build
    text = cast_build(api)
    runner.process_json(text)
    assert claims(db) == [uuid_of(text)]
    assert recorded == [(uuid_of(text), [('gc', 'down')])]
    runner.process_json(text)
    assert len(recorded) == 1, 'exactly once'


def test_a_failed_build_in_a_cell_that_only_sends_on_fails_once(
        api, child, db, recorded):
    """Not claimed on arrival, a build that finds no child is failed with
    updates that carry its mark (``_all_or_nothing(as_effect=True)``): a
    copy processed again sends no second ERROR nor fault to the top."""
    runner = child(filters=[different_cell.DifferentCellFilter()])
    text = cast_build(api, hints={'different_cell': ['api!child!gc']})
    runner.process_json(text)
    assert recorded == [(uuid_of(text), [('api', 'up'), ('api', 'up')])]
    runner.process_json(text)
    assert len(recorded) == 1, 'the copy failed nothing twice'
    assert claims(db) == []


def test_a_split_build_whose_parts_all_fail_fails_its_instances_once(
        api, child, db, recorded):
    """A split build in a cell with children and no capacity is not
    claimed on arrival: its whole effect is what its parts became.  When
    no part can be sent on, each part's instances are failed at the top,
    and those ERROR updates and faults carry the build's mark
    (``_build_split`` records ``as_effect``): a copy processed again
    finds it and sends no second ERROR nor fault up.  Recorded without
    the mark, the copy failed every instance again."""
    runner = child(children=('gc1', 'gc2'), split=True)
    sched = runner.services.scheduler
    assert not sched.may_build_here()
    tried = []

    def send_fails(message, candidate, build_inst_kwargs):
        tried.append(candidate.name)
        raise OSError('%s unreachable' % candidate.name)
    sched._send_to_child = send_fails
    text = cast_build(api, count=2)
    runner.process_json(text)
    assert tried, 'the parts were tried'
    assert recorded == [(uuid_of(text), [('api', 'up')] * 4)], \
        'an ERROR update and a fault per instance, with the mark'
    assert claims(db) == []
    assert uuid_of(text) in inbox_uuids(db)
    runner.process_json(text)                   # the api's resend
    assert len(recorded) == 1, 'the copy failed nothing twice'


# -- 2. claimed when it ends here after all -----------------------------------

def test_a_build_not_claimed_on_arrival_is_claimed_when_built_here(
        api, child, db):
    """Pinned to this cell (it has children and no capacity, so it did
    not claim on arrival): ``_build_here`` claims it first, and a copy
    finds it applied there and builds nothing."""
    runner = child(filters=[target_cell.TargetCellFilter()])
    handoff = runner.services.scheduler.handoff
    text = cast_build(api, hints={'target_cell': 'api!child'})
    runner.process_json(text)
    assert claims(db) == [uuid_of(text)]
    assert len(handoff.calls) == 1
    assert uuid_of(text) in inbox_uuids(db)
    runner.process_json(text)
    assert len(handoff.calls) == 1


def test_a_build_applied_already_is_not_built_when_claimed_late(
        api, child, db):
    """The mark is there (another delivery applied it): the claim in the
    first rows' transaction finds it, and ``_build_here`` writes no row
    and hands nothing off."""
    runner = child(filters=[target_cell.TargetCellFilter()])
    text = cast_build(api, hints={'target_cell': 'api!child'})
    db_outbox.inbox_add(db, uuid_of(text))
    runner.process_json(text)
    assert runner.services.scheduler.handoff.calls == []
    assert claims(db) == []
    assert db_instances.instance_get_all(db) == []


def test_claim_for_claims_once_then_finds_the_mark(db):
    inbox = delivery.Inbox(db)
    try:
        receipt = delivery._Receipt('m-1', 'build_instances', inbox)
        assert inbox.claim_for(receipt) is True
        assert (receipt.claimed, claims(db)) == (True, ['m-1'])
        db_outbox.inbox_add(db, 'm-1')
        again = delivery._Receipt('m-1', 'build_instances', inbox)
        assert inbox.claim_for(again) is False
        assert again.recorded and not again.claimed
    finally:
        inbox.stop()


def test_nothing_to_claim_outside_a_delivery():
    """Nothing received (a build nova-api cast without durable
    forwarding): nothing to claim, the build goes on."""
    assert delivery.claim_late(None) is True
    assert delivery.claim_late(delivery.Scope()) is True
    assert delivery.pending_claim(None) is None
    assert delivery.pending_claim(delivery.Scope()) is None


# -- 3. a held message passing through is relayed, not recorded ---------------

def cast_through(api):
    """A durable cast from the api that only passes through ``child``."""
    api.targeted(ss.ADMIN, 'api!child!gc', 'terminate_instance',
                 {'tag': 'x'})
    return api.driver.sent[-1][2]


def test_a_held_message_passing_through_is_relayed_without_a_row(
        api, child, db, recorded):
    """Confirmed by the child's broker before this delivery is
    acknowledged: a daemon dying in between gets it again and sends it
    again, and the cell that applies it finds the copy.  No outbox row,
    no mark."""
    runner = child()
    runner.driver.confirms_sends = True
    text = cast_through(api)
    runner.process_json(text, held=True)
    assert [(name, uuid_of(sent)) for name, _kind, sent
            in runner.driver.sent] == [('gc', uuid_of(text))]
    assert recorded == []
    assert db_outbox.outbox_all(db) == []
    assert inbox_uuids(db) == set()


@pytest.mark.parametrize('held, confirms, ours, refuse', [
    pytest.param(False, True, True, None, id='not-held'),
    pytest.param(True, False, True, None, id='sends-not-confirmed'),
    pytest.param(True, True, False, None, id='original-neighbour'),
    pytest.param(True, True, True, OSError('broker refused'),
                 id='send-failed'),
])
def test_otherwise_a_message_passing_through_goes_to_the_outbox(
        api, child, db, recorded, held, confirms, ours, refuse):
    """Without every condition of a confirmed relay, the onward row
    (with the mark) is written as before: it is resent until confirmed,
    or sent once to an original nova-cells, which does not deduplicate."""
    runner = child()
    runner.driver.confirms_sends = confirms
    runner.driver.ours = ours
    runner.driver.refuse = refuse
    text = cast_through(api)
    runner.process_json(text, held=held)
    assert recorded == [(uuid_of(text), [('gc', 'down')])]
    assert uuid_of(text) in inbox_uuids(db)
    assert runner.driver.sent == []
    assert tree_support.wait_until(
        lambda: runner.driver.delivered == [('gc', uuid_of(text))])


def spy_on(runner, message_type, method_name):
    """The uuids of the messages ``runner``'s handler of ``method_name``
    runs, in order (the handler itself still runs)."""
    ran = []
    table = runner.handlers.table(message_type)
    real = table.get(method_name)

    @functools.wraps(real)
    def spy(runner_, message, **kwargs):
        ran.append(message.uuid)
        return real(runner_, message, **kwargs)
    table.method(method_name)(spy)
    return ran


def test_a_held_broadcast_that_also_runs_here_is_recorded_not_relayed(
        api, child, db, recorded):
    """``instance_delete_everywhere`` at a cell with two children runs
    here too and goes to both: it does not only pass through, so the
    confirmed relay (whose only effect is the send, with nothing marked)
    must not be used even on a held delivery.  Relayed to the first
    child, it marked the receipt done without writing the mark: the
    second child's row went without it, and a copy ran the local handler
    and sent everything again.  Recorded instead, the mark is written
    and a copy does nothing."""
    runner = child(children=('gc1', 'gc2'))
    runner.driver.confirms_sends = True
    ran = spy_on(runner, 'broadcast', 'instance_delete_everywhere')
    api.broadcast(ss.ADMIN, 'instance_delete_everywhere',
                  {'instance': {'uuid': str(uuid.uuid4())},
                   'delete_type': 'soft'}, direction='down')
    text = api.driver.sent[-1][2]
    assert not runner.message_from_json(text).passes_through()
    runner.process_json(text, held=True)
    assert runner.driver.sent == [], 'nothing relayed'
    assert sorted(n for _uuid, rows in recorded for n, _d in rows) == [
        'gc1', 'gc2']
    assert recorded[0][0] == uuid_of(text)
    assert uuid_of(text) in inbox_uuids(db)
    assert ran == [uuid_of(text)]
    runner.process_json(text, held=True)        # the broker's redelivery
    assert ran == [uuid_of(text)], 'the local handler ran once'
    assert len(recorded) == 1, 'one transaction for both; none again'
    assert runner.driver.sent == []
    assert tree_support.wait_until(lambda: sorted(
        runner.driver.delivered) == [('gc1', uuid_of(text)),
                                     ('gc2', uuid_of(text))])


@pytest.fixture
def grandchild(tmp_path):
    """``gc`` (its own database), below ``child``: sends updates up."""
    gc_db = db_api.Database('sqlite:///' + str(tmp_path / 'gc.sqlite'))
    migration.db_sync(gc_db)
    yield tree_support.make_runner(gc_db, 'gc', parents=['child'])
    gc_db.dispose()


def update_up(gc, instance_uuid, vm_state):
    """The wire JSON of an ``instance_update_at_top`` ``gc`` sends up."""
    gc.broadcast(ss.ADMIN, 'instance_update_at_top',
                 {'instance': {'uuid': instance_uuid, 'vm_state': vm_state}},
                 'up', run_locally=False)
    return gc.driver.sent[-1][2]


def test_a_held_update_is_not_relayed_past_one_queued_for_its_instance(
        child, db, grandchild, recorded):
    """Two updates of one instance pass up through ``child``.  The
    first's relay failed, so it waits in the outbox (the link to the
    parent not confirming yet); the second, whose relay would succeed,
    must not overtake it: it is recorded behind it, and the parent gets
    them in the order they were sent (relayed at once, the second
    arrived first, and the top kept the older state)."""
    runner = child(resend_interval=0.05)
    runner.driver.confirms_sends = True
    runner.driver.refuse = OSError('broker refused')
    runner.driver.unreachable = OSError('link down')
    instance_uuid = str(uuid.uuid4())
    first = update_up(grandchild, instance_uuid, 'building')
    runner.process_json(first, held=True)
    assert recorded == [(uuid_of(first), [('api', 'up')])]
    runner.driver.refuse = None                 # a relay would go now
    second = update_up(grandchild, instance_uuid, 'active')
    runner.process_json(second, held=True)
    assert runner.driver.sent == [], 'not relayed past the first'
    assert recorded == [(uuid_of(first), [('api', 'up')]),
                        (uuid_of(second), [('api', 'up')])]
    runner.driver.unreachable = None
    assert tree_support.wait_until(
        lambda: len(runner.driver.arrived) >= 2)
    assert runner.driver.arrived == [('api', uuid_of(first)),
                                     ('api', uuid_of(second))]


def test_a_held_build_sent_on_by_the_scheduler_is_recorded(
        api, child, db, recorded):
    """The scheduler's onward build is a new message (not the one
    received): it is recorded with the received build's mark, never
    relayed."""
    runner = child()
    runner.driver.confirms_sends = True
    text = cast_build(api)
    runner.process_json(text, held=True)
    assert recorded == [(uuid_of(text), [('gc', 'down')])]
    assert runner.driver.sent == []


# -- 4. the kombu cells topic: a build held by the broker ---------------------

class _Busy(object):
    target = oslo_messaging.Target(version='1.42')

    @oslo_messaging.expose
    def build_instances(self, ctxt, **kwargs):
        raise exception.MessageNotTaken(uuid='m-1', reason='a copy is '
                                        'being applied')


@pytest.mark.parametrize('call', [False, True], ids=['cast', 'call'])
def test_a_message_not_taken_goes_back_to_the_queue(call):
    """Not acknowledged (nor answered): the broker holds it and it is
    run again after a backoff (it used to be acknowledged as a failure,
    and the build was lost)."""
    server = _server(_Busy())
    body = api_server.encode_call(
        'build_instances', {}, _CTXT, msg_id='m1' if call else None,
        reply_q='reply_q1' if call else None, unique_id='u' * 32,
        version='1.42')
    message = transport_doubles.delivery(body)
    message.decoded = api_server.decode(body)
    assert server._process(message) == lanes.RETRY
    assert message.reply is None


@pytest.fixture
def top(db):
    """A top cell that builds here (a leaf) with durable forwarding."""
    with durable_leaf(db) as parts:
        yield parts


def api_build(db):
    return {'build_inst_kwargs': _api_build(db)}


def consumed(delivery_id=None):
    ctxt = context.RequestContext(user_id='alice', project_id='demo')
    ctxt.delivery_id = delivery_id
    return ctxt


def test_a_build_the_cells_server_consumed_is_not_journalled(
        db, top, recorded):
    """The broker holds the delivery until this returns: no journal row;
    the inbox still finds its copy (same delivery, same uuid)."""
    runner, sched = top
    kwargs = api_build(db)
    runner.targeted_to_myself_durably(consumed('d' * 32), 'build_instances',
                                      kwargs)
    runner.targeted_to_myself_durably(consumed('d' * 32), 'build_instances',
                                      kwargs)
    assert [d for _uuid, rows in recorded for _n, d in rows
            if d == delivery.SELF] == []
    assert len(sched.handoff.calls) == 1


def test_a_consumed_build_not_taken_now_goes_back_to_the_server(db, top):
    """No journal to apply it later from: MessageNotTaken reaches the
    server (which holds the delivery), no row is left behind."""
    runner, sched = top
    sched.handoff.error = db_exc.DBConnectionError()
    with pytest.raises(exception.MessageNotTaken):
        runner.targeted_to_myself_durably(consumed('e' * 32),
                                          'build_instances', api_build(db))
    assert journal(db) == []


def test_a_build_without_a_delivery_id_is_journalled_then_cleared(
        db, top, recorded):
    runner, sched = top
    runner.targeted_to_myself_durably(consumed(), 'build_instances',
                                      api_build(db))
    assert [rows for _uuid, rows in recorded] == [[('gc', delivery.SELF)]]
    assert len(sched.handoff.calls) == 1
    assert tree_support.wait_until(lambda: not journal(db))


# -- 5. a leaf's first instance written with the shared rows it reads ---------

def _news(kwargs=None):
    return new_instance.prepare(sample_ctxt(), kwargs or sample_kwargs(),
                                True)


def _other_instances():
    kwargs = sample_kwargs()
    for instance in kwargs['instances']:
        instance.uuid = str(uuid.uuid4())
    return _news(kwargs)


def test_the_first_instance_is_one_transaction_when_shared_rows_exist(
        nova_db):
    """Every build of a project but its first finds the default group
    and the image's EC2 integer: read and written together."""
    first = _news()[0]
    shared, _created = new_instances.create_first(
        nova_db, first, 'peer-project', 'peer-user')
    new = _other_instances()[0]
    with transactions(nova_db) as counted:
        again, created = new_instances.create_first(
            nova_db, new, 'peer-project', 'peer-user')
    assert len(counted) == 1
    assert again == shared
    assert created.created and created.row['uuid'] == new.uuid
    assert new_instances.load(nova_db, new.uuid).row['id'] == \
        created.row['id']


def test_without_shared_rows_the_first_instance_makes_them(
        nova_db):
    """The project's first build: the default group and the image's
    integer are made (``shared_rows``), then the instance
    (``create_or_load``), and what comes back is what was written."""
    new = _news()[0]
    shared, created = new_instances.create_first(
        nova_db, new, 'peer-project', 'peer-user')
    assert set(shared.groups) == {'default'}
    assert list(shared.s3_ids) == [new.image_refs[0]]
    assert shared == new_instances.shared_rows(
        nova_db, 'peer-project', 'peer-user', new.security_groups,
        new.image_refs)
    loaded = new_instances.load(nova_db, new.uuid, new.image_refs,
                                shared.s3_ids)
    assert created.created
    assert (created.row['id'], created.mapping_id, created.image_ids) == (
        loaded.row['id'], loaded.mapping_id, loaded.image_ids)


def test_a_second_delivery_loads_the_first_instance(
        nova_db):
    new = _news()[0]
    _shared, created = new_instances.create_first(
        nova_db, new, 'peer-project', 'peer-user')
    _shared, again = new_instances.create_first(
        nova_db, _news()[0], 'peer-project', 'peer-user')
    assert not again.created
    assert (again.row['id'], again.mapping_id) == (created.row['id'],
                                                   created.mapping_id)


def statements(db):
    """The SQL text of each statement run on ``db``'s engine inside the
    block."""
    return _events(db, 'before_cursor_execute',
                   lambda _conn, _cursor, text, *_args: text)


def _reads(texts):
    """The tables the SELECTs among ``texts`` read first."""
    return [re.search(r'\bFROM\s+(\w+)', t).group(1) for t in texts
            if t.lstrip().startswith('SELECT')]


def test_known_shared_rows_are_not_read_again(nova_db):
    """A cell that has seen a project's default group and an image's
    EC2 integer writes the next build of them without reading them; a
    project or image it has not seen is read (and made) as before."""
    known = new_instances.KnownRows()
    first = _news()[0]
    shared, _created = new_instances.create_first(
        nova_db, first, 'peer-project', 'peer-user', known)
    with statements(nova_db) as texts:
        again, created = new_instances.create_first(
            nova_db, _other_instances()[0], 'peer-project', 'peer-user',
            known)
    assert _reads(texts) == []
    assert again == shared and created.created
    assert created.image_ids == _created.image_ids
    with statements(nova_db) as texts:
        other, _made = new_instances.create_first(
            nova_db, _other_instances()[0], 'other-project', 'peer-user',
            known)
    assert {'security_groups', 's3_images'} <= set(_reads(texts))
    assert other.groups['default']['id'] != shared.groups['default']['id']
    assert known.find('other-project', ['default'],
                      list(shared.s3_ids)) == other


def test_known_rows_forget_the_least_recently_used():
    known = new_instances.KnownRows(size=2)
    for project in ('p1', 'p2', 'p3'):
        known.learn(project, new_instances.SharedRows(
            groups={'default': {'id': project}}, s3_ids={}))
    assert known.find('p1', ['default'], []) is None
    assert known.find('p3', ['default'], []).groups == {
        'default': {'id': 'p3'}}
    # Another group than the default one is always read again.
    assert known.find('p3', ['default', 'web'], []) is None


# -- 6. the builtin placement: read and claim in one transaction --------------

def _stale(read, host, **values):
    """``read_nodes`` that sees ``host`` as it was (``values``) before
    another build took its room."""
    def read_nodes(conn):
        nodes, services = read(conn)
        return [dict(n, **values) if n['host'] == host else n
                for n in nodes], services
    return read_nodes


def _best_first(nodes, services):
    return [(n, {'host': n['host'], 'node': n['hypervisor_hostname']})
            for n in sorted(nodes, key=lambda n: -n['free_ram_mb'])]


def test_a_node_that_lost_the_race_makes_way_for_the_next(db):
    """The best node as read has no room any more (its claim, a
    conditional UPDATE, finds none): the next is claimed in the same
    transaction, and the full one is not charged."""
    add_host(db, 'h-full', 1024)
    add_host(db, 'h-next', 4096)
    instance = local_instance(db)
    with transactions(db) as counted:
        node, row = db_instances.place_on_best(
            db, _stale(db_api.nodes_and_services, 'h-full',
                       free_ram_mb=65536), _best_first, 2048, 20, 1,
            instance.uuid)
    assert len(counted) == 1
    assert (node['host'], row['host']) == ('h-next', 'h-next')
    assert node_row(db, 'h-full')['free_ram_mb'] == 1024
    assert node_row(db, 'h-next')['free_ram_mb'] == 4096 - 2048


def test_no_node_with_room_places_nothing(db):
    add_host(db, 'h1', 1024)
    instance = local_instance(db)
    assert db_instances.place_on_best(
        db, db_api.nodes_and_services, _best_first, 2048, 20, 1,
        instance.uuid) == (None, None)
    assert db_instances.place_on_best(
        db, db_api.nodes_and_services, lambda nodes, services: [], 2048,
        20, 1, instance.uuid) == (None, None)
    assert node_row(db, 'h1')['free_ram_mb'] == 1024
    assert db_instances.instance_get(db, instance.uuid)['host'] is None


def test_a_missing_instance_charges_no_node(db):
    """The claim and the placement are one transaction: no instance row,
    no charge."""
    add_host(db, 'h1', 4096)
    with pytest.raises(exception.InstanceNotFound):
        db_instances.place_on_best(db, db_api.nodes_and_services,
                                   _best_first, 2048, 20, 1,
                                   str(uuid.uuid4()))
    assert node_row(db, 'h1')['free_ram_mb'] == 4096


def test_builtin_places_in_one_transaction_past_a_lost_race(
        db, monkeypatch):
    add_host(db, 'h-full', 1024)
    add_host(db, 'h-next', 4096)
    handoff, _runner = make_handoff(db)
    instance = local_instance(db)
    monkeypatch.setattr(db_api, 'nodes_and_services', _stale(
        db_api.nodes_and_services, 'h-full', free_ram_mb=65536))
    with transactions(db) as counted:
        handoff._place(ss.ADMIN, instance, small())
    assert len(counted) == 1
    assert instance.host == 'h-next'
    assert db_instances.instance_get(db, instance.uuid)['host'] == 'h-next'


def test_builtin_says_why_no_host_was_found(db):
    add_host(db, 'h-small', 1024)
    add_host(db, 'h-off', 8192, disabled=True)
    add_host(db, 'h-ok', 8192)
    handoff, _runner = make_handoff(db)
    with pytest.raises(exception.NoValidHost) as raised:
        handoff._place(ss.ADMIN, local_instance(db), small(memory_mb=16384))
    assert raised.value.format_message().endswith(
        '0/3 hosts are available: 2 not enough free RAM, '
        '1 service disabled')


def test_a_broadcast_to_two_children_is_recorded_for_both_or_neither(
        api, child, db, recorded, monkeypatch):
    """Each onward row of a durable broadcast in its own transaction, the
    first with the mark, lost the second child's copy when its row could
    not be written: the sender's resend was found marked and dropped.
    Recorded together, the rows and the mark go in or stay out at once."""
    runner = child(children=('gc1', 'gc2'))
    real = db_outbox.outbox_add_many

    def add_many(database, entries, *args, **kwargs):
        if any(entry[1] == 'gc2' for entry in entries):
            raise exception.MessageNotTaken(uuid='x', reason='database: gone')
        return real(database, entries, *args, **kwargs)
    monkeypatch.setattr(db_outbox, 'outbox_add_many', add_many)
    api.broadcast(ss.ADMIN, 'instance_delete_everywhere',
                  {'instance': {'uuid': str(uuid.uuid4())},
                   'delete_type': 'soft'}, direction='down')
    text = api.driver.sent[-1][2]
    with pytest.raises(exception.MessageNotTaken):
        runner.process_json(text)          # the sender keeps it
    assert uuid_of(text) not in inbox_uuids(db), 'not marked: not applied'
    monkeypatch.setattr(db_outbox, 'outbox_add_many', real)
    runner.process_json(text)              # the resend goes to both
    assert tree_support.wait_until(lambda: sorted(runner.driver.delivered) == [
        ('gc1', uuid_of(text)), ('gc2', uuid_of(text))]), \
        runner.driver.delivered
