"""Publishing to one neighbour's broker with publisher confirms.

A :class:`Publisher` holds a few connections to one broker URL (a pool,
made on demand, reused by every send), each with one channel in confirm
mode.  A send returns only once the broker confirmed the message; a nack,
a return (``mandatory``: no queue bound for a topic message) or no
confirmation within the timeout raises a :class:`~.errors.NotTaken`, so
the caller knows the message was not taken.

Exchanges (and, when queues are durable or quorum, the neighbour's shared
topic queue, so that a message sent before its daemon ever started is
kept) are declared once per connection, with the arguments the
neighbour's consumer uses (:mod:`.declarations`): nothing is declared per
message.  A broken connection is dropped and the send tried again on a
new one, up to ``retries`` times (``[cells] intercell_send_retries``; -1:
forever, as nova did), with oslo's backoff between attempts.
"""

import socket
import threading
import time

import amqp
import kombu.exceptions
from oslo_log import log as logging

from nova_cells.transport import envelope
from nova_cells.transport import errors
from nova_cells import transport_url

__all__ = ['Publisher']

LOG = logging.getLogger(__name__)

_CONNECTION_ERRORS = (OSError, amqp.exceptions.ConnectionError,
                      amqp.exceptions.RecoverableConnectionError,
                      kombu.exceptions.OperationalError)


class _Link(object):
    """One connection and its confirm-mode channel."""

    def __init__(self, conn):
        self.conn = conn
        self.channel = conn.channel()
        self.declared = set()
        self.returned = []
        self.channel.events['basic_return'].add(self._on_return)

    def _on_return(self, exc, exchange, routing_key, _message):
        self.returned.append('%s (exchange %r, routing key %r)'
                             % (exc, exchange, routing_key))

    def close(self):
        try:
            self.conn.release()
        except Exception:  # noqa - closing a broken connection
            pass


