"""Consuming this cell's intercell topics, acknowledging only once done.

One connection to the cell's own broker and one channel, served by one
thread (py-amqp's channels are not thread-safe): it declares the queues
(:mod:`.declarations`), asks for at most ``prefetch`` unacknowledged
messages, hands each delivery to ``on_delivery`` and sends the
acknowledgements, rejections and replies that the processing threads queue
through :meth:`Consumer.settle`.  While a delivery is being processed it
polls the socket every 10 ms, so an acknowledgement leaves promptly; idle,
once a second.

When the broker goes away the thread logs one WARNING, reconnects with
oslo's backoff (``rabbit_retry_interval``/``backoff``/``interval_max``),
declares everything again and logs when it is back.  What was delivered on
the lost channel and not acknowledged is delivered again by the broker;
settlements of deliveries of the lost channel are dropped.
"""

import collections
import socket
import threading

import amqp
import kombu.exceptions
from oslo_log import log as logging

from nova_cells import transport_url

__all__ = ['Delivery', 'Consumer']

LOG = logging.getLogger(__name__)

# Poll period while deliveries are in hand (their acks wait for the next
# poll), and while idle (only stop requests and heartbeats wait for it: a
# stop waits up to one idle poll per consumer, so it is short; an idle
# poll costs a few microseconds of CPU).
_BUSY_POLL = 0.01
_IDLE_POLL = 0.2


class Delivery(object):
    """One received message, until it is settled."""

    __slots__ = ('channel', 'tag', 'body', 'redelivered', 'uuid', 'decoded',
                 'parsed', 'reply')

    def __init__(self, channel, tag, body, redelivered=False):
        self.channel = channel
        self.tag = tag
        self.body = body
        self.redelivered = redelivered
        self.uuid = '?'
        self.decoded = None
        self.parsed = None          # the message JSON, parsed once
        self.reply = None           # (reply queue, body) for a call


class _Settlement(object):
    __slots__ = ('delivery', 'requeue', 'reply')

    def __init__(self, delivery, requeue, reply):
        self.delivery = delivery
        self.requeue = requeue
        self.reply = reply


