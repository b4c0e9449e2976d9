"""What each intercell method does in the cell it reaches.

One declared table per message type (targeted, broadcast, response), filled
by the ``@TABLE.method`` decorator in the modules of this package.  A
message can only name a method in the table of its own type: nothing else
is reachable from the wire (nova looked methods up with ``getattr``, which
exposed private helpers to any neighbour).

A handler is ``handler(runner, message, **method_kwargs)``; ``runner`` gives
it the cell's state manager and services, ``message`` its context and path.
"""

__all__ = ['MethodTable', 'HandlerTables', 'UnknownMethod', 'default_tables']

from nova_cells import exception


UnknownMethod = exception.UnknownMethod


class MethodTable(object):
    """name -> handler, for one message type."""

    def __init__(self, message_type):
        self.message_type = message_type
        self._handlers = {}

    def method(self, func_or_name):
        """Decorator registering a handler under its (or the given) name."""
        if callable(func_or_name):
            self._handlers[func_or_name.__name__] = func_or_name
            return func_or_name

        def register(func):
            self._handlers[func_or_name] = func
            return func
        return register

    def get(self, name):
        return self._handlers.get(name)

    def names(self):
        return sorted(self._handlers)

    def copy(self):
        table = MethodTable(self.message_type)
        table._handlers = dict(self._handlers)
        return table


class HandlerTables(object):
    """The three tables a runner dispatches through."""

    def __init__(self, targeted, broadcast, response):
        self._tables = {'targeted': targeted, 'broadcast': broadcast,
                        'response': response}

    def table(self, message_type):
        return self._tables[message_type]

    def lookup(self, message_type, name):
        """:raises UnknownMethod: for a name not in the type's table."""
        handler = self._tables[message_type].get(name)
        if handler is None:
            raise UnknownMethod(message_type=message_type, method=name)
        return handler


def default_tables():
    """Fresh copies of the built-in tables (callers may add to them)."""
    from nova_cells.handlers import broadcast
    from nova_cells.handlers import response
    from nova_cells.handlers import targeted

    return HandlerTables(targeted.TABLE.copy(), broadcast.TABLE.copy(),
                         response.TABLE.copy())
