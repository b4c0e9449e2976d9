"""The plug-in API of the cell scheduler: requests, verdicts, scores.

Filters and weighers import only this module (a layering rule): they see a
:class:`CellRequest` and a candidate, and return a value; they never send
messages, pop hints or reach the scheduler (nova's TargetCellFilter did all
three).  The scheduler turns their answers into a pick and a diagnosis that
says which plug-in said "no" and why, in the log, in the instance fault and
in ``explain``.
"""

from nova_cells import routing

__all__ = ['PASS', 'REJECT', 'ERROR', 'Verdict', 'PinResult', 'CellRequest',
           'Candidate', 'BaseCellFilter', 'BaseCellWeigher',
           'FlavorUnitsWeigher', 'GroupSpec',
           'within', 'leads_to', 'flavor_units', 'flavor_disk_mb',
           'check_cell_name']

_MB_PER_GB = 1024

#: Why a name cannot be a cell's (None when it can): the rule of the
#: daemon's own ``[cells] name``, for plug-ins that read cell paths.
check_cell_name = routing.check_cell_name

PASS = 'pass'
REJECT = 'reject'
ERROR = 'error'


class Verdict(object):
    """A filter's answer for one cell: PASS, REJECT (an expected no) or
    ERROR (the filter failed), with human-readable reasons."""

    __slots__ = ('code', 'reasons', 'plugin')

    def __init__(self, code, reasons=(), plugin=None):
        self.code = code
        self.reasons = tuple(reasons)
        self.plugin = plugin

    @classmethod
    def ok(cls):
        return _OK

    @classmethod
    def not_applicable(cls, plugin):
        """The shared verdict of a filter with nothing to check here."""
        verdict = _NOT_APPLICABLE.get(plugin)
        if verdict is None:
            verdict = _NOT_APPLICABLE[plugin] = cls(
                PASS, ['not applicable to this request'], plugin)
        return verdict

    @classmethod
    def reject(cls, *reasons):
        return cls(REJECT, reasons)

    @property
    def passed(self):
        return self.code == PASS

    def stamped(self, plugin):
        if self is _OK:
            # A plain "yes" is shared per plug-in: no allocation per cell.
            verdict = _STAMPED_OK.get(plugin)
            if verdict is None:
                verdict = _STAMPED_OK[plugin] = Verdict(PASS, (), plugin)
            return verdict
        return Verdict(self.code, self.reasons, plugin)

    def to_dict(self):
        return {'code': self.code, 'reasons': list(self.reasons),
                'plugin': self.plugin}

    def __repr__(self):
        return '<Verdict %s %s %s>' % (self.plugin, self.code,
                                       '; '.join(self.reasons))


_OK = Verdict(PASS)
_STAMPED_OK = {}
_NOT_APPLICABLE = {}


def within(path, ancestor):
    """True when ``path`` is ``ancestor`` or a cell below it."""
    return path == ancestor or path.startswith(ancestor + '!')


def leads_to(candidate, target):
    """True when a build given to ``candidate`` can end in ``target``'s
    subtree: the candidate is in it, or (a child, not this cell, which
    would build here) is on the way to it."""
    if within(candidate.path, target):
        return True
    return not candidate.is_me and target.startswith(candidate.path + '!')


def flavor_disk_mb(flavor):
    return ((flavor.get('root_gb') or 0) +
            (flavor.get('ephemeral_gb') or 0)) * _MB_PER_GB


def flavor_units(capacities, flavor):
    """Instances of ``flavor`` that ``capacities`` can still take: the
    least of its RAM, disk and (when reported) vcpu slots.

    A zero-disk flavor is not limited by disk (nova's units for a slot of
    0 MB are 0), and disk and vcpu slots count only when the cell reports
    them (``vcpu_free`` is ours; an original nova-cells child sends none).
    """
    capacities = capacities or {}
    units = [_units_of(capacities, 'ram_free', 'units_by_mb',
                       flavor.get('memory_mb'))]
    disk_mb = flavor_disk_mb(flavor)
    if disk_mb and 'disk_free' in capacities:
        units.append(_units_of(capacities, 'disk_free', 'units_by_mb',
                               disk_mb))
    if 'vcpu_free' in capacities and flavor.get('vcpus'):
        units.append(_units_of(capacities, 'vcpu_free', 'units_by_vcpus',
                               flavor.get('vcpus')))
    return min(units)


