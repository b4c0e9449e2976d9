"""Stand-ins for the broker side of the kombu transport in unit tests:
deliveries as the consumer makes them, and a consumer that records how
each was settled instead of acknowledging it on a channel."""

from nova_cells.transport import consumer


def delivery(body):
    """A delivery as the consumer makes one (no channel: not settled on a
    broker here)."""
    return consumer.Delivery(None, 1, body)


class RecordingConsumer(object):
    """Records ``(delivery, requeue, reply)`` for each settlement."""

    def __init__(self):
        self.settled = []

    def settle(self, delivery, requeue=False, reply=None):
        self.settled.append((delivery, requeue, reply))
