"""Client-side parts of :class:`nova_cells.rpcapi.CellsAPI`, one per area.

Each mixin uses ``self.client`` (an oslo.messaging RPCClient on topic
``cells`` with the version cap) and ``self.can_send_version``.
"""
