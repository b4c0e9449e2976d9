"""FlavorCellsFilter: a pinned flavor is built in its own cells only.

``[cells] flavor_cells`` (``flavor-name:path;path``): a build of a listed
flavor passes a candidate when it can end in one of the listed cells'
subtrees (the cell, a cell below it, or a child on the way down to it).

Why: flavors tied to hardware only some cells have (GPUs, large memory)
failed late, in the cell's own scheduler, after the cells scheduler had
picked a cell at random among those with room.  Nothing is configured by
default, and then the filter looks at no cell.
"""

from nova_cells.filters import _pins
from nova_cells import scheduling

__all__ = ['FlavorCellsFilter']


class FlavorCellsFilter(scheduling.BaseCellFilter):
    name = 'FlavorCellsFilter'

    def __init__(self, flavor_cells=None):
        self.flavor_cells = dict(flavor_cells or {})

    @classmethod
    def from_conf(cls, conf):
        return cls(_pins.parse_pin_table('flavor_cells',
                                         conf.cells.flavor_cells))

    def _pinned(self, request):
        """The flavor's pinned paths (empty when not pinned), once per
        request."""
        cache = getattr(request, '_flavor_cells', None)
        if cache is None:
            cache = ()
            if self.flavor_cells:
                cache = self.flavor_cells.get(request.flavor.get('name'), ())
            request._flavor_cells = cache
        return cache

    def is_applicable(self, request):
        return bool(self._pinned(request))

    def filter_cell(self, candidate, request):
        pinned = self._pinned(request)
        if not pinned or _pins.leads_to_any(candidate, pinned):
            return scheduling.Verdict.ok()
        return scheduling.Verdict.reject('flavor %s is pinned to %s' % (
            request.flavor.get('name'), _pins.describe(pinned, ' or ')))
