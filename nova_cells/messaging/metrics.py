"""What a cell's parts count for operators, in Prometheus terms.

Counters kept as things happen (messages received, builds scheduled,
rejections by filter), in the cell's own registry (not the library's
global one: several cells may share a process, in the tests and the demo).
Figures read when asked (outbox queues, neighbours) are added by the
service (:mod:`nova_cells.service.metrics`), which also serves the
registry over HTTP when ``[cells] metrics_port`` is set.
"""

import prometheus_client

__all__ = ['Counters', 'BUILD_SECONDS_BUCKETS']

#: Seconds a build spends in one cell's scheduler: a pick and a send are
#: milliseconds; retries while cells are full take seconds.
BUILD_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                         5, 10, 30, 60, 120)


class Counters(object):
    """The counters of one cell, in :attr:`registry`."""

    def __init__(self, registry=None):
        self.registry = registry or prometheus_client.CollectorRegistry()
        self._messages = prometheus_client.Counter(
            'nova_cells_messages_received',
            'Intercell messages received by this cell, by message type and '
            'method', ['message_type', 'method'], registry=self.registry)
        self._rejections = prometheus_client.Counter(
            'nova_cells_filter_rejections',
            'Candidate cells a cell scheduler filter rejected for a build',
            ['filter'], registry=self.registry)
        self._builds = prometheus_client.Histogram(
            'nova_cells_build_scheduling_seconds',
            'Seconds a build spent in this cell\'s scheduler (picked and '
            'sent on, handed off here, or failed), by outcome',
            ['outcome'], buckets=BUILD_SECONDS_BUCKETS,
            registry=self.registry)

    def message_received(self, message_type, method):
        self._messages.labels(message_type, method).inc()

    def rejected(self, filter_name, count=1):
        self._rejections.labels(filter_name).inc(count)

    def build_scheduled(self, seconds, outcome):
        """``outcome``: ``ok``, ``failed`` (its instances failed at the
        top) or ``retried`` (not taken now: its sender sends it again)."""
        self._builds.labels(outcome).observe(seconds)

    def add_collector(self, collector):
        """Figures read at each scrape (a prometheus_client collector)."""
        self.registry.register(collector)

    def exposition(self):
        """The registry in the Prometheus text format (bytes)."""
        return prometheus_client.generate_latest(self.registry)