class Publisher(object):
    """Sends to one broker URL.

    :param url: the neighbour's transport URL.
    :param factory: a :class:`~.connections.ConnectionFactory`.
    :param declarations: the neighbour's :class:`~.declarations.
        Declarations` (same options as ours: one tree, one setting).
    :param retries: reconnections per send (-1: forever).
    :param retry: a :class:`~.connections.RetryPolicy`.
    :param size: connections at most (concurrent sends beyond wait).
    """

    def __init__(self, url, factory, declarations, retries, retry, size=4,
                 sleep=time.sleep):
        self.url = url
        self.factory = factory
        self.declarations = declarations
        self.retries = retries
        self.retry = retry
        self.size = size
        self.sleep = sleep
        self._idle = []                 # the last given back is taken first
        self._cond = threading.Condition(threading.Lock())
        self._count = 0
        self._closed = False

    @property
    def where(self):
        return transport_url.mask(self.url)

    # -- the pool -------------------------------------------------------------

    def _take(self):
        """An idle link, else a new one while there are fewer than
        ``size``, else wait for one given back."""
        with self._cond:
            while True:
                if self._closed:
                    raise errors.BrokerUnreachable(
                        uuid='?', where=self.where, reason='publisher closed')
                if self._idle:
                    return self._idle.pop()
                if self._count < self.size:
                    self._count += 1
                    break
                self._cond.wait()
        try:
            return self._connect()
        except Exception:
            self._forget_one()
            raise

    def _connect(self):
        conn = self.factory.connect(self.url, confirm=True, heartbeat=False,
                                    purpose='publish')
        try:
            conn.ensure_connection(
                max_retries=None if self.retries < 0 else self.retries,
                interval_start=self.retry.start,
                interval_step=self.retry.step,
                interval_max=self.retry.maximum,
                errback=self._connect_failed)
            return _Link(conn)
        except Exception:
            _close_quietly(conn)
            raise

    def _connect_failed(self, exc, interval):
        LOG.warning('Cannot reach the broker %s (%s); retrying in %.0f s',
                    self.where, exc, interval)

    def _give(self, link):
        with self._cond:
            if not self._closed:
                self._idle.append(link)
                self._cond.notify()
                return
        link.close()

    def _discard(self, link):
        link.close()
        self._forget_one()

    def _forget_one(self):
        """One link fewer: a waiting sender may make a new one."""
        with self._cond:
            self._count -= 1
            self._cond.notify()

    def close(self):
        """Close every idle connection; one in use closes when its send
        ends."""
        with self._cond:
            self._closed = True
            links, self._idle = self._idle, []
            self._cond.notify_all()
        for link in links:
            link.close()

    # -- sending --------------------------------------------------------------

    def publish(self, body, topic, fanout=False, uuid='?', timeout=60.0):
        """Publish ``body`` for ``topic`` and wait for the confirmation.

        :raises NotTaken: (a subclass) the broker did not take it.
        """
        failures = 0
        delays = self.retry.delays()
        while True:
            try:
                link = self._take()
            except _CONNECTION_ERRORS as exc:
                raise errors.BrokerUnreachable(uuid=uuid, where=self.where,
                                               reason=str(exc))
            try:
                self._publish_on(link, body, topic, fanout, uuid, timeout)
            except _CONNECTION_ERRORS as exc:
                self._discard(link)
                failures += 1
                if self._gave_up(failures, exc, uuid):
                    raise errors.BrokerUnreachable(uuid=uuid,
                                                   where=self.where,
                                                   reason=str(exc))
                if failures > 1:
                    self.sleep(next(delays))
                continue
            except (_Unconfirmed, _ChannelFailed):
                self._discard(link)
                raise
            except errors.NotTaken:
                self._give(link)
                raise
            except Exception:
                self._discard(link)
                raise
            self._give(link)
            return

    def _gave_up(self, failures, exc, uuid):
        if 0 <= self.retries < failures:
            return True
        LOG.warning('Sending %s to %s failed (%s: %s); trying again on a new '
                    'connection', uuid, self.where, exc.__class__.__name__,
                    exc)
        return False

    def _declare(self, link, topic, fanout):
        """The exchange (and the topic queue, when kept), once per link."""
        key = (topic, fanout)
        if key in link.declared:
            return
        channel = link.channel
        if fanout:
            self.declarations.fanout_exchange(topic)(channel).declare()
        elif self.declarations.keeps_messages():
            self.declarations.topic_queue(topic)(channel).declare()
        else:
            self.declarations.topic_exchange()(channel).declare()
        link.declared.add(key)

    def _publish_on(self, link, body, topic, fanout, uuid, timeout):
        try:
            self._declare(link, topic, fanout)
        except amqp.exceptions.ChannelError as exc:
            raise _ChannelFailed(uuid, self.where, str(exc))
        if fanout:
            exchange, routing_key = '%s_fanout' % topic, ''
        else:
            exchange = self.declarations.exchange_name
            routing_key = topic
        del link.returned[:]
        try:
            link.channel.basic_publish(
                amqp.Message(body, **envelope.PROPERTIES),
                exchange=exchange, routing_key=routing_key,
                mandatory=not fanout, confirm_timeout=timeout)
        except socket.timeout:
            raise _Unconfirmed(uuid, self.where, 'no confirmation within '
                               '%.0f s' % timeout)
        except amqp.exceptions.MessageNacked:
            raise errors.NotConfirmed(uuid=uuid, where=self.where,
                                      reason='nacked by the broker')
        except amqp.exceptions.ChannelError as exc:
            raise _ChannelFailed(uuid, self.where, str(exc))
        if link.returned:
            raise errors.Unroutable(uuid=uuid, where=self.where,
                                    reason='returned by the broker: %s'
                                    % link.returned[0])

    # -- probing ------------------------------------------------------------

    def exchange_exists(self, name):
        """A passive declaration of exchange ``name`` on a channel of its
        own (the broker closes a channel whose passive declaration fails).

        :raises BrokerUnreachable: the broker cannot be reached.
        """
        try:
            link = self._take()
        except _CONNECTION_ERRORS as exc:
            raise errors.BrokerUnreachable(uuid='-', where=self.where,
                                           reason=str(exc))
        try:
            channel = link.conn.channel()
        except _CONNECTION_ERRORS as exc:
            self._discard(link)
            raise errors.BrokerUnreachable(uuid='-', where=self.where,
                                           reason=str(exc))
        try:
            channel.exchange_declare(name, 'fanout', passive=True)
            return True
        except amqp.exceptions.NotFound:
            return False
        except _CONNECTION_ERRORS as exc:
            self._discard(link)
            link = None
            raise errors.BrokerUnreachable(uuid='-', where=self.where,
                                           reason=str(exc))
        finally:
            if link is not None:
                _close_quietly(channel)
                self._give(link)


class _Unconfirmed(errors.NotConfirmed):
    """A confirmation timeout: the link's state is unknown (dropped), and
    whether the broker took the message too."""

    outcome_unknown = True

    def __init__(self, uuid, where, reason):
        super(_Unconfirmed, self).__init__(uuid=uuid, where=where,
                                           reason=reason)


class _ChannelFailed(errors.NotTaken):
    """The broker closed the channel (a declaration refused,
    PRECONDITION_FAILED; a missing exchange): the link is dropped."""

    def __init__(self, uuid, where, reason):
        super(_ChannelFailed, self).__init__(uuid=uuid, where=where,
                                             reason=reason)


def _close_quietly(closable):
    try:
        closable.close()
    except Exception:  # noqa - closing something broken
        pass
