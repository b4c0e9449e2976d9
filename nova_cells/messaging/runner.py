"""Intercell messages and the MessageRunner that routes them (reference §4).

Three message types travel between neighbouring cells as nova's JSON:

* targeted: routed hop by hop along ``target_cell`` (a full path);
* broadcast: sent to every child (``down``) or parent (``up``), run in
  each cell reached, answers gathered hop by hop;
* response: a targeted message back to whoever waits for an answer.

Every message is rebuilt in each cell it reaches; construction appends this
cell to ``routing_path`` and counts the hop (§4.4).  What each method does
in a cell lives in :mod:`nova_cells.handlers`, looked up in a declared table
per message type; the wire cannot reach anything else.

Differences from nova, on purpose (each with its §10 item):

* ``to_json`` never mutates the message (§10.6); the context sent to other
  cells has no auth token or service catalog (§10.4);
* a received message that is malformed, loops back through this cell, or
  names an unknown method is logged with its uuid and answered with a
  failure when an answer is expected; it never stops the server;
* a broadcast hop that times out keeps what arrived and names each silent
  cell (§10.2), and each hop waits a little less than the one above it, so
  that failures reach the originator before it gives up (§10.3);
* a broadcast cut short by ``max_hop_count`` says so in a failure per cell
  not reached, instead of silently truncating (§10.8).
"""

import contextlib
import uuid as uuidlib

from oslo_log import log as logging

from nova_cells import context as cells_context
from nova_cells.messaging import delivery
from nova_cells import exception
from nova_cells.messaging import messages
from nova_cells.messaging import responses as cells_responses
from nova_cells import routing
from nova_cells import wire_guard
from nova_cells.messaging import services as cell_services

__all__ = ['MessageRunner', 'RunnerSettings', 'MESSAGE_TYPES',
           'MalformedMessage', 'delivered_uuid']

MESSAGE_TYPES = messages.MESSAGE_TYPES
MalformedMessage = exception.MalformedMessage
# For tests and tools that build messages by hand.
_TargetedMessage = messages.TargetedMessage
_BroadcastMessage = messages.BroadcastMessage
_ResponseMessage = messages.ResponseMessage

LOG = logging.getLogger(__name__)


# Names the uuids of messages made from an RPC delivery (uuid5).
_DELIVERY_NAMESPACE = uuidlib.UUID('5b0c2b6e-6f4e-4d0a-9d1c-3c6e2f1a7c41')


def delivered_uuid(ctxt, method_name):
    """The uuid of the message the RPC delivery behind ``ctxt`` becomes:
    the same for every copy of that delivery (a server that acknowledges
    after handling delivers one again when its daemon died half way), so
    that the copy is found in the inbox; None (a fresh uuid) when no copy
    can come."""
    delivery_id = getattr(ctxt, 'delivery_id', None)
    if not delivery_id:
        return None
    return str(uuidlib.uuid5(_DELIVERY_NAMESPACE,
                             '%s:%s' % (method_name, delivery_id)))


# Of the caller's wait, the share each hop below waits: room for the
# answers of a level to travel up before the level above gives up.
_WAIT_SHARE = 0.75


class RunnerSettings(object):
    """The options the runner obeys; rebuilt on SIGHUP."""

    def __init__(self, max_hop_count=10, call_timeout=60,
                 max_message_size=8 * 1024 * 1024):
        self.max_hop_count = max_hop_count
        self.call_timeout = call_timeout
        self.max_message_size = max_message_size

    @classmethod
    def from_conf(cls, conf):
        return cls(max_hop_count=conf.cells.max_hop_count,
                   call_timeout=conf.cells.call_timeout,
                   max_message_size=conf.cells.max_message_size)


# The guard every inbound parse goes through (kept under its old name for
# the tools that build messages by hand).
MAX_NESTING = wire_guard.MAX_NESTING


