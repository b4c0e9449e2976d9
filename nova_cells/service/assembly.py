"""Wiring one cell's parts together, the same way for the daemon, the demo
and the in-process test tree (dependency injection, no globals).

    database (+ flavor reader) -> state manager -> intercell driver
             -> message runner -> manager (the 'cells' RPC endpoint)
"""

import datetime
import threading

from oslo_log import log as logging
import oslo_messaging
from oslo_messaging.rpc import dispatcher as rpc_dispatcher
from oslo_utils import timeutils

from nova_cells import _backend
from nova_cells.conf import validation
from nova_cells.db import api as db_api
from nova_cells.db import flavors as flavor_source
from nova_cells.messaging import delivery
from nova_cells import endpoints
from nova_cells import handlers
from nova_cells.handoff import compute
from nova_cells.top import heal
from nova_cells.top import lost_builds
from nova_cells import manager as cells_manager
from nova_cells.messaging import runner as messaging
from nova_cells.objects import base as objects_base
from nova_cells.scheduler import plugins
from nova_cells import policy
from nova_cells.cells import propagation
from nova_cells.transport import rpc
from nova_cells.transport import rpc_driver
from nova_cells.scheduler import core as cells_scheduler
from nova_cells.transport import signing
from nova_cells.cells import state
from nova_cells.top import topwriter
from nova_cells.transport import connections as kombu_connections
from nova_cells.transport import driver as kombu_driver

__all__ = ['CellParts', 'build_cell', 'object_serializer',
           'settings_problems']

LOG = logging.getLogger(__name__)


def object_serializer():
    """The serializer for objects inside messages (nova's primitives)."""
    objects_base.register_all()
    return objects_base.NovaObjectSerializer()


class CellParts(object):
    """The assembled parts of one cell; no I/O has happened yet."""

    def __init__(self, conf, db, state_manager, driver, runner, manager,
                 scheduler):
        self.conf = conf
        self.scheduler = scheduler
        self.endpoints = [manager]
        self.db = db
        self.state_manager = state_manager
        self.flavors = state_manager.flavors
        self.driver = driver
        self.runner = runner
        self.manager = manager

    @property
    def name(self):
        return self.runner.our_name

    def start_outbox(self):
        """Resend what an earlier run left unconfirmed (durable
        forwarding only)."""
        if self.runner.outbox is not None:
            self.runner.outbox.start()

    def stop_outbox(self):
        if self.runner.outbox is not None:
            self.runner.outbox.stop()
        if self.runner.inbox is not None:
            self.runner.inbox.stop()

    def close(self):
        """Release what the assembly opened itself: the flavor reader's
        engine (nova's API database); the cell's database belongs to
        whoever passed it in."""
        self.flavors.dispose()

    def reload_settings(self):
        """Apply mutable options (SIGHUP), all or none.

        The reloaded configuration goes through the start-up validation
        first (:func:`settings_problems`); when anything fails, nothing is
        applied, the running settings stay, and one ERROR line says why.
        (A reload once applied ``max_hop_count = 0`` or ``reserve_percent =
        250``, which start-up refuses, and every later build failed.)

        :returns: True when applied.
        """
        problems, lists = settings_problems(self.conf)
        if problems:
            LOG.error('Refused the reloaded configuration, keeping the '
                      'running settings: %s', '; '.join(problems))
            return False
        self.state_manager.settings = state.StateSettings.from_conf(self.conf)
        self.state_manager.my_cell_state.capabilities = \
            state.parse_capabilities(state.own_capability_entries(self.conf))
        self.runner.settings = messaging.RunnerSettings.from_conf(self.conf)
        self.scheduler.settings = cells_scheduler.SchedulerSettings.from_conf(
            self.conf)
        self.scheduler.filters, self.scheduler.weighers = lists
        self.manager.healer.settings = heal.HealSettings.from_conf(self.conf)
        return True


def settings_problems(conf):
    """The one validation of a configuration, at start-up and on reload:
    ``(problems, (filters, weighers))``, problems a list of one-line
    reasons (empty when valid), the plug-ins loaded when they load.

    Option values (types, choices, bounds, finite floats, the cell name)
    are :func:`nova_cells.conf.validation.find_problems`; the scheduler's
    plug-in lists and their options are checked by loading them.
    """
    problems = [str(p) for p in validation.find_problems(conf)]
    if problems:
        return problems, None
    try:
        return [], cells_scheduler.load_plugin_lists(conf)
    except (plugins.UnknownPlugin, ValueError) as exc:
        return [str(exc).strip().splitlines()[0]], None


class _LazyTransport(object):
    """The cell's own broker transport, made on first use only."""

    def __init__(self, conf):
        self.conf = conf
        self._transport = None
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            if self._transport is None:
                self._transport = rpc.get_transport(self.conf)
            return self._transport


def _build_scheduler(conf, runner, exchange_for_url=None):
    handoff_cls = plugins.load_class('handoff_drivers',
                                     conf.cells.local_scheduler_driver)
    transport = _LazyTransport(conf)
    exchange = exchange_for_url(conf.transport_url) if exchange_for_url \
        else None
    handoff = handoff_cls.from_conf(conf, runner, transport,
                                    exchange=exchange)
    # Calls to this cell's own services (proxied RPCs, console checks).
    runner.services.local_rpc = (transport, exchange)
    # Lifecycle actions go to the instance's host the same way builds go to
    # the cell: over its own broker, or played here by the builtin driver.
    if conf.cells.local_scheduler_driver == 'builtin':
        runner.services.compute = compute.BuiltinComputeHandoff(
            runner, runner.services.db)
    else:
        runner.services.compute = compute.ComputeRPCHandoff(
            transport, runner.serializer, exchange=exchange)
    scheduler_cls = plugins.load_class(
        'scheduler_drivers', plugins.resolve_names([conf.cells.scheduler])[0])
    return scheduler_cls.from_conf(conf, runner, handoff,
                                   policy.CellPolicy(conf))


