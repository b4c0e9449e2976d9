"""RamByInstanceTypeWeigher: more free slots of the flavor's RAM size wins.

Raw weight: the cell's ``ram_free.units_by_mb[<flavor memory_mb>]`` (0 if
unknown), less the instances a split build's plan already gave the cell.
Multiplier ``[cells] ram_weight_multiplier`` (negative stacks).
"""

from nova_cells import scheduling

__all__ = ['RamByInstanceTypeWeigher']


class RamByInstanceTypeWeigher(scheduling.FlavorUnitsWeigher):
    name = 'RamByInstanceTypeWeigher'
    kind = 'ram_free'
    table = 'units_by_mb'

    @classmethod
    def from_conf(cls, conf):
        return cls(multiplier=conf.cells.ram_weight_multiplier)

    def slot(self, flavor):
        return flavor.get('memory_mb')

    def units_table(self, candidate):
        # Kept on the cell's state when its capacities arrive: this table
        # is read for every candidate of every pick.
        return candidate.state.ram_units_by_mb
