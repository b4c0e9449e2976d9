"""Intercell handlers: sync (registered in the targeted and broadcast
tables; see :mod:`nova_cells.handlers`)."""

from nova_cells.handlers import broadcast  # noqa: F401 - tables to fill
from nova_cells.handlers import targeted  # noqa: F401

__all__ = []
