"""The plug-in API of the cell scheduler: requests, verdicts, scores.

Filters and weighers import only this module (a layering rule): they see a
:class:`CellRequest` and a candidate, and return a value; they never send
messages, pop hints or reach the scheduler (nova's TargetCellFilter did all
three).  The scheduler turns their answers into a pick and a diagnosis that
says which plug-in said "no" and why, in the log, in the instance fault and
in ``explain``.
"""

__all__ = ['PASS', 'REJECT', 'ERROR', 'Verdict', 'PinResult', 'CellRequest',
           'Candidate', 'BaseCellFilter', 'BaseCellWeigher']

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
                 authorize, now=None):
        self.ctxt = ctxt
        self.routing_path = routing_path
        self.request_spec = request_spec
        self.scheduler_hints = dict(scheduler_hints or {})
        self.authorize = authorize
        self.now = now

    @property
    def flavor(self):
        return self.request_spec.get('instance_type') or {}

    @property
    def image_properties(self):
        image = self.request_spec.get('image') or {}
        return image.get('properties') or {}


class BaseCellFilter(object):
    """A cell filter plug-in.

    Override :meth:`filter_cell`; optionally :meth:`pre_filter` to pin the
    request to a path.  ``policy_rule`` names the oslo.policy rule that
    must allow the caller for the filter's hint to count.
    """

    name = None
    policy_rule = None

    def pre_filter(self, request):
        """Return a :class:`PinResult` to short-circuit, else None."""
        return None

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

    def weigh_cell(self, candidate, request):
        """Return the raw weight (a number) of one candidate."""
        raise NotImplementedError()

    def weigh_cells(self, candidates, request):
        """Raw weights of all candidates, in order (floats).  Override
        when a single pass is cheaper than a call per cell."""
        return [float(self.weigh_cell(c, request)) for c in candidates]
