"""The intercell transport: oslo.messaging servers and clients (§4.1).

A daemon serves three topics on its own broker,
``<rpc_driver_queue_base>.targeted|broadcast|response`` (server = host),
and reaches a neighbour by casting ``process_message(message=<JSON>)`` at
version 1.0 to the neighbour's ``transport_url`` (fanout when the message
says so).  This is exactly the original's wire, so our cells and nova's can
be neighbours.

Differences from nova, on purpose: one transport per neighbour URL, closed
when no neighbour uses that URL any more (§10.10); servers are stopped on
shutdown (§10.11); the outgoing context carries no auth token (§10.4).
"""

import abc
import threading

from oslo_log import log as logging
import oslo_messaging
from oslo_messaging.rpc import server as rpc_server

from nova_cells import exception
from nova_cells.transport import rpc
from nova_cells.transport import signing as link_signing
from nova_cells import transport_url

__all__ = ['BaseCellsDriver', 'CellsRPCDriver', 'InterCellRPCDispatcher',
           'INTERCELL_VERSION_ALIASES', 'MESSAGE_TYPES']

LOG = logging.getLogger(__name__)

MESSAGE_TYPES = ('targeted', 'broadcast', 'response')
INTERCELL_VERSION_ALIASES = {'grizzly': '1.0'}
_INTERCELL_VERSION = '1.0'


class BaseCellsDriver(abc.ABC):
    """How messages get from one cell daemon to a neighbour's.

    Two implementations: :class:`CellsRPCDriver` (oslo.messaging, the
    original's transport) and :class:`nova_cells.transport.driver.
    KombuCellsDriver` (``[cells] intercell_transport = kombu``).  Both put
    the same envelope on the same exchanges and queues.
    """

    #: True when :meth:`send_message_to_cell` returns only once the
    #: neighbour's broker confirmed the message, and received messages
    #: are acknowledged only once processed (the kombu driver): a received
    #: durable message may then be relayed without an outbox row
    #: (:meth:`nova_cells.messaging.runner.MessageRunner.send`).
    confirms_sends = False

    @abc.abstractmethod
    def start_servers(self, runner):
        """Start consuming this cell's intercell topics.

        Blocks until the servers are listening.  Each received message is
        handed to ``runner.process_json``, which raises only to ask for a
        resend of a durable message (:mod:`nova_cells.messaging.delivery`).

        :raises: the transport's error when the local broker is unusable
            (start-up fails; the daemon reports it and exits).
        """

    @abc.abstractmethod
    def stop_servers(self):
        """Stop consuming and wait for in-flight messages; never raises."""

    @abc.abstractmethod
    def send_message_to_cell(self, cell_state, message):
        """Cast ``message`` to the neighbour ``cell_state``.

        Does not wait for the neighbour to process it (the kombu driver
        waits for its broker's confirmation).  Connection retries are the
        transport's (``[cells] intercell_send_retries``, with backoff);
        any error that escapes means the message was not sent, and the
        caller turns it into a failure response.
        """

    def deliver_message_to_cell(self, cell_state, message_type, text, ctxt,
                                timeout):
        """Send the recorded message ``text`` and block until it is taken:
        answered by the neighbour (oslo.messaging: an RPC call) or
        confirmed by its broker (kombu), within ``timeout`` seconds.

        :raises: anything: the message was not taken; the caller keeps it
            and sends it again.
        """
        raise NotImplementedError()

    def is_ours(self, cell_state):
        """True when the neighbour runs nova-cells on the kombu transport
        (only that driver can tell; the others say False: treat it as an
        original nova-cells).  May block on the neighbour's broker.

        :raises: when the neighbour's broker cannot be asked.
        """
        return False

    def cast_recorded_message(self, cell_state, message_type, text, ctxt,
                              timeout):
        """Send the recorded message ``text`` to an original nova-cells,
        once: as the original sends it (a cast).  A driver that can tell
        a broker's refusal from an unknown outcome raises an error with
        ``outcome_unknown = True`` for the latter.

        :raises: anything: the message was not sent (unless
            ``outcome_unknown``).
        """
        self.deliver_message_to_cell(cell_state, message_type, text, ctxt,
                                     timeout)

    def prune(self, active_urls):
        """Release resources held for URLs no neighbour uses any more."""


