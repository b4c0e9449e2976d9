"""Capabilities and capacities flowing up the tree (reference §8.1).

Leaves push on start-up and periodically; a middle cell pushes its
aggregated view soon after a child reports.  nova pushed once per report,
so k reports from below meant k messages at every level, and two pushes
processed out of order at the parent could leave it with the older
aggregate; :class:`CoalescingPusher` sends one push per short window, and
of one kind at most every ``min_interval`` under a steady stream of
changes, always computed when it is sent (the newest view).  Parents ask
their children to announce when they start.  All four are fire-and-forget
targeted messages, capabilities as lists (sets do not travel in JSON),
fanout up so that every worker of the parent cell updates its state.
"""

from concurrent import futures
import threading
import time

from oslo_log import log as logging

__all__ = ['tell_parents_our_capabilities', 'tell_parents_our_capacities',
           'ask_children_for_capabilities', 'ask_children_for_capacities',
           'update_our_parents', 'refresh_and_tell_parents_our_capacities',
           'CoalescingPusher', 'PUSHES']

LOG = logging.getLogger(__name__)


def _tell_parents(runner, ctxt, method_name, kwargs):
    for parent in runner.state_manager.get_parent_cells():
        response = runner.targeted(ctxt, parent, method_name, kwargs,
                                   direction='up', fanout=True)
        if response is not None and response.failure:
            LOG.warning('%s to parent %s failed: %s', method_name,
                        parent.name, response.value)


def _ask_child(runner, ctxt, child, method_name):
    try:
        response = runner.targeted(ctxt, child, method_name, {},
                                   direction='down')
    except Exception as exc:  # noqa - one child's failure stays its own
        LOG.warning('%s to child %s failed: %s', method_name, child.name,
                    exc)
        return
    if response is not None and response.failure:
        LOG.warning('%s to child %s failed: %s', method_name, child.name,
                    response.value)


def _ask_children(runner, ctxt, method_name, concurrency=16):
    """Ask every child, several at a time: a child whose broker is down
    holds only its own send (bounded by ``intercell_send_retries``), not
    the others'."""
    children = runner.state_manager.get_child_cells()
    if len(children) <= 1:
        for child in children:
            _ask_child(runner, ctxt, child, method_name)
        return
    with futures.ThreadPoolExecutor(min(concurrency, len(children))) as pool:
        for child in children:
            pool.submit(_ask_child, runner, ctxt, child, method_name)


def tell_parents_our_capabilities(runner, ctxt):
    capabilities = runner.state_manager.get_our_capabilities()
    as_lists = {name: sorted(values) for name, values in capabilities.items()}
    _tell_parents(runner, ctxt, 'update_capabilities',
                  {'cell_name': runner.our_name, 'capabilities': as_lists})


def tell_parents_our_capacities(runner, ctxt):
    _tell_parents(runner, ctxt, 'update_capacities',
                  {'cell_name': runner.our_name,
                   'capacities': runner.state_manager.get_our_capacities()})


def ask_children_for_capabilities(runner, ctxt):
    _ask_children(runner, ctxt, 'announce_capabilities')


def ask_children_for_capacities(runner, ctxt):
    _ask_children(runner, ctxt, 'announce_capacities')


def update_our_parents(runner, ctxt):
    """The periodic push (and a leaf's start-up push)."""
    tell_parents_our_capabilities(runner, ctxt)
    tell_parents_our_capacities(runner, ctxt)


def refresh_and_tell_parents_our_capacities(runner, ctxt):
    """After this cell placed instances: recompute its own capacity from
    the database, then push.  Scheduled through the CoalescingPusher, so
    that a burst of builds costs one recomputation, not one each (each
    took the state lock and four queries, and builds queued behind it)."""
    runner.state_manager.refresh_own_capacity()
    tell_parents_our_capacities(runner, ctxt)


# kind -> the push that sends it (what CoalescingPusher schedules).
PUSHES = {'capabilities': tell_parents_our_capabilities,
          'capacities': tell_parents_our_capacities,
          'own_capacities': refresh_and_tell_parents_our_capacities}


class CoalescingPusher(object):
    """At most one pending push per kind; it sends the view of its time.

    :param delay: seconds to gather reports before pushing (small: it only
        has to outlast a burst of reports from the children).
    :param min_interval: least seconds between two pushes of one kind.
        Under a steady stream of builds a leaf's capacity changes all the
        time; pushing every ``delay`` sent about one capacity message per
        build at every level (20 a second each at 28 builds/s, route
        bench).  The first push after a quiet spell still leaves after
        ``delay``; nova pushed only periodically.
    """

    def __init__(self, runner, delay=0.05, min_interval=0.5,
                 clock=time.monotonic):
        self.runner = runner
        self.delay = delay
        self.min_interval = min_interval
        self.clock = clock
        self._pending = {}
        self._last = {}
        self._lock = threading.Lock()

    def soon(self, kind, ctxt):
        """Schedule a push of ``kind`` unless one is already pending."""
        with self._lock:
            if self._pending.get(kind):
                return False
            timer = threading.Timer(self._wait(kind), self._push,
                                    (kind, ctxt))
            timer.daemon = True
            self._pending[kind] = timer
        timer.start()
        return True

    def _wait(self, kind):
        last = self._last.get(kind)
        if last is None:
            return self.delay
        return max(self.delay, self.min_interval - (self.clock() - last))

    def _push(self, kind, ctxt):
        with self._lock:
            self._pending.pop(kind, None)
            self._last[kind] = self.clock()
        try:
            PUSHES[kind](self.runner, ctxt)
        except Exception:  # noqa - the periodic push will catch up
            LOG.exception('Pushing %s to parents failed', kind)

    def cancel(self):
        with self._lock:
            timers, self._pending = list(self._pending.values()), {}
        for timer in timers:
            timer.cancel()
