"""What every endpoint of topic ``cells`` shares: the target version and
the cell's parts."""

import oslo_messaging

from nova_cells import manager as cells_manager

__all__ = ['BaseEndpoint']


class BaseEndpoint(object):
    """Part of the cells RPC API (server side)."""

    target = oslo_messaging.Target(version=cells_manager.RPC_API_VERSION)

    def __init__(self, parts):
        self.parts = parts
        self.runner = parts.runner
        self.state_manager = parts.state_manager

    @classmethod
    def from_parts(cls, parts):
        return cls(parts)
