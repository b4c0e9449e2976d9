"""DiskByInstanceTypeWeigher: more free slots of the flavor's disk wins.

Raw weight: the cell's ``disk_free.units_by_mb[<root + ephemeral MB>]`` (0
if unknown), less what this request was already given there while a split
build is planned.  Multiplier ``[cells] disk_weight_multiplier``: 0.0 by
default, which keeps nova's RAM-only weighing.

Why: disk-heavy flavors fill a cell's disks long before its RAM, and nova
weighed RAM only.
"""

from nova_cells import scheduling

__all__ = ['DiskByInstanceTypeWeigher']


class DiskByInstanceTypeWeigher(scheduling.BaseCellWeigher):
    name = 'DiskByInstanceTypeWeigher'

    @classmethod
    def from_conf(cls, conf):
        return cls(multiplier=conf.cells.disk_weight_multiplier)

    def weigh_cell(self, candidate, request):
        return self.weigh_cells([candidate], request)[0]

    def weigh_cells(self, candidates, request):
        key = str(scheduling.flavor_disk_mb(request.flavor))
        assigned = request.assigned
        weights = []
        for candidate in candidates:
            units = ((candidate.state.capacities or {}).get('disk_free') or
                     {}).get('units_by_mb') or {}
            weights.append(float(units.get(key, 0) -
                                 assigned.get(candidate.path, 0)))
        return weights
