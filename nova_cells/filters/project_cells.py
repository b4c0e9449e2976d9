"""ProjectCellsFilter: a project's builds go to its own cells only.

``[cells] project_cells`` (``project_id:path;path``) pins a project to
cells of the tree: a candidate passes when a build given to it can end in
one of the pinned cells' subtrees (the cell itself, a cell below it, or a
child on the way down to it).  ``[cells] reserved_cells`` keeps cells for
pinned projects: a candidate in a reserved cell's subtree refuses every
project that is not pinned (a pinned project only reaches the cells it is
pinned to anyway).  A child *above* a reserved cell is not reserved: it
still leads to its other cells.

Why: dedicated capacity (a customer's own hardware, a regulated zone) that
nova cells v1 could only give by hand with target_cell hints.  Paths are
full routing paths from the top, so one value serves every cell of the
tree, each applying it to its own children.  Nothing is configured by
default, and then the filter looks at no cell.
"""

from nova_cells.filters import _pins
from nova_cells import scheduling

__all__ = ['ProjectCellsFilter']

RESERVED = 'cell reserved for pinned projects'


class ProjectCellsFilter(scheduling.BaseCellFilter):
    name = 'ProjectCellsFilter'

    def __init__(self, project_cells=None, reserved_cells=()):
        self.project_cells = dict(project_cells or {})
        self.reserved_cells = tuple(reserved_cells)

    @classmethod
    def from_conf(cls, conf):
        return cls(
            _pins.parse_pin_table('project_cells', conf.cells.project_cells),
            _pins.parse_path_list('reserved_cells',
                                  conf.cells.reserved_cells))

    def _pinned(self, request):
        """The project's pinned paths (a tuple, empty when not pinned),
        once per request."""
        cache = getattr(request, '_project_cells', None)
        if cache is None:
            cache = request._project_cells = self.project_cells.get(
                request.project_id, ())
        return cache

    def is_applicable(self, request):
        return bool(self.reserved_cells or self._pinned(request))

    def _reserved(self, candidate):
        """The reserved cell whose subtree holds ``candidate``, or None."""
        for path in self.reserved_cells:
            if scheduling.within(candidate.path, path):
                return path
        return None

    def filter_cell(self, candidate, request):
        pinned = self._pinned(request)
        if pinned:
            if _pins.leads_to_any(candidate, pinned):
                return scheduling.Verdict.ok()
            return scheduling.Verdict.reject('project %s is pinned to %s' % (
                request.project_id, _pins.describe(pinned, ' or ')))
        reserved = self._reserved(candidate)
        if reserved is None:
            return scheduling.Verdict.ok()
        if reserved == candidate.path:
            return scheduling.Verdict.reject(RESERVED)
        return scheduling.Verdict.reject('%s (within %s)' % (RESERVED,
                                                             reserved))
