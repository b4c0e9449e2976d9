"""WeightOffsetWeigher: the operator's ``weight_offset`` of each cell.

Raw weight: the neighbour row's ``weight_offset`` (0 for this cell itself).
Multiplier ``[cells] offset_weight_multiplier``.  Weights are normalised
within a request, so the highest offset adds the multiplier and the lowest
adds 0: to make one cell the default, give it the highest offset and raise
the multiplier above the other weighers' (nova's "999999999999999" tip
worked the same way, through the multiplier).
"""

from nova_cells import scheduling

__all__ = ['WeightOffsetWeigher']


class WeightOffsetWeigher(scheduling.BaseCellWeigher):
    name = 'WeightOffsetWeigher'

    @classmethod
    def from_conf(cls, conf):
        return cls(multiplier=conf.cells.offset_weight_multiplier)

    def weigh_cell(self, candidate, request):
        return candidate.state.db_info.get('weight_offset') or 0.0

    def weigh_cells(self, candidates, request):
        return [c.state.db_info.get('weight_offset') or 0.0
                for c in candidates]