def intercell_transport(conf, backend=None):
    """``[cells] intercell_transport``, ``auto`` resolved: ``kombu`` for
    a RabbitMQ ``transport_url`` on native threads, ``oslo.messaging``
    for any other URL (the kombu driver speaks AMQP only) or under
    eventlet (the kombu consumers and lanes are built and tested on
    native threads; oslo.messaging has its eventlet executor)."""
    kind = conf.cells.intercell_transport
    if kind != 'auto':
        return kind
    backend = backend or _backend.active()
    if backend == 'threading' and \
            kombu_connections.is_rabbit(conf.transport_url):
        return 'kombu'
    return 'oslo.messaging'


def _build_driver(conf, exchange_for_url, link_signing):
    """The intercell driver ``[cells] intercell_transport`` names."""
    if intercell_transport(conf) == 'kombu':
        return kombu_driver.KombuCellsDriver(conf, signing=link_signing)
    return rpc_driver.CellsRPCDriver(conf, exchange_for_url,
                                     signing=link_signing)


# oslo.messaging's default executor_thread_pool_size: methods of the
# ``cells`` topic run at once.
_TOPIC_WORKERS = 64


def cells_topic_server(conf, parts, transport, topic, endpoints, serializer):
    """The server of ``topic`` (``cells``) on the cell's own broker.

    With the kombu intercell transport, a server that acknowledges a
    message once handled (a daemon killed meanwhile loses nothing: the
    copy is found in the inbox); else oslo.messaging's RPC server, which
    acknowledges first, as nova's did.
    """
    if isinstance(parts.driver, kombu_driver.KombuCellsDriver):
        return parts.driver.topic_server(
            topic, endpoints, serializer,
            rpc_dispatcher.ExplicitRPCAccessPolicy,
            workers=getattr(conf, 'executor_thread_pool_size',
                            _TOPIC_WORKERS))
    target = oslo_messaging.Target(topic=topic, server=conf.host)
    return rpc.get_server(transport, target, endpoints,
                          serializer=serializer)


def _daemon_gone_after(conf):
    """Seconds without a heartbeat after which another daemon of this cell
    is taken for stopped (three heartbeats missed, 10 s at least)."""
    return max(10.0, 3.0 * conf.report_interval)


def _daemons_alive(db, conf):
    """The hosts of this cell's nova-cells daemons that beat lately."""
    since = timeutils.utcnow() - datetime.timedelta(
        seconds=_daemon_gone_after(conf))
    return db_api.service_hosts_alive(db, 'nova-cells', since)


def build_cell(conf, db, exchange_for_url=None, handler_tables=None,
               serializer=None):
    """Assemble a cell from its configuration and database.

    The flavor reader is chosen here, once: nova's API database when
    ``[api_database] connection`` is set, else the cell's own
    ``instance_types`` (:mod:`nova_cells.db.flavors`); :meth:`CellParts.close`
    releases it.

    :param exchange_for_url: see
    :class:`nova_cells.transport.rpc_driver.CellsRPCDriver`.
    :param handler_tables: intercell method tables (default: built-in).
    :param serializer: object serializer (default: nova's primitives).
    """
    state_manager = state.make_state_manager(
        conf, db, flavors=flavor_source.from_conf(conf, db))
    driver = _build_driver(conf, exchange_for_url,
                           signing.LinkSigning(conf.cells.signing))
    state_manager.add_listener(driver.prune)
    runner = messaging.MessageRunner(
        conf.cells.name, state_manager, driver,
        handler_tables or handlers.default_tables(),
        serializer or object_serializer(),
        messaging.RunnerSettings.from_conf(conf))
    runner.services.db = db       # the scheduler's hand-offs read it
    if conf.cells.durable_forwarding:
        runner.inbox = delivery.Inbox(db)
        runner.outbox = delivery.Outbox(
            db, driver, runner.neighbour, conf.cells.outbox_resend_interval,
            loopback=runner.process_own, owner=conf.host,
            alive=lambda: _daemons_alive(db, conf),
            adopt_every=_daemon_gone_after(conf))
    scheduler = _build_scheduler(conf, runner, exchange_for_url)
    services = runner.services
    services.pusher = propagation.CoalescingPusher(runner)
    services.top_writer = topwriter.TopWriter(db)
    services.healer = heal.Healer(runner, heal.HealSettings.from_conf(conf))
    services.scheduler = scheduler
    manager = cells_manager.CellsManager(
        conf, state_manager, runner,
        parent_update_interval=conf.cells.parent_update_interval,
        heal_interval=conf.cells.heal_interval, healer=services.healer,
        lost_builds=lost_builds.LostBuilds(db,
                                           conf.cells.scheduling_timeout))
    parts = CellParts(conf, db, state_manager, driver, runner, manager,
                      scheduler)
    parts.endpoints.extend(endpoints.build_endpoints(parts))
    return parts
