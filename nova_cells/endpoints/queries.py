"""Queries and administration across cells (services, compute nodes, task
logs, actions, migrations, keypairs, consoles, BDM and bandwidth updates at
the top).

Endpoint of topic ``cells``; see :mod:`nova_cells.endpoints`.
"""

import oslo_messaging

from nova_cells import manager as cells_manager

__all__ = ['QueryEndpoint']


class QueryEndpoint(object):
    """Part of the cells RPC API (server side)."""

    target = oslo_messaging.Target(version=cells_manager.RPC_API_VERSION)

    def __init__(self, parts):
        self.parts = parts
        self.runner = parts.runner
        self.state_manager = parts.state_manager

    @classmethod
    def from_parts(cls, parts):
        return cls(parts)
