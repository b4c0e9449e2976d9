"""DifferentCellFilter: keep the build away from the given cell paths.

Hint ``different_cell``: a full path or a list of them.  Applied at every
level (the hint is not consumed).  A caller not allowed by policy
``cells_scheduler_filter:DifferentCellFilter`` (admin by default) has the
hint ignored, as in nova.
"""

from nova_cells import scheduling

__all__ = ['DifferentCellFilter']

HINT = 'different_cell'


class DifferentCellFilter(scheduling.BaseCellFilter):
    name = 'DifferentCellFilter'
    policy_rule = 'cells_scheduler_filter:DifferentCellFilter'

    def _excluded(self, request):
        cache = getattr(request, '_different_cell', None)
        if cache is None:
            value = request.scheduler_hints.get(HINT) or []
            if isinstance(value, str):
                value = [value]
            if value and not request.authorize(self.policy_rule):
                value = []
            cache = frozenset(value)
            request._different_cell = cache
        return cache

    def is_applicable(self, request):
        return bool(self._excluded(request))

    def filter_cell(self, candidate, request):
        if candidate.path in self._excluded(request):
            return scheduling.Verdict.reject(
                'excluded by hint different_cell')
        return scheduling.Verdict.ok()

    def filter_cells(self, candidates, request):
        excluded = self._excluded(request)
        passed = [c for c in candidates if c.path not in excluded]
        return passed, {c.path: self.filter_cell(c, request)
                        for c in candidates if c.path in excluded}
