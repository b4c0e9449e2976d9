"""The three intercell message types, as nova's JSON (reference §4.2-§4.7).

Each class knows how to route itself and what to do when it reaches its
destination; :class:`nova_cells.messaging.runner.MessageRunner` creates them
(for messages originated here) and rebuilds them from the wire (for messages
received), and gives them the cell's state, transport and handlers.

Every message is rebuilt in each cell it reaches: construction appends this
cell to ``routing_path`` and counts the hop (§4.4).
"""

import copy
import math
import sys
import uuid as uuidlib

from oslo_log import log as logging
from oslo_serialization import jsonutils

from nova_cells import context as cells_context
from nova_cells.messaging import delivery
from nova_cells import exception
from nova_cells.messaging import responses as cells_responses
from nova_cells import routing

__all__ = ['MESSAGE_TYPES', 'MESSAGE_CLASSES', 'check_wire', 'wire_kwargs',
           'TargetedMessage', 'BroadcastMessage', 'ResponseMessage',
           'opposite', 'WAIT_KWARG', 'valid_wait']

LOG = logging.getLogger(__name__)

MESSAGE_TYPES = ('targeted', 'broadcast', 'response')
_DIRECTIONS = ('up', 'down')


MalformedMessage = exception.MalformedMessage

#: The argument of a call (``cell_status``) that says how many seconds its
#: originator waits: every cell on the way waits less than that, not its
#: own ``call_timeout`` (:meth:`~nova_cells.messaging.runner.MessageRunner.
#: wait_timeout`).  Seconds, not a clock time: the cells' clocks may differ.
WAIT_KWARG = 'wait'


