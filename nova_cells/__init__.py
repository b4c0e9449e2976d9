"""nova-cells: a faithful re-implementation of OpenStack's cells v1 service.

``TOPIC`` is the RPC topic nova-api and the compute cells use to reach the
local nova-cells daemon, as ``nova.cells.TOPIC`` was.
"""

from nova_cells import _backend

__all__ = ['TOPIC']

TOPIC = 'cells'

_backend.install_default_hook()
