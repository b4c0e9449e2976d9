"""The kombu intercell driver (``[cells] intercell_transport = kombu``).

Receiving: one :class:`~.consumer.Consumer` on the cell's own broker
consumes the three intercell topics exactly where oslo.messaging's RPC
server would (the shared topic queue, the server queue ``<topic>.<host>``
and a fanout queue), at most ``prefetch`` messages unacknowledged.  Each
message is decoded (oslo's envelope), its signature checked
(:class:`~nova_cells.transport.rpc_driver.InterCellRPCDispatcher`, as on the
oslo path) and processed by ``runner.process_json`` in :class:`~.lanes.Lanes`
(in order per instance), then acknowledged.  Malformed, oversized,
refused and failing messages are logged once and acknowledged (a poison
message never comes back);
:class:`~nova_cells.exception.MessageNotTaken`
holds the message and processes it again after a backoff.  A call (an
oslo.messaging sender of ours delivering a durable message) is answered
as oslo's RPC server answers it, once processed.

Sending: one :class:`~.publisher.Publisher` per neighbour URL (a small
pool of confirm-mode connections), dropped when no neighbour uses the URL
(:meth:`prune`).  ``send_message_to_cell`` and ``deliver_message_to_cell``
both publish oslo's cast envelope and return once the neighbour's broker
confirmed it.
"""

import threading

from oslo_log import log as logging

from nova_cells import exception
from nova_cells.transport import rpc_driver
from nova_cells.transport import signing as link_signing
from nova_cells.transport import api_server
from nova_cells.transport import connections
from nova_cells.transport import consumer as consumer_mod
from nova_cells.transport import declarations as decl
from nova_cells.transport import envelope
from nova_cells.transport import errors
from nova_cells.transport import lanes as lanes_mod
from nova_cells.transport import marker
from nova_cells.transport import ordering
from nova_cells.transport import publisher as publisher_mod
from nova_cells import transport_url
from nova_cells import wire_guard

__all__ = ['KombuCellsDriver']

LOG = logging.getLogger(__name__)

# Unacknowledged messages per worker when rabbit_qos_prefetch_count is 0
# (oslo's "unlimited"): bounded here, so that memory stays bounded.
PREFETCH_PER_WORKER = 8
# Seconds stop_servers waits for messages being processed.
STOP_WAIT = 3.0


class _Server(object):
    """What :class:`nova_cells.service.daemon.CellsService` stops first (with
    the ``cells`` RPC server): no more deliveries."""

    def __init__(self, consumer):
        self.consumer = consumer

    def stop(self):
        self.consumer.stop_consuming()


