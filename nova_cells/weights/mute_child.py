"""MuteChildWeigher: a child not heard from lately is picked last.

Raw weight 1.0 for a mute child (no update for ``mute_child_interval``
seconds), else 0.  Multiplier ``[cells] mute_weight_multiplier`` (-10000).
The interval is given at load time, not read per call (nova read CONF on
every weighing).
"""

import datetime

from oslo_log import log as logging
from oslo_utils import timeutils

from nova_cells import scheduling

__all__ = ['MuteChildWeigher']

LOG = logging.getLogger(__name__)


class MuteChildWeigher(scheduling.BaseCellWeigher):
    name = 'MuteChildWeigher'

    def __init__(self, multiplier=-10000.0, mute_child_interval=300):
        super(MuteChildWeigher, self).__init__(multiplier)
        self.mute_child_interval = mute_child_interval

    @classmethod
    def from_conf(cls, conf):
        return cls(multiplier=conf.cells.mute_weight_multiplier,
                   mute_child_interval=conf.cells.mute_child_interval)

    def weigh_cell(self, candidate, request):
        if candidate.is_me:
            return 0.0
        if candidate.state.is_mute(self.mute_child_interval, request.now):
            self._warn(candidate)
            return 1.0
        return 0.0

    def weigh_cells(self, candidates, request):
        """One cut-off time for the whole list instead of a subtraction
        per cell (same rule as :meth:`CellState.is_mute`)."""
        cutoff = (request.now or timeutils.utcnow()) - datetime.timedelta(
            seconds=self.mute_child_interval)
        weights = [1.0 if c.state.last_seen < cutoff and not c.state.is_me
                   else 0.0 for c in candidates]
        if 1.0 in weights:
            for candidate, weight in zip(candidates, weights):
                if weight:
                    self._warn(candidate)
        return weights

    @staticmethod
    def _warn(candidate):
        LOG.warning('%s has not been seen since %s and is considered mute',
                    candidate.path, candidate.state.last_seen)
