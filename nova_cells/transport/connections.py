"""Broker URLs and kombu connections, as oslo.messaging's rabbit driver
opens them.

A ``transport_url`` (``rabbit://user:pass@h1:5672,user:pass@h2/vhost``)
becomes kombu's failover list (``amqp://user:pass@h1:5672/vhost;
amqp://...``), built host by host the way oslo.messaging builds it, with
its login method, SSL options, heartbeat and retry intervals.  Nothing
here logs a URL: callers log :func:`nova_cells.transport_url.mask`.
"""

import os
import ssl
import sys
from urllib import parse as urlparse

from amqp import exceptions as amqp_exceptions
import kombu

from nova_cells import exception
from nova_cells import transport_url

__all__ = ['is_rabbit', 'kombu_url', 'ConnectionFactory', 'RetryPolicy',
           'broker_problem']

DEFAULT_URL = 'rabbit://guest:guest@localhost:5672/'
_RABBIT = ('rabbit', 'kombu+rabbit', 'amqp', 'kombu+amqp')


def _host_url(scheme, host, virtual_host):
    hostname = host.hostname
    if ':' in hostname:
        hostname = '[%s]' % hostname
    return '%s://%s:%s@%s:%s/%s' % (
        scheme, urlparse.quote(host.username or ''),
        urlparse.quote(host.password or ''), hostname,
        host.port or 5672, virtual_host or '')


def is_rabbit(url):
    """True for a RabbitMQ transport URL (None: oslo's default, one);
    False for any other, or one that does not parse."""
    try:
        return transport_url.parse(url or DEFAULT_URL).transport in _RABBIT
    except exception.InvalidTransportURL:
        return False        # reported by whoever uses it


def kombu_url(url):
    """kombu's URL (hosts ``;``-separated) for a ``rabbit://`` URL.

    :raises InvalidTransportURL: not a RabbitMQ URL (``fake://`` is
        oslo.messaging's alone).
    """
    parsed = transport_url.parse(url or DEFAULT_URL)
    if parsed.transport not in _RABBIT:
        raise exception.InvalidTransportURL(
            url=transport_url.mask(url), reason='the kombu intercell '
            'transport needs a rabbit:// URL, not %s://' % parsed.transport)
    return ';'.join(_host_url('amqp', host, parsed.virtual_host)
                    for host in parsed.hosts)


class RetryPolicy(object):
    """oslo's reconnection waits: ``rabbit_retry_interval``, growing by
    ``rabbit_retry_backoff`` up to ``rabbit_interval_max``."""

    def __init__(self, start=1.0, step=2.0, maximum=30.0):
        self.start = start
        self.step = step
        self.maximum = maximum

    @classmethod
    def from_conf(cls, conf):
        rabbit = conf.oslo_messaging_rabbit
        return cls(rabbit.rabbit_retry_interval, rabbit.rabbit_retry_backoff,
                   rabbit.rabbit_interval_max)

    def delays(self):
        """The waits between attempts, forever."""
        delay = self.start
        while True:
            yield delay
            delay = min(delay + self.step, self.maximum)


def _ssl_options(rabbit):
    if not rabbit.ssl:
        return None
    options = {}
    if rabbit.ssl_key_file:
        options['keyfile'] = rabbit.ssl_key_file
    if rabbit.ssl_cert_file:
        options['certfile'] = rabbit.ssl_cert_file
    if rabbit.ssl_ca_file:
        options['ca_certs'] = rabbit.ssl_ca_file
        options['cert_reqs'] = ssl.CERT_REQUIRED
    return options or True


class ConnectionFactory(object):
    """Opens kombu connections with the cell's ``[oslo_messaging_rabbit]``
    connection options (not connected yet: kombu connects on first use).

    :param name: shown by RabbitMQ as the connection's name.
    """

    def __init__(self, heartbeat=60, login_method='AMQPLAIN', ssl=None,
                 name='nova-cells'):
        self.heartbeat = heartbeat
        self.login_method = login_method
        self.ssl = ssl
        self.name = name

    @classmethod
    def from_conf(cls, conf):
        rabbit = conf.oslo_messaging_rabbit
        return cls(heartbeat=rabbit.heartbeat_timeout_threshold,
                   login_method=rabbit.rabbit_login_method,
                   ssl=_ssl_options(rabbit),
                   name='%s:%d:kombu-intercell' % (
                       os.path.basename(sys.argv[0]), os.getpid()))

    def connect(self, url, confirm=False, purpose='', heartbeat=True):
        """A :class:`kombu.Connection` to ``url`` (a transport URL).

        :param confirm: publisher confirms on every channel.
        :param heartbeat: False for a connection nobody ticks (a
            publisher's: a dead one shows as an error or a confirmation
            timeout on the next send, which then reconnects).
        """
        return kombu.Connection(
            kombu_url(url), ssl=self.ssl, login_method=self.login_method,
            heartbeat=self.heartbeat if heartbeat else 0,
            failover_strategy='round-robin',
            transport_options={
                'confirm_publish': confirm,
                'client_properties': {
                    'capabilities': {'authentication_failure_close': True,
                                     'connection.blocked': True,
                                     'consumer_cancel_notify': True},
                    'connection_name': '%s%s' % (
                        self.name, ':' + purpose if purpose else '')}})


def queue_consumers(factory, url, queue, wait=5.0):
    """How many consumers the queue ``queue`` has on the broker of
    ``url`` (a passive declare): None when the queue does not exist.

    :raises: the broker's error when it cannot be reached in ``wait`` s.
    """
    connection = factory.connect(url, purpose='consumer-check',
                                 heartbeat=False)
    try:
        connection.ensure_connection(max_retries=1, timeout=wait)
        channel = connection.channel()
        try:
            _name, _messages, consumers = channel.queue_declare(
                queue, passive=True)
        except amqp_exceptions.NotFound:
            return None
        return consumers
    finally:
        connection.release()


def broker_problem(factory, url, wait=10.0):
    """Why the broker of ``url`` cannot be used, or None: one connection
    (login and virtual host included), retried for at most ``wait``
    seconds when the broker does not answer.

    A daemon whose own broker URL, port, password or vhost is wrong once
    forked a worker that crashed with a traceback, forever; start-up asks
    this first and exits with one line.  Transports other than RabbitMQ
    (``fake://``) are not checked.
    """
    parsed = transport_url.parse(url or DEFAULT_URL)
    if parsed.transport not in _RABBIT:
        return None
    connection = factory.connect(url, purpose='start-up-check',
                                 heartbeat=False)
    try:
        connection.ensure_connection(max_retries=max(1, int(wait)),
                                     interval_start=0.5, interval_step=0.5,
                                     interval_max=1.0, timeout=wait)
    except Exception as exc:  # noqa - every failure is the answer
        text = str(exc).strip() or type(exc).__name__
        return text.splitlines()[0]
    finally:
        connection.release()
    return None
