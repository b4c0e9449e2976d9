"""FallbackGroupFilter: fill the first group of cells before the next.

``[cells] fallback_cell_groups`` is an ordered list of groups, each
``path;path`` (full paths).  A candidate belongs to the first group with a
path that a build given to it can end in (the cell, a cell below it, or a
child on the way down to it); a candidate in no group comes after the last
group.  The active group is the first one with a candidate that has room
for what this pick places (``instances_per_pick`` free units of the
flavor, less what the request already took there): only its candidates
pass.  When no group has room, every candidate is refused, saying so.

Why: a preferred site (own hardware, the cheaper region) used first and a
burst site only when the preferred one is full; nova's weighers could only
prefer, never hold a cell back while another has room.  The verdict
depends on the other candidates, so the group is chosen in
:meth:`prepare`, once per pick, on the candidates the earlier filters
left: list this filter last.
"""

from nova_cells.filters import _pins
from nova_cells import scheduling

__all__ = ['FallbackGroupFilter']


class FallbackGroupFilter(scheduling.BaseCellFilter):
    name = 'FallbackGroupFilter'

    def __init__(self, groups=()):
        self.groups = tuple(tuple(group) for group in groups)

    @classmethod
    def from_conf(cls, conf):
        return cls(_pins.parse_groups('fallback_cell_groups',
                                      conf.cells.fallback_cell_groups))

    def is_applicable(self, request):
        return bool(self.groups)

    def group_of(self, candidate):
        """The 0-based index of the candidate's group; ``len(groups)`` for
        a candidate in none."""
        for index, group in enumerate(self.groups):
            if _pins.leads_to_any(candidate, group):
                return index
        return len(self.groups)

    def prepare(self, candidates, request):
        """Choose the active group among ``candidates``; kept on the
        request as ``_fallback_active``: (active index or None, paths with
        room in it, path -> group index)."""
        groups = {}
        room = {}
        need = request.instances_per_pick
        for candidate in candidates:
            index = groups[candidate.path] = self.group_of(candidate)
            if request.free_units(candidate) >= need:
                room.setdefault(index, []).append(candidate.path)
        active = min(room) if room else None
        request._fallback_active = (active, tuple(room.get(active, ())),
                                    groups)

    def _label(self, index):
        if index == len(self.groups):
            return 'cells in no fallback group'
        return 'fallback group %d' % (index + 1)

    def filter_cell(self, candidate, request):
        prepared = getattr(request, '_fallback_active', None)
        if prepared is None:
            raise RuntimeError('prepare() was not called for this pick')
        active, room, groups = prepared
        index = groups.get(candidate.path)
        if index is None:
            index = self.group_of(candidate)
        if active is None:
            return scheduling.Verdict.reject(
                'no fallback group has room for %d x %s' % (
                    request.instances_per_pick,
                    request.flavor.get('name')))
        if index == active:
            return scheduling.Verdict.ok()
        if index < active:
            return scheduling.Verdict.reject(
                '%s has no room for %d x %s' % (
                    self._label(index), request.instances_per_pick,
                    request.flavor.get('name')))
        return scheduling.Verdict.reject('%s wait%s: group %d has room (%s)'
                                         % (self._label(index),
                                            '' if index == len(self.groups)
                                            else 's',
                                            active + 1, _pins.describe(room)))
