"""Processing received messages in order per instance, in parallel across
instances, and holding back a message its cell could not take yet.

The consumer hands each delivery here with its order key
(:func:`nova_cells.transport.ordering.order_key`: the instance it is about, or
None).
Deliveries of one key are processed one at a time, in the order received;
deliveries of different keys (and every keyless one) by up to ``workers``
threads at once.

A delivery whose processing answers :data:`RETRY` (the cell could not take
it now: :class:`nova_cells.exception.MessageNotTaken`) stays at the
head of
its key and is processed again after a backoff (``first_delay`` doubling up
to ``max_delay``); the later deliveries of that key wait behind it, those of
other keys go on.  It stays unacknowledged meanwhile, so a daemon killed
while holding it loses nothing.  RabbitMQ closes a channel whose delivery
stays unacknowledged past its ``consumer_timeout`` (30 minutes by
default), so one held longer than ``max_hold`` seconds is handed back to
the queue instead (:data:`REQUEUE`).

The caller settles each delivery (``settle(delivery, outcome)``) from the
thread that owns the channel; nothing here touches the broker.
"""

import collections
import heapq
import itertools
import threading
import time

from oslo_log import log as logging

__all__ = ['ACK', 'RETRY', 'REQUEUE', 'Lanes']

LOG = logging.getLogger(__name__)

ACK, RETRY, REQUEUE = 'ack', 'retry', 'requeue'


class _Held(object):
    """A delivery and its retries."""

    __slots__ = ('delivery', 'attempts', 'first_failure')

    def __init__(self, delivery):
        self.delivery = delivery
        self.attempts = 0
        self.first_failure = None


class Lanes(object):
    """Worker threads fed by :meth:`submit`.

    :param process: ``delivery -> ACK | RETRY``; never raises (what it
        raises is logged and counts as ACK).
    :param settle: ``(delivery, ACK | REQUEUE)``, called once per delivery.
    :param workers: threads.
    """

    def __init__(self, process, settle, workers=8, first_delay=1.0,
                 max_delay=30.0, max_hold=600.0, clock=time.monotonic,
                 name='intercell'):
        self.process = process
        self.settle = settle
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.max_hold = max_hold
        self.clock = clock
        self._cond = threading.Condition()
        self._keys = {}                     # key -> deque of _Held
        self._ready = collections.deque()   # keys whose head may run
        self._timers = []                   # (when, seq, key)
        self._seq = itertools.count()
        self._busy = 0
        self._stopping = False
        self._threads = [threading.Thread(target=self._run, daemon=True,
                                          name='%s-lane-%d' % (name, i))
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    # -- feeding ------------------------------------------------------------

    def submit(self, delivery, key):
        """Queue ``delivery``; ``key`` None means no order to keep."""
        if key is None:
            key = object()              # a key of its own
        with self._cond:
            held = self._keys.get(key)
            if held is None:
                self._keys[key] = collections.deque([_Held(delivery)])
                self._ready.append(key)
                self._cond.notify()
            else:
                held.append(_Held(delivery))

    def pending(self):
        """Deliveries not settled yet (running, waiting or held)."""
        with self._cond:
            return sum(len(q) for q in self._keys.values())

    def busy(self):
        """Deliveries being processed right now."""
        with self._cond:
            return self._busy

    def active(self):
        """Deliveries being processed or waiting for a worker (not those
        held for a retry): the consumer polls fast while there are any,
        so that their acknowledgements (and a call's answer) leave at once.
        Counting only the running ones missed a delivery submitted but not
        yet taken: the consumer then slept a whole idle poll before
        sending its answer, longer than a one-second ping waits."""
        with self._cond:
            return self._busy + len(self._ready)

    # -- the workers ----------------------------------------------------------

    def _due(self):
        now = self.clock()
        while self._timers and self._timers[0][0] <= now:
            self._ready.append(heapq.heappop(self._timers)[2])
        return (self._timers[0][0] - now) if self._timers else None

    def _take(self):
        with self._cond:
            while not self._stopping:
                wait = self._due()
                if self._ready:
                    key = self._ready.popleft()
                    self._busy += 1
                    return key, self._keys[key][0]
                self._cond.wait(wait)
            return None, None

    def _run(self):
        while True:
            key, held = self._take()
            if held is None:
                return
            outcome = self._process(held)
            self._finish(key, held, outcome)

    def _process(self, held):
        try:
            return self.process(held.delivery)
        except Exception:  # noqa - a bug must not kill the lane
            LOG.exception('Intercell message %s failed; dropping it',
                          getattr(held.delivery, 'uuid', '?'))
            return ACK

    def _finish(self, key, held, outcome):
        if outcome == RETRY:
            outcome = self._hold(held)
        if outcome != RETRY:
            # Settled before this worker counts as idle: the consumer,
            # seeing no worker busy, may wait a while before it acks.
            self._settle(held.delivery, outcome)
        with self._cond:
            self._busy -= 1
            if outcome == RETRY:
                delay = min(self.first_delay * 2 ** (held.attempts - 1),
                            self.max_delay)
                heapq.heappush(self._timers, (self.clock() + delay,
                                              next(self._seq), key))
                self._cond.notify()
                return
            queue = self._keys[key]
            queue.popleft()
            if queue:
                self._ready.append(key)
                self._cond.notify()
            else:
                del self._keys[key]

    def _hold(self, held):
        held.attempts += 1
        now = self.clock()
        if held.first_failure is None:
            held.first_failure = now
        if now - held.first_failure >= self.max_hold:
            LOG.warning('Intercell message %s still not taken after %d '
                        'attempts; handing it back to the queue',
                        getattr(held.delivery, 'uuid', '?'), held.attempts)
            return REQUEUE
        return RETRY

    def _settle(self, delivery, outcome):
        try:
            self.settle(delivery, outcome)
        except Exception:  # noqa
            LOG.exception('Settling an intercell message failed')

    # -- stopping -------------------------------------------------------------

    def drain(self, timeout):
        """Wait up to ``timeout`` s for the deliveries being processed
        (not those held for a retry); True when none is left running."""
        deadline = self.clock() + timeout
        with self._cond:
            while self._busy:
                left = deadline - self.clock()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def stop(self, timeout=5.0):
        """End the workers once their current delivery is done.  What is
        still queued or held is never settled here: the broker hands it
        back to the queue when the channel closes."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        with self._cond:
            self._keys.clear()
            self._ready.clear()
            self._timers = []
