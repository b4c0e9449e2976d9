"""Client methods of the cells RPC API: sync (see nova_cells.rpcapi)."""

__all__ = ['SyncClient']


class SyncClient(object):
    """Mixed into :class:`nova_cells.rpcapi.CellsAPI`."""
