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

import sys
import uuid as uuidlib

from oslo_log import log as logging
from oslo_serialization import jsonutils

from nova_cells import context as cells_context
from nova_cells import exception
from nova_cells import responses as cells_responses
from nova_cells import routing

__all__ = ['MessageRunner', 'RunnerSettings', 'MESSAGE_TYPES',
           'MalformedMessage']

LOG = logging.getLogger(__name__)

MESSAGE_TYPES = ('targeted', 'broadcast', 'response')
_DIRECTIONS = ('up', 'down')


MalformedMessage = exception.MalformedMessage


class RunnerSettings(object):
    """The options the runner obeys; rebuilt on SIGHUP."""

    def __init__(self, max_hop_count=10, call_timeout=60):
        self.max_hop_count = max_hop_count
        self.call_timeout = call_timeout

    @classmethod
    def from_conf(cls, conf):
        return cls(max_hop_count=conf.cells.max_hop_count,
                   call_timeout=conf.cells.call_timeout)


# -- wire schema ---------------------------------------------------------------

_COMMON_KEYS = (('ctxt', dict), ('method_name', str),
                ('method_kwargs', dict), ('direction', str),
                ('need_response', bool), ('fanout', bool), ('uuid', str),
                ('routing_path', str), ('hop_count', int),
                ('max_hop_count', int))
_EXTRA_KEYS = {'targeted': (('target_cell', str),),
               'broadcast': (),
               'response': (('target_cell', str), ('response_uuid', str))}


def _check_wire(data):
    """Return the message type of ``data`` or raise MalformedMessage."""
    msg_uuid = data.get('uuid') if isinstance(data.get('uuid'), str) else '?'
    message_type = data.get('message_type')
    if message_type not in MESSAGE_TYPES:
        raise MalformedMessage(uuid=msg_uuid, reason='unknown message_type '
                               '%r' % (message_type,))
    for key, kind in _COMMON_KEYS + _EXTRA_KEYS[message_type]:
        value = data.get(key)
        if not isinstance(value, kind) or (kind is int and
                                           isinstance(value, bool)):
            raise MalformedMessage(uuid=msg_uuid, reason='%s must be %s, not '
                                   '%r' % (key, kind.__name__, value))
    if data['direction'] not in _DIRECTIONS:
        raise MalformedMessage(uuid=msg_uuid, reason='direction must be up '
                               'or down')
    if not data['routing_path'] or data['hop_count'] < 0:
        raise MalformedMessage(uuid=msg_uuid, reason='empty routing_path or '
                               'negative hop_count')
    return message_type


# -- messages ------------------------------------------------------------------

