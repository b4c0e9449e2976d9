"""The nova-cells service: a declared start order, and its reverse on stop.

Start: database -> cell state -> intercell servers -> ``cells`` RPC server
-> start-up announcements (sent in the background) -> heartbeat -> periodic
tasks -> systemd readiness.  Stop runs the started steps backwards,
logging each, and logs (never raises) a step that fails to stop, so that
SIGTERM always ends the process promptly.

The same object runs under either concurrency backend; under the threading
backend oslo.service runs it in a forked child (cotyledon).
"""

import random
import threading

from oslo_log import log as logging
from oslo_service import service as oslo_service

from nova_cells.service import assembly
from nova_cells.service import baserpc
from nova_cells.service import launcher
from nova_cells.service import metrics
from nova_cells.service import reports
from nova_cells import context as cells_context
from nova_cells.db import api as db_api
from nova_cells.transport import rpc
from nova_cells.cells import servicegroup
from nova_cells.service import systemd
from nova_cells import TOPIC

__all__ = ['CellsService', 'BINARY']

LOG = logging.getLogger(__name__)

BINARY = 'nova-cells'


class _Step(object):
    def __init__(self, name, start, stop=None):
        self.name = name
        self.start = start
        self.stop = stop


class CellsService(oslo_service.Service):
    """One nova-cells daemon of one cell."""

    def __init__(self, conf):
        super(CellsService, self).__init__()
        self.conf = conf
        self.host = conf.host
        self.db = None
        self.cell = None
        self.transport = None
        self.rpc_server = None
        self.heartbeat = None
        self.metrics_server = None
        self._started = []
        self._steps = [
            _Step('database', self._start_database, self._stop_database),
            _Step('cell state', self._start_state, self._stop_state),
            _Step('intercell servers', self._start_intercell,
                  self._stop_intercell),
            _Step('outbox', self._start_outbox, self._stop_outbox),
            _Step('cells RPC server', self._start_rpc, self._stop_rpc),
            _Step('metrics', self._start_metrics, self._stop_metrics),
            _Step('start-up announcements', self._post_start_hook),
            _Step('heartbeat', self._start_heartbeat),
            _Step('periodic tasks', self._start_periodic_tasks),
            _Step('systemd notification', self._start_systemd,
                  self._stop_systemd),
        ]

    # -- lifecycle ------------------------------------------------------------

    def start(self):
        LOG.info('Starting %s for cell %r (type %s) on host %s', BINARY,
                 self.conf.cells.name, self.conf.cells.cell_type, self.host)
        self.conf.log_opt_values(LOG, logging.DEBUG)
        for step in self._steps:
            LOG.info('Start step: %s', step.name)
            step.start()
            self._started.append(step)
        LOG.info('%s started', BINARY)

    def stop(self, graceful=False):
        LOG.info('Stopping %s', BINARY)
        self._stop_consuming()
        while self._started:
            step = self._started.pop()
            if step.stop is None:
                continue
            LOG.info('Stop step: %s', step.name)
            try:
                step.stop()
            except Exception:  # noqa - log and go on stopping the rest
                LOG.exception('Stop step %s failed', step.name)
        try:
            self.tg.stop_timers()
        except Exception:  # noqa
            LOG.exception('Stopping timers failed')
        super(CellsService, self).stop(graceful=False)
        LOG.info('%s stopped', BINARY)

    def _stop_consuming(self):
        """Stop every RPC server at once (each stop can wait for a poll
        period; one after the other they could exceed systemd's patience),
        then the steps below only wait and clean up."""
        servers = list(self.cell.driver.servers if self.cell else [])
        if self.rpc_server is not None:
            servers.append(self.rpc_server)
        threads = [threading.Thread(target=_quietly, args=(s.stop,))
                   for s in servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=4)

    def reset(self):
        """SIGHUP, once the files are re-read: apply mutable options and
        the cell list; name the options only a restart applies."""
        LOG.info('Reloading mutable options and the cell list')
        launcher.warn_immutable_changes(self.conf)
        if self.cell is not None:
            self.cell.reload_settings()
            self.cell.manager.reset()

    # -- steps ----------------------------------------------------------------

    def _start_metrics(self):
        """The Guru Meditation section of this cell; its metrics over HTTP
        when ``[cells] metrics_port`` is set."""
        reports.CellSection(self).register()
        port = self.conf.cells.metrics_port
        if not port:
            return
        self.metrics_server = metrics.MetricsServer(
            self.cell.runner.services.metrics, self.cell,
            self.conf.cells.metrics_host, port)
        self.metrics_server.start()

    def _stop_metrics(self):
        if self.metrics_server is not None:
            self.metrics_server.stop()
            self.metrics_server = None

    def _start_database(self):
        self.db = db_api.Database.from_conf(self.conf)
        self.db.check_connection()

    def _stop_database(self):
        self.db.dispose()

    def _start_state(self):
        self.cell = assembly.build_cell(self.conf, self.db)
        LOG.info('Flavors are read from %s', self.cell.flavors.where)
        self.cell.state_manager.sync(force=True)

    def _stop_state(self):
        self.cell.close()

    def _start_intercell(self):
        self.cell.driver.start_servers(self.cell.runner)

    def _stop_intercell(self):
        self.cell.driver.stop_servers()

    def _start_outbox(self):
        self.cell.start_outbox()

    def _stop_outbox(self):
        self.cell.stop_outbox()

    def _post_start_hook(self):
        """Announce in the background: a neighbour whose broker is down
        must not hold the heartbeat, the periodic tasks and systemd's
        READY=1 (each send retries for a while before it fails)."""
        thread = threading.Thread(target=self._announce,
                                  name='start-up announcements', daemon=True)
        thread.start()

    def _announce(self):
        try:
            self.cell.manager.post_start_hook(
                cells_context.get_admin_context())
        except Exception:  # noqa - the periodic push will try again
            LOG.exception('Start-up announcements failed; the periodic '
                          'push will report this cell later')

    def _start_rpc(self):
        self.transport = rpc.get_transport(self.conf)
        endpoints = self.cell.endpoints + [baserpc.BaseRPCAPI('cells')]
        serializer = rpc.RequestContextSerializer(self.cell.runner.serializer)
        self.rpc_server = assembly.cells_topic_server(
            self.conf, self.cell, self.transport, TOPIC, endpoints,
            serializer)
        self.rpc_server.start()

    def _stop_rpc(self):
        self.rpc_server.stop()
        self.rpc_server.wait()
        self.transport.cleanup()

    def _start_heartbeat(self):
        self.heartbeat = servicegroup.DBHeartbeat(self.db, self.host, BINARY,
                                                  TOPIC)
        self.heartbeat.join()
        interval = self.conf.report_interval
        self.tg.add_timer_args(interval, self.heartbeat.report,
                               initial_delay=interval,
                               stop_on_exception=False)

    def _start_periodic_tasks(self):
        if not self.conf.periodic_enable:
            LOG.info('Periodic tasks disabled (periodic_enable = False)')
            return
        delay = random.randint(0, self.conf.periodic_fuzzy_delay)
        self.tg.add_dynamic_timer_args(self._run_periodic_tasks,
                                       initial_delay=delay,
                                       periodic_interval_max=60,
                                       stop_on_exception=False)

    def _run_periodic_tasks(self):
        ctxt = cells_context.get_admin_context()
        return self.cell.manager.run_periodic_tasks(ctxt,
                                                    raise_on_error=False)

    def _start_systemd(self):
        systemd.ready()
        interval = systemd.watchdog_interval()
        if interval:
            self.tg.add_timer_args(interval, systemd.watchdog_ping,
                                   stop_on_exception=False)

    def _stop_systemd(self):
        systemd.stopping()


def _quietly(func):
    try:
        func()
    except Exception:  # noqa - stopping must go on
        LOG.exception('Stopping %s failed', func)
