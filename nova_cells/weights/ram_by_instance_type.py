"""RamByInstanceTypeWeigher: more free slots of the flavor's RAM size wins.

Raw weight: the cell's ``ram_free.units_by_mb[<flavor memory_mb>]`` (0 if
unknown), less the instances a split build's plan already gave the cell.
Multiplier ``[cells] ram_weight_multiplier`` (negative stacks).
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
        return (units.get(str(memory_mb), 0) -
                request.assigned.get(candidate.path, 0))

    def weigh_cells(self, candidates, request):
        key = str(request.flavor.get('memory_mb'))
        raw = [c.state.ram_units_by_mb.get(key, 0) for c in candidates]
        if request.assigned:
            # Planning a split build: what the plan gave a cell is no
            # longer free there.
            assigned = request.assigned
            raw = [units - assigned.get(c.path, 0)
                   for units, c in zip(raw, candidates)]
        return raw
