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


class DiskByInstanceTypeWeigher(scheduling.FlavorUnitsWeigher):
    name = 'DiskByInstanceTypeWeigher'
    kind = 'disk_free'
    table = 'units_by_mb'

    @classmethod
    def from_conf(cls, conf):
        return cls(multiplier=conf.cells.disk_weight_multiplier)

    def slot(self, flavor):
        return scheduling.flavor_disk_mb(flavor)
