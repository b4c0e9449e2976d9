"""A stand-in for an original nova-cells (nova 19.3.2) as a middle cell.

Only what the tests need of the original's intercell behaviour, written
from nova's ``nova/cells/messaging.py`` (``_BaseMessage._append_hop``,
``_TargetedMessage._get_next_hop``/``process``, ``_BroadcastMessage``),
``nova/cells/filters/target_cell.py`` and the oslo envelopes of
``tests/reference/wire_samples.json`` (``full_envelopes``), on raw AMQP
(kombu; no oslo.messaging and no project code on the receiving side), so
that a test can put an original cell between cells of ours:

* It consumes its three intercell topics ``cells.intercell.targeted``,
  ``.broadcast`` and ``.response`` on its own vhost, as oslo.messaging's
  rabbit driver declares them for an RPC server: topic exchange ``nova``,
  a queue per topic bound with the topic as routing key.  No fanout queue
  is declared: what a neighbour fans out to it (a child's capability and
  capacity pushes, the last hop of a response) finds no queue and the
  broker drops it.  Nothing is pushed up either: the parent never learns
  this cell's capacities (a pinned build does not need them).
* A call (our durable forwarding sends each durable message to a cell
  of ours as an RPC call of the same ``process_message``) is answered
  with ``None`` once processed, as an oslo RPC server answers nova's
  ``process_message``: ``call_delay`` seconds later, as the original ran
  a whole build inside such a call (and the caller timed out).
* A targeted message or response whose ``target_cell`` lies beyond this
  cell is routed as the original routes it: this cell's name appended to
  ``routing_path``, ``hop_count`` + 1, ``CellMaxHopCountReached`` at
  ``max_hop_count``, then ``process_message(message=<json>)`` cast to the
  next neighbour's broker.  A message that cannot be routed is logged and
  dropped, as nova did.
* A targeted ``build_instances`` for this cell whose ``target_cell`` hint
  names a cell below is treated as nova's scheduler treats it: its
  TargetCellFilter pops the hint and re-originates the build from this
  cell (``routing_path`` = this cell's name, ``hop_count`` 1) to the
  hinted path, which ``_get_next_hop`` cannot route (the path does not
  start with this cell's name): dropped.  Any other method for this cell
  (a build without such a hint, an announcement, a capacity update) is
  ignored: the tests need none of them.
* A broadcast cast (no answer wanted) is sent on to every neighbour in
  its direction, name appended and hop + 1, without running anything
  here: ``instance_update_at_top`` and the other updates going up reach
  the top.  A broadcast that wants answers is ignored.

Each of these outcomes is appended to :attr:`OriginalStandIn.events`
(``routed``, ``dropped``, ``ignored``), which the tests read.  Use it as
a context manager, or :meth:`~OriginalStandIn.start` and
:meth:`~OriginalStandIn.stop`: stopping ends its thread and closes every
connection.
"""

import json
import logging
import socket
import threading
import time
import uuid as uuidlib

import kombu

from tests.functional import tree_support

__all__ = ['OriginalStandIn', 'TOPICS']

LOG = logging.getLogger(__name__)

EXCHANGE = 'nova'
TOPICS = {'targeted': 'cells.intercell.targeted',
          'broadcast': 'cells.intercell.broadcast',
          'response': 'cells.intercell.response'}
SEP = '!'


class RoutingError(Exception):
    """nova's CellRoutingInconsistency or CellMaxHopCountReached."""