class _BaseMessage(object):
    """What every message has; subclasses add routing and processing."""

    message_type = None

    def __init__(self, runner, ctxt, method_name, method_kwargs, direction,
                 need_response=False, fanout=False, uuid=None,
                 routing_path=None, hop_count=0, max_hop_count=None,
                 serialized_kwargs=False):
        self.runner = runner
        self.ctxt = ctxt
        self.method_name = method_name
        self.method_kwargs = method_kwargs
        self.direction = direction
        self.need_response = need_response
        self.fanout = fanout
        self.uuid = uuid or str(uuidlib.uuid4())
        self.hop_count = hop_count + 1
        self.max_hop_count = (runner.settings.max_hop_count
                              if max_hop_count is None else max_hop_count)
        self.routing_path = routing.RoutingPath.parse(routing_path).append(
            runner.our_name)
        self.is_broadcast = False
        self._kwargs_are_primitive = serialized_kwargs
        # True when built here by runner.targeted/broadcast/continue_targeted
        # (not received): a failure to send is then returned to the caller.
        self.originated_here = not serialized_kwargs

    def source_is_us(self):
        return len(self.routing_path) == 1

    def describe(self):
        """uuid, method, path and hops: what an operator follows in logs."""
        return ('%s message %s %s(...) path=%s hop=%d/%d'
                % (self.message_type, self.uuid, self.method_name,
                   self.routing_path, self.hop_count, self.max_hop_count))

    # -- wire ------------------------------------------------------------------

    def _wire_kwargs(self):
        if self._kwargs_are_primitive:
            return self.method_kwargs
        serializer = self.runner.serializer
        return {k: serializer.serialize_entity(self.ctxt, v)
                for k, v in self.method_kwargs.items()}

    def to_dict(self):
        """nova's message JSON keys, in nova's order (§4.2)."""
        return {'message_type': self.message_type,
                'ctxt': self.ctxt.for_other_cell().to_dict(),
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
        return jsonutils.dumps(self.to_dict())

    # -- local processing ------------------------------------------------------

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
            value = handler(self.runner, self, **self._local_kwargs())
            return cells_responses.Response(self.ctxt, str(self.routing_path),
                                            value, False)
        except Exception:
            exc = sys.exc_info()[1]
            if not isinstance(exc, exception.NovaCellsException) or \
                    not getattr(exc, 'expected', False):
                LOG.exception('Error processing %s', self.describe())
            return cells_responses.Response.from_exception(
                self.ctxt, str(self.routing_path), exc)

    def _respond(self, responses, target_path):
        """Send ``responses`` (JSON strings) back along ``target_path``."""
        message = _ResponseMessage(
            self.runner, self.ctxt, 'parse_responses',
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

    def process(self):
        """Route or run; return a Response at the originator of a call."""
        try:
            next_hop = self._next_hop()
        except Exception as exc:
            return self._send_response(self._failure(exc))
        if next_hop.is_me:
            return self._send_response(self.process_locally())
        waiting = self.need_response and self.source_is_us()
        slot = self.runner.slots.open(self.uuid) if waiting else None
        try:
            self._forward(next_hop)
        except Exception as exc:
            self.runner.slots.close(self.uuid)
            return self._send_response(self._failure(exc))
        if slot is None:
            return None
        return self._wait_one(slot, next_hop)

    def _forward(self, next_hop):
        if self.hop_count >= self.max_hop_count:
            raise exception.CellMaxHopCountReached(hop_count=self.hop_count)
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
        for cell in next_hops:
            try:
                self.runner.send(cell, self)
            except Exception as exc:
                LOG.error('%s: sending to %s failed: %s', self.describe(),
                          cell.name, exc)
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


_MESSAGE_CLASSES = {'targeted': _TargetedMessage,
                    'broadcast': _BroadcastMessage,
                    'response': _ResponseMessage}


class MessageRunner(object):
    """Originates, receives and routes messages for one cell.

    :param our_name: this cell's name (``[cells] name``).
    :param state_manager: the :class:`nova_cells.state.CellStateManager`.
    :param driver: a :class:`nova_cells.rpc_driver.BaseCellsDriver`.
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
        self.services = {}

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
        self.driver.send_message_to_cell(cell_state, message)

    def wait_timeout(self, message):
        """Seconds a hop waits: a little less at each hop below the
        originator, so that failures flow up before the originator quits."""
        timeout = self.settings.call_timeout
        depth = message.hop_count - 1
        return timeout * (1.0 - depth / (message.max_hop_count + 1.0))

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

    # -- originating -----------------------------------------------------------

    def targeted(self, ctxt, target_cell, method_name, method_kwargs,
                 direction='down', need_response=False, fanout=False):
        """Send a targeted message; a Response when ``need_response``."""
        message = _TargetedMessage(self, ctxt, method_name, method_kwargs,
                                   direction, target_cell,
                                   need_response=need_response, fanout=fanout)
        return message.process()

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
        forwarded = _TargetedMessage(
            self, message.ctxt, method_name, method_kwargs, direction,
            target_cell, routing_path=str(routing.RoutingPath(path[:-1])),
            hop_count=message.hop_count - 1,
            max_hop_count=message.max_hop_count)
        return forwarded.process()

    def broadcast(self, ctxt, method_name, method_kwargs, direction='down',
                  need_response=False, run_locally=True, fanout=False):
        """Broadcast; a list of Responses (one per cell) when answered."""
        message = _BroadcastMessage(self, ctxt, method_name, method_kwargs,
                                    direction, run_locally=run_locally,
                                    need_response=need_response,
                                    fanout=fanout)
        return message.process()

    # -- receiving -------------------------------------------------------------

    def message_from_json(self, json_message):
        """Rebuild a received message; raises MalformedMessage."""
        try:
            data = jsonutils.loads(json_message)
        except (TypeError, ValueError) as exc:
            raise MalformedMessage(uuid='?', reason='not JSON: %s' % exc)
        if not isinstance(data, dict):
            raise MalformedMessage(uuid='?', reason='not a JSON object')
        message_type = _check_wire(data)
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
        kwargs = {k: data[k] for k, _t in _COMMON_KEYS if k != 'ctxt'}
        kwargs.update({k: data[k] for k, _t in _EXTRA_KEYS[message_type]})
        ctxt = cells_context.RequestContext.from_dict(data['ctxt'])
        return _MESSAGE_CLASSES[message_type](self, ctxt,
                                              serialized_kwargs=True,
                                              **kwargs)

    def process_json(self, json_message):
        """Entry point of the intercell servers: never raises."""
        try:
            message = self.message_from_json(json_message)
        except Exception as exc:
            LOG.error('Rejected intercell message: %s', exc)
            self._answer_rejected(json_message, exc)
            return None
        try:
            return message.process()
        except Exception:
            LOG.exception('Unexpected error processing %s',
                          message.describe())
            return None

    def _answer_rejected(self, json_message, exc):
        """Tell a waiting originator why its message was rejected, when the
        message says enough to route an answer back."""
        try:
            data = jsonutils.loads(json_message)
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
            reply = _ResponseMessage(
                self, ctxt, 'parse_responses',
                {'orig_message': json_message,
                 'responses': [self.encode_response(response)]},
                _opposite(data['direction']),
                target_cell=routing.response_cell_name_from_path(
                    here, neighbor_only=data['message_type'] == 'broadcast'),
                response_uuid=data['uuid'], routing_path=None,
                serialized_kwargs=True)
            reply.process()
        except Exception as reply_exc:  # noqa - best effort only
            LOG.debug('Could not answer rejected message: %s', reply_exc)
