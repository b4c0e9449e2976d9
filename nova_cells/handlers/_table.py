"""The declared method tables (see the package docstring)."""

from nova_cells import exception

__all__ = ['MethodTable', 'HandlerTables', 'UnknownMethod', 'only_where',
           'applies_here', 'records_its_receipt', 'records_receipt_here']

UnknownMethod = exception.UnknownMethod


def only_where(predicate):
    """Mark a handler that has nothing to do in a cell where
    ``predicate(runner)`` is false: there the message passes through
    without its arguments being decoded (an instance update crossing a
    middle cell on its way to the top costs no object deserialization).
    The handler must still answer None where it does nothing, as it may
    be called directly."""
    def mark(func):
        func.applies_here = predicate
        return func
    return mark


def applies_here(handler, runner):
    """False when ``handler`` is marked :func:`only_where` and this
    runner's cell is not such a place."""
    predicate = getattr(handler, 'applies_here', None)
    return predicate is None or bool(predicate(runner))


def records_its_receipt(predicate):
    """Mark a handler whose write, in a cell where ``predicate(runner)``
    holds, carries the received durable message's inbox mark in its own
    transaction, and finds a second copy of the message there (the mark
    refused, nothing applied).  There the inbox need not look the message
    up before running it (:class:`nova_cells.delivery.Inbox`)."""
    def mark(func):
        func.records_receipt_here = predicate
        return func
    return mark


def records_receipt_here(handler, runner):
    """True when ``handler`` is marked :func:`records_its_receipt` and
    this runner's cell is such a place."""
    predicate = getattr(handler, 'records_receipt_here', None)
    return predicate is not None and bool(predicate(runner))


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

    applies_here = staticmethod(applies_here)
    records_receipt_here = staticmethod(records_receipt_here)

    def lookup(self, message_type, name):
        """:raises UnknownMethod: for a name not in the type's table."""
        handler = self._tables[message_type].get(name)
        if handler is None:
            raise UnknownMethod(message_type=message_type, method=name)
        return handler
