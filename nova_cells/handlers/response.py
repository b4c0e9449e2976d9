"""Response message handlers (reference §4.13)."""

from nova_cells import exception
from nova_cells.handlers._table import MethodTable

__all__ = ['TABLE']

TABLE = MethodTable('response')


@TABLE.method
def parse_responses(runner, message, orig_message, responses):
    """Hand the answers to the slot waiting for the original message.

    ``orig_message`` is unused (nova sent it too; kept for the wire).
    """
    if not isinstance(responses, list) or \
            not all(isinstance(r, str) for r in responses):
        raise exception.MalformedMessage(
            uuid=message.uuid, reason='responses must be a list of strings')
    runner.put_responses(message, message.response_uuid, responses)
