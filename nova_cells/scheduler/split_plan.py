"""Planning one build of several instances across cells.

nova sent all the instances of a request to one cell.  A plan spreads
them instead, one instance at a time: each pick runs the filters and
weighers again with what the plan already gave each cell subtracted from
its free units (FreeUnitsFilter, the weighers) and counted as server group
members, so a capacity-, zone- or anti-affinity-aware spread falls out of
the ordinary plug-ins.  The plan is all or nothing: when the cells' units
do not add up, nothing is sent and the build is refused with the diagnosis
of the pick that found no cell.
"""

import collections

from nova_cells import exception

__all__ = ['Plan', 'plan_build', 'partition']


class Plan(object):
    """``parts``: ``[(candidate, count)]`` in the order the cells were
    first picked; ``selections``: the selection of each pick, when kept
    (explain shows them; a real build does not hold N selections of M
    cells each in memory)."""

    def __init__(self):
        self.parts = collections.OrderedDict()
        self.counts = collections.Counter()
        self.selections = []

    def add(self, candidate):
        self.parts.setdefault(candidate.path, candidate)
        self.counts[candidate.path] += 1

    def items(self):
        return [(candidate, self.counts[path])
                for path, candidate in self.parts.items()]

    def describe(self):
        return ', '.join('%s x%d' % (path, self.counts[path])
                         for path in self.parts)

    def to_dict(self):
        return [{'cell': path, 'count': self.counts[path]}
                for path in self.parts]


def plan_build(request, select, keep_selections=False):
    """Plan ``request.num_instances`` instances, one pick each.

    :param request: a CellRequest with ``planning`` set.
    :param select: ``request -> Selection`` (the scheduler's).
    :param keep_selections: keep each pick's selection in the plan.
    :raises NoCellsAvailable: the instances do not all fit; the reason
        says how many did and why the next one did not, and its
        ``selection`` is that pick's (the diagnosis explain shows).
    """
    plan = Plan()
    wanted = request.num_instances
    for placed in range(wanted):
        selection = select(request)
        if keep_selections:
            plan.selections.append(selection)
        picked = selection.picked
        if picked is None:
            refusal = exception.NoCellsAvailable(
                reason='split: only %d of %d instances fit: %s' % (
                    placed, wanted, selection.summary()))
            refusal.selection = selection
            raise refusal
        request.assign(picked)
        plan.add(picked)
    return plan


def partition(instances, plan):
    """``[(candidate, [instances])]``: consecutive slices of
    ``instances`` in the plan's order and sizes."""
    parts, start = [], 0
    for candidate, count in plan.items():
        parts.append((candidate, list(instances[start:start + count])))
        start += count
    return parts
