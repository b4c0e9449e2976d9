"""The ``cells`` topic on kombu: what nova-api and the cell's own services
send this daemon, acknowledged only once handled.

oslo.messaging's RPC server acknowledges a message before it dispatches
it: a daemon killed between the two loses the message (a build nova-api
cast, for one; issue 21 measured 1 lost in 300 builds with the api daemon
SIGKILLed mid-burst).  With ``[cells] intercell_transport = kombu`` the
``cells`` topic is served here instead: the same queues (``cells``,
``cells.<host>``, a ``cells_fanout`` queue), oslo's envelope read as
oslo reads it, the method found by oslo.messaging's own
:class:`~oslo_messaging.rpc.dispatcher.RPCDispatcher` (same endpoints,
same version and namespace checks, same access policy), a call answered
as oslo answers it, and the message acknowledged once the method
returned.

A message handled when its daemon died is delivered again.  Its request
context then carries the sender's ``_unique_id`` (``delivery_id``), from
which the build path derives its message uuid, so that the copy is found
in the cell's inbox instead of being scheduled again.  Since the broker
holds the message until then, a build needs no journal row of its own;
one the cell cannot take now
(:class:`~nova_cells.exception.MessageNotTaken`) is held and run again
after a backoff.
"""

import sys

from oslo_log import log as logging
from oslo_messaging._drivers import common as oslo_common
from oslo_messaging.rpc import dispatcher as rpc_dispatcher
from oslo_serialization import jsonutils

from nova_cells import exception
from nova_cells.transport import consumer as consumer_mod
from nova_cells.transport import envelope
from nova_cells.transport import lanes as lanes_mod

__all__ = ['Incoming', 'decode', 'encode_call', 'CellsTopicServer']

LOG = logging.getLogger(__name__)

_CONTEXT_PREFIX = '_context_'
# Seconds stop() waits for methods being run.
STOP_WAIT = 3.0


class Incoming(object):
    """A received RPC message, as oslo's dispatcher reads it (``ctxt``,
    ``message``, ``client_timeout``) plus where a call's answer goes."""

    __slots__ = ('ctxt', 'message', 'client_timeout', 'msg_id', 'reply_q',
                 'unique_id')

    def __init__(self, ctxt, message, msg_id=None, reply_q=None,
                 unique_id=None):
        self.ctxt = ctxt
        self.message = message
        # No call-monitoring heartbeats: the dispatcher's watchdog only
        # runs when the caller sent a timeout, so none is passed on.
        self.client_timeout = None
        self.msg_id = msg_id
        self.reply_q = reply_q
        self.unique_id = unique_id


