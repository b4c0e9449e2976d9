"""Response message handlers (reference §4.13)."""

from nova_cells.handlers import MethodTable

__all__ = ['TABLE']

TABLE = MethodTable('response')


@TABLE.method
def parse_responses(runner, message, orig_message, responses):
    """Hand the answers to the slot waiting for the original message.

    ``orig_message`` is unused (nova sent it too; kept for the wire).
    """
    runner.put_responses(message, message.response_uuid, responses)
