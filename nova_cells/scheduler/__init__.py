"""The cell scheduler: picking a child cell (or this one) for a build,
its selection, split plans, server groups, dry run and explanations.

``nova_cells.scheduler.CellsScheduler`` is nova's entry-point name.
"""

from nova_cells.scheduler.core import CellsScheduler  # noqa: F401

__all__ = ['CellsScheduler']
