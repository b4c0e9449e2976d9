"""CellsManager: the RPC endpoint on topic ``cells``, and the periodic tasks.

Thin on purpose: it receives, validates and delegates to the state manager
(and, as the project grows, to the message runner and the scheduler).  Only
methods marked ``@expose`` can be called over RPC (oslo.messaging's explicit
access policy), so private helpers cannot be reached from the wire.
"""

from oslo_log import log as logging
import oslo_messaging
from oslo_service import periodic_task

from nova_cells import api_methods
from nova_cells.objects import build_payload
from nova_cells.cells import cell_admin as cell_admin_mod
from nova_cells import exception
from nova_cells.messaging import messages
from nova_cells.top import heal
from nova_cells import policy
from nova_cells.cells import propagation

__all__ = ['CellsManager', 'RPC_API_VERSION']

LOG = logging.getLogger(__name__)

# NOTE(nova-cells): nova Stein's CellsManager served 1.38; methods this
# project adds come at later minor versions (nova_cells.api_methods, and
# doc/rpc-api.rst): 1.39 get_cell_status, 1.40 explain_build, 1.41
# get_cell_status(wait), 1.42 get_build_trace.
RPC_API_VERSION = api_methods.SERVER_VERSION

# Only a method declared in nova_cells.api_methods can be exposed.
expose = api_methods.expose
# Refusals a cell admin caller gets back as such (no traceback logged here:
# the refusal itself is logged once, by nova_cells.cells.cell_admin).
_admin_refusals = oslo_messaging.expected_exceptions(
    exception.PolicyNotAuthorized, exception.CellLinkChangeRefused,
    exception.InvalidCellValues, exception.CellNotFound,
    exception.CellExists, exception.CellsUpdateUnsupported)


