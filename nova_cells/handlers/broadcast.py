"""Broadcast message handlers: run in every cell a broadcast reaches (§4.12).

``cell_status`` is this project's addition (nova had no way to see the
tree): each cell answers with what it knows of itself and of its
neighbours, and the caller assembles the tree from the response paths.
An original nova-cells answers it with an unknown-method failure, which the
tree shows as such.
"""

import functools

from oslo_utils import timeutils

from nova_cells.db import instances as db_instances
from nova_cells.handlers._table import decodes_its_arguments
from nova_cells.handlers._table import MethodTable
from nova_cells.handlers._table import only_where
from nova_cells.handlers._table import records_its_receipt
from nova_cells.top import instances

__all__ = ['TABLE']

TABLE = MethodTable('broadcast')


def _neighbour_status(cell, mute_interval, now):
    info = cell.db_info
    return {'name': cell.name,
            'is_parent': cell.is_parent,
            'last_seen': None if cell.last_seen.year == 1
            else cell.last_seen.isoformat(),
            'mute': cell.is_mute(mute_interval, now),
            'state': cell.admin_state,
            'state_reason': cell.admin_state_reason,
            'weight_offset': info.get('weight_offset'),
            'weight_scale': info.get('weight_scale')}


@TABLE.method
def build_trace(runner, message, request_id, wait=None):
    """What this cell's scheduler decided for the builds of
    ``request_id`` (:mod:`nova_cells.scheduler.trace`; new in
    nova-cells); ``wait`` as for :func:`cell_status`."""
    scheduler = runner.services.scheduler
    trace = getattr(scheduler, 'trace', None)
    return trace.find(request_id) if trace is not None else []


@TABLE.method
def cell_status(runner, message, wait=None):
    """This cell's own view: capacities, capabilities and neighbours.

    ``wait`` (the seconds the caller waits) is for the message, which
    waits no longer for the cells below (:meth:`~nova_cells.messaging.
    runner.MessageRunner.wait_timeout`).
    """
    manager = runner.state_manager
    me = manager.get_my_state()
    now = timeutils.utcnow()
    mute_interval = manager.settings.mute_child_interval
    return {
        'name': runner.our_name,
        'capabilities': {k: sorted(v)
                         for k, v in manager.get_our_capabilities(
                             include_children=False).items()},
        'capacities': manager.get_our_capacities(include_children=False),
        'aggregated_capacities': manager.get_our_capacities(),
        'children': [_neighbour_status(c, mute_interval, now)
                     for c in manager.get_child_cells()],
        'parents': [_neighbour_status(c, mute_interval, now)
                    for c in manager.get_parent_cells()],
        'updated_at': (me.last_seen.isoformat()
                       if me.last_seen.year > 1 else None),
        'instances': db_instances.instance_count_by_vm_state(
            runner.services.db),
    }


def _at_top(runner):
    return not runner.state_manager.get_parent_cells()


def _top_writer_marks(runner):
    """The top's TopWriter writes each update with its message's mark."""
    return _at_top(runner) and runner.services.top_writer is not None


@TABLE.method
@only_where(_at_top)
@records_its_receipt(_top_writer_marks)
@decodes_its_arguments
def instance_update_at_top(runner, message, instance):
    """Top only: apply a change from below; ``cell_name`` is the reversed
    routing path (the full path from the top to the cell that sent it).
    Of the instance, only what the update reads is decoded (the whole,
    only to create a missing row: :func:`~nova_cells.top.instances.
    decode_update`)."""
    if not _at_top(runner):
        return None
    cell_name = str(message.routing_path.reversed())
    instance, whole = instances.decode_update(
        instance, functools.partial(runner.serializer.deserialize_entity,
                                    message.ctxt))
    writer = runner.services.top_writer
    if writer is not None:
        writer.update_at_top(instance, cell_name, message.scope, whole)
    else:
        instances.update_at_top(runner.services.db, instance, cell_name,
                                whole)


@TABLE.method
@only_where(_at_top)
def instance_destroy_at_top(runner, message, instance):
    """Top only: the instance is gone below."""
    if _at_top(runner):
        instances.destroy_at_top(runner.services.db, instance.uuid)


@TABLE.method
@only_where(_at_top)
def instance_fault_create_at_top(runner, message, instance_fault):
    """Top only: record why an instance went wrong below."""
    if _at_top(runner):
        instances.fault_create_at_top(runner.services.db, instance_fault)
