"""CellAvailabilityZoneFilter: the zone (or datacentre) the build asks for.

The wanted value comes from the scheduler hint ``az`` / ``datacentre``,
else from the flavor's extra spec ``cells:az`` / ``cells:datacentre`` (a
hint wins over the flavor's spec of the same name; when both names are
asked for, both must match).  A candidate passes when the wanted value is
one of its capability values of that name (``[cells] capabilities =
az=az1;az2``; a child shows its own values unioned with its children's,
so the child below decides among its own cells in turn).

Why: nova cells v1 had no way to choose a zone above the cells (nova's
availability zones live inside one cell).  A request that asks for no zone
is not looked at.
"""

from nova_cells import scheduling

__all__ = ['CellAvailabilityZoneFilter']

NAMES = ('az', 'datacentre')
EXTRA_SPEC = 'cells:%s'


def _one_value(value):
    """A hint given as a one-item list (the API allows lists) counts as
    its item."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    return value


class CellAvailabilityZoneFilter(scheduling.BaseCellFilter):
    name = 'CellAvailabilityZoneFilter'

    def _wanted(self, request):
        """``((name, value), ...)`` asked for, and an error or None, once
        per request."""
        cache = getattr(request, '_cell_zone', None)
        if cache is None:
            hints = request.scheduler_hints
            extra_specs = request.flavor.get('extra_specs') or {}
            wanted, errors = [], []
            for name in NAMES:
                if hints.get(name) not in (None, ''):
                    value, source = _one_value(hints[name]), 'hint'
                else:
                    value = extra_specs.get(EXTRA_SPEC % name)
                    source = 'extra spec'
                if value in (None, ''):
                    continue
                if not isinstance(value, str):
                    errors.append('%s %s must be a string, not %r' % (
                        source, name if source == 'hint'
                        else EXTRA_SPEC % name, value))
                    continue
                wanted.append((name, value))
            cache = request._cell_zone = (tuple(wanted),
                                          '; '.join(errors) or None)
        return cache

    def is_applicable(self, request):
        wanted, error = self._wanted(request)
        return bool(wanted or error)

    def filter_cell(self, candidate, request):
        wanted, error = self._wanted(request)
        if error:
            return scheduling.Verdict(scheduling.ERROR, [error])
        capabilities = candidate.state.capabilities
        reasons = []
        for name, value in wanted:
            have = capabilities.get(name) or set()
            if value not in have:
                reasons.append('no %s %s here (%s)' % (
                    name, value, ', '.join(sorted(have)) or
                    'none declared'))
        if reasons:
            return scheduling.Verdict.reject(*reasons)
        return scheduling.Verdict.ok()
