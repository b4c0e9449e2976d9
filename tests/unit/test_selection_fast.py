"""The fast pick path (issue 7) gives the same answer as the recording one.

A real build runs ``select(record_all=False)``: batch filters
(``filter_cells``), batch weighers (``weigh_cells``), only rejections
kept, the full order sorted only on fall-through.  ``explain`` runs the
recording path.  Both must agree on who is rejected, why, and on the
weights; the pick must be one of the best.
"""

import random

import pytest

from nova_cells.filters import cell_state
from nova_cells.filters import different_cell
from nova_cells.filters import image_properties
from nova_cells.filters import target_cell
from nova_cells.scheduler import core as scheduler
from nova_cells import scheduling
from nova_cells.scheduler import selection
from nova_cells.weights import mute_child
from nova_cells.weights import ram_by_instance_type
from nova_cells.weights import weight_offset
from tests.unit import sched_support as ss

FILTERS = scheduler.with_cell_state_filter([
    target_cell.TargetCellFilter(), different_cell.DifferentCellFilter(),
    image_properties.ImagePropertiesFilter()])
WEIGHERS = [ram_by_instance_type.RamByInstanceTypeWeigher(10.0),
            weight_offset.WeightOffsetWeigher(1.0),
            mute_child.MuteChildWeigher(-10000.0, 300)]


def _cells(count, seed):
    rng = random.Random(seed)
    cells = []
    for index in range(count):
        cell = ss.cell('c%d' % index, ram_units=rng.randint(0, 5),
                       offset=rng.choice((0.0, 1.0)),
                       mute=rng.random() < 0.1,
                       capabilities={'prominent_hypervisor_version':
                                     [rng.choice(('6.1', '6.2', '7.0'))]})
        state = rng.choice((None, 'enabled', 'disabled', 'draining'))
        if state:
            cell.update_db_info(dict(cell.db_info, state=state,
                                     state_reason='r%d' % index))
        cells.append(cell)
    me = ss.cell('api', ram_units=2, is_me=True)
    return ss.candidates(*(cells + [me]))


def _request(constrained):
    if not constrained:
        return ss.request()
    return ss.request(hints={'different_cell': ['api!c1', 'api!c2']},
                      image_properties={
                          'hypervisor_version_requires': '>6.0, <=6.3'})


@pytest.mark.parametrize('constrained', [False, True])
@pytest.mark.parametrize('seed', [1, 2, 3])
def test_fast_and_recording_paths_agree(constrained, seed):
    candidates = _cells(60, seed)
    slow = selection.select(candidates, _request(constrained), FILTERS,
                            WEIGHERS, random.Random(0), record_all=True)
    fast = selection.select(candidates, _request(constrained), FILTERS,
                            WEIGHERS, random.Random(0), record_all=False)
    slow_rejected = {p: (v.plugin, v.code, v.reasons)
                     for p, v in slow.rejections().items()}
    fast_rejected = {p: (v.plugin, v.code, v.reasons)
                     for p, v in fast.rejections().items()}
    assert fast_rejected == slow_rejected
    assert slow_rejected  # the data set does reject some cells
    assert dict((c.path, w) for c, w in fast.ordered) == \
        dict((c.path, w) for c, w in slow.ordered)
    assert fast.summary() == slow.summary()


def test_fast_path_records_only_rejections():
    candidates = _cells(30, 4)
    fast = selection.select(candidates, _request(True), FILTERS, WEIGHERS,
                            record_all=False)
    described = fast.to_dict()['candidates']
    for entry in described:
        codes = [v['code'] for v in entry['verdicts']]
        assert codes in ([], ['reject'], ['error']), entry
    slow = selection.select(candidates, _request(True), FILTERS, WEIGHERS,
                            record_all=True)
    # explain's path shows every filter for the cells that survived.
    survivor = slow.picked.path
    plugins = [v['plugin'] for e in slow.to_dict()['candidates']
               if e['path'] == survivor for v in e['verdicts']]
    assert plugins == [f.name for f in FILTERS]


def test_pick_is_among_the_best_and_first_in_the_order():
    candidates = ss.candidates(*[ss.cell(n, ram_units=5) for n in 'ABCD'] +
                               [ss.cell('E', ram_units=1)])
    seen = set()
    for seed in range(40):
        result = selection.select(candidates, ss.request(), [], WEIGHERS,
                                  random.Random(seed), record_all=False)
        order = list(result.iter_ordered())
        assert order[0][0] is result.picked
        assert order[-1][0].path == 'api!E'
        assert len(order) == 5
        seen.add(result.picked.path)
    assert seen == {'api!A', 'api!B', 'api!C', 'api!D'}


class _Exploding(scheduling.BaseCellFilter):
    """Fails for one cell only: the batch is re-run cell by cell."""

    name = 'Exploding'

    def filter_cell(self, candidate, request):
        if candidate.name == 'B':
            raise RuntimeError('boom')
        return scheduling.Verdict.ok()


def test_a_failing_batch_rejects_only_the_failing_cells():
    candidates = ss.candidates(*[ss.cell(n, ram_units=1) for n in 'ABC'])
    result = selection.select(candidates, ss.request(), [_Exploding()], [],
                              record_all=False)
    rejected = result.rejections()
    assert list(rejected) == ['api!B']
    assert rejected['api!B'].code == scheduling.ERROR
    assert 'boom' in rejected['api!B'].reasons[0]
    assert rejected['api!B'].plugin == 'Exploding'
    assert sorted(c.path for c, _w in result.ordered) == ['api!A', 'api!C']


def test_ram_cache_follows_capacity_updates():
    cell = ss.cell('A', ram_units=3)
    weigher = ram_by_instance_type.RamByInstanceTypeWeigher(1.0)
    request = ss.request()
    candidate = ss.candidate(cell)
    assert weigher.weigh_cells([candidate], request) == [3]
    cell.update_capacities({'ram_free': {'units_by_mb': {'4096': 7}}})
    assert weigher.weigh_cells([candidate], request) == [7]
    cell.update_capacities({})
    assert weigher.weigh_cells([candidate], request) == [0]


def test_state_filter_batch_matches_per_cell():
    candidates = _cells(40, 9)
    plugin = cell_state.CellStateFilter()
    request = ss.request()
    passed, rejected = plugin.filter_cells(candidates, request)
    per_cell = {c.path: plugin.filter_cell(c, request) for c in candidates}
    assert {c.path for c in passed} == {
        p for p, v in per_cell.items() if v.passed}
    assert {p: v.reasons for p, v in rejected.items()} == {
        p: v.reasons for p, v in per_cell.items() if not v.passed}