class InterCellRPCDispatcher(object):
    """The endpoint of the intercell servers (``process_message`` only)."""

    target = oslo_messaging.Target(version=_INTERCELL_VERSION)

    def __init__(self, runner, signing=None):
        self.runner = runner
        self.signing = signing or link_signing.LinkSigning()

    @rpc_server.expose
    @oslo_messaging.expected_exceptions(link_signing.MessageRefused,
                                        exception.MessageNotTaken,
                                        exception.MessageTooLarge)
    def process_message(self, _ctxt, message, signature=None):
        """Decode and process one message; errors are logged, not raised,
        but for the three below, which tell a calling sender to keep the
        message (already logged here; expected: no traceback): refused by
        signing, not applied now, or over ``max_message_size``.

        ``signature`` is only sent on signed links (nova-cells beyond nova;
        see :mod:`nova_cells.transport.signing`).  A message refused by the
        link's signing rules is logged and not processed; it raises
        ``MessageRefused`` (an expected exception: no traceback), so that a
        call gets an error rather than a confirmation.
        """
        self.receive(message, signature)

    def receive(self, message, signature=None, held=False, parsed=None):
        """:meth:`process_message` without oslo.messaging's wrapping of
        expected exceptions (the kombu driver's entry point): raises
        ``MessageRefused`` or ``MessageNotTaken`` as they are.  The size
        is checked before anything reads the message (the signature check
        looks at its sender).  ``held``, ``parsed``: see
        ``runner.process_json``."""
        self.runner.refuse_oversized(message)
        self._check_signature(message, signature)
        self.runner.process_json(message, held=held, parsed=parsed)

    def _neighbour(self, name):
        state_manager = self.runner.state_manager
        return (state_manager.get_parent_cell(name) or
                state_manager.get_child_cell(name))

    def _check_signature(self, message, signature):
        """Check ``message`` against the link's keys; a log line (naming
        the uuid, the claimed sender and why; never a key) and
        ``MessageRefused`` when it must not be processed."""
        verdict = self.signing.check(message, signature, self._neighbour)
        if verdict:
            return
        uuid = link_signing.uuid_of(message)
        LOG.error('Rejected intercell message %s claiming to come from %s '
                  '([cells] signing = %s): %s', uuid, verdict.sender or '?',
                  self.signing.mode, verdict.reason)
        raise link_signing.MessageRefused(uuid=uuid,
                                          sender=verdict.sender or '?',
                                          reason=verdict.reason)


