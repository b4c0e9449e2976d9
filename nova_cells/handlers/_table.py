"""The declared method tables (see the package docstring)."""

from nova_cells import exception

__all__ = ['MethodTable', 'HandlerTables', 'UnknownMethod', 'only_where',
           'applies_here', 'records_its_receipt', 'records_receipt_here',
           'claims_late', 'claims_late_here',
           'decodes_its_arguments', 'decodes_itself',
           'guards_its_route', 'RouteGuard', 'route_guard']

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
    up before running it (:class:`nova_cells.messaging.delivery.Inbox`)."""
    def mark(func):
        func.records_receipt_here = predicate
        return func
    return mark


def records_receipt_here(handler, runner):
    """True when ``handler`` is marked :func:`records_its_receipt` and
    this runner's cell is such a place."""
    predicate = getattr(handler, 'records_receipt_here', None)
    return predicate is not None and bool(predicate(runner))


def claims_late(predicate):
    """Mark a handler that, in a cell where ``predicate(runner)`` holds,
    claims the received durable message itself before its first effect,
    on whichever path it takes: in the transaction of its first write
    (:func:`nova_cells.messaging.delivery.pending_claim`), or alone
    before any other effect (:func:`~nova_cells.messaging.delivery.
    claim_late`).  There the inbox does not claim it on arrival, which
    costs a transaction of its own."""
    def mark(func):
        func.claims_late_here = predicate
        return func
    return mark


def claims_late_here(handler, runner):
    """True when ``handler`` is marked :func:`claims_late` and this
    runner's cell is such a place."""
    predicate = getattr(handler, 'claims_late_here', None)
    return predicate is not None and bool(predicate(runner))


def decodes_its_arguments(func):
    """Mark a handler that is given its arguments as they came off the
    wire (primitives) and decodes what it needs itself: an update at the
    top reads a few fields of an instance the wire carries whole.  A
    message made in this cell still hands it objects."""
    func.decodes_itself = True
    return func


def decodes_itself(handler):
    """True when ``handler`` is marked :func:`decodes_its_arguments`."""
    return getattr(handler, 'decodes_itself', False)


class RouteGuard(object):
    """What a cell routing a message on toward a deeper target checks
    first, and does when the message cannot go on (see
    :func:`guards_its_route`)."""

    __slots__ = ('onward', 'refused')

    def __init__(self, onward, refused=None):
        self.onward = onward
        self.refused = refused


def guards_its_route(onward, refused=None):
    """Mark a handler whose message is checked by every cell that passes
    it on toward a deeper ``target_cell``, and fails visibly where it
    cannot go on.

    nova's middle cells routed any targeted message blindly, and one that
    could not be routed was logged and lost: a build pinned through an
    unknown child stayed in "scheduling" for good.  Here:

    * ``onward(runner, message, name)`` raises when the received message
      must not be sent on to the neighbour ``name`` (a build to a child
      that is disabled or draining); its error is the routing failure;
    * ``refused(runner, message, exc, **method_kwargs)``, when given, runs
      in the cell where a received cast cannot go on (that refusal, an
      unknown neighbour, the hop limit, a send that failed), so that the
      failure reaches whoever waits for its effect (a build's instances go
      to ERROR at the top with a fault saying why).
    """
    def mark(func):
        func.route_guard = RouteGuard(onward, refused)
        return func
    return mark


def route_guard(handler):
    """The :class:`RouteGuard` of ``handler``, or None."""
    return getattr(handler, 'route_guard', None)


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
    claims_late_here = staticmethod(claims_late_here)
    decodes_itself = staticmethod(decodes_itself)
    route_guard = staticmethod(route_guard)

    def lookup(self, message_type, name):
        """:raises UnknownMethod: for a name not in the type's table."""
        handler = self.find(message_type, name)
        if handler is None:
            raise UnknownMethod(message_type=message_type, method=name)
        return handler

    def find(self, message_type, name):
        """The handler, or None for a name (or type) not known here: what
        a message passing through asks, where an unknown name is no
        error."""
        table = self._tables.get(message_type)
        return table.get(name) if table is not None else None