class OriginalStandIn(object):
    """One original nova-cells, as far as its routing goes.

    :param name: the cell's name (``[cells] name``).
    :param url: its own broker (``rabbit://`` transport URL of its vhost).
    :param parents: ``{name: url}`` of its parent cells.
    :param children: ``{name: url}`` of its child cells.
    """

    def __init__(self, name, url, parents=None, children=None,
                 call_delay=0.0):
        self.name = name
        # Seconds a call takes before its answer: the original runs the
        # whole build inside a call of process_message.
        self.call_delay = call_delay
        self.url = url
        self.neighbours = {'up': dict(parents or {}),
                           'down': dict(children or {})}
        self.events = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._conn = None
        self._replies = None
        self._outbound = {}
        self._thread = None

    @classmethod
    def for_cell(cls, tree, name, **kwargs):
        """The stand-in for cell ``name`` of a
        :class:`~tests.functional.tree_support.ProcessTree` (provisioned:
        its vhosts exist)."""
        cell = tree[name]
        parents = {cell.parent: tree[cell.parent].url} if cell.parent else {}
        return cls(name, cell.url, parents,
                   {child: tree[child].url for child in cell.children},
                   **kwargs)

    # -- life ----------------------------------------------------------------

    def start(self):
        """Declare the queues and start consuming (in a thread)."""
        self._conn = kombu.Connection(tree_support.amqp_url(self.url))
        channel = self._conn.channel()
        exchange = tree_support.topic_exchange(EXCHANGE)
        queues = [kombu.Queue(topic, exchange=exchange, routing_key=topic,
                              durable=False, auto_delete=False,
                              channel=channel)
                  for topic in TOPICS.values()]
        for queue in queues:
            queue.declare()
        consumer = kombu.Consumer(channel, queues=queues,
                                  callbacks=[self._on_message],
                                  accept=['json'])
        consumer.consume()
        self._replies = kombu.Producer(self._conn.channel(),
                                       auto_declare=False)
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='standin-%s' % self.name)
        self._thread.start()
        return self

    def stop(self):
        """End the thread, then close every connection."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)
        for conn in list(self._outbound.values()) + [self._conn]:
            if conn is not None:
                conn.release()
        self._outbound = {}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _run(self):
        while not self._stopping.is_set():
            try:
                self._conn.drain_events(timeout=0.2)
            except socket.timeout:
                pass

    # -- what the tests read -------------------------------------------------

    def _record(self, event, message, **details):
        entry = dict(details, event=event, method=message['method_name'],
                     uuid=message['uuid'], message=message)
        with self._lock:
            self.events.append(entry)
        LOG.info('stand-in %s: %s %s %s %s', self.name, event,
                 message['method_name'], message['uuid'], details)

    def wait_for(self, predicate, timeout=30):
        """The first event satisfying ``predicate`` (polled; None when none
        came within ``timeout``: the caller asserts)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [e for e in self.events if predicate(e)]
            if found or time.monotonic() >= deadline:
                return found[0] if found else None
            time.sleep(0.05)

    # -- receiving -----------------------------------------------------------

    def _on_message(self, _body, amqp_message):
        try:
            inner, message = tree_support.decode_envelope(amqp_message.body)
            if message is not None:
                self._receive(message)
            self._reply(inner)
        except Exception:  # noqa - the original's server logs and goes on
            LOG.exception('stand-in %s: message not processed', self.name)
        finally:
            amqp_message.ack()

    def _reply(self, inner):
        """Answer a call as oslo.messaging's RPC server does (one reply,
        ``ending``, to the caller's reply queue on this broker)."""
        reply_q = inner.get('_reply_q')
        if not reply_q:
            return
        time.sleep(self.call_delay)
        reply = {'result': None, 'failure': None, 'ending': True,
                 '_msg_id': inner.get('_msg_id'),
                 '_unique_id': uuidlib.uuid4().hex}
        body = json.dumps({'oslo.version': '2.0',
                           'oslo.message': json.dumps(reply)})
        self._replies.publish(body, exchange='', routing_key=reply_q,
                              content_type='application/json',
                              content_encoding='utf-8')

    def _receive(self, message):
        """nova's ``message_from_json``: rebuilt with this hop added."""
        path = message['routing_path']
        message = dict(message, routing_path=(
            path + SEP + self.name if path else self.name),
            hop_count=message['hop_count'] + 1)
        if message['message_type'] == 'broadcast':
            return self._broadcast(message)
        return self._route(message)

    # -- targeted messages and responses ---------------------------------

    def _next_hop(self, message):
        """``_TargetedMessage._get_next_hop``: None for this cell, else
        ``(name, url)`` of the neighbour; raises RoutingError."""
        target, path = message['target_cell'], message['routing_path']
        if target == path:
            return None
        here = path.count(SEP)
        if target.count(SEP) < here or \
                SEP.join(target.split(SEP)[:here + 1]) != path:
            raise RoutingError('Inconsistency in cell routing: destination '
                               'is %s but routing_path is %s'
                               % (target, path))
        name = target.split(SEP)[here + 1]
        url = self.neighbours[message['direction']].get(name)
        if url is None:
            raise RoutingError(
                'Inconsistency in cell routing: Unknown %s when routing to '
                '%s' % ('parent' if message['direction'] == 'up'
                        else 'child', target))
        return name, url

    def _route(self, message, **details):
        try:
            hop = self._next_hop(message)
            if hop is None:
                return self._for_me(message)
            if message['hop_count'] >= message['max_hop_count']:
                raise RoutingError('Cell message has reached maximum hop '
                                   'count: %s' % message['hop_count'])
        except RoutingError as exc:
            return self._record('dropped', message, reason=str(exc),
                                **details)
        self._cast(hop[1], message)
        self._record('routed', message, to=hop[0], **details)

    def _for_me(self, message):
        hint = self._target_cell_hint(message)
        if hint is None or hint == message['routing_path']:
            return self._record('ignored', message,
                                reason='nothing of the kind needed here')
        self._reoriginate(message, hint)

    @staticmethod
    def _target_cell_hint(message):
        if message['message_type'] != 'targeted' or \
                message['method_name'] != 'build_instances':
            return None
        build = message['method_kwargs'].get('build_inst_kwargs') or {}
        hints = (build.get('filter_properties') or {}).get(
            'scheduler_hints') or {}
        return hints.get('target_cell')

    def _reoriginate(self, message, hint):
        """TargetCellFilter: the hint popped, the build sent again from
        here (``msg_runner.build_instances(ctxt, cell_name, ...)``), as a
        new message whose path starts with this cell's name."""
        build = json.loads(json.dumps(
            message['method_kwargs']['build_inst_kwargs']))
        build['filter_properties']['scheduler_hints'].pop('target_cell')
        again = dict(message, method_kwargs={'build_inst_kwargs': build},
                     uuid=str(uuidlib.uuid4()), routing_path=self.name,
                     hop_count=1, target_cell=hint, direction='down')
        self._route(again, reoriginated_from=message['uuid'])

    # -- broadcasts ------------------------------------------------------

    def _broadcast(self, message):
        if message['need_response']:
            return self._record('ignored', message,
                                reason='answers are not needed here')
        if message['hop_count'] >= message['max_hop_count']:
            return self._record('dropped', message,
                                reason='max_hop_count reached')
        for name, url in self.neighbours[message['direction']].items():
            self._cast(url, message)
            self._record('routed', message, to=name)

    # -- sending ---------------------------------------------------------

    def _cast(self, url, message):
        """``process_message(message=<json>)`` cast to the neighbour's
        broker, in oslo's envelope with the message's context."""
        conn = self._outbound.get(url)
        if conn is None:
            conn = self._outbound[url] = kombu.Connection(
                tree_support.amqp_url(url))
        exchange = tree_support.topic_exchange(EXCHANGE)
        producer = kombu.Producer(conn.default_channel, exchange=exchange)
        producer.publish(
            tree_support.oslo_envelope(json.dumps(message),
                                       ctxt=message['ctxt']),
            routing_key=TOPICS[message['message_type']],
            content_type='application/json', content_encoding='utf-8',
            delivery_mode=2, retry=True, declare=[exchange])
