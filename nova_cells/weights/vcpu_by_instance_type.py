"""VcpuByInstanceTypeWeigher: more free slots of the flavor's vcpus wins.

Raw weight: the cell's ``vcpu_free.units_by_vcpus[<flavor vcpus>]`` (0 if
unknown: an original nova-cells child reports no vcpus), less what this
request was already given there while a split build is planned.
Multiplier ``[cells] vcpu_weight_multiplier``: 0.0 by default, which keeps
nova's RAM-only weighing.

Why: CPU-bound flavors fill a cell's vcpus long before its RAM, and nova
weighed RAM only.
"""

from nova_cells import scheduling

__all__ = ['VcpuByInstanceTypeWeigher']


class VcpuByInstanceTypeWeigher(scheduling.BaseCellWeigher):
    name = 'VcpuByInstanceTypeWeigher'

    @classmethod
    def from_conf(cls, conf):
        return cls(multiplier=conf.cells.vcpu_weight_multiplier)

    def weigh_cell(self, candidate, request):
        return self.weigh_cells([candidate], request)[0]

    def weigh_cells(self, candidates, request):
        key = str(request.flavor.get('vcpus'))
        assigned = request.assigned
        weights = []
        for candidate in candidates:
            units = ((candidate.state.capacities or {}).get('vcpu_free') or
                     {}).get('units_by_vcpus') or {}
            weights.append(float(units.get(key, 0) -
                                 assigned.get(candidate.path, 0)))
        return weights
