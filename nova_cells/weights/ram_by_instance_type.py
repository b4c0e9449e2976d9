"""RamByInstanceTypeWeigher: more free slots of the flavor's RAM size wins.

Raw weight: the cell's ``ram_free.units_by_mb[<flavor memory_mb>]`` (0 if
unknown).  Multiplier ``[cells] ram_weight_multiplier`` (negative stacks).
"""

from nova_cells import scheduling

__all__ = ['RamByInstanceTypeWeigher']


class RamByInstanceTypeWeigher(scheduling.BaseCellWeigher):
    name = 'RamByInstanceTypeWeigher'

    @classmethod
    def from_conf(cls, conf):
        return cls(multiplier=conf.cells.ram_weight_multiplier)

    def weigh_cell(self, candidate, request):
        memory_mb = request.flavor.get('memory_mb')
        units = candidate.state.capacities.get('ram_free', {}).get(
            'units_by_mb', {})
        return units.get(str(memory_mb), 0)

    def weigh_cells(self, candidates, request):
        key = str(request.flavor.get('memory_mb'))
        return [c.state.ram_units_by_mb.get(key, 0) for c in candidates]
