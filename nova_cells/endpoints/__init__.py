"""More endpoints of topic ``cells``, one module per area of the API.

:class:`nova_cells.manager.CellsManager` keeps the core (builds, capacities,
neighbours, the periodic tasks); the rest of nova's Cells RPC API lives in
the endpoints below, each a small class with ``@expose``d methods and the
same target version.  oslo.messaging's dispatcher finds a method on
whichever endpoint has it, so nova-api sees one API.
"""

from nova_cells.endpoints import lifecycle
from nova_cells.endpoints import queries
from nova_cells.endpoints import sync

__all__ = ['ENDPOINT_CLASSES', 'build_endpoints']

ENDPOINT_CLASSES = (queries.QueryEndpoint, lifecycle.LifecycleEndpoint,
                    sync.SyncEndpoint)


def build_endpoints(parts):
    """Instances of every endpoint class for one cell's parts."""
    return [cls.from_parts(parts) for cls in ENDPOINT_CLASSES]
