"""What this cell decided for the builds it scheduled, by request id.

``nova-cells-manage trace REQUEST_ID`` gathers, from every cell a build
passed through, when it arrived, what the scheduler saw and decided and
where the build went (``get_build_trace``, a broadcast that each cell
answers from here).  Each daemon keeps the last :data:`KEEP` builds in
memory: cheap (no write per build), and what an operator asks about is
recent; a restarted daemon has forgotten what it did before.
"""

import collections
import threading

from oslo_utils import timeutils

__all__ = ['BuildTrace', 'KEEP']

#: Builds each daemon remembers.
KEEP = 5000


class BuildTrace(object):
    """The last ``keep`` builds this cell scheduled, in arrival order."""

    def __init__(self, keep=KEEP, clock=timeutils.utcnow):
        self.keep = keep
        self._clock = clock
        self._entries = collections.OrderedDict()
        self._lock = threading.Lock()

    def begin(self, message, instances):
        """A build arrived (``message``, its ``instances``)."""
        entry = {'request_id': getattr(message.ctxt, 'request_id', None),
                 'message': message.uuid,
                 'cell': str(message.routing_path),
                 'hop': message.hop_count,
                 'arrived_at': self._clock().isoformat(),
                 'instances': [i.uuid for i in instances],
                 'steps': [], 'outcome': None, 'seconds': None}
        with self._lock:
            self._entries[message.uuid] = entry
            while len(self._entries) > self.keep:
                self._entries.popitem(last=False)

    def step(self, message, text):
        """What the scheduler saw or did, in one line."""
        with self._lock:
            entry = self._entries.get(message.uuid)
            if entry is not None:
                entry['steps'].append(text)

    def end(self, message, outcome, seconds):
        with self._lock:
            entry = self._entries.get(message.uuid)
            if entry is not None:
                entry['outcome'] = outcome
                entry['seconds'] = round(seconds, 6)

    def find(self, request_id):
        """Copies of the entries of ``request_id``, oldest first."""
        with self._lock:
            return [dict(e, steps=list(e['steps']))
                    for e in self._entries.values()
                    if e['request_id'] == request_id]