def valid_wait(value):
    """``value`` as a wait in seconds (a finite positive number), or
    None when it is not one (absent, or garbage from the wire)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return value


# -- wire schema --------------------------------------------------------------

_COMMON_KEYS = (('ctxt', dict), ('method_name', str),
                ('method_kwargs', dict), ('direction', str),
                ('need_response', bool), ('fanout', bool), ('uuid', str),
                ('routing_path', str), ('hop_count', int),
                ('max_hop_count', int))
_EXTRA_KEYS = {'targeted': (('target_cell', str),),
               'broadcast': (),
               'response': (('target_cell', str), ('response_uuid', str))}

_WIRE_KEYS = {message_type: _COMMON_KEYS + extra
              for message_type, extra in _EXTRA_KEYS.items()}


def _check_wire(data):
    """Return the message type of ``data`` or raise MalformedMessage."""
    msg_uuid = data.get('uuid') if isinstance(data.get('uuid'), str) else '?'
    message_type = data.get('message_type')
    if message_type not in MESSAGE_TYPES:
        raise MalformedMessage(uuid=msg_uuid, reason='unknown message_type '
                               '%r' % (message_type,))
    for key, kind in _WIRE_KEYS[message_type]:
        # Exact types, as JSON gives them (a bool is not an int here).
        value = data.get(key)
        if type(value) is not kind:
            raise MalformedMessage(uuid=msg_uuid, reason='%s must be %s, not '
                                   '%r' % (key, kind.__name__, value))
    if data['direction'] not in _DIRECTIONS:
        raise MalformedMessage(uuid=msg_uuid, reason='direction must be up '
                               'or down')
    if not data['routing_path'] or data['hop_count'] < 0:
        raise MalformedMessage(uuid=msg_uuid, reason='empty routing_path or '
                               'negative hop_count')
    return message_type


# -- messages -----------------------------------------------------------------

class _BaseMessage(object):
    """What every message has; subclasses add routing and processing."""

    message_type = None

    def __init__(self, runner, ctxt, method_name, method_kwargs, direction,
                 need_response=False, fanout=False, uuid=None,
                 routing_path=None, hop_count=0, max_hop_count=None,
                 serialized_kwargs=False):
        self.runner = runner
        if isinstance(ctxt, cells_context.WireContext):
            self._wire_ctxt, self._ctxt = ctxt, None
            self._scope = None
        else:
            self._wire_ctxt, self._ctxt = None, ctxt
            # Made while a received message is applied (its handler's
            # context): recorded with that message's receipt.
            self._scope = delivery.scope_of(ctxt)
        self.method_name = method_name
        self.method_kwargs = method_kwargs
        self.direction = direction
        self.need_response = need_response
        self.fanout = fanout
        self.uuid = uuid or str(uuidlib.uuid4())
        self.hop_count = hop_count + 1
        self.max_hop_count = (runner.settings.max_hop_count
                              if max_hop_count is None else max_hop_count)
        self.routing_path = routing.RoutingPath.parse_and_append(
            routing_path, runner.our_name)
        self.is_broadcast = False
        self._kwargs_are_primitive = serialized_kwargs
        # True when built here by runner.targeted/broadcast/continue_targeted
        # (not received): a failure to send is then returned to the caller.
        self.originated_here = not serialized_kwargs

    @property
    def ctxt(self):
        """The request context; a received message's is rebuilt from its
        wire dict the first time something here reads it."""
        ctxt = self._ctxt
        if ctxt is None:
            ctxt = self._ctxt = self._wire_ctxt.rebuild()
            ctxt.delivery_scope = self._scope
        return ctxt

    @property
    def scope(self):
        """The :class:`~nova_cells.messaging.delivery.Scope` this message's
        sends are recorded in: the received message's being applied when
        made by its handler, else its own."""
        scope = self._scope
        if scope is None:
            scope = delivery.Scope()
            self.apply_in(scope)
        return scope

    def apply_in(self, scope):
        """This received message is applied in ``scope`` (its receipt):
        its context, and so every message its handler makes, carries it.
        A context made elsewhere is copied first, not changed (a caller
        may use it again)."""
        self._scope = scope
        if self._ctxt is not None:
            self._ctxt = copy.copy(self._ctxt)
            self._ctxt.delivery_scope = scope

    def outgoing_context(self):
        """The context to send on: a received message's as it came (made
        safe, :class:`~nova_cells.context.WireContext`), whether or not it
        was read here, so that every cell on the way forwards the same one;
        one made here, without what must not leave the cell.  Its
        ``to_dict()`` is the ``ctxt`` of the wire and of the envelope."""
        if self._wire_ctxt is not None:
            return self._wire_ctxt
        return self._ctxt.for_other_cell()

    def source_is_us(self):
        return len(self.routing_path) == 1

    def passes_through(self):
        """True when this cell's only part in the message is to send it on
        to a single neighbour: nothing runs here.  Then the onward outbox
        row, which marks the message received in the same transaction, is
        the whole effect, and a second copy is refused when that mark is
        written; :class:`~nova_cells.messaging.delivery.Inbox` needs no lookup
        first.
        """
        return False

    def finds_its_copies(self):
        """True when a second copy of this message is refused where its
        effect is written, so that
        :class:`~nova_cells.messaging.delivery.Inbox`
        need not look it up first: it passes through (the onward row
        carries the mark), or its handler here writes the mark with its
        effect (:func:`~nova_cells.handlers._table.records_its_receipt`).
        """
        if self.passes_through():
            return True
        handler = self._handler_or_none()
        return handler is not None and \
            self.runner.handlers.records_receipt_here(handler, self.runner)

    def claims_late(self):
        """True when this cell's handler of the message claims it itself,
        before its first effect, instead of the inbox on arrival
        (:func:`~nova_cells.handlers._table.claims_late`): a leaf claims a
        build with the first rows it writes."""
        if self.passes_through():
            return False
        handler = self._handler_or_none()
        return handler is not None and \
            self.runner.handlers.claims_late_here(handler, self.runner)

    def _handler_or_none(self):
        """This cell's handler of the method, or None when unknown here
        (processing the message then says so, in the usual way)."""
        return self.runner.handlers.find(self.message_type, self.method_name)

    def caller_wait(self):
        """The seconds the originator of this call waits for its answer,
        when it said (its :data:`WAIT_KWARG` argument), else None."""
        if not self.need_response or not isinstance(self.method_kwargs,
                                                    dict):
            return None
        return valid_wait(self.method_kwargs.get(WAIT_KWARG))

    def describe(self):
        """uuid, method, path and hops: what an operator follows in logs."""
        return ('%s message %s %s(...) path=%s hop=%d/%d'
                % (self.message_type, self.uuid, self.method_name,
                   self.routing_path, self.hop_count, self.max_hop_count))

    # -- wire -----------------------------------------------------------------

    def _wire_kwargs(self):
        if self._kwargs_are_primitive:
            return self.method_kwargs
        serializer = self.runner.serializer
        return {k: serializer.serialize_entity(self.ctxt, v)
                for k, v in self.method_kwargs.items()}

    def to_dict(self):
        """nova's message JSON keys, in nova's order (§4.2)."""
        return {'message_type': self.message_type,
                'ctxt': self.outgoing_context().to_dict(),
                'method_name': self.method_name,
                'method_kwargs': self._wire_kwargs(),
                'direction': self.direction,
                'need_response': self.need_response,
                'fanout': self.fanout,
                'uuid': self.uuid,
                'routing_path': str(self.routing_path),
                'hop_count': self.hop_count,
                'max_hop_count': self.max_hop_count}

    def to_json(self):
        """The wire JSON; built once per message (a broadcast sends the same
        text to every neighbour; only ``fanout`` may change before a send)."""
        cached = getattr(self, '_json', None)
        if cached is None or cached[0] != self.fanout:
            cached = self._json = (self.fanout,
                                   jsonutils.dumps(self.to_dict()))
        return cached[1]

    # -- local processing -----------------------------------------------------

    def _local_kwargs(self):
        if not self._kwargs_are_primitive:
            return self.method_kwargs
        serializer = self.runner.serializer
        return {k: serializer.deserialize_entity(self.ctxt, v)
                for k, v in self.method_kwargs.items()}

    def process_locally(self):
        """Run the method here; return a Response (never raises)."""
        try:
            handler = self.runner.handlers.lookup(self.message_type,
                                                  self.method_name)
            if not self.runner.handlers.applies_here(handler, self.runner):
                # Nothing to do here (an update on its way to the top):
                # neither its arguments nor its context are rebuilt.
                return cells_responses.Response(
                    self._ctxt or self._wire_ctxt, str(self.routing_path),
                    None, False)
            kwargs = (self.method_kwargs
                      if self.runner.handlers.decodes_itself(handler)
                      else self._local_kwargs())
            value = handler(self.runner, self, **kwargs)
            return cells_responses.Response(self.ctxt, str(self.routing_path),
                                            value, False)
        except Exception:
            exc = sys.exc_info()[1]
            delivery.note_failure(self._scope, exc)
            if not isinstance(exc, exception.NovaCellsException) or \
                    not getattr(exc, 'expected', False):
                LOG.exception('Error processing %s', self.describe())
            return cells_responses.Response.from_exception(
                self.ctxt, str(self.routing_path), exc)

    def _respond(self, responses, target_path):
        """Send ``responses`` (JSON strings) back along ``target_path``."""
        message = _ResponseMessage(
            self.runner, self.outgoing_context(), 'parse_responses',
            {'orig_message': self.to_json(), 'responses': responses},
            _opposite(self.direction), target_cell=target_path,
            response_uuid=self.uuid, serialized_kwargs=True)
        message.process()

    def _failure(self, exc):
        return cells_responses.Response.from_exception(
            self.ctxt, str(self.routing_path), exc)


def _opposite(direction):
    return 'down' if direction == 'up' else 'up'


class _TargetedMessage(_BaseMessage):
    """A message for one cell, routed along ``target_cell`` (§4.5)."""

    message_type = 'targeted'

    def __init__(self, runner, ctxt, method_name, method_kwargs, direction,
                 target_cell, **kwargs):
        super(_TargetedMessage, self).__init__(runner, ctxt, method_name,
                                               method_kwargs, direction,
                                               **kwargs)
        self.target_cell = self._resolve_target(target_cell)

    def _resolve_target(self, target_cell):
        if target_cell is None:
            raise exception.CellRoutingInconsistency(
                reason='No cell given in routing path.')
        if hasattr(target_cell, 'is_me'):
            if target_cell.is_me:
                return routing.RoutingPath([self.runner.our_name])
            return routing.RoutingPath([self.runner.our_name,
                                        target_cell.name])
        return routing.RoutingPath.parse(target_cell)

    def to_dict(self):
        data = super(_TargetedMessage, self).to_dict()
        data['target_cell'] = str(self.target_cell)
        return data

    def _next_hop(self):
        """The neighbour to send to, or "me" (§4.5)."""
        if self.target_cell == self.routing_path:
            return self.runner.state_manager.get_my_state()
        here = len(self.routing_path)
        if len(self.target_cell) < here or \
                not self.target_cell.startswith(self.routing_path):
            raise exception.CellRoutingInconsistency(
                reason='destination is %s but routing_path is %s'
                % (self.target_cell, self.routing_path))
        name = self.target_cell[here]
        cell = self.runner.neighbour(self.direction, name)
        if cell is None:
            raise exception.CellRoutingInconsistency(
                reason='Unknown %s when routing to %s'
                % ('parent' if self.direction == 'up' else 'child',
                   self.target_cell))
        return cell

    def passes_through(self):
        return self.target_cell != self.routing_path

    def process(self):
        """Route or run; return a Response at the originator of a call."""
        try:
            self._check_onward()
            next_hop = self._next_hop()
        except Exception as exc:
            return self._cannot_go_on(exc)
        if next_hop.is_me:
            return self._send_response(self.process_locally())
        waiting = self.need_response and self.source_is_us()
        slot = self.runner.slots.open(self.uuid) if waiting else None
        try:
            self._forward(next_hop)
        except Exception as exc:
            delivery.note_failure(self._scope, exc)
            self.runner.slots.close(self.uuid)
            return self._cannot_go_on(exc)
        if slot is None:
            return None
        return self._wait_one(slot, next_hop)

    def _route_guard(self):
        return self.runner.handlers.route_guard(self._handler_or_none())

    def _check_onward(self):
        """A received message going on toward a deeper target: its
        handler's route guard (:func:`~nova_cells.handlers._table.
        guards_its_route`) checks the next neighbour's name first, before
        the lookup, so that an unknown one is refused with the guard's own
        reason.  Nothing for a message that is for this cell, or that this
        cell originated (its sender checked already)."""
        if self.originated_here or not self.passes_through():
            return
        here = len(self.routing_path)
        if len(self.target_cell) <= here or \
                not self.target_cell.startswith(self.routing_path):
            return          # not routable at all: _next_hop says why
        guard = self._route_guard()
        if guard is not None:
            guard.onward(self.runner, self, self.target_cell[here])

    def _cannot_go_on(self, exc):
        """Routing failed here.  A received cast whose handler guards its
        route runs the guard's ``refused``, so that the failure is seen
        where it matters (nova only logged it); a retriable error is not
        a refusal (the sender sends the message again).  Then the failure
        is answered, returned or logged, as for any message."""
        if not (self.originated_here or self.need_response or
                delivery.is_retriable(exc)):
            self._refused(exc)
        return self._send_response(self._failure(exc))

    def _refused(self, exc):
        guard = self._route_guard()
        if guard is None or guard.refused is None:
            return
        try:
            guard.refused(self.runner, self, exc, **self._local_kwargs())
        except Exception as hook_exc:
            # A database that cannot record the failure now: the sender
            # keeps the message and sends it again.
            delivery.note_failure(self._scope, hook_exc)
            if not delivery.is_retriable(hook_exc):
                LOG.exception('%s cannot go on, and failing it visibly '
                              'failed too', self.describe())

    def _forward(self, next_hop):
        if self.hop_count >= self.max_hop_count:
            raise exception.CellMaxHopCountReached(hop_count=self.hop_count)
        if LOG.isEnabledFor(logging.DEBUG):
            LOG.debug('Forwarding %s to %s', self.describe(), next_hop.name)
        self.runner.send(next_hop, self)

    def _wait_one(self, slot, next_hop):
        try:
            received, _missing = slot.wait(self.runner.wait_timeout(self))
        finally:
            self.runner.slots.close(self.uuid)
        if not received:
            return self._failure(exception.CellTimeout(
                cell_name=str(self.target_cell)))
        return self.runner.decode_response(self.ctxt, received[0])

    def _send_response(self, response):
        """Return it here, send it back, or (no answer wanted) log it."""
        if self.source_is_us() or (self.originated_here and
                                   not self.need_response):
            return response
        if not self.need_response:
            if response.failure:
                LOG.error('%s failed: %s', self.describe(), response.value)
            return None
        target = routing.response_cell_name_from_path(self.routing_path)
        self._respond([self.runner.encode_response(response)], target)
        return None


class _BroadcastMessage(_BaseMessage):
    """A message for every cell in one direction (§4.6)."""

    message_type = 'broadcast'

    def __init__(self, runner, ctxt, method_name, method_kwargs, direction,
                 run_locally=True, **kwargs):
        super(_BroadcastMessage, self).__init__(runner, ctxt, method_name,
                                                method_kwargs, direction,
                                                **kwargs)
        self.run_locally = run_locally
        self.is_broadcast = True

    def _next_hops(self):
        """(neighbours to send to, neighbours cut off by the hop limit)."""
        hops = self.runner.neighbours(self.direction)
        if hops and self.hop_count >= self.max_hop_count:
            LOG.warning('%s: max_hop_count reached, not sent to %s',
                        self.describe(), ', '.join(c.name for c in hops))
            return [], hops
        return hops, []

    def passes_through(self):
        if self.need_response or len(self.runner.neighbours(
                self.direction)) != 1:
            return False
        if not self.run_locally:
            return True
        handler = self._handler_or_none()
        return handler is not None and \
            not self.runner.handlers.applies_here(handler, self.runner)

    def process(self):
        next_hops, cut_off = self._next_hops()
        if not self.need_response:
            return self._process_cast(next_hops)
        slot = self.runner.slots.open(self.uuid, [c.name for c in next_hops])
        failures = [self._neighbour_failure(
            c, exception.CellMaxHopCountReached(hop_count=self.hop_count))
            for c in cut_off]
        for cell in next_hops:
            try:
                self.runner.send(cell, self)
            except Exception as exc:
                LOG.error('%s: sending to %s failed: %s', self.describe(),
                          cell.name, exc)
                slot.put(cell.name, [self._neighbour_failure(cell, exc)])
        local = [self.runner.encode_response(self.process_locally())] \
            if self.run_locally else []
        try:
            received, missing = slot.wait(self.runner.wait_timeout(self))
        finally:
            self.runner.slots.close(self.uuid)
        failures += [self._neighbour_failure(
            c, exception.CellTimeout(cell_name=self._path_of(c)))
            for c in next_hops if c.name in missing]
        return self._send_responses(received + failures + local)

    def _process_cast(self, next_hops):
        if self.run_locally:
            response = self.process_locally()
            if response.failure:
                LOG.error('%s failed here: %s', self.describe(),
                          response.value)
        # One outbox transaction for every neighbour, with the mark: a
        # resend found marked has reached every one of them.
        with self.runner.sending_together(self):
            for cell in next_hops:
                try:
                    self.runner.send(cell, self)
                except Exception as exc:
                    delivery.note_failure(self._scope, exc)
                    LOG.error('%s: sending to %s failed: %s',
                              self.describe(), cell.name, exc)
        return None

    def _path_of(self, cell):
        return str(self.routing_path.append(cell.name))

    def _neighbour_failure(self, cell, exc):
        response = cells_responses.Response.from_exception(
            self.ctxt, self._path_of(cell), exc)
        return self.runner.encode_response(response)

    def _send_responses(self, json_responses):
        if self.source_is_us():
            return [self.runner.decode_response(self.ctxt, r)
                    for r in json_responses]
        target = routing.response_cell_name_from_path(self.routing_path,
                                                      neighbor_only=True)
        self._respond(json_responses, target)
        return None


class _ResponseMessage(_TargetedMessage):
    """Answers travelling back to a waiting cell (§4.7)."""

    message_type = 'response'

    def __init__(self, runner, ctxt, method_name, method_kwargs, direction,
                 target_cell, response_uuid, **kwargs):
        super(_ResponseMessage, self).__init__(runner, ctxt, method_name,
                                               method_kwargs, direction,
                                               target_cell, **kwargs)
        self.response_uuid = response_uuid

    def to_dict(self):
        data = super(_ResponseMessage, self).to_dict()
        data['response_uuid'] = self.response_uuid
        return data

    def process(self):
        try:
            next_hop = self._next_hop()
        except Exception as exc:
            LOG.error('Cannot route %s: %s', self.describe(), exc)
            return None
        if next_hop.is_me:
            response = self.process_locally()
            if response.failure:
                LOG.error('%s failed: %s', self.describe(), response.value)
            return None
        if not self.fanout and len(self.routing_path) + 1 == \
                len(self.target_cell):
            # NOTE(nova-cells): the last hop fans out, so that whichever
            # worker of the target cell holds the waiting slot receives it.
            self.fanout = True
        try:
            self.runner.send(next_hop, self)
        except Exception as exc:
            LOG.error('Cannot forward %s to %s: %s', self.describe(),
                      next_hop.name, exc)
        return None


MESSAGE_CLASSES = {'targeted': _TargetedMessage,
                   'broadcast': _BroadcastMessage,
                   'response': _ResponseMessage}


TargetedMessage = _TargetedMessage
BroadcastMessage = _BroadcastMessage
ResponseMessage = _ResponseMessage
check_wire = _check_wire
opposite = _opposite


_CONSTRUCTOR_KEYS = {
    message_type: tuple(k for k, _t in keys if k != 'ctxt')
    for message_type, keys in _WIRE_KEYS.items()}


def wire_kwargs(message_type):
    """The constructor keywords a received message of this type carries
    (a tuple made once per type)."""
    return _CONSTRUCTOR_KEYS[message_type]
