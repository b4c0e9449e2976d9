"""Client methods of the cells RPC API: queries (see nova_cells.rpcapi)."""

__all__ = ['QueriesClient']


class QueriesClient(object):
    """Mixed into :class:`nova_cells.rpcapi.CellsAPI`."""
