"""Telling a neighbour of ours from an original nova-cells.

A daemon on the kombu transport declares, on its own broker, an exchange
that no oslo.messaging service ever declares: :data:`NAME`, a transient
fanout exchange that deletes itself with its last binding, bound to this
daemon's fanout queue of the targeted topic.  It lives as long as that
queue does: while the daemon runs, through a restart, and until the
queue expires (``rabbit_transient_queues_ttl``, 30 minutes by default)
once no daemon of ours consumes there any more; a broker restart removes
it until the daemon declares it again (at every reconnection).  Nothing
is ever published to it.

A sender asks the neighbour's broker with a passive declaration
(:meth:`Markers.is_ours`), remembers the answer for ``ttl`` seconds, and
asks again at the next question after a failure.  An operator can name
neighbours to treat as original whatever their broker shows
(``[cells] original_neighbours``).
"""

import threading
import time

import kombu

__all__ = ['NAME', 'exchange', 'bind', 'Markers']

NAME = 'nova-cells.kombu-transport'


def exchange():
    return kombu.Exchange(NAME, type='fanout', durable=False,
                          auto_delete=True)


def bind(channel, queue_name):
    """Declare the marker on ``channel`` and bind it to ``queue_name``."""
    exchange()(channel).declare()
    channel.queue_bind(queue=queue_name, exchange=NAME, routing_key='')


class Markers(object):
    """Answers "is that neighbour one of ours on this transport?".

    :param probe: ``url -> bool``: the marker exists on that broker;
        raises when the broker cannot be reached.
    :param originals: names of neighbours always taken for originals.
    :param ttl: seconds an answer is kept.
    """

    def __init__(self, probe, originals=(), ttl=300.0, clock=time.monotonic):
        self.probe = probe
        self.originals = frozenset(originals)
        self.ttl = ttl
        self.clock = clock
        self._answers = {}
        self._lock = threading.Lock()

    def is_ours(self, name, url):
        """True when the neighbour ``name`` at ``url`` runs our kombu
        transport.

        :raises: the probe's error (the broker could not be asked; nothing
            is remembered, the next call asks again).
        """
        if name in self.originals:
            return False
        now = self.clock()
        with self._lock:
            known = self._answers.get(url)
        if known is not None and known[1] > now:
            return known[0]
        answer = bool(self.probe(url))
        with self._lock:
            self._answers[url] = (answer, now + self.ttl)
        return answer

    def forget(self, urls=None):
        """Drop remembered answers (all, or for ``urls``)."""
        with self._lock:
            if urls is None:
                self._answers.clear()
            for url in urls or ():
                self._answers.pop(url, None)
