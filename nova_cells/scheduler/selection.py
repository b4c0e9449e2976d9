"""Filter, weigh and order candidate cells for one request (reference §6.4,
§7.4), and keep the diagnosis of why.

Pure: no messages, no database, no sleeping.  The scheduler acts on the
:class:`Selection`; ``explain`` shows it.

Weighing follows nova's maths, normalised within this request only: for
each weigher, raw weights are scaled to 0..1 by the min and max *of this
request* (all 0 when equal), multiplied by the weigher's multiplier, and
summed.  nova kept min/max on long-lived weigher objects, so one request's
extremes skewed every later one (§10.20).  With one candidate or fewer,
nothing is weighed (weight 0.0), as in nova.
"""

import collections
import math
import random

from nova_cells import scheduling

__all__ = ['Selection', 'select', 'pin_of']


class Selection(object):
    """The outcome for one request at one cell.

    ``pinned``: a PinResult when a pre-filter pinned the request;
    ``ordered``: ``[(candidate, weight)]`` best first, equal weights in
    random order (the pick is ``ordered[0]``), computed on first use: a
    pick needs only :attr:`picked`, and :meth:`iter_ordered` sorts the
    rest only when the first choice failed; ``verdicts``: path ->
    [Verdict] for every filter that ran on that candidate; ``scores``: path
    -> {weigher: {'raw', 'normalized', 'weighted'}}.
    """

    def __init__(self, candidates, record_all=True):
        self.candidates = list(candidates)
        self.record_all = record_all
        self.pinned = None
        # (remaining candidates, their total weights, rng), set by select.
        self._ranking = ([], [], random)
        self._picked_index = None
        self._ordered = None
        # Every filter's verdict per candidate when recording all
        # (explain); else only the verdict that removed a candidate: a
        # real pick among thousands of cells needs no more.
        self.verdicts = collections.OrderedDict(
            (c.path, []) for c in self.candidates) if record_all else {}
        self._rejected = {}
        # (weigher name, multiplier, candidates, raw weights): normalised
        # and turned into per-cell dicts only when someone looks.
        self._weighings = []

    @property
    def scores(self):
        """path -> {weigher: {'raw', 'normalized', 'weighted'}}."""
        scores = collections.OrderedDict()
        for name, multiplier, candidates, raw in self._weighings:
            norm = _normalize(raw) or [0.0] * len(raw)
            for index, candidate in enumerate(candidates):
                scores.setdefault(candidate.path, {})[name] = {
                    'raw': raw[index], 'normalized': norm[index],
                    'weighted': multiplier * norm[index]}
        return scores

    def _pick_index(self):
        """Index (in the remaining list) of the pick: random among the
        best weights, chosen once."""
        if self._picked_index is None:
            remaining, totals, rng = self._ranking
            if not remaining:
                return None
            best = max(totals)
            self._picked_index = rng.choice(
                [i for i, t in enumerate(totals) if t == best])
        return self._picked_index

    @property
    def picked(self):
        index = self._pick_index()
        return None if index is None else self._ranking[0][index]

    @property
    def ordered(self):
        if self._ordered is None:
            self._ordered = list(self.iter_ordered())
        return self._ordered

    def iter_ordered(self):
        """``(candidate, weight)`` best first: the pick, then the others
        (equal weights in random order), sorted only if asked for."""
        if self._ordered is not None:
            for item in self._ordered:
                yield item
            return
        remaining, totals, rng = self._ranking
        first = self._pick_index()
        if first is None:
            return
        yield remaining[first], totals[first]
        keyed = sorted((-totals[i], rng.random(), i)
                       for i in range(len(remaining)) if i != first)
        for _w, _r, index in keyed:
            yield remaining[index], totals[index]

    def rejections(self):
        """path -> the Verdict that removed the candidate."""
        if not self.record_all:
            return dict(self._rejected)
        return {path: verdicts[-1] for path, verdicts in self.verdicts.items()
                if verdicts and not verdicts[-1].passed}

    def verdicts_of(self, path):
        """The verdicts recorded for one candidate (all, or its rejection)."""
        if self.record_all:
            return self.verdicts[path]
        rejected = self._rejected.get(path)
        return [rejected] if rejected is not None else []

    def summary(self):
        """k8s-style: ``0/4 cells are available: 2 <reason>, 1 <reason>.``"""
        if self.pinned is not None:
            return 'pinned to %s by %s (%s).' % (
                self.pinned.path, self.pinned.plugin, self.pinned.reason)
        counts = collections.Counter()
        for verdict in self.rejections().values():
            reason = '; '.join(verdict.reasons) or verdict.code
            counts['%s (%s)' % (reason, verdict.plugin)] += 1
        parts = ['%d %s' % (n, reason) for reason, n in
                 sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
        text = '%d/%d cells are available' % (len(self._ranking[0]),
                                              len(self.candidates))
        if not self.candidates:
            text += ': no candidate cells'
        return text + (': ' + ', '.join(parts) if parts else '') + '.'

    def to_dict(self):
        """The plain-data diagnosis (explain, instance faults, logs)."""
        scores = self.scores
        weights = dict((x.path, w) for x, w in self.ordered)
        return {
            'pinned': (None if self.pinned is None else
                       {'path': self.pinned.path, 'reason': self.pinned.reason,
                        'plugin': self.pinned.plugin}),
            'candidates': [
                {'path': c.path, 'is_me': c.is_me,
                 'verdicts': [v.to_dict() for v in self.verdicts_of(c.path)],
                 'scores': scores.get(c.path, {}),
                 'weight': weights.get(c.path)}
                for c in self.candidates],
            'ordered': [c.path for c, _w in self.ordered],
            'picked': self.picked.path if self.picked else None,
            'summary': self.summary(),
        }


def _run_filter(plugin, candidate, request):
    try:
        verdict = plugin.filter_cell(candidate, request)
    except Exception as exc:  # noqa - a faulty filter rejects, with why
        verdict = scheduling.Verdict(scheduling.ERROR,
                                     ['filter failed: %s' % exc])
    return verdict.stamped(plugin.name)


def _prepare(plugin, candidates, request):
    """Run the filter's ``prepare``; None, or when it failed the ERROR
    verdict (with why) of every candidate: the filter can judge none."""
    try:
        plugin.prepare(candidates, request)
    except Exception as exc:  # noqa - a faulty filter rejects, with why
        return scheduling.Verdict(scheduling.ERROR, [
            'filter failed: %s' % exc]).stamped(plugin.name)
    return None


def _filter_recording_all(selection, filters, request):
    """Every filter's verdict for every candidate it saw (explain)."""
    remaining = list(selection.candidates)
    for plugin in filters:
        if not remaining:
            break
        if not plugin.is_applicable(request):
            skipped = scheduling.Verdict.not_applicable(plugin.name)
            for candidate in remaining:
                selection.verdicts[candidate.path].append(skipped)
            continue
        failed = _prepare(plugin, remaining, request)
        passed = []
        for candidate in remaining:
            verdict = failed or _run_filter(plugin, candidate, request)
            selection.verdicts[candidate.path].append(verdict)
            if verdict.passed:
                passed.append(candidate)
        remaining = passed
    return remaining


def _filter_batch(plugin, candidates, request):
    """A filter's batch answer; a failing batch is re-run cell by cell so
    that the failure rejects only the cells it concerns, with why."""
    try:
        return plugin.filter_cells(candidates, request)
    except Exception:  # noqa - per-cell re-run below records the error
        passed, rejected = [], {}
        for candidate in candidates:
            verdict = _run_filter(plugin, candidate, request)
            if verdict.passed:
                passed.append(candidate)
            else:
                rejected[candidate.path] = verdict
        return passed, rejected


def _filter_fast(selection, filters, request):
    """Only what removed a candidate is recorded (a real pick)."""
    remaining = selection.candidates
    for plugin in filters:
        if not remaining:
            break
        if not plugin.is_applicable(request):
            continue
        failed = _prepare(plugin, remaining, request)
        if failed is not None:
            remaining, rejected = [], {c.path: failed for c in remaining}
        else:
            remaining, rejected = _filter_batch(plugin, remaining, request)
        for path, verdict in rejected.items():
            selection._rejected[path] = (
                verdict if verdict.plugin == plugin.name
                else verdict.stamped(plugin.name))
    return list(remaining)


def _normalize(raw):
    """Min-max to 0..1 within this request; None when all are equal (the
    weigher then adds nothing, and the sum skips it)."""
    low, high = min(raw), max(raw)
    if high == low:
        return None
    scale = 1.0 / (high - low)
    return [(value - low) * scale for value in raw]


def _weigh(selection, weighers, remaining, request):
    """Sum of multiplier x weight normalised to 0..1 within this request,
    in one pass per weigher (no intermediate normalised list)."""
    totals = [0.0] * len(remaining)
    if len(remaining) <= 1:
        return totals
    for plugin in weighers:
        multiplier = plugin.multiplier_for(request)
        if not multiplier and not selection.record_all:
            continue        # adds nothing; explain still shows its raws
        raw = plugin.weigh_cells(remaining, request)
        selection._weighings.append((plugin.name, multiplier,
                                     remaining, raw))
        low, high = min(raw), max(raw)
        if high == low or not multiplier:
            continue
        factor = multiplier / float(high - low)
        totals = [t + factor * (v - low) for t, v in zip(totals, raw)]
    return _nan_last(totals)


def _nan_last(totals):
    """NaN totals become -inf, so they rank last and the best-weight pick
    is never empty.  Values are checked where they come in (weights are
    finite, see :mod:`nova_cells.cells.cell_values`); this is the defence for
    what still slips through (a plug-in's NaN, inf - inf): a NaN compares
    false with everything, and every build with two candidates once
    failed with IndexError here."""
    if all(t == t for t in totals):
        return totals
    return [t if t == t else -math.inf for t in totals]


def pin_of(request, filters):
    """The first pre-filter's pin of ``request`` (naming its plug-in), or
    None: looked at before any cell is."""
    for plugin in filters:
        pin = plugin.pre_filter(request)
        if pin is not None:
            pin.plugin = plugin.name
            return pin
    return None


def select(candidates, request, filters, weighers, rng=None,
           record_all=True):
    """Return the :class:`Selection` for ``request`` among ``candidates``.

    :param filters: filter plug-ins, in order.
    :param weighers: weigher plug-ins (their ``multiplier`` applies).
    :param rng: a ``random.Random`` (tests pass a seeded one).
    :param record_all: keep every filter's verdict for every candidate
        (``explain``); False keeps only the rejections (a real pick).
    """
    rng = rng or random
    selection = Selection(candidates, record_all)
    selection.pinned = pin_of(request, filters)
    if selection.pinned is not None:
        return selection
    remaining = (_filter_recording_all if record_all else _filter_fast)(
        selection, filters, request)
    totals = _weigh(selection, weighers, remaining, request)
    selection._ranking = (remaining, totals, rng)
    return selection
