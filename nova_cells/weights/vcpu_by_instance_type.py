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


class VcpuByInstanceTypeWeigher(scheduling.FlavorUnitsWeigher):
    name = 'VcpuByInstanceTypeWeigher'
    kind = 'vcpu_free'
    table = 'units_by_vcpus'

    @classmethod
    def from_conf(cls, conf):
        return cls(multiplier=conf.cells.vcpu_weight_multiplier)

    def slot(self, flavor):
        return flavor.get('vcpus')
