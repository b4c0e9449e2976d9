"""What each intercell method does in the cell it reaches.

One declared table per message type (targeted, broadcast, response), filled
by the ``@TABLE.method`` decorator in the modules of this package.  A
message can only name a method in the table of its own type: nothing else
is reachable from the wire (nova looked methods up with ``getattr``, which
exposed private helpers to any neighbour).

A handler is ``handler(runner, message, **method_kwargs)``; ``runner`` gives
it the cell's state manager and services, ``message`` its context and path.
"""

from nova_cells.handlers._table import HandlerTables
from nova_cells.handlers._table import MethodTable
from nova_cells.handlers._table import UnknownMethod
from nova_cells.handlers import broadcast
from nova_cells.handlers import lifecycle  # noqa: F401 - registers handlers
from nova_cells.handlers import queries  # noqa: F401 - registers handlers
from nova_cells.handlers import response
from nova_cells.handlers import sync  # noqa: F401 - registers handlers
from nova_cells.handlers import targeted

__all__ = ['MethodTable', 'HandlerTables', 'UnknownMethod', 'default_tables']


def default_tables():
    """Fresh copies of the built-in tables (callers may add to them)."""
    return HandlerTables(targeted.TABLE.copy(), broadcast.TABLE.copy(),
                         response.TABLE.copy())