class Consumer(object):
    """Consumes the given queues of one broker in a thread of its own.

    :param connect: ``() -> kombu.Connection`` (not yet connected).
    :param url: the broker's transport URL (masked in logs).
    :param queues: kombu Queues to declare and consume.
    :param on_delivery: ``(Delivery) -> None``, called in the consumer
        thread; the delivery must be settled later (:meth:`settle`).
    :param prefetch: unacknowledged deliveries the broker may hand over.
    :param retry: a :class:`~.connections.RetryPolicy`.
    :param setup: optional ``(channel) -> None`` run after the queues are
        declared, at every (re)connection.
    :param consumer_arguments: ``{queue name: arguments}`` for
        ``basic.consume``.
    :param busy: ``() -> bool``: deliveries are being processed or
        waiting to be (poll fast).
    """

    def __init__(self, connect, url, queues, on_delivery, prefetch, retry,
                 setup=None, consumer_arguments=None, busy=None,
                 name='intercell-consumer'):
        self.connect = connect
        self.url = url
        self.queues = list(queues)
        self.on_delivery = on_delivery
        self.prefetch = prefetch
        self.retry = retry
        self.setup = setup
        self.consumer_arguments = consumer_arguments or {}
        self.busy = busy or (lambda: False)
        self.name = name
        self._settlements = collections.deque()
        self._conn = None
        self._channel = None
        self._tags = []
        self._consuming = True
        self._closing = threading.Event()
        self._thread = None

    # -- life ----------------------------------------------------------------

    def start(self):
        """Connect, declare and start consuming; then serve in a thread.

        :raises: the broker's error when it cannot be reached or refuses a
            declaration (start-up fails).
        """
        self._open()
        self._thread = threading.Thread(target=self._run, name=self.name,
                                        daemon=True)
        self._thread.start()
        return self

    def stop_consuming(self):
        """Ask the broker for no more deliveries (thread-safe; settling
        goes on until :meth:`close`)."""
        self._consuming = False

    def close(self, timeout=5.0):
        """Send what is queued to settle, close the connection (what is not
        acknowledged goes back to its queue) and end the thread."""
        self._consuming = False
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._release()

    @property
    def running(self):
        return self._thread is not None and self._thread.is_alive()

    # -- settling (any thread) ----------------------------------------------

    def settle(self, delivery, requeue=False, reply=None):
        """Acknowledge ``delivery`` (or hand it back to its queue), after
        sending ``reply`` (``(routing key, body)`` on the default
        exchange), from the consumer thread."""
        self._settlements.append(_Settlement(delivery, requeue, reply))

    # -- the connection ------------------------------------------------------

    def _open(self):
        conn = self.connect()
        try:
            conn.ensure_connection(max_retries=1)
            channel = conn.channel()
            channel.basic_qos(0, self.prefetch, False)
            for queue in self.queues:
                queue(channel).declare()
            if self.setup is not None:
                self.setup(channel)
            self._tags = [self._consume(channel, queue.name)
                          for queue in self.queues]
        except Exception:
            _close_quietly(conn)
            raise
        self._conn, self._channel = conn, channel

    def _consume(self, channel, name):
        return channel.basic_consume(
            queue=name, no_ack=False, callback=self._on_message,
            arguments=self.consumer_arguments.get(name))

    def _on_message(self, message):
        info = message.delivery_info
        delivery = Delivery(message.channel, info['delivery_tag'],
                            message.body, info.get('redelivered'))
        try:
            self.on_delivery(delivery)
        except Exception:  # noqa - a bug must not stop the consumer
            LOG.exception('Intercell message could not be queued; '
                          'dropping it')
            self.settle(delivery)

    def _release(self):
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            _close_quietly(conn)

    # -- the thread -----------------------------------------------------------

    def _run(self):
        while not self._closing.is_set():
            try:
                self._serve()
            except Exception as exc:  # noqa - reconnect, whatever it was
                self._release()
                if self._closing.is_set():
                    break
                LOG.warning('Intercell consumer lost the broker %s (%s: %s); '
                            'reconnecting', transport_url.mask(self.url),
                            exc.__class__.__name__, exc,
                            exc_info=not isinstance(exc, _CONNECTION_ERRORS))
                if not self._reconnect():
                    break
                LOG.info('Intercell consumer reconnected to %s',
                         transport_url.mask(self.url))
        self._flush()
        self._release()

    def _serve(self):
        while True:
            self._flush()
            if self._closing.is_set():
                return
            if not self._consuming and self._tags:
                self._cancel()
            # A settlement queued since the flush above (its worker already
            # idle) must not wait for the idle poll either.
            timeout = (_BUSY_POLL if self._settlements or self.busy()
                       else _IDLE_POLL)
            try:
                self._conn.drain_events(timeout=timeout)
            except socket.timeout:
                pass
            self._conn.heartbeat_check()

    def _cancel(self):
        tags, self._tags = self._tags, []
        for tag in tags:
            self._channel.basic_cancel(tag)

    def _reconnect(self):
        """Reconnect with backoff; False when asked to close meanwhile."""
        for delay in self.retry.delays():
            if self._closing.wait(delay):
                return False
            try:
                self._open()
                if not self._consuming:
                    self._cancel()
                return True
            except _CONNECTION_ERRORS as exc:
                LOG.debug('Intercell consumer: %s still unreachable (%s)',
                          transport_url.mask(self.url), exc)
        return False

    def _flush(self):
        """Send queued settlements on the current channel; those of a lost
        channel are dropped (the broker delivers them again)."""
        channel = self._channel
        while self._settlements:
            item = self._settlements.popleft()
            if channel is None or item.delivery.channel is not channel:
                continue
            if item.reply is not None:
                routing_key, body = item.reply
                channel.basic_publish(
                    amqp.Message(body, content_type='application/json',
                                 content_encoding='utf-8'),
                    exchange='', routing_key=routing_key)
            if item.requeue:
                channel.basic_reject(item.delivery.tag, requeue=True)
            else:
                channel.basic_ack(item.delivery.tag)


# What ends a session and calls for a reconnection: the connection's errors
# and the channel's (a consumer cancelled by the broker, a channel closed).
_CONNECTION_ERRORS = (OSError, amqp.exceptions.AMQPError,
                      kombu.exceptions.KombuError)


def _close_quietly(conn):
    try:
        conn.release()
    except Exception:  # noqa - closing a broken connection
        pass
