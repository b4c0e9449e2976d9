#!/usr/bin/env python3
"""Benchmark: the cost of one cell pick (issue 7, ``sched``).

For 10, 100, 1,000 and 10,000 children, default filters and weighers, a
4 GB flavor and random capacities: a typical request, and a constrained one
(an image ``hypervisor_version_requires`` and a ``different_cell`` hint
naming 2 cells).  Printed next to a baseline run in the same process: the
original's algorithm as the reference describes it (stateful weighers that
keep min/max across requests, the version predicate parsed again for every
cell), built from the same plug-ins, so the difference is the design, not
the machine.

Then the cost of planning a split build of 100 instances (one pick per
instance, issue 9) among 10, 100 and 1,000 children, beside nova's single
pick for the whole request.

    python tools/bench/sched.py [--repeat N]
"""

import argparse
import datetime
import random
import statistics
import time

from nova_cells import conf as cells_conf
from nova_cells import context as cells_context
from nova_cells.scheduler import plugins
from nova_cells import policy
from nova_cells.scheduler import core as scheduler
from nova_cells import scheduling
from nova_cells.scheduler import selection
from nova_cells.scheduler import split_plan
from nova_cells.cells import state

SIZES = (10, 100, 1000, 10000)
FLAVOR = {'memory_mb': 4096, 'root_gb': 40, 'ephemeral_gb': 0, 'vcpus': 2}


def _cells(count, rng):
    now = datetime.datetime.utcnow()
    cells = []
    for index in range(count):
        cell = state.CellState('c%d' % index)
        cell.update_db_info({'transport_url': 'rabbit://h/%d' % index,
                             'is_parent': False,
                             'weight_offset': rng.choice((0.0, 0.0, 1.0))})
        cell.update_capabilities({'prominent_hypervisor_version':
                                  [rng.choice(('6.1', '6.2', '7.0'))]}, now)
        cell.update_capacities({'ram_free': {'total_mb': 0, 'units_by_mb': {
            '2048': rng.randint(0, 400), '4096': rng.randint(0, 200)}}}, now)
        cells.append(scheduling.Candidate(cell, 'api!c%d' % index))
    return cells


def _request(cell_policy, constrained, num_instances=1):
    ctxt = cells_context.RequestContext(user_id='u', project_id='p',
                                        is_admin=True, roles=['admin'])
    image = {'properties': {}}
    hints = {}
    if constrained:
        image['properties']['hypervisor_version_requires'] = '>6.0, <=6.3'
        hints['different_cell'] = ['api!c1', 'api!c2']
    spec = {'image': image, 'instance_properties': {},
            'instance_type': FLAVOR, 'num_instances': num_instances}
    return scheduling.CellRequest(
        ctxt, 'api', spec, hints, cell_policy.authorizer(ctxt),
        now=datetime.datetime.utcnow())


class _StatefulWeigher(object):
    """The original's weigher shape: min/max kept between requests."""

    def __init__(self, plugin):
        self.plugin = plugin
        self.name = plugin.name
        self.multiplier = plugin.multiplier
        self.minval = self.maxval = None

    def weigh(self, candidates, request):
        raw = [float(self.plugin.weigh_cell(c, request)) for c in candidates]
        low, high = min(raw), max(raw)
        self.minval = low if self.minval is None else min(self.minval, low)
        self.maxval = high if self.maxval is None else max(self.maxval, high)
        span = self.maxval - self.minval
        return [0.0 if not span else (v - self.minval) / span for v in raw]


NOVA_FILTERS = ('TargetCellFilter', 'DifferentCellFilter',
                'ImagePropertiesFilter')
NOVA_WEIGHERS = ('MuteChildWeigher', 'RamByInstanceTypeWeigher',
                 'WeightOffsetWeigher')


def _baseline_pick(candidates, request, filters, weighers, rng):
    remaining = list(candidates)
    for plugin in filters:
        kept = []
        for candidate in remaining:
            # The original parsed the predicate for every cell.
            for attr in ('_image_version_requirement', '_different_cell'):
                if hasattr(request, attr):
                    delattr(request, attr)
            if plugin.filter_cell(candidate, request).passed:
                kept.append(candidate)
        remaining = kept
    totals = [0.0] * len(remaining)
    for weigher in weighers:
        for index, norm in enumerate(weigher.weigh(remaining, request)):
            totals[index] += weigher.multiplier * norm
    best = max(totals) if totals else None
    return rng.choice([c for c, t in zip(remaining, totals) if t == best])


def _time(func, repeat):
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeat', type=int, default=50)
    args = parser.parse_args()
    conf = cells_conf.new_config()
    # What a daemon runs by default: the always-on CellStateFilter and
    # FreeUnitsFilter, then all_filters / all_weighers (nova's and ours).
    our_filters, our_weighers = scheduler.load_plugin_lists(conf)
    # The original's default lists: nova's three filters and weighers.
    filters = plugins.load_plugins('filters', NOVA_FILTERS, conf)
    weighers = plugins.load_plugins('weighers', NOVA_WEIGHERS, conf)
    rng = random.Random(42)
    cell_policy = policy.CellPolicy(conf)
    print('%-8s %-12s %12s %14s %8s' % ('children', 'request', 'ours ms',
                                        'baseline ms', 'speedup'))
    for size in SIZES:
        cells = _cells(size, rng)
        repeat = max(3, args.repeat * 100 // max(size, 100))
        for constrained in (False, True):
            stateful = [_StatefulWeigher(w) for w in weighers]

            def ours():
                selection.select(cells, _request(cell_policy, constrained),
                                 our_filters, our_weighers, rng,
                                 record_all=False)

            def baseline():
                _baseline_pick(cells, _request(cell_policy, constrained),
                               filters,
                               stateful, rng)

            ours_ms = _time(ours, repeat)
            base_ms = _time(baseline, repeat)
            print('%-8d %-12s %12.3f %14.3f %7.1fx' % (
                size, 'constrained' if constrained else 'typical', ours_ms,
                base_ms, base_ms / ours_ms if ours_ms else 0.0))
    split_rows(conf, cell_policy, our_filters, our_weighers, rng,
               args.repeat)


def split_rows(conf, cell_policy, filters, weighers, rng, repeat):
    """A split build (issue 9): a plan of SPLIT instances, one pick each,
    beside nova's single pick for the whole request."""
    print('\nsplit build of %d instances (split_builds_by_capacity):'
          % SPLIT)
    print('%-8s %12s %14s %14s' % ('children', 'plan ms', 'per instance',
                                   'nova 1 pick'))
    for size in (10, 100, 1000):
        cells = _cells(size, rng)
        times = max(3, repeat // 10)

        def plan():
            request = _request(cell_policy, False, SPLIT)
            request.planning = True
            split_plan.plan_build(request, lambda r: selection.select(
                cells, r, filters, weighers, rng, record_all=False))

        def one_pick():
            selection.select(cells, _request(cell_policy, False, SPLIT),
                             filters, weighers, rng, record_all=False)

        plan_ms = _time(plan, times)
        print('%-8d %12.3f %14.4f %14.3f' % (size, plan_ms, plan_ms / SPLIT,
                                             _time(one_pick, times)))


SPLIT = 100


if __name__ == '__main__':
    main()
