"""The parts of a cell that its intercell handlers reach through the runner.

The handlers run inside the message runner, below the scheduler, the top
writer and the hand-offs in the layers; they reach those through this
object, filled in one place (:func:`nova_cells.service.assembly.
build_cell`) once the runner exists (the parts need the runner to send).
Fields, not string keys: a misspelt name fails where it is written.
Their types live in the layers above, so they are named here, not
imported.
"""

import dataclasses

from nova_cells.messaging import metrics as cell_metrics

__all__ = ['CellServices']


@dataclasses.dataclass(slots=True)
class CellServices(object):
    """One cell's parts, for its handlers (tests fill what they use)."""

    #: the cell's :class:`~nova_cells.db.api.Database`
    db: object = None
    #: the :class:`~nova_cells.scheduler.CellsScheduler`
    scheduler: object = None
    #: the compute hand-off of lifecycle actions
    #: (:mod:`nova_cells.handoff.compute`)
    compute: object = None
    #: ``(get_transport, exchange)`` of the cell's own broker (proxied RPCs,
    #: console checks)
    local_rpc: tuple = None
    #: the top's :class:`~nova_cells.top.heal.Healer`
    healer: object = None
    #: the :class:`~nova_cells.cells.propagation.CoalescingPusher`
    pusher: object = None
    #: the API cell's :class:`~nova_cells.top.topwriter.TopWriter`
    top_writer: object = None
    #: the cell's :class:`~nova_cells.messaging.metrics.Counters`
    metrics: cell_metrics.Counters = dataclasses.field(
        default_factory=cell_metrics.Counters)