def _units_of(capacities, kind, table, size):
    return int(_units_table(capacities, kind, table).get(str(size), 0))


def _units_table(capacities, kind, table):
    """``capacities[kind][table]`` (slot size -> units), ``{}`` when the
    cell reports none."""
    return ((capacities or {}).get(kind) or {}).get(table) or {}


class GroupSpec(object):
    """A server group policy applied at cell level.

    ``policy``: ``'affinity'`` or ``'anti-affinity'``; ``soft``: weigh
    (ServerGroupCellWeigher) instead of filter (ServerGroupCellFilter);
    ``member_paths``: the cells holding the group's existing members (one
    entry per member, full paths from the top).
    """

    __slots__ = ('uuid', 'policy', 'soft', 'member_paths')

    def __init__(self, uuid, policy, soft, member_paths=()):
        self.uuid = uuid
        self.policy = policy
        self.soft = soft
        self.member_paths = tuple(member_paths)

    def to_dict(self):
        return {'uuid': self.uuid, 'policy': self.policy, 'soft': self.soft,
                'member_paths': list(self.member_paths)}


class PinResult(object):
    """A pre-filter's answer: send the request straight to ``path``
    (TargetCellFilter), skipping filtering and weighing here."""

    __slots__ = ('path', 'reason', 'plugin')

    def __init__(self, path, reason, plugin=None):
        self.path = path
        self.reason = reason
        self.plugin = plugin


class Candidate(object):
    """A cell being considered: its state and its full path from the top
    of this scheduling (``routing_path`` for me, ``routing_path!name`` for
    a child)."""

    __slots__ = ('state', 'path')

    def __init__(self, state, path):
        self.state = state
        self.path = path

    @property
    def name(self):
        return self.state.name

    @property
    def is_me(self):
        return self.state.is_me

    def __repr__(self):
        return '<Candidate %s>' % self.path


class CellRequest(object):
    """One build request as the plug-ins see it.

    :param ctxt: the request context (who asks).
    :param routing_path: this cell's path (a string, ``api!child``).
    :param request_spec: nova's request_spec dict (``image``,
        ``instance_properties``, ``instance_type``, ``num_instances``).
    :param scheduler_hints: the user's hints (read-only here).
    :param authorize: ``callable(rule) -> bool``, the policy check.
    :param now: the time used for mute checks (one per request).
    """

    def __init__(self, ctxt, routing_path, request_spec, scheduler_hints,
                 authorize, now=None, group=None, planning=False):
        self.ctxt = ctxt
        self.routing_path = routing_path
        self.request_spec = request_spec
        self.scheduler_hints = dict(scheduler_hints or {})
        self.authorize = authorize
        self.now = now
        # The server group at cell level (a GroupSpec), if any.
        self.group = group
        # True while a split build is planned one instance at a time:
        # ``assigned`` then holds path -> instances of this request given
        # to that candidate so far.
        self.planning = planning
        self.assigned = {}
        self.assigned_candidates = {}
        # path -> flavor units reported by that cell: read once per
        # request, then every pick of a plan subtracts what it assigned.
        self._flavor_units = {}

    @property
    def flavor(self):
        return self.request_spec.get('instance_type') or {}

    @property
    def image_properties(self):
        image = self.request_spec.get('image') or {}
        return image.get('properties') or {}

    @property
    def project_id(self):
        properties = self.request_spec.get('instance_properties') or {}
        return (properties.get('project_id') or
                getattr(self.ctxt, 'project_id', None))

    @property
    def num_instances(self):
        return self.request_spec.get('num_instances') or 1

    @property
    def instances_per_pick(self):
        """What one pick places: one instance while planning a split, the
        whole request otherwise (nova's: all instances in one cell)."""
        return 1 if self.planning else self.num_instances

    def assign(self, candidate):
        """Planning: one more instance of this request goes to
        ``candidate``."""
        self.assigned[candidate.path] = self.assigned.get(
            candidate.path, 0) + 1
        self.assigned_candidates[candidate.path] = candidate

    def free_units(self, candidate):
        """Instances of the flavor ``candidate`` can still take, less what
        this request was already given there."""
        path = candidate.path
        units = self._flavor_units.get(path)
        if units is None:
            units = self._flavor_units[path] = flavor_units(
                candidate.state.capacities, self.flavor)
        return units - self.assigned.get(path, 0)

    def group_members_in(self, candidate):
        """Members of the request's server group that a build given to
        ``candidate`` would join: existing members in its subtree (in this
        cell itself, for this cell), plus what this request assigned it."""
        count = self.assigned.get(candidate.path, 0)
        if self.group is None:
            return count
        for path in self.group.member_paths:
            if (path == candidate.path if candidate.is_me
                    else within(path, candidate.path)):
                count += 1
        return count


