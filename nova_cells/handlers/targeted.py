"""Targeted message handlers: run in the one cell a message is for (§4.11)."""

from oslo_log import log as logging

from nova_cells.handlers._table import claims_late
from nova_cells.handlers._table import guards_its_route
from nova_cells.handlers._table import MethodTable
from nova_cells.handlers._table import records_its_receipt
from nova_cells.cells import propagation
from nova_cells.cells import reports

__all__ = ['TABLE']

LOG = logging.getLogger(__name__)

TABLE = MethodTable('targeted')


def _push_soon(runner, kind, ctxt):
    pusher = runner.services.pusher
    if pusher is not None:
        pusher.soon(kind, ctxt)
    else:
        propagation.PUSHES[kind](runner, ctxt)


def _reporting_child(runner, message, cell_name, value):
    """The neighbour a report came from, once its value fits the schema
    of its method; None (and one log line) when it must be dropped.

    The report is attributed to the link it came from, the previous hop
    of its routing path (each cell appends itself before sending), never
    to the ``cell_name`` argument, which any sender could set to another
    child's name.
    """
    method = message.method_name
    path = message.routing_path
    sender = path[-2] if len(path) >= 2 else None
    if sender is None or runner.state_manager.get_child_cell(sender) is None:
        LOG.error('Dropped %s %s: not from a child of this cell (routing '
                  'path %s)', method, message.uuid, path)
        return None
    if cell_name != sender:
        LOG.warning('%s %s from child %s names cell %r: taken as %s\'s',
                    method, message.uuid, sender, cell_name, sender)
    reason = reports.PROBLEMS[method][1](value)
    if reason:
        LOG.error('Dropped %s %s from child %s: %s', method, message.uuid,
                  sender, reason)
        return None
    return sender


@TABLE.method
def update_capabilities(runner, message, cell_name, capabilities):
    """A child reported its capabilities; pass our aggregate up soon."""
    sender = _reporting_child(runner, message, cell_name, capabilities)
    if sender is None:
        return
    runner.state_manager.update_cell_capabilities(sender, capabilities)
    _push_soon(runner, 'capabilities', message.ctxt)


@TABLE.method
def update_capacities(runner, message, cell_name, capacities):
    """A child reported its capacities; pass our aggregate up soon."""
    sender = _reporting_child(runner, message, cell_name, capacities)
    if sender is None:
        return
    runner.state_manager.update_cell_capacities(sender, capacities)
    _push_soon(runner, 'capacities', message.ctxt)


@TABLE.method
def announce_capabilities(runner, message):
    """Our parent asked: tell it our capabilities."""
    propagation.tell_parents_our_capabilities(runner, message.ctxt)


@TABLE.method
def announce_capacities(runner, message):
    """Our parent asked: tell it our capacities."""
    propagation.tell_parents_our_capacities(runner, message.ctxt)


def _build_may_go_to(runner, message, name):
    """A build passing through (pinned deeper, sent to the full path as
    nova's top cell sent it) goes on only to a child that takes builds."""
    runner.services.scheduler.check_pinned_child(
        str(message.target_cell), str(message.routing_path), name)


def _build_refused(runner, message, exc, build_inst_kwargs):
    """A build that cannot go on from here: ERROR at the top, with a
    fault saying why (nova logged it; the instances stayed building)."""
    runner.services.scheduler.fail_unrouted(message, build_inst_kwargs, exc)


def _builds_only_below(runner):
    """A cell that is not its own candidate sends every build on, and the
    onward row (or the failure's updates) carries the build's mark; one
    that may build it itself claims it on arrival instead."""
    scheduler = runner.services.scheduler
    return scheduler is not None and not scheduler.may_build_here()


def _builds_here_only(runner):
    """A cell without children builds every build itself: it claims it
    in the transaction of the first instance's rows (a transaction less
    than a claim on arrival), or before any other effect should it
    have gained a child meanwhile (:mod:`nova_cells.scheduler.core`)."""
    return (runner.services.scheduler is not None and
            not runner.state_manager.get_child_cells())


@TABLE.method
@guards_its_route(_build_may_go_to, _build_refused)
@records_its_receipt(_builds_only_below)
@claims_late(_builds_here_only)
def build_instances(runner, message, build_inst_kwargs):
    """Schedule a build in this cell (pick a child or build here)."""
    runner.services.scheduler.build_instances(message, build_inst_kwargs)


@TABLE.method
@guards_its_route(_build_may_go_to)
def explain_build(runner, message, build_inst_kwargs, full_path=None):
    """Dry run of a build from this cell down (nova-cells addition)."""
    return runner.services.scheduler.explain(message, build_inst_kwargs,
                                             full_path)
