"""Intercell messaging: the message runner, the message types, their
wire form, routing and responses, and exactly-once delivery (inbox and
outbox).

``nova_cells.messaging.MessageRunner`` is nova's entry-point name.
"""

from nova_cells.messaging.runner import MessageRunner  # noqa: F401

__all__ = ['MessageRunner']
