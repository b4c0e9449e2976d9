"""CellStateFilter: no new builds for a child disabled or draining here.

The state is the operator's (``nova-cells-manage cell disable|drain`` in
this cell, stored in this cell's ``cells`` row of the child; beyond nova).
The scheduler always runs this filter first, whatever
``scheduler_filter_classes`` lists, as Kubernetes always honours a node's
``unschedulable``: taking a cell out of service must not depend on the
filter list.  This cell itself is never filtered: only its parent can take
it out.
"""

from nova_cells import scheduling

__all__ = ['CellStateFilter']


class CellStateFilter(scheduling.BaseCellFilter):
    name = 'CellStateFilter'

    def filter_cell(self, candidate, request):
        state = candidate.state
        if candidate.is_me or state.accepts_builds:
            return scheduling.Verdict.ok()
        reason = state.admin_state_reason
        return scheduling.Verdict.reject('cell %s%s' % (
            state.admin_state, ': %s' % reason if reason else ''))

    def filter_cells(self, candidates, request):
        """One pass on a cached flag: this filter runs on every pick."""
        passed = [c for c in candidates if c.state.accepts_builds]
        if len(passed) == len(candidates):
            return passed, {}
        return passed, {c.path: self.filter_cell(c, request)
                        for c in candidates if not c.state.accepts_builds}
