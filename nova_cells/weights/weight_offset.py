"""WeightOffsetWeigher: the operator's ``weight_offset`` of each cell.

Raw weight: the neighbour row's ``weight_offset`` (0 for this cell itself).
Multiplier ``[cells] offset_weight_multiplier``.  Set one cell's offset to
999999999999999 to make it the default.
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
