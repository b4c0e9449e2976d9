"""Capabilities and capacities flowing up the tree (reference §8.1).

Leaves push on start-up and periodically; a middle cell pushes its
aggregated view as soon as a child reports.  Parents ask their children to
announce when they start.  All four are fire-and-forget targeted messages,
capabilities as lists (sets do not travel in JSON), fanout up so that every
worker of the parent cell updates its state.
"""

from oslo_log import log as logging

__all__ = ['tell_parents_our_capabilities', 'tell_parents_our_capacities',
           'ask_children_for_capabilities', 'ask_children_for_capacities',
           'update_our_parents']

LOG = logging.getLogger(__name__)


def _tell_parents(runner, ctxt, method_name, kwargs):
    for parent in runner.state_manager.get_parent_cells():
        response = runner.targeted(ctxt, parent, method_name, kwargs,
                                   direction='up', fanout=True)
        if response is not None and response.failure:
            LOG.warning('%s to parent %s failed: %s', method_name,
                        parent.name, response.value)


def _ask_children(runner, ctxt, method_name):
    for child in runner.state_manager.get_child_cells():
        response = runner.targeted(ctxt, child, method_name, {},
                                   direction='down')
        if response is not None and response.failure:
            LOG.warning('%s to child %s failed: %s', method_name,
                        child.name, response.value)


def tell_parents_our_capabilities(runner, ctxt):
    capabilities = runner.state_manager.get_our_capabilities()
    as_lists = {name: sorted(values) for name, values in capabilities.items()}
    _tell_parents(runner, ctxt, 'update_capabilities',
                  {'cell_name': runner.our_name, 'capabilities': as_lists})


def tell_parents_our_capacities(runner, ctxt):
    _tell_parents(runner, ctxt, 'update_capacities',
                  {'cell_name': runner.our_name,
                   'capacities': runner.state_manager.get_our_capacities()})


def ask_children_for_capabilities(runner, ctxt):
    _ask_children(runner, ctxt, 'announce_capabilities')


def ask_children_for_capacities(runner, ctxt):
    _ask_children(runner, ctxt, 'announce_capacities')


def update_our_parents(runner, ctxt):
    """The periodic push (and a leaf's start-up push)."""
    tell_parents_our_capabilities(runner, ctxt)
    tell_parents_our_capacities(runner, ctxt)
