"""What a kombu send raises when the neighbour's broker did not take a
message: the caller must not count it as delivered."""

from nova_cells import exception

__all__ = ['NotTaken', 'MessageTooLarge', 'Unroutable', 'NotConfirmed',
           'BrokerUnreachable']


class NotTaken(exception.NovaCellsException):
    """The neighbour's broker did not confirm the message."""

    msg_fmt = 'Message %(uuid)s was not taken by %(where)s: %(reason)s'
    #: True when the broker may have taken it all the same (no answer in
    #: time): a message for an original nova-cells is then not sent again.
    outcome_unknown = False


class MessageTooLarge(NotTaken):
    msg_fmt = ('Message %(uuid)s of %(size)d bytes exceeds max_message_size '
               '%(limit)d; not sent to %(where)s')


class Unroutable(NotTaken):
    """Returned by the broker: no queue is bound for it (the neighbour's
    daemon never declared its queues, and they are not durable)."""


class NotConfirmed(NotTaken):
    """Nacked by the broker, or no confirmation in time."""


class BrokerUnreachable(NotTaken):
    """No connection to the neighbour's broker (after the retries)."""
