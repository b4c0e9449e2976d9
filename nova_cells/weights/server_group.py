"""ServerGroupCellWeigher: soft server group policies at cell level.

For a request in a server group with a soft cell-level policy
(``soft-cell-affinity`` / ``soft-cell-anti-affinity``, or nova's soft
policies with ``[cells] server_group_cell_level``), the raw weight is the
number of the group's members a build given to the candidate would join
(existing members in its subtree, plus what this request placed there
while planning).  The multiplier depends on the policy
(:meth:`multiplier_for`): ``+soft_affinity_weight_multiplier`` pulls
towards the members, ``-soft_anti_affinity_weight_multiplier`` pushes away
from them; 0 (nothing added) for a request without a soft group.

Why: a soft policy prefers without refusing: a full cell is still used
when nothing better is left (hard policies: ServerGroupCellFilter).
"""

from nova_cells import scheduling

__all__ = ['ServerGroupCellWeigher']


class ServerGroupCellWeigher(scheduling.BaseCellWeigher):
    name = 'ServerGroupCellWeigher'

    def __init__(self, affinity_multiplier=20.0,
                 anti_affinity_multiplier=20.0):
        for option, value in (
                ('soft_affinity_weight_multiplier', affinity_multiplier),
                ('soft_anti_affinity_weight_multiplier',
                 anti_affinity_multiplier)):
            if value < 0:
                raise ValueError('[cells] %s = %r: must not be negative '
                                 '(the policy gives the sign)'
                                 % (option, value))
        super(ServerGroupCellWeigher, self).__init__(affinity_multiplier)
        self.anti_affinity_multiplier = anti_affinity_multiplier

    @classmethod
    def from_conf(cls, conf):
        return cls(conf.cells.soft_affinity_weight_multiplier,
                   conf.cells.soft_anti_affinity_weight_multiplier)

    @staticmethod
    def _soft_group(request):
        group = request.group
        return group if group is not None and group.soft else None

    def multiplier_for(self, request):
        group = self._soft_group(request)
        if group is None:
            return 0.0
        if group.policy == 'affinity':
            return self.multiplier
        if group.policy == 'anti-affinity':
            return -self.anti_affinity_multiplier
        return 0.0

    def weigh_cell(self, candidate, request):
        if self._soft_group(request) is None:
            return 0.0
        return float(request.group_members_in(candidate))

    def weigh_cells(self, candidates, request):
        if self._soft_group(request) is None:
            return [0.0] * len(candidates)
        return [float(request.group_members_in(c)) for c in candidates]
