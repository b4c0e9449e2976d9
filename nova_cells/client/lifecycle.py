"""Client methods of the cells RPC API: lifecycle (see nova_cells.rpcapi)."""

__all__ = ['LifecycleClient']


class LifecycleClient(object):
    """Mixed into :class:`nova_cells.rpcapi.CellsAPI`."""
