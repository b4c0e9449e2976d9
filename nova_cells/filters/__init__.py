"""Cell filters: one module per filter (reference §7.2).

``nova.cells.filters.all_filters`` selects :data:`ALL_FILTERS`, an ordered
list (nova's order followed the filesystem, so TargetCellFilter could run
after the others, §10.21).
"""

__all__ = ['ALL_FILTERS']

ALL_FILTERS = ('TargetCellFilter', 'DifferentCellFilter',
               'ImagePropertiesFilter',
               # Beyond nova: each looks at no cell unless configured or
               # asked for by the request.  FallbackGroupFilter last: its
               # verdict depends on the candidates the others left.
               'ProjectCellsFilter', 'FlavorCellsFilter',
               'ImagePropertyCellsFilter', 'CellAvailabilityZoneFilter',
               'ServerGroupCellFilter', 'FallbackGroupFilter')