class KombuCellsDriver(rpc_driver.BaseCellsDriver):
    """Intercell messages on kombu, acknowledged once processed, sent with
    publisher confirms.

    :param conf: the cell's ConfigOpts (read here, once).
    :param signing: a :class:`nova_cells.transport.signing.LinkSigning`.
    :param factory: a :class:`~.connections.ConnectionFactory` (default:
        from ``[oslo_messaging_rabbit]``).
    """

    confirms_sends = True

    def __init__(self, conf, signing=None, factory=None):
        self.signing = signing or link_signing.LinkSigning()
        self.topic_base = conf.cells.rpc_driver_queue_base
        self.host = conf.host
        self.own_url = conf.transport_url or connections.DEFAULT_URL
        connections.kombu_url(self.own_url)         # a rabbit:// URL
        self.declarations = decl.Declarations(
            decl.QueueOptions.from_conf(conf), conf.control_exchange)
        self.factory = factory or connections.ConnectionFactory.from_conf(
            conf)
        self.retry = connections.RetryPolicy.from_conf(conf)
        self.send_retries = conf.cells.intercell_send_retries
        self.workers = conf.cells.intercell_workers
        self.prefetch = (self.declarations.options.prefetch or
                         PREFETCH_PER_WORKER * self.workers)
        self.max_message_size = conf.cells.max_message_size
        self.send_timeout = float(conf.cells.call_timeout or 60)
        self.markers = marker.Markers(self._probe,
                                      conf.cells.original_neighbours)
        self._publishers = {}
        self._lock = threading.Lock()
        self._consumer = None
        self._lanes = None
        self._dispatcher = None

    def _topic(self, message_type):
        return '%s.%s' % (self.topic_base, message_type)

    @property
    def servers(self):
        return [_Server(self._consumer)] if self._consumer else []

    # -- receiving ------------------------------------------------------------

    def start_servers(self, runner):
        self._dispatcher = rpc_driver.InterCellRPCDispatcher(runner,
                                                             self.signing)
        self._lanes = lanes_mod.Lanes(self._process, self._settle,
                                      workers=self.workers)
        queues, fanouts = self._queues()
        marked = fanouts[0].name
        self._consumer = consumer_mod.Consumer(
            lambda: self.factory.connect(self.own_url, purpose='consume'),
            self.own_url, queues, self._on_delivery, self.prefetch,
            self.retry, setup=lambda channel: marker.bind(channel, marked),
            consumer_arguments={q.name: self.declarations
                                .consumer_arguments() for q in fanouts},
            busy=lambda: self._lanes.active() > 0)
        try:
            self._consumer.start()
        except Exception:
            self._lanes.stop()
            self._consumer = self._lanes = None
            raise
        for message_type in rpc_driver.MESSAGE_TYPES:
            LOG.info('Listening on %s (server %s; kombu, %d unacknowledged '
                     'at most)', self._topic(message_type), self.host,
                     self.prefetch)

    def _queues(self):
        """The shared topic queues, the server queues, the fanout queues
        (returned apart too: the marker is bound to the first)."""
        queues, fanouts = [], []
        for message_type in rpc_driver.MESSAGE_TYPES:
            topic = self._topic(message_type)
            queues.append(self.declarations.topic_queue(topic))
            queues.append(self.declarations.topic_queue(
                '%s.%s' % (topic, self.host)))
            fanouts.append(self.declarations.fanout_queue(
                topic, self.declarations.fanout_queue_name(topic)))
        return queues + fanouts, fanouts

    def _body_limit(self):
        """The largest envelope worth decoding: the message JSON is
        escaped once more inside it (at most about 4 bytes for 1)."""
        return 4 * self.max_message_size + 65536

    def _on_delivery(self, delivery):
        """In the consumer thread: decode, then queue in the lanes."""
        body = delivery.body
        if len(body) > self._body_limit():
            LOG.error('Rejected intercell message: envelope of %d bytes '
                      'exceeds what max_message_size %d allows',
                      len(body), self.max_message_size)
            return self._consumer.settle(delivery)
        try:
            delivery.decoded = envelope.decode(body)
        except envelope.BadEnvelope as exc:
            LOG.error('Rejected intercell message: %s', exc)
            return self._consumer.settle(delivery)
        delivery.parsed, delivery.uuid, key = self._peek(
            delivery.decoded.message)
        self._lanes.submit(delivery, key)

    def _peek(self, text):
        """The parsed message (handed on, so it is parsed once), its uuid
        and order key, when it reads as a message (else the runner parses
        it again and rejects it, with its own log line)."""
        try:
            data = wire_guard.loads(text, self.max_message_size)
            kwargs = data.get('method_kwargs')
            key = ordering.order_key(kwargs) \
                if isinstance(kwargs, dict) else None
            uuid = data.get('uuid')
        except Exception:  # noqa - anything unreadable: the runner says why
            return None, '?', None
        return data, (uuid if isinstance(uuid, str) else '?'), (
            key if isinstance(key, str) else None)

    def _process(self, delivery):
        """In a lane: the oslo path's checks and ``process_json``."""
        decoded = delivery.decoded
        failure = None
        try:
            self._dispatcher.receive(decoded.message, decoded.signature,
                                     held=True, parsed=delivery.parsed)
        except exception.MessageNotTaken:
            return lanes_mod.RETRY          # logged by the runner
        except (link_signing.MessageRefused,
                exception.MessageTooLarge) as exc:
            # Logged by the dispatcher or the runner; acknowledged: it
            # would be refused again (a caller gets the error).
            failure = exc
        except Exception as exc:  # noqa - a poison message is dropped
            LOG.exception('Intercell message %s failed; dropping it',
                          delivery.uuid)
            failure = exc
        if decoded.reply_q and decoded.msg_id:
            delivery.reply = (decoded.reply_q,
                              envelope.encode_reply(decoded.msg_id, failure))
        return lanes_mod.ACK

    def _settle(self, delivery, outcome):
        self._consumer.settle(delivery, requeue=outcome == lanes_mod.REQUEUE,
                              reply=delivery.reply)

    def stop_servers(self):
        consumer, lanes = self._consumer, self._lanes
        if consumer is not None:
            consumer.stop_consuming()
            if not lanes.drain(STOP_WAIT):
                LOG.warning('Intercell messages still being processed after '
                            '%.0f s; they will be delivered again', STOP_WAIT)
            lanes.stop(timeout=1.0)
            consumer.close()
        self._consumer = self._lanes = None
        self.prune(())

    def topic_server(self, topic, endpoints, serializer, access_policy,
                     workers):
        """A server of ``topic`` on this cell's broker (``cells``: what
        nova-api and the cell's services send) that acknowledges a message
        once handled (:class:`~.api_server.CellsTopicServer`)."""
        return api_server.CellsTopicServer(
            self.own_url, self.factory, self.declarations, self.retry,
            topic, self.host, endpoints, serializer, access_policy,
            workers=workers, prefetch=self.declarations.options.prefetch)

    # -- sending --------------------------------------------------------------

    def _publisher(self, url):
        with self._lock:
            publisher = self._publishers.get(url)
            if publisher is None:
                publisher = self._publishers[url] = publisher_mod.Publisher(
                    url, self.factory, self.declarations, self.send_retries,
                    self.retry)
                LOG.debug('New kombu publisher for %s',
                          transport_url.mask(url))
            return publisher

    @staticmethod
    def _url_of(cell_state):
        url = cell_state.db_info.get('transport_url')
        if not url:
            raise exception.InvalidTransportURL(
                url='', reason='cell %s has no transport_url'
                % cell_state.name)
        return url

    def _check_size(self, cell_state, text):
        """Refuse a message over this cell's limit, or over the smallest
        the neighbour announced for its subtree
        (:data:`~nova_cells.wire_guard.SIZE_CAPABILITY`): its broker
        would take it and its daemon drop it, and a durable message would count
        as delivered.  Refused here, it stays in the outbox, reported."""
        limit = self.max_message_size
        theirs = wire_guard.announced_limit(cell_state.capabilities)
        if theirs is not None:
            limit = min(limit, theirs)
        size = len(text) if text.isascii() else len(text.encode('utf-8'))
        if size > limit:
            # Reported by the caller (the outbox once, not at every try).
            raise errors.MessageTooLarge(
                uuid=link_signing.uuid_of(text), size=size,
                limit=limit, where=cell_state.name)

    def _publish(self, cell_state, message_type, text, context, fanout,
                 uuid, timeout):
        url = self._url_of(cell_state)
        self._check_size(cell_state, text)
        body = envelope.encode_cast(
            text, context, self.signing.signature_for(cell_state, text))
        self._publisher(url).publish(body, self._topic(message_type),
                                     fanout=fanout, uuid=uuid,
                                     timeout=timeout)

    def send_message_to_cell(self, cell_state, message):
        """Publish ``message`` and wait for the broker's confirmation.

        :raises NotTaken: (or a subclass) not confirmed: too large,
            unroutable, nacked, unconfirmed in time, broker unreachable.
        """
        self._publish(cell_state, message.message_type, message.to_json(),
                      message.outgoing_context().to_dict(), message.fanout,
                      message.uuid, self.send_timeout)

    def deliver_message_to_cell(self, cell_state, message_type, text, ctxt,
                                timeout):
        """Publish a recorded message: a cast, confirmed by the neighbour's
        broker (not an RPC call: the neighbour's daemon acknowledges it to
        its broker once processed, whichever transport it runs).

        :raises NotTaken: as :meth:`send_message_to_cell`.
        """
        self._publish(cell_state, message_type, text,
                      ctxt.for_other_cell().to_dict(), False, '?', timeout)

    # -- neighbours -----------------------------------------------------------

    def _probe(self, url):
        return self._publisher(url).exchange_exists(marker.NAME)

    def is_ours(self, cell_state):
        """True when the neighbour's broker shows our marker (and the
        operator did not name it in ``[cells] original_neighbours``);
        remembered for a while.

        :raises NotTaken: its broker cannot be reached.
        """
        return self.markers.is_ours(cell_state.name,
                                    self._url_of(cell_state))

    def prune(self, active_urls):
        active = set(active_urls)
        with self._lock:
            stale = [url for url in self._publishers if url not in active]
            publishers = [self._publishers.pop(url) for url in stale]
        for url, publisher in zip(stale, publishers):
            LOG.info('Closing kombu publisher to %s (no neighbour uses it)',
                     transport_url.mask(url))
            publisher.close()
        self.markers.forget(stale)