class CellsRPCDriver(BaseCellsDriver):
    """The oslo.messaging driver (the only one nova ever had).

    :param conf: the cell's ConfigOpts (read here, once).
    :param exchange_for_url: optional ``url -> exchange name``; the
        in-process tree harness uses it to keep cells apart on ``fake://``,
        whose exchanges are global to the process.  None in production
        (the control exchange, ``nova``).
    :param signing: a :class:`nova_cells.transport.signing.LinkSigning`
    (default:
        nothing signed or checked, nova's wire).
    """

    def __init__(self, conf, exchange_for_url=None, signing=None):
        self.conf = conf
        self.original_neighbours = frozenset(conf.cells.original_neighbours)
        self.signing = signing or link_signing.LinkSigning()
        self.topic_base = conf.cells.rpc_driver_queue_base
        self.host = conf.host
        self.own_url = conf.transport_url
        cap = conf.upgrade_levels.intercell
        self.version_cap = INTERCELL_VERSION_ALIASES.get(cap, cap)
        retries = conf.cells.intercell_send_retries
        # oslo.messaging: None retries forever, N > 0 that many times.
        self.send_retry = None if retries < 0 else retries
        self._exchange_for_url = exchange_for_url or (lambda url: None)
        self._transports = {}
        self._clients = {}
        self._lock = threading.Lock()
        self._servers = []
        self._server_transport = None

    @property
    def servers(self):
        """The running intercell servers (to stop them all at once)."""
        return list(self._servers)

    def _topic(self, message_type):
        return '%s.%s' % (self.topic_base, message_type)

    # -- servers --------------------------------------------------------------

    def start_servers(self, runner):
        self._server_transport = rpc.get_transport(self.conf)
        exchange = self._exchange_for_url(self.own_url)
        endpoint = InterCellRPCDispatcher(runner, self.signing)
        for message_type in MESSAGE_TYPES:
            target = oslo_messaging.Target(topic=self._topic(message_type),
                                           server=self.host,
                                           exchange=exchange)
            server = rpc.get_server(
                self._server_transport, target, [endpoint],
                serializer=rpc.EnvelopeContextSerializer())
            server.start()
            self._servers.append(server)
            LOG.info('Listening on %s (server %s)', target.topic, self.host)

    def stop_servers(self):
        # Stop all three first, then wait: each wait can take a poll period.
        for action in ('stop', 'wait'):
            for server in self._servers:
                try:
                    getattr(server, action)()
                except Exception:  # noqa - stopping must go on
                    LOG.exception('Intercell server %s failed', action)
        self._servers = []
        if self._server_transport is not None:
            self._server_transport.cleanup()
            self._server_transport = None
        self.prune(())

    # -- sending --------------------------------------------------------------

    def _transport(self, url):
        transport = self._transports.get(url)
        if transport is None:
            transport = rpc.get_transport(self.conf, url)
            self._transports[url] = transport
            LOG.debug('New transport for %s', transport_url.mask(url))
        return transport

    def _client(self, url, message_type):
        key = (url, message_type)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                target = oslo_messaging.Target(
                    topic=self._topic(message_type),
                    version=_INTERCELL_VERSION,
                    exchange=self._exchange_for_url(url))
                client = rpc.get_client(self._transport(url), target,
                                        version_cap=self.version_cap,
                                        retry=self.send_retry)
                self._clients[key] = client
            return client

    def _client_for(self, cell_state, message_type):
        url = cell_state.db_info.get('transport_url')
        if not url:
            raise oslo_messaging.InvalidTransportURL(
                url, 'cell %s has no transport_url' % cell_state.name)
        return self._client(url, message_type)

    def send_message_to_cell(self, cell_state, message):
        client = self._client_for(cell_state, message.message_type)
        if message.fanout:
            client = client.prepare(fanout=True)
        client.cast(message.outgoing_context(), 'process_message',
                    **self._process_message_args(cell_state, message))

    def _process_message_args(self, cell_state, message):
        return self._signed_args(cell_state, message.to_json())

    def _signed_args(self, cell_state, text):
        """``process_message``'s arguments: the message JSON and, on a
        signed link only, its ``signature`` (so that unsigned links keep
        nova's wire)."""
        args = {'message': text}
        signature = self.signing.signature_for(cell_state, text)
        if signature is not None:
            args['signature'] = signature
        return args

    def is_ours(self, cell_state):
        """oslo.messaging cannot tell: a neighbour is taken for one of ours
        (confirmed by an RPC call, sent again until it answers) unless
        ``[cells] original_neighbours`` names it (then sent once, as a
        cast, as the original sends: it does not deduplicate)."""
        return cell_state.name not in self.original_neighbours

    def cast_recorded_message(self, cell_state, message_type, text, ctxt,
                              timeout):
        """A recorded message for an original nova-cells: a plain cast,
        as the original sends it (an RPC call would run the whole build
        inside the call, and time out)."""
        self._client_for(cell_state, message_type).cast(
            ctxt.for_other_cell(), 'process_message',
            **self._signed_args(cell_state, text))

    def deliver_message_to_cell(self, cell_state, message_type, text, ctxt,
                                timeout):
        """Send a recorded message and wait until the neighbour has taken
        it (an RPC call of the same ``process_message``; the neighbour's
        answer is the confirmation, :mod:`nova_cells.messaging.delivery`).

        :raises: anything oslo.messaging raises (a timeout, the neighbour's
            error): the message was not confirmed.
        """
        client = self._client_for(cell_state, message_type).prepare(
            timeout=timeout)
        client.call(ctxt.for_other_cell(), 'process_message',
                    **self._signed_args(cell_state, text))

    def prune(self, active_urls):
        active = set(active_urls)
        with self._lock:
            stale = [url for url in self._transports if url not in active]
            for url in stale:
                for key in [k for k in self._clients if k[0] == url]:
                    del self._clients[key]
                transport = self._transports.pop(url)
                LOG.info('Closing transport to %s (no neighbour uses it)',
                         transport_url.mask(url))
                try:
                    transport.cleanup()
                except Exception:  # noqa
                    LOG.exception('Closing transport failed')
