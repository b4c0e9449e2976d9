"""AvailabilityZoneSpreadWeigher: spread a split build across zones.

While a split build is planned one instance at a time, a candidate's raw
weight is minus the instances of this request already given to cells
sharing a zone with it (its values of the capability ``[cells]
spread_capability``, ``az`` by default; a child's values include its
children's).  A candidate declaring no zone weighs 0, and so does every
candidate outside planning (one pick places the whole request: nothing to
spread).  Multiplier ``[cells] az_spread_weight_multiplier`` (20.0, above
the RAM weigher's so that balance wins over free RAM).

Why: a split build otherwise lands wherever there is most room, often all
in one zone, which a zone outage then takes down together.
"""

from nova_cells import scheduling

__all__ = ['AvailabilityZoneSpreadWeigher']


class AvailabilityZoneSpreadWeigher(scheduling.BaseCellWeigher):
    name = 'AvailabilityZoneSpreadWeigher'

    def __init__(self, multiplier=20.0, capability='az'):
        super(AvailabilityZoneSpreadWeigher, self).__init__(multiplier)
        self.capability = capability

    @classmethod
    def from_conf(cls, conf):
        return cls(multiplier=conf.cells.az_spread_weight_multiplier,
                   capability=conf.cells.spread_capability)

    def weigh_cell(self, candidate, request):
        return self.weigh_cells([candidate], request)[0]

    def _assigned_by_zones(self, request):
        """frozenset(zones) -> instances of this request given to cells
        with exactly those zones (a handful of distinct sets)."""
        counts = {}
        for path, count in request.assigned.items():
            chosen = request.assigned_candidates.get(path)
            if not count or chosen is None:
                continue
            zones = frozenset(chosen.state.capabilities.get(
                self.capability) or ())
            if zones:
                counts[zones] = counts.get(zones, 0) + count
        return counts

    def weigh_cells(self, candidates, request):
        if not request.planning:
            return [0.0] * len(candidates)
        assigned = self._assigned_by_zones(request)
        if not assigned:
            return [0.0] * len(candidates)
        memo = {}
        weights = []
        for candidate in candidates:
            zones = frozenset(candidate.state.capabilities.get(
                self.capability) or ())
            weight = memo.get(zones)
            if weight is None:
                weight = memo[zones] = -float(sum(
                    count for taken, count in assigned.items()
                    if zones & taken))
            weights.append(weight)
        return weights
