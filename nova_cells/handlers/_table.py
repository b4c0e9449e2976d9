"""The declared method tables (see the package docstring)."""

from nova_cells import exception

__all__ = ['MethodTable', 'HandlerTables', 'UnknownMethod']

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