class BaseCellFilter(object):
    """A cell filter plug-in.

    Override :meth:`filter_cell`; optionally :meth:`pre_filter` to pin the
    request to a path.  ``policy_rule`` names the oslo.policy rule that
    must allow the caller for the filter's hint to count.
    """

    name = None
    policy_rule = None

    @classmethod
    def from_conf(cls, conf):
        """Build from the configuration, once at load; a filter with no
        options of its own needs nothing from it."""
        return cls()

    def pre_filter(self, request):
        """Return a :class:`PinResult` to short-circuit, else None."""
        return None

    def prepare(self, candidates, request):
        """Called once per pick with the candidates that reached this
        filter, before any verdict: a filter whose verdict depends on the
        others (FallbackGroupFilter) looks at them here and keeps what it
        found on ``request``."""

    def is_applicable(self, request):
        """False when the request gives this filter nothing to check (no
        hint, no image requirement): then no candidate is looked at, which
        keeps a typical pick cheap among thousands of cells."""
        return True

    def filter_cell(self, candidate, request):
        """Return a :class:`Verdict` for one candidate."""
        raise NotImplementedError()

    def filter_cells(self, candidates, request):
        """The batch form: ``(passed, {path: Verdict})`` for the rejected.

        Used when nobody needs every verdict (a real pick; ``explain``
        calls :meth:`filter_cell` per candidate).  A filter overrides it
        when one pass over the list is cheaper than a call per cell; it
        must reject exactly the cells :meth:`filter_cell` rejects.
        """
        passed, rejected = [], {}
        for candidate in candidates:
            verdict = self.filter_cell(candidate, request)
            if verdict.passed:
                passed.append(candidate)
            else:
                rejected[candidate.path] = verdict
        return passed, rejected


class BaseCellWeigher(object):
    """A cell weigher plug-in: a raw weight per candidate.

    The scheduler normalises raw weights within the request (min-max to
    0..1) and multiplies by ``multiplier``; weighers keep no state between
    requests (nova's kept min/max on the instance, §10.20).
    """

    name = None

    def __init__(self, multiplier=1.0):
        self.multiplier = multiplier

    def multiplier_for(self, request):
        """The multiplier for ``request``: ``multiplier`` unless the
        weigher's sign depends on the request (ServerGroupCellWeigher:
        soft affinity pulls, soft anti-affinity pushes)."""
        return self.multiplier

    def weigh_cell(self, candidate, request):
        """Return the raw weight (a number) of one candidate."""
        raise NotImplementedError()

    def weigh_cells(self, candidates, request):
        """Raw weights of all candidates, in order (floats).  Override
        when a single pass is cheaper than a call per cell."""
        return [float(self.weigh_cell(c, request)) for c in candidates]


class FlavorUnitsWeigher(BaseCellWeigher):
    """A weigher of free slots of the flavor's size in one table of the
    cell's capacities (``capacities[kind][table][str(slot)]``, 0 when the
    cell reports none), less what a split build's plan already gave the
    cell.  Subclasses say which table and the flavor's slot size.
    """

    kind = None
    table = None

    def slot(self, flavor):
        """The flavor's slot size in this table."""
        raise NotImplementedError()

    def units_table(self, candidate):
        """The candidate's table (slot size as a string -> units)."""
        return _units_table(candidate.state.capacities, self.kind,
                            self.table)

    def weigh_cell(self, candidate, request):
        return self.weigh_cells([candidate], request)[0]

    def weigh_cells(self, candidates, request):
        key = str(self.slot(request.flavor))
        raw = [float(self.units_table(c).get(key, 0)) for c in candidates]
        if request.assigned:
            # Planning a split build: what the plan gave a cell is no
            # longer free there.
            assigned = request.assigned
            raw = [units - assigned.get(c.path, 0)
                   for units, c in zip(raw, candidates)]
        return raw
