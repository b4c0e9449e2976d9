"""MuteChildWeigher: a child not heard from lately is picked last.

Raw weight 1.0 for a mute child (no update for ``mute_child_interval``
seconds), else 0.  Multiplier ``[cells] mute_weight_multiplier`` (-10000).
The interval is given at load time, not read per call (nova read CONF on
every weighing).
"""

from oslo_log import log as logging

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
            LOG.warning('%s has not been seen since %s and is considered '
                        'mute', candidate.path, candidate.state.last_seen)
            return 1.0
        return 0.0
