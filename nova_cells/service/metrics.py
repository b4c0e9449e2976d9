"""What a running daemon shows operators: its figures, read when asked.

:func:`cell_figures` reads the state of one running cell (its neighbour
links' outbox queues, its neighbours' last reports, the calls waiting for
answers) as plain data: the Guru Meditation report prints it
(:mod:`nova_cells.service.reports`) and :class:`CellCollector` turns it
into Prometheus gauges at each scrape, beside the counters the cell's
parts keep (:class:`nova_cells.messaging.metrics.Counters`).
:class:`MetricsServer` serves them over HTTP when ``[cells] metrics_port``
is set (prometheus_client's own server).
"""

from oslo_log import log as logging
from oslo_utils import timeutils
import prometheus_client
from prometheus_client import core as prometheus_core

__all__ = ['cell_figures', 'CellCollector', 'MetricsServer']

LOG = logging.getLogger(__name__)


def _neighbours(cell, now):
    state_manager = cell.state_manager
    mute_after = state_manager.settings.mute_child_interval
    rows = []
    for role, cells in (('child', state_manager.get_child_cells()),
                        ('parent', state_manager.get_parent_cells())):
        for neighbour in cells:
            age = ((now - neighbour.last_seen).total_seconds()
                   if neighbour.seen_ever() else None)
            rows.append({'name': neighbour.name, 'role': role,
                         'last_seen_seconds': age,
                         'mute': role == 'child' and
                         neighbour.is_mute(mute_after, now)})
    return rows


def _links(cell):
    outbox = cell.runner.outbox
    if outbox is None:
        return []
    return [dict(figures, direction=direction, name=name)
            for (direction, name), figures in sorted(outbox.links().items())]


def cell_figures(cell, now=None):
    """The running cell's state as plain data: ``{'cell', 'neighbours':
    [{name, role, last_seen_seconds (None: never), mute}], 'links':
    [{direction, name, messages, oldest_seconds, failing}],
    'waiting_responses'}``."""
    now = now or timeutils.utcnow()
    return {'cell': cell.name,
            'neighbours': _neighbours(cell, now),
            'links': _links(cell),
            'waiting_responses': len(cell.runner.slots)}


class CellCollector(object):
    """Prometheus gauges of :func:`cell_figures`, read at each scrape."""

    def __init__(self, cell):
        self.cell = cell

    def collect(self):
        figures = cell_figures(self.cell)
        yield from self._neighbour_gauges(figures['neighbours'])
        yield from self._link_gauges(figures['links'])
        waiting = prometheus_core.GaugeMetricFamily(
            'nova_cells_waiting_responses',
            'Calls of this cell waiting for answers from other cells')
        waiting.add_metric([], figures['waiting_responses'])
        yield waiting

    @staticmethod
    def _neighbour_gauges(neighbours):
        mute = prometheus_core.GaugeMetricFamily(
            'nova_cells_neighbour_mute',
            'A child not heard from for mute_child_interval (1) or not (0)',
            labels=['cell', 'role'])
        seen = prometheus_core.GaugeMetricFamily(
            'nova_cells_neighbour_last_seen_seconds',
            'Seconds since the neighbour last reported (absent: never)',
            labels=['cell', 'role'])
        for row in neighbours:
            labels = [row['name'], row['role']]
            mute.add_metric(labels, 1 if row['mute'] else 0)
            if row['last_seen_seconds'] is not None:
                seen.add_metric(labels, row['last_seen_seconds'])
        return mute, seen

    @staticmethod
    def _link_gauges(links):
        families = {
            'messages': prometheus_core.GaugeMetricFamily(
                'nova_cells_outbox_messages',
                'Messages in the outbox waiting for the neighbour to '
                'confirm them', labels=['cell', 'direction']),
            'oldest_seconds': prometheus_core.GaugeMetricFamily(
                'nova_cells_outbox_oldest_seconds',
                'Seconds the oldest waiting message of the link has waited',
                labels=['cell', 'direction']),
            'failing': prometheus_core.GaugeMetricFamily(
                'nova_cells_outbox_failing_sends',
                'Unconfirmed sends in a row on the link (0: it is healthy)',
                labels=['cell', 'direction']),
        }
        for link in links:
            for key, family in families.items():
                family.add_metric([link['name'], link['direction']],
                                  link[key])
        return families.values()


class MetricsServer(object):
    """The registry of ``counters`` over HTTP (``/metrics``), with
    :class:`CellCollector` of ``cell`` added to it."""

    def __init__(self, counters, cell, host, port):
        self.counters = counters
        self.host, self.port = host, port
        counters.add_collector(CellCollector(cell))
        self._server = None

    def start(self):
        self._server, _thread = prometheus_client.start_http_server(
            self.port, addr=self.host, registry=self.counters.registry)
        LOG.info('Serving metrics on http://%s:%d/metrics', self.host,
                 self.port)

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
