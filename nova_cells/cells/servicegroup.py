"""Service liveness in the database, as nova's DB servicegroup driver.

A service is up when its last heartbeat is no older than
``service_down_time`` and it is not forced down.  The heartbeat itself
(``report_count``, ``last_seen_up``) is written by
:mod:`nova_cells.service.daemon`.
"""

from oslo_log import log as logging
from oslo_utils import timeutils

from nova_cells.db import api as db_api

__all__ = ['last_heartbeat', 'is_up', 'DBHeartbeat']

LOG = logging.getLogger(__name__)


def last_heartbeat(service):
    """Return the time of ``service``'s last heartbeat (or creation).

    As nova's DB driver since Liberty: ``last_seen_up``, else
    ``created_at``; an edit of the row (``updated_at``) is no heartbeat.
    """
    return service.get('last_seen_up') or service.get('created_at')


def is_up(service, service_down_time, now=None):
    """Return True if ``service`` (a services row dict) is alive."""
    if service.get('forced_down'):
        return False
    seen = last_heartbeat(service)
    if seen is None:
        return False
    now = now or timeutils.utcnow()
    return abs((now - seen).total_seconds()) <= service_down_time


class DBHeartbeat(object):
    """This service's row in ``services`` and its periodic heartbeat.

    A failed heartbeat (database down) is logged and retried at the next
    interval; the daemon keeps serving meanwhile, as nova's did.
    """

    def __init__(self, db, host, binary, topic):
        self.db = db
        self.host = host
        self.binary = binary
        self.topic = topic
        self.service_id = None
        self._healthy = True

    def join(self):
        """Find or create this service's row (a start-up step)."""
        row = db_api.service_get_by_host_and_binary(self.db, self.host,
                                                    self.binary)
        if row is None:
            row = db_api.service_create(self.db, {
                'host': self.host, 'binary': self.binary,
                'topic': self.topic, 'report_count': 0, 'disabled': False,
                'forced_down': False, 'version': 0})
            LOG.info('Created service row %s for %s on %s', row['id'],
                     self.binary, self.host)
        self.service_id = row['id']
        self.report()
        return row

    def report(self):
        """Write one heartbeat; never raises."""
        try:
            db_api.service_report(self.db, self.service_id)
        except Exception as exc:  # noqa - any DB fault must not kill us
            if self._healthy:
                LOG.error('Heartbeat of %s on %s failed (will retry every '
                          'report_interval): %s', self.binary, self.host, exc)
            self._healthy = False
            return False
        if not self._healthy:
            LOG.info('Heartbeat of %s on %s recovered', self.binary,
                     self.host)
        self._healthy = True
        return True