class MessageRunner(object):
    """Originates, receives and routes messages for one cell.

    :param our_name: this cell's name (``[cells] name``).
    :param state_manager: the :class:`nova_cells.cells.state.CellStateManager`.
    :param driver: a :class:`nova_cells.transport.rpc_driver.BaseCellsDriver`.
    :param handlers: a :class:`nova_cells.handlers.HandlerTables`.
    :param serializer: the object serializer for ``method_kwargs``.
    :param settings: :class:`RunnerSettings`.
    """

    def __init__(self, our_name, state_manager, driver, handlers, serializer,
                 settings=None):
        self.our_name = our_name
        self.state_manager = state_manager
        self.driver = driver
        self.handlers = handlers
        self.serializer = serializer
        self.settings = settings or RunnerSettings()
        self.slots = cells_responses.ResponseSlots()
        # Filled by the assembly (:mod:`.services`).
        self.services = cell_services.CellServices()
        # Set by the assembly when [cells] durable_forwarding is on.
        self.outbox = None
        self.inbox = None

    # -- neighbours --------------------------------------------------------

    def neighbours(self, direction):
        if direction == 'up':
            return self.state_manager.get_parent_cells()
        return self.state_manager.get_child_cells()

    def neighbour(self, direction, name):
        if direction == 'up':
            return self.state_manager.get_parent_cell(name)
        return self.state_manager.get_child_cell(name)

    def send(self, cell_state, message):
        """Cast to a neighbour; a durable message goes through the outbox
        (recorded, then sent until confirmed,
        :mod:`nova_cells.messaging.delivery`),
        unless it passes through on a delivery the broker holds until it
        is processed, to a cell of ours: then it is sent on at once,
        confirmed by the neighbour's broker (:meth:`_relay`)."""
        if self.outbox is None or not delivery.is_durable(message):
            self.driver.send_message_to_cell(cell_state, message)
        elif not self._relay(cell_state, message):
            self.outbox.post(cell_state, message)

    def sending_together(self, message):
        """A block whose durable sends of ``message`` (and of what its
        handler makes) are recorded in one transaction
        (:meth:`nova_cells.messaging.delivery.Outbox.together`; nothing
        without durable forwarding)."""
        if self.outbox is None:
            return contextlib.nullcontext()
        return self.outbox.together(message.scope)

    def _relay(self, cell_state, message):
        """Send a received durable message on without an outbox row; True
        when its neighbour's broker confirmed it.  Only with a driver whose
        sends are confirmed, on a held delivery (a daemon dying before the
        acknowledgement gets it again and sends it again: the cell that
        applies it finds the copy), to a neighbour that deduplicates (an
        original one gets each message once, from the outbox), when the
        outbox holds nothing of the same instance for it (which the relay
        would overtake).  Any failure falls back to the outbox."""
        if not (self.driver.confirms_sends and
                delivery.relays_directly(message)) or \
                self.outbox.holds_for(message.direction, cell_state.name,
                                      message):
            return False
        try:
            if not self.driver.is_ours(cell_state):
                return False
            self.driver.send_message_to_cell(cell_state, message)
        except Exception as exc:  # noqa - the outbox keeps it instead
            LOG.info('%s not relayed to %s at once (%s); recording it',
                     message.describe(), cell_state.name,
                     exc.__class__.__name__)
            return False
        delivery.relayed(message)
        return True

    def _count(self, message):
        """Count a received message (a method this cell does not know is
        counted as ``unknown``: names from the wire must not grow the
        metrics without bound)."""
        known = self.handlers.find(message.message_type,
                                   message.method_name) is not None
        self.services.metrics.message_received(
            message.message_type, message.method_name if known else 'unknown')

    def wait_timeout(self, message):
        """Seconds a hop waits: a little less at each hop below the
        originator, so that failures flow up before the originator quits.

        A call whose originator said how long it waits
        (:meth:`~nova_cells.messaging.messages._BaseMessage.caller_wait`,
        ``tree --timeout``) waits no longer than that, and each hop below
        a quarter less than the one above: a dead cell is reported within
        the caller's wait, not after ``call_timeout`` at each level.
        """
        timeout = self.settings.call_timeout
        depth = max(message.hop_count - 1, 0)
        # Integer division: a received max_hop_count may be any JSON integer
        # (10**400 overflows a float); past the limit, do not wait at all.
        hops = message.max_hop_count + 1
        if depth >= hops:
            return 0.0
        timeout = timeout * (1.0 - depth / hops)
        wait = message.caller_wait()
        if wait is not None:
            timeout = min(timeout, wait * _WAIT_SHARE ** min(depth, 1000))
        return timeout

    # -- responses -----------------------------------------------------------

    def encode_response(self, response):
        return response.to_json(self.serializer)

    def decode_response(self, ctxt, json_response):
        """Decode one answer; garbage from a neighbour becomes a failure."""
        try:
            return cells_responses.Response.from_json(ctxt, json_response,
                                                      self.serializer)
        except Exception as exc:  # noqa - never let a bad answer escape
            LOG.error('Undecodable response: %s', exc)
            return cells_responses.Response.from_exception(
                ctxt, '?', MalformedMessage(
                    uuid='?', reason='undecodable response: %s' % exc))

    def put_responses(self, message, response_uuid, json_responses):
        """Hand answers to the waiting slot, keyed by the sending neighbour."""
        return self.slots.put(response_uuid, message.routing_path.first,
                              json_responses)

    # -- originating ----------------------------------------------------------

    def targeted(self, ctxt, target_cell, method_name, method_kwargs,
                 direction='down', need_response=False, fanout=False):
        """Send a targeted message; a Response when ``need_response``."""
        message = messages.TargetedMessage(
            self, ctxt, method_name, method_kwargs, direction, target_cell,
            need_response=need_response, fanout=fanout)
        return message.process()

    def targeted_to_myself_durably(self, ctxt, method_name, method_kwargs):
        """Apply a cast this cell sends itself (a build nova-api cast),
        journalled first: with durable forwarding, the message is written
        to the outbox (the journal) before anything happens to it, applied
        through the inbox (claimed, marked), and its journal row cleared;
        if this cell cannot apply it now, or dies meanwhile, it is applied
        again later, once
        (:meth:`~nova_cells.messaging.delivery.Outbox.journal`).
        A build the kombu ``cells`` server consumed (its context has a
        ``delivery_id``) is held by the broker instead, and not
        journalled.
        Without durable forwarding, as nova: processed at once."""
        message = messages.TargetedMessage(
            self, ctxt, method_name, method_kwargs, 'down',
            self.state_manager.get_my_state(),
            uuid=delivered_uuid(ctxt, method_name))
        if self.outbox is None or self.inbox is None:
            return message.process()
        if getattr(ctxt, 'delivery_id', None):
            # Consumed by the kombu ``cells`` server, which acknowledges
            # it once this returns: the broker is its journal.
            # MessageNotTaken goes back to that server (run again later).
            self.inbox.receive(message, held=True)
            return None
        row_id = self.outbox.journal(message)
        try:
            self.inbox.receive(message)
        except exception.MessageNotTaken as exc:
            LOG.warning('%s; applying it again later', exc)
            self.outbox.journal_retry(row_id, message)
            return None
        self.outbox.journal_done(row_id)
        return None

    def process_own(self, json_message):
        """Apply again a message this cell journalled for itself (its
        wire JSON), through the inbox: a copy already applied is found
        there.  :raises MessageNotTaken: not now (tried again later)."""
        data = wire_guard.loads(json_message)
        message = messages.TargetedMessage(
            self, cells_context.WireContext(data['ctxt']),
            data['method_name'], data['method_kwargs'], data['direction'],
            data['target_cell'], uuid=data['uuid'],
            max_hop_count=data['max_hop_count'], serialized_kwargs=True)
        return self.inbox.receive(message)

    def continue_targeted(self, message, target_cell, method_name,
                          method_kwargs, direction='down'):
        """Send a new cast that carries on ``message``'s routing path.

        Used by the scheduler to forward a build: the grandchild then sees
        the full path from the top (``api!child!gc``), so hints naming full
        paths mean the same at every level, and the hop count runs from the
        top.  The wire is unchanged (an original cell routes it as usual).
        Returns a failure Response if it could not be sent, else None.
        """
        path = message.routing_path
        forwarded = messages.TargetedMessage(
            self, message.ctxt, method_name, method_kwargs, direction,
            target_cell, routing_path=str(routing.RoutingPath(path[:-1])),
            hop_count=message.hop_count - 1,
            max_hop_count=message.max_hop_count)
        return forwarded.process()

    def broadcast(self, ctxt, method_name, method_kwargs, direction='down',
                  need_response=False, run_locally=True, fanout=False):
        """Broadcast; a list of Responses (one per cell) when answered."""
        message = messages.BroadcastMessage(
            self, ctxt, method_name, method_kwargs, direction,
            run_locally=run_locally, need_response=need_response,
            fanout=fanout)
        return message.process()

    # -- receiving ------------------------------------------------------------

    def check_size(self, json_message):
        """Raise MalformedMessage if the message is over
        ``max_message_size`` (before anything parses it)."""
        limit = self.settings.max_message_size
        size = wire_guard.wire_size(json_message, limit)
        if size is not None and size > limit:
            raise exception.MessageTooLarge(size=size, limit=limit)

    def message_from_json(self, json_message):
        """Rebuild a received message; raises MalformedMessage."""
        self.check_size(json_message)
        return self._parse_sized(json_message)

    def _parse_sized(self, json_message, parsed=None):
        """:meth:`message_from_json` once the size has been checked
        (``parsed``: ``json_message`` already through ``wire_guard.loads``,
        or None)."""
        # Nesting is checked on the text, before the parse (wire_guard).
        data = wire_guard.loads(json_message) if parsed is None else parsed
        if not isinstance(data, dict):
            raise MalformedMessage(uuid='?', reason='not a JSON object')
        message_type = messages.check_wire(data)
        path = routing.RoutingPath.parse(data['routing_path'])
        if path.contains(self.our_name):
            raise MalformedMessage(uuid=data['uuid'], reason='loop: %s '
                                   'already passed through %s'
                                   % (path, self.our_name))
        try:
            return self._build(message_type, data)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise MalformedMessage(uuid=data['uuid'], reason=str(exc))

    def _build(self, message_type, data):
        kwargs = {k: data[k] for k in messages.wire_kwargs(message_type)}
        ctxt = cells_context.WireContext(data['ctxt'])
        message_cls = messages.MESSAGE_CLASSES[message_type]
        return message_cls(self, ctxt, serialized_kwargs=True, **kwargs)

    def refuse_oversized(self, json_message):
        """Log and raise ``MessageTooLarge`` for a message over
        ``max_message_size``: the first check of every inbound path (the
        signature check reads the sender only after it).

        Not parsed, not even to answer: that is the point of the limit.
        Raised, so that a sender waiting for a confirmation keeps it (and
        reports it) instead of counting it delivered.
        """
        try:
            self.check_size(json_message)
        except exception.MessageTooLarge as exc:
            LOG.error('Rejected intercell message: %s', exc)
            raise

    def process_json(self, json_message, held=False, parsed=None):
        """Entry point of the intercell servers.

        Errors are logged, never raised, except
        :class:`~nova_cells.exception.MessageNotTaken`: a durable
        message this
        cell could not apply now, which the sender must keep and resend.

        :param held: the delivery is acknowledged only once this returns
            (:func:`nova_cells.messaging.delivery.relays_directly`).
        :param parsed: what ``wire_guard.loads(json_message)`` returned,
            when the transport parsed it already (to order it), or None.
        """
        self.refuse_oversized(json_message)
        try:
            message = self._parse_sized(json_message, parsed)
        except Exception as exc:
            LOG.error('Rejected intercell message: %s', exc)
            self._answer_rejected(json_message, exc)
            return None
        self._count(message)
        try:
            if self.inbox is not None and delivery.is_durable(message):
                return self.inbox.receive(message, held=held)
            return message.process()
        except exception.MessageNotTaken as exc:
            # The sender keeps it and sends it again (an RPC error).
            LOG.warning('%s', exc)
            raise
        except Exception:
            LOG.exception('Unexpected error processing %s',
                          message.describe())
            return None

    def _answer_rejected(self, json_message, exc):
        """Tell a waiting originator why its message was rejected, when the
        message says enough to route an answer back."""
        try:
            data = wire_guard.loads(json_message)
            if not (isinstance(data, dict) and data.get('need_response')
                    and data.get('message_type') in ('targeted',
                                                     'broadcast')):
                return
            path = routing.RoutingPath.parse(data['routing_path'])
            if not path or path.contains(self.our_name):
                return
            try:
                ctxt = cells_context.RequestContext.from_dict(data['ctxt'])
            except Exception:  # noqa - the context itself was the problem
                ctxt = cells_context.RequestContext()
            here = str(path.append(self.our_name))
            response = cells_responses.Response.from_exception(ctxt, here,
                                                               exc)
            reply = messages.ResponseMessage(
                self, ctxt, 'parse_responses',
                {'orig_message': json_message,
                 'responses': [self.encode_response(response)]},
                messages.opposite(data['direction']),
                target_cell=routing.response_cell_name_from_path(
                    here, neighbor_only=data['message_type'] == 'broadcast'),
                response_uuid=data['uuid'], routing_path=None,
                serialized_kwargs=True)
            reply.process()
        except Exception as reply_exc:  # noqa - best effort only
            LOG.debug('Could not answer rejected message: %s', reply_exc)
