"""Targeted message handlers: run in the one cell a message is for (§4.11)."""

from nova_cells.handlers._table import guards_its_route
from nova_cells.handlers._table import MethodTable
from nova_cells import propagation

__all__ = ['TABLE']

TABLE = MethodTable('targeted')


def _push_soon(runner, kind, ctxt):
    pusher = runner.services.get('pusher')
    if pusher is not None:
        pusher.soon(kind, ctxt)
    else:
        propagation.PUSHES[kind](runner, ctxt)


@TABLE.method
def update_capabilities(runner, message, cell_name, capabilities):
    """A child reported its capabilities; pass our aggregate up soon."""
    runner.state_manager.update_cell_capabilities(cell_name, capabilities)
    _push_soon(runner, 'capabilities', message.ctxt)


@TABLE.method
def update_capacities(runner, message, cell_name, capacities):
    """A child reported its capacities; pass our aggregate up soon."""
    runner.state_manager.update_cell_capacities(cell_name, capacities)
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
    runner.services['scheduler'].check_pinned_child(
        str(message.target_cell), str(message.routing_path), name)


def _build_refused(runner, message, exc, build_inst_kwargs):
    """A build that cannot go on from here: ERROR at the top, with a
    fault saying why (nova logged it; the instances stayed building)."""
    runner.services['scheduler'].fail_unrouted(message, build_inst_kwargs,
                                               exc)


@TABLE.method
@guards_its_route(_build_may_go_to, _build_refused)
def build_instances(runner, message, build_inst_kwargs):
    """Schedule a build in this cell (pick a child or build here)."""
    runner.services['scheduler'].build_instances(message, build_inst_kwargs)


@TABLE.method
@guards_its_route(_build_may_go_to)
def explain_build(runner, message, build_inst_kwargs, full_path=None):
    """Dry run of a build from this cell down (nova-cells addition)."""
    return runner.services['scheduler'].explain(message, build_inst_kwargs,
                                                full_path)
