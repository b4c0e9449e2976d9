"""FreeUnitsFilter: while a split build is planned, a cell with no free
unit of the flavor left takes no more of its instances.

nova's cells had no capacity filter: a full cell could still be picked
(the weigher only preferred fuller ones) and its host scheduler then failed
the build.  A plan that spreads N instances by free units needs the units
to be counted, less what the plan already gave each cell, or it would
plan more than fits.  The scheduler adds this filter itself (after
CellStateFilter); it is applicable only while planning, so nova's
one-cell-per-request builds are unchanged.
"""

from nova_cells import scheduling

__all__ = ['FreeUnitsFilter']


class FreeUnitsFilter(scheduling.BaseCellFilter):
    name = 'FreeUnitsFilter'

    def is_applicable(self, request):
        return request.planning

    def filter_cell(self, candidate, request):
        if not request.planning:
            return scheduling.Verdict.ok()
        free = request.free_units(candidate)
        if free >= 1:
            return scheduling.Verdict.ok()
        taken = request.assigned.get(candidate.path, 0)
        return scheduling.Verdict.reject(
            'no free unit of %s left%s' % (
                request.flavor.get('name') or 'the flavor',
                ' (this request took %d)' % taken if taken else ''))

    def filter_cells(self, candidates, request):
        """One pass; a verdict is built only for the cells it removes."""
        free = request.free_units
        passed = [c for c in candidates if free(c) >= 1]
        if len(passed) == len(candidates):
            return passed, {}
        return passed, {c.path: self.filter_cell(c, request)
                        for c in candidates if free(c) < 1}
