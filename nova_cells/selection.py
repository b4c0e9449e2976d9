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
import random

from nova_cells import scheduling

__all__ = ['Selection', 'select']


class Selection(object):
    """The outcome for one request at one cell.

    ``pinned``: a PinResult when a pre-filter pinned the request;
    ``ordered``: ``[(candidate, weight)]`` best first (ties at the top in
    random order: the pick is ``ordered[0]``); ``verdicts``: path ->
    [Verdict] for every filter that ran on that candidate; ``scores``: path
    -> {weigher: {'raw', 'normalized', 'weighted'}}.
    """

    def __init__(self, candidates):
        self.candidates = list(candidates)
        self.pinned = None
        self.ordered = []
        self.verdicts = collections.OrderedDict(
            (c.path, []) for c in self.candidates)
        # (weigher name, multiplier, candidates, raw, normalised): kept as
        # arrays and turned into per-cell dicts only when someone looks.
        self._weighings = []

    @property
    def scores(self):
        """path -> {weigher: {'raw', 'normalized', 'weighted'}}."""
        scores = collections.OrderedDict()
        for name, multiplier, candidates, raw, norm in self._weighings:
            for index, candidate in enumerate(candidates):
                scores.setdefault(candidate.path, {})[name] = {
                    'raw': raw[index], 'normalized': norm[index],
                    'weighted': multiplier * norm[index]}
        return scores

    @property
    def picked(self):
        return self.ordered[0][0] if self.ordered else None

    def rejections(self):
        """path -> the Verdict that removed the candidate."""
        return {path: verdicts[-1] for path, verdicts in self.verdicts.items()
                if verdicts and not verdicts[-1].passed}

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
        text = '%d/%d cells are available' % (len(self.ordered),
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
                 'verdicts': [v.to_dict() for v in self.verdicts[c.path]],
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


def _filter(selection, filters, request):
    remaining = list(selection.candidates)
    for plugin in filters:
        if not remaining:
            break
        if not plugin.is_applicable(request):
            skipped = scheduling.Verdict.not_applicable(plugin.name)
            for candidate in remaining:
                selection.verdicts[candidate.path].append(skipped)
            continue
        passed = []
        for candidate in remaining:
            verdict = _run_filter(plugin, candidate, request)
            selection.verdicts[candidate.path].append(verdict)
            if verdict.passed:
                passed.append(candidate)
        remaining = passed
    return remaining


def _normalize(raw):
    low, high = min(raw), max(raw)
    if high == low:
        return [0.0 for _ in raw]
    return [(value - low) / float(high - low) for value in raw]


def _weigh(selection, weighers, remaining, request):
    totals = [0.0] * len(remaining)
    if len(remaining) <= 1:
        return totals
    for plugin in weighers:
        raw = [float(plugin.weigh_cell(c, request)) for c in remaining]
        norm = _normalize(raw)
        multiplier = plugin.multiplier
        totals = [t + multiplier * n for t, n in zip(totals, norm)]
        selection._weighings.append((plugin.name, multiplier, remaining, raw,
                                     norm))
    return totals


def _order(remaining, totals, rng):
    """Best first; equal weights in random order (the random pick)."""
    keyed = [(-weight, rng.random(), index) for index, weight in
             enumerate(totals)]
    keyed.sort()
    return [(remaining[index], totals[index]) for _w, _r, index in keyed]


def select(candidates, request, filters, weighers, rng=None):
    """Return the :class:`Selection` for ``request`` among ``candidates``.

    :param filters: filter plug-ins, in order.
    :param weighers: weigher plug-ins (their ``multiplier`` applies).
    :param rng: a ``random.Random`` (tests pass a seeded one).
    """
    rng = rng or random
    selection = Selection(candidates)
    for plugin in filters:
        pin = plugin.pre_filter(request)
        if pin is not None:
            pin.plugin = plugin.name
            selection.pinned = pin
            return selection
    remaining = _filter(selection, filters, request)
    totals = _weigh(selection, weighers, remaining, request)
    selection.ordered = _order(remaining, totals, rng)
    return selection
