"""ServerGroupCellFilter: hard server group policies at cell level.

For a request in a server group with a hard cell-level policy
(``cell-affinity`` / ``cell-anti-affinity``, or nova's ``affinity`` /
``anti-affinity`` with ``[cells] server_group_cell_level``; the scheduler
turns them into ``request.group``):

* anti-affinity: a candidate passes when a build given to it would join no
  member of the group (none in its subtree, none assigned to it by this
  request);
* affinity: once the group has a member (an existing one, or one this
  request placed while planning), a candidate passes only when a build
  given to it joins one; the first member goes anywhere.

Why: nova's server group policies stopped at the host; spreading a group
over failure domains (cells, sites) or keeping it in one needed target
hints by hand.  Soft policies are weighed (ServerGroupCellWeigher), not
filtered; a request with no group is not looked at.
"""

from nova_cells.filters import _pins
from nova_cells import scheduling

__all__ = ['ServerGroupCellFilter']


class ServerGroupCellFilter(scheduling.BaseCellFilter):
    name = 'ServerGroupCellFilter'

    def is_applicable(self, request):
        group = request.group
        return group is not None and not group.soft

    @staticmethod
    def _member_cells(request):
        """Where the group's members are (existing and assigned so far)."""
        return set(request.group.member_paths) | set(
            path for path, count in request.assigned.items() if count)

    def filter_cell(self, candidate, request):
        return self._verdict(candidate, request, None)

    def filter_cells(self, candidates, request):
        """The members' cells are gathered once for the whole list."""
        where = self._member_cells(request)
        passed, rejected = [], {}
        for candidate in candidates:
            verdict = self._verdict(candidate, request, where)
            if verdict.passed:
                passed.append(candidate)
            else:
                rejected[candidate.path] = verdict
        return passed, rejected

    def _verdict(self, candidate, request, where):
        group = request.group
        if group is None or group.soft:
            return scheduling.Verdict.ok()      # nothing to keep apart
        members = request.group_members_in(candidate)
        if group.policy == 'anti-affinity':
            if not members:
                return scheduling.Verdict.ok()
            return scheduling.Verdict.reject(
                'holds %d member(s) of server group %s' % (members,
                                                           group.uuid))
        if group.policy != 'affinity':
            return scheduling.Verdict(scheduling.ERROR, [
                'unknown server group policy %r' % group.policy])
        if members:
            return scheduling.Verdict.ok()
        if where is None:
            where = self._member_cells(request)
        if not where:
            return scheduling.Verdict.ok()
        return scheduling.Verdict.reject(
            'holds no member of server group %s (members in %s)' % (
                group.uuid, _pins.describe(where)))
