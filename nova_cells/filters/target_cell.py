"""TargetCellFilter: an admin sends the build to a given cell path.

Hint ``target_cell`` (a full path such as ``api!child2``).  When the caller
is allowed (policy ``cells_scheduler_filter:TargetCellFilter``, admin by
default) and the path is this cell or below it, the filter *pins* the
request to that path; the scheduler forwards it there (and drops the hint,
as nova's filter popped it).  A non-admin's hint is ignored, as in nova.
Unlike nova, a path outside this cell's subtree is refused with a reason
instead of being cast into the void (§10.22).
"""

from nova_cells import scheduling

__all__ = ['TargetCellFilter']

HINT = 'target_cell'


def _inside(path, routing_path):
    return path == routing_path or path.startswith(routing_path + '!')


class TargetCellFilter(scheduling.BaseCellFilter):
    name = 'TargetCellFilter'
    policy_rule = 'cells_scheduler_filter:TargetCellFilter'

    def _hint(self, request):
        path = request.scheduler_hints.get(HINT)
        if not path or not request.authorize(self.policy_rule):
            return None
        return path

    def is_applicable(self, request):
        return bool(request.scheduler_hints.get(HINT))

    def pre_filter(self, request):
        path = self._hint(request)
        if path is None or not _inside(path, request.routing_path):
            return None
        return scheduling.PinResult(path, 'target_cell hint %s' % path)

    def filter_cell(self, candidate, request):
        path = self._hint(request)
        if path is not None and not _inside(path, request.routing_path):
            return scheduling.Verdict.reject(
                'target_cell %s is not %s or below it'
                % (path, request.routing_path))
        return scheduling.Verdict.ok()