def decode(body):
    """Read a body as oslo's ``AMQPListener`` does: the ``_context_*``
    keys are the context, ``_msg_id``/``_reply_q`` mark a call, the rest
    (``method``, ``args``, ``version``, ``namespace``) the message.

    :raises envelope.BadEnvelope: not oslo's envelope or no method.
    """
    try:
        inner = envelope.unwrap(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise envelope.BadEnvelope(reason='not JSON (%s)' % exc)
    except RecursionError:
        raise envelope.BadEnvelope(reason='nested too deeply')
    ctxt, message = {}, {}
    for key, value in inner.items():
        if key.startswith(_CONTEXT_PREFIX):
            ctxt[key[len(_CONTEXT_PREFIX):]] = value
        else:
            message[key] = value
    if not isinstance(message.get('method'), str):
        raise envelope.BadEnvelope(reason='no method')
    if not isinstance(message.get('args', {}), dict):
        raise envelope.BadEnvelope(reason='arguments are not an object')
    return Incoming(ctxt, message, message.pop('_msg_id', None),
                    message.pop('_reply_q', None),
                    message.pop('_unique_id', None))


class _Delivered(object):
    """The dispatcher's serializer: the context arrives deserialized
    already (with its ``delivery_id``); arguments and results go through
    the cell's serializer."""

    def __init__(self, base):
        self.base = base

    def deserialize_context(self, ctxt):
        return ctxt

    def deserialize_entity(self, ctxt, entity):
        return self.base.deserialize_entity(ctxt, entity)

    def serialize_entity(self, ctxt, entity):
        return self.base.serialize_entity(ctxt, entity)


def _reply_body(msg_id, result=None, failure=None):
    """oslo's ``AMQPIncomingMessage._send_reply`` body, enveloped."""
    if failure is not None:
        failure = oslo_common.serialize_remote_exception(failure)
    return envelope.wrap({'result': result, 'failure': failure,
                          'ending': True, '_msg_id': msg_id},
                         dumps=jsonutils.dumps)


class CellsTopicServer(object):
    """Serves ``topic`` (and ``topic.<host>``, and its fanout) of the
    cell's own broker with ``endpoints``.

    :param url: the cell's transport URL.
    :param factory: a :class:`~.connections.ConnectionFactory`.
    :param declarations: a :class:`~.declarations.Declarations`.
    :param retry: a :class:`~.connections.RetryPolicy`.
    :param serializer: oslo serializer (context and entities).
    :param access_policy: an oslo access policy class (which methods an
        RPC may call: the ``@expose``d ones).
    :param workers: methods run at once (oslo's executor pool size).
    :param prefetch: unacknowledged messages at most.
    """

    def __init__(self, url, factory, declarations, retry, topic, host,
                 endpoints, serializer, access_policy, workers=64,
                 prefetch=None):
        self.url = url
        self.factory = factory
        self.declarations = declarations
        self.retry = retry
        self.topic = topic
        self.host = host
        self.serializer = serializer
        self.dispatcher = rpc_dispatcher.RPCDispatcher(
            endpoints, _Delivered(serializer), access_policy)
        self.workers = workers
        self.prefetch = prefetch or 2 * workers
        self._consumer = None
        self._lanes = None

    def _queues(self):
        decl = self.declarations
        fanout = decl.fanout_queue(self.topic,
                                   decl.fanout_queue_name(self.topic))
        return [decl.topic_queue(self.topic),
                decl.topic_queue('%s.%s' % (self.topic, self.host)),
                fanout], {fanout.name: decl.consumer_arguments()}

    def start(self):
        """Declare, consume, serve.  :raises: the broker's error."""
        self._lanes = lanes_mod.Lanes(self._process, self._settle,
                                      workers=self.workers,
                                      name=self.topic)
        queues, arguments = self._queues()
        self._consumer = consumer_mod.Consumer(
            lambda: self.factory.connect(self.url, purpose='consume'),
            self.url, queues, self._on_delivery, self.prefetch, self.retry,
            consumer_arguments=arguments,
            busy=lambda: self._lanes.active() > 0,
            name='%s-consumer' % self.topic)
        try:
            self._consumer.start()
        except Exception:
            self._lanes.stop()
            self._consumer = self._lanes = None
            raise
        LOG.info('Listening on %s (server %s; kombu, acknowledged once '
                 'handled)', self.topic, self.host)

    def stop(self):
        """No more deliveries (oslo's ``MessageHandlingServer.stop``)."""
        if self._consumer is not None:
            self._consumer.stop_consuming()

    def wait(self):
        """Let the methods running end (for a while), acknowledge them and
        close; what is left is delivered again."""
        consumer, lanes = self._consumer, self._lanes
        if consumer is None:
            return
        if not lanes.drain(STOP_WAIT):
            LOG.warning('Methods of topic %s still running after %.0f s; '
                        'their messages will be delivered again',
                        self.topic, STOP_WAIT)
        lanes.stop(timeout=1.0)
        # Deliveries may still arrive until the connection is closed (a
        # cancel takes a round trip): they go back to the queue with it.
        consumer.close()
        self._consumer = self._lanes = None

    # -- a message ------------------------------------------------------------

    def _on_delivery(self, delivery):
        """In the consumer thread: decode, then run in a lane of its own
        (no order between RPC messages, as oslo's executor)."""
        try:
            delivery.decoded = decode(delivery.body)
        except envelope.BadEnvelope as exc:
            LOG.error('Rejected a message on topic %s: %s', self.topic, exc)
            return self._consumer.settle(delivery)
        delivery.uuid = delivery.decoded.unique_id or '?'
        self._lanes.submit(delivery, None)

    def _context(self, incoming):
        ctxt = self.serializer.deserialize_context(incoming.ctxt)
        ctxt.delivery_id = incoming.unique_id
        return ctxt

    def _process(self, delivery):
        """In a lane: dispatch as oslo's RPC server does; the answer of a
        call is sent before the acknowledgement."""
        incoming = delivery.decoded
        result = failure = None
        try:
            incoming.ctxt = self._context(incoming)
            result = self.dispatcher.dispatch(incoming)
        except exception.MessageNotTaken as exc:
            LOG.warning('%s', exc)
            return lanes_mod.RETRY
        except rpc_dispatcher.ExpectedException as exc:
            LOG.debug('Expected exception during message handling (%s)',
                      exc)
            failure = exc.exc_info
        except Exception:  # noqa - answered as oslo answers it
            LOG.exception('Exception during message handling')
            failure = sys.exc_info()
        if incoming.msg_id and incoming.reply_q:
            delivery.reply = (incoming.reply_q, _reply_body(
                incoming.msg_id, result, failure))
        return lanes_mod.ACK

    def _settle(self, delivery, outcome):
        self._consumer.settle(delivery, requeue=outcome == lanes_mod.REQUEUE,
                              reply=delivery.reply)


def encode_call(method, args, context, msg_id=None, reply_q=None,
                unique_id=None, version='1.0', namespace=None):
    """A body as oslo.messaging's client sends it (for tests and tools)."""
    inner = {'method': method, 'args': args, 'version': version}
    if namespace is not None:
        inner['namespace'] = namespace
    if msg_id is not None:
        inner['_msg_id'], inner['_reply_q'] = msg_id, reply_q
    if unique_id is not None:
        inner['_unique_id'] = unique_id
    for key, value in context.items():
        inner[_CONTEXT_PREFIX + key] = value
    return envelope.wrap(inner)
