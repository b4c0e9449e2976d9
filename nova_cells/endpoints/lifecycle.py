"""Instance lifecycle actions routed to the instance's cell (start, stop,
reboot, ..., run_compute_api_method, instance_update_from_api).

Endpoint of topic ``cells``; see :mod:`nova_cells.endpoints`.
"""

import oslo_messaging

from nova_cells import manager as cells_manager

__all__ = ['LifecycleEndpoint']


class LifecycleEndpoint(object):
    """Part of the cells RPC API (server side)."""

    target = oslo_messaging.Target(version=cells_manager.RPC_API_VERSION)

    def __init__(self, parts):
        self.parts = parts
        self.runner = parts.runner
        self.state_manager = parts.state_manager

    @classmethod
    def from_parts(cls, parts):
        return cls(parts)
