"""Cell filters: one module per filter (reference §7.2).

``nova.cells.filters.all_filters`` selects :data:`ALL_FILTERS`, an ordered
list (nova's order followed the filesystem, so TargetCellFilter could run
after the others, §10.21).
"""

__all__ = ['ALL_FILTERS']

ALL_FILTERS = ('TargetCellFilter', 'DifferentCellFilter',
               'ImagePropertiesFilter')
