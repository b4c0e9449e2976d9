"""Say when what this cell hands builds to is not there.

With ``local_scheduler_driver = conductor`` a build goes to the cell's
nova-conductor as a cast on topic ``conductor``.  With no conductor
consuming, nova's builds stayed in ``building/scheduling`` for good and
nothing above DEBUG said so.  :class:`ConsumerWatch` looks (at most once a
``every`` seconds, in the background, after a hand-off) whether the topic
has a consumer on the cell's broker, and logs one WARNING naming the topic
and the broker when it has none.
"""

import threading
import time

from oslo_log import log as logging

from nova_cells.transport import connections
from nova_cells import transport_url

__all__ = ['ConsumerWatch', 'for_rabbit']

LOG = logging.getLogger(__name__)


class ConsumerWatch(object):
    """Checks, after a hand-off, that someone consumes ``topic``.

    :param consumers: ``() -> consumer count``, None when the queue does
        not exist; may raise (the check is then skipped, logged at DEBUG).
    :param where: the broker, for the log line (a masked URL).
    :param every: seconds between two checks.
    """

    def __init__(self, consumers, topic, where, every=60.0,
                 clock=time.monotonic):
        self._consumers = consumers
        self.topic = topic
        self.where = where
        self.every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._next = 0.0
        self._handed = 0
        self.warned = 0

    def handed_off(self, count=1):
        """``count`` builds were handed off; check if a check is due
        (in a thread of its own: a slow broker must not hold a build)."""
        with self._lock:
            self._handed += count
            now = self._clock()
            if now < self._next:
                return None
            self._next = now + self.every
            handed, self._handed = self._handed, 0
        thread = threading.Thread(target=self.check, args=(handed,),
                                  name='consumer-watch', daemon=True)
        thread.start()
        return thread

    def check(self, handed=0):
        """Log a WARNING when nobody consumes the topic; True when it
        warned."""
        try:
            consumers = self._consumers()
        except Exception as exc:  # noqa - only a hint for operators
            LOG.debug('Could not count the consumers of topic %s on %s: %s',
                      self.topic, self.where, exc)
            return False
        if consumers:
            return False
        self.warned += 1
        LOG.warning('Nothing consumes topic %s on %s (%s): the %d build(s) '
                    'handed off since the last check wait there, and the '
                    'instances stay in building/scheduling; is the cell\'s '
                    'nova-conductor running?', self.topic, self.where,
                    'no queue' if consumers is None else '0 consumers',
                    handed)
        return True


def for_rabbit(conf, topic, every=60.0):
    """A watch of ``topic`` on the cell's own broker, or None when the
    broker is not RabbitMQ (nothing to ask)."""
    url = conf.transport_url
    if not connections.is_rabbit(url):
        return None
    factory = connections.ConnectionFactory.from_conf(conf)
    return ConsumerWatch(
        lambda: connections.queue_consumers(factory, url, topic), topic,
        transport_url.mask(url), every=every)