class CellsManager(periodic_task.PeriodicTasks):
    """Handles RPC calls from nova-api and the cell's own services."""

    target = oslo_messaging.Target(version=RPC_API_VERSION)

    def __init__(self, conf, state_manager, msg_runner,
                 parent_update_interval=60, heal_interval=60,
                 healer=None, lost_builds=None, cell_admin=None):
        """:param healer: the top's :class:`nova_cells.top.heal.Healer`,
            the one the runner's handlers use (default: one with the
            default settings).
        :param cell_admin: a :class:`nova_cells.cells.cell_admin.CellAdmin`
            (default: policy from ``conf``, signing mode ``[cells]
            signing``)."""
        super(CellsManager, self).__init__(conf)
        self.state_manager = state_manager
        self.cell_admin = cell_admin or cell_admin_mod.CellAdmin(
            state_manager, policy.CellPolicy(conf), conf.cells.signing)
        self.msg_runner = msg_runner
        self.lost_builds = lost_builds
        self.healer = healer if healer is not None else heal.Healer(
            msg_runner)
        # NOTE(nova-cells): nova's _update_our_parents ran every 60 s with no
        # option; [cells] parent_update_interval makes it tunable per
        # instance (the class-level spacing table is shadowed, not changed).
        self._periodic_spacing = dict(self._periodic_spacing)
        self._periodic_spacing['_update_our_parents'] = parent_update_interval
        self._periodic_spacing['_heal_instances'] = heal_interval

    def post_start_hook(self, ctxt):
        """Once listening: a cell with children asks them to announce; a
        leaf tells its parents at once (reference §1.5)."""
        if self.state_manager.get_child_cells():
            propagation.ask_children_for_capabilities(self.msg_runner, ctxt)
            propagation.ask_children_for_capacities(self.msg_runner, ctxt)
        else:
            propagation.update_our_parents(self.msg_runner, ctxt)

    # -- neighbours and capacities (1.1, 1.9) ------------------------------

    @expose
    def get_cell_info_for_neighbors(self, ctxt):
        """Return the info of every child, then every parent cell."""
        return self.state_manager.get_cell_info_for_neighbors()

    @expose
    def get_capacities(self, ctxt, cell_name=None):
        """Return our (aggregated) capacities, or one child's."""
        return self.state_manager.get_capacities(cell_name)

    # -- builds (1.8, 1.30, 1.32, 1.34) ---------------------------------------

    @expose
    def build_instances(self, ctxt, build_inst_kwargs):
        """Schedule a build from this cell: a targeted message to myself,
        journalled before anything else happens to it (durable forwarding:
        a daemon killed while scheduling lost it).  On the kombu transport
        nova-api's cast is acknowledged only once this returns, and a copy
        delivered again after a kill is the same message (its uuid comes
        from the delivery:
        :func:`~nova_cells.messaging.runner.delivered_uuid`);
        oslo.messaging acknowledges it before this runs.

        Older payloads (flavor dict before 1.30, instance dicts before
        1.32, primitive BDMs before 1.34) are upgraded to objects first.
        """
        kwargs = build_payload.upgrade(build_inst_kwargs)
        self.msg_runner.targeted_to_myself_durably(
            ctxt, 'build_instances', {'build_inst_kwargs': kwargs})

    @expose
    def explain_build(self, ctxt, build_inst_kwargs):
        """Where a build would go and why, at every level (1.40, new)."""
        kwargs = build_payload.upgrade(build_inst_kwargs)
        response = self.msg_runner.targeted(
            ctxt, self.state_manager.get_my_state(), 'explain_build',
            {'build_inst_kwargs': kwargs}, need_response=True)
        return response.value_or_raise()

    @expose
    def get_build_trace(self, ctxt, request_id, wait=None):
        """Broadcast down: what each cell's scheduler decided for the
        builds of ``request_id`` (1.42, new), with one failure per cell
        that did not answer (within ``wait`` seconds, as
        :meth:`get_cell_status`)."""
        return _gather_down(self.msg_runner, ctxt, 'build_trace',
                            {'request_id': request_id}, wait)

    @expose
    def get_cell_status(self, ctxt, wait=None):
        """Broadcast down: every reachable cell's own status, plus one
        failure per cell that did not answer (1.39, new).

        :param wait: seconds the caller waits (1.41): the broadcast waits
            no longer, and tells the cells below (each waits less), so a
            dead cell is reported in time, not after ``call_timeout`` at
            every level.
        """
        return _gather_down(self.msg_runner, ctxt, 'cell_status', {}, wait)

    # -- neighbour administration (1.13) -----------------------------------

    # Checked by policy, by the link rules of signing and by the values'
    # rules, answered without secrets: :mod:`nova_cells.cells.cell_admin`.

    @expose
    @_admin_refusals
    def cell_create(self, ctxt, values):
        return self.cell_admin.create(ctxt, values)

    @expose
    @_admin_refusals
    def cell_update(self, ctxt, cell_name, values):
        return self.cell_admin.update(ctxt, cell_name, values)

    @expose
    @_admin_refusals
    def cell_delete(self, ctxt, cell_name):
        return self.cell_admin.delete(ctxt, cell_name)

    @expose
    @_admin_refusals
    def cell_get(self, ctxt, cell_name):
        return self.cell_admin.get(ctxt, cell_name)

    # -- periodic tasks ----------------------------------------------------

    @periodic_task.periodic_task
    def _update_our_parents(self, ctxt):
        """Push our capabilities and capacities to our parents."""
        propagation.update_our_parents(self.msg_runner, ctxt)

    @periodic_task.periodic_task
    def _heal_instances(self, ctxt):
        """Send a few of this cell's instances to the top (reference §8.2):
        repairs the top after lost updates; the top itself does nothing."""
        self.healer.heal(ctxt)

    @periodic_task.periodic_task
    def _refresh_cell_state(self, ctxt):
        """Keep neighbours and own capacity fresh even when nobody asks.

        nova refreshed lazily on access only, so a quiet cell reported stale
        capacity; this runs the same paced refresh every minute.
        """
        self.state_manager.get_my_state()

    @periodic_task.periodic_task
    def _end_lost_builds(self, ctxt):
        """At the top: instances in scheduling with no cell past ``[cells]
        scheduling_timeout``, whose build no outbox here holds, go to ERROR
        with a fault (:mod:`nova_cells.top.lost_builds`; nova left them
        building for good)."""
        if self.lost_builds is not None and \
                not self.state_manager.get_parent_cells():
            self.lost_builds.sweep()

    @periodic_task.periodic_task(spacing=3600)
    def _purge_inbox(self, ctxt):
        """Forget applied message uuids older than a day (durable
        forwarding); a resend comes within minutes."""
        inbox = self.msg_runner.inbox
        if inbox is not None:
            purged = inbox.purge()
            if purged:
                LOG.debug('Purged %d old cell_inbox rows', purged)

    def reset(self):
        """SIGHUP: re-read the cell list (and the JSON file) at once."""
        self.state_manager.sync(force=True)


def _gather_down(runner, ctxt, method_name, kwargs, wait):
    """Broadcast ``method_name`` down and run it here; the answers and one
    failure per cell that did not answer (within ``wait`` seconds when
    given: :data:`~nova_cells.messaging.messages.WAIT_KWARG`)."""
    wait = messages.valid_wait(wait)
    if wait is not None:
        kwargs = dict(kwargs, **{messages.WAIT_KWARG: wait})
    responses = runner.broadcast(ctxt, method_name, kwargs,
                                 direction='down', need_response=True,
                                 run_locally=True)
    return _split_responses(responses)


def _split_responses(responses):
    """Answers as ``{'cells': [...], 'failures': [...]}`` plain data."""
    cells, failures = [], []
    for response in responses:
        if response.failure:
            exc = response.value
            # The first line only: a remote failure carries the other
            # daemon's traceback, which belongs in that daemon's log.
            text = str(getattr(exc, 'message', exc)).strip()
            failures.append({'cell_name': response.cell_name,
                             'class': type(exc).__name__,
                             'message': text.splitlines()[0] if text
                             else type(exc).__name__})
        else:
            cells.append({'cell_name': response.cell_name,
                          'value': response.value})
    return {'cells': cells, 'failures': failures}
