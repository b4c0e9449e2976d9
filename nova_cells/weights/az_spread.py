"""AvailabilityZoneSpreadWeigher: spread a split build across zones.

While a split build is planned one instance at a time, each zone's load
is the instances of this request already given to cells in it, a cell
spanning several zones (a child's values of the capability ``[cells]
spread_capability``, ``az`` by default, include its children's) sharing
each instance equally among them.  A candidate's raw weight is minus the
load of its least loaded zone: a child spanning two zones takes about
twice what a one-zone child takes, so the zones, not the children, end up
balanced.  A candidate declaring no zone weighs 0, and so does every
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

    def _zone_loads(self, request):
        """zone -> instances of this request given to it so far (a cell
        with k zones adds 1/k of each of its instances to each)."""
        loads = {}
        for path, count in request.assigned.items():
            chosen = request.assigned_candidates.get(path)
            if not count or chosen is None:
                continue
            zones = chosen.state.capabilities.get(self.capability) or ()
            for zone in zones:
                loads[zone] = loads.get(zone, 0.0) + float(count) / len(zones)
        return loads

    def weigh_cells(self, candidates, request):
        if not request.planning:
            return [0.0] * len(candidates)
        loads = self._zone_loads(request)
        if not loads:
            return [0.0] * len(candidates)
        memo = {}
        weights = []
        for candidate in candidates:
            zones = frozenset(candidate.state.capabilities.get(
                self.capability) or ())
            weight = memo.get(zones)
            if weight is None:
                weight = memo[zones] = -min(
                    (loads.get(zone, 0.0) for zone in zones), default=0.0)
            weights.append(weight)
        return weights
