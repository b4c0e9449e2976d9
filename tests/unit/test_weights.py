"""Weighers and the weighing maths (reference §7.3, §7.4, §10.20;
STYLE.md item 7): raw weights per weigher, totals worked by hand, per-request
normalisation, random tie-breaking, and the "nothing to weigh" cases."""

import collections
import datetime
import random

import pytest

from nova_cells.scheduler import selection
from nova_cells.weights import mute_child
from nova_cells.weights import ram_by_instance_type
from nova_cells.weights import weight_offset
from tests.unit import sched_support as ss

RAM = 'RamByInstanceTypeWeigher'
OFFSET = 'WeightOffsetWeigher'
MUTE = 'MuteChildWeigher'


def default_weighers():
    """nova's defaults: ram 10.0, offset 1.0, mute -10000.0 (300 s)."""
    return [ram_by_instance_type.RamByInstanceTypeWeigher(10.0),
            weight_offset.WeightOffsetWeigher(1.0),
            mute_child.MuteChildWeigher(-10000.0, 300)]


def weights_of(result):
    return {c.path: w for c, w in result.ordered}


def order_of(result):
    return [c.path for c, _w in result.ordered]


# -- raw weights --------------------------------------------------------------

@pytest.mark.parametrize('cell_state, memory_mb, expected', [
    pytest.param(ss.cell('a', ram_units=7), 4096, 7, id='units-of-flavor'),
    pytest.param(ss.cell('a', ram_units=7), 8192, 0,
                 id='flavor-size-unknown-to-cell-is-0'),
    pytest.param(ss.cell('a'), 4096, 0, id='no-capacities-is-0'),
    pytest.param(ss.cell('me', ram_units=3, is_me=True), 4096, 3,
                 id='own-cell-counts-too'),
])
def test_ram_weigher_raw_weight(cell_state, memory_mb, expected):
    weigher = ram_by_instance_type.RamByInstanceTypeWeigher(10.0)
    assert weigher.weigh_cell(ss.candidate(cell_state),
                              ss.request(memory_mb=memory_mb)) == expected


@pytest.mark.parametrize('cell_state, expected', [
    pytest.param(ss.cell('a', offset=5.0), 5.0, id='row-offset'),
    pytest.param(ss.cell('a', offset=999999999999999), 999999999999999,
                 id='doc-idiom-huge-offset'),
    pytest.param(ss.cell('me', is_me=True), 0.0, id='own-cell-has-no-row'),
])
def test_offset_weigher_raw_weight(cell_state, expected):
    weigher = weight_offset.WeightOffsetWeigher(1.0)
    assert weigher.weigh_cell(ss.candidate(cell_state),
                              ss.request()) == expected


def _seen(seconds_ago, is_me=False):
    cell_state = ss.cell('me' if is_me else 'a', is_me=is_me)
    cell_state.last_seen = ss.NOW - datetime.timedelta(seconds=seconds_ago)
    return cell_state


@pytest.mark.parametrize('cell_state, expected', [
    pytest.param(_seen(10), 0.0, id='fresh'),
    pytest.param(_seen(300), 0.0, id='exactly-interval-not-mute'),
    pytest.param(_seen(301), 1.0, id='past-interval-mute'),
    pytest.param(_seen(10 ** 6, is_me=True), 0.0, id='own-cell-never-mute'),
])
def test_mute_weigher_raw_weight(cell_state, expected):
    # the interval comes in at load time (300 s), "now" with the request
    weigher = mute_child.MuteChildWeigher(-10000.0, mute_child_interval=300)
    assert weigher.weigh_cell(ss.candidate(cell_state),
                              ss.request()) == expected


# -- totals worked by hand (§7.4) ---------------------------------------------

# Every case: (cells, weighers, expected totals per path, expected order).
# Normalisation per weigher is (w - min) / (max - min) over this request's
# candidates (all 0 when min == max); total = sum(multiplier * normalised).
HAND_WORKED = [
    pytest.param(
        [ss.cell('A', ram_units=10, offset=0),
         ss.cell('B', ram_units=30, offset=5),
         ss.cell('C', ram_units=20, offset=0, mute=True)],
        None,
        # ram raw 10, 30, 20 -> min 10, max 30 -> 0, 1, .5 -> x10 = 0, 10, 5
        # offset raw 0, 5, 0 -> 0, 1, 0 -> x1 = 0, 1, 0
        # mute raw 0, 0, 1 -> 0, 0, 1 -> x-10000 = 0, 0, -10000
        # A = 0 + 0 + 0 = 0.0; B = 10 + 1 + 0 = 11.0; C = 5 + 0 - 10000
        {'api!A': 0.0, 'api!B': 11.0, 'api!C': -9995.0},
        ['api!B', 'api!A', 'api!C'],
        id='issue-example-mute-child-last'),
    pytest.param(
        [ss.cell('A', ram_units=8, offset=0),
         ss.cell('B', ram_units=2, offset=3),
         ss.cell('me', ram_units=5, is_me=True)],
        None,
        # ram 8, 2, 5 -> min 2, max 8 -> 1, 0, .5 -> x10 = 10, 0, 5
        # offset 0, 3, 0 (me has no row) -> 0, 1, 0 -> x1 = 0, 1, 0
        # mute 0, 0, 0 -> min == max -> 0, 0, 0
        {'api!A': 10.0, 'api!B': 1.0, 'api': 5.0},
        ['api!A', 'api', 'api!B'],
        id='own-cell-with-capacity-in-the-middle'),
    pytest.param(
        [ss.cell('A', ram_units=10), ss.cell('B', ram_units=30),
         ss.cell('C', ram_units=20)],
        [ram_by_instance_type.RamByInstanceTypeWeigher(-10.0)],
        # negative multiplier stacks: 0, 1, .5 -> x-10 = 0, -10, -5
        {'api!A': 0.0, 'api!B': -10.0, 'api!C': -5.0},
        ['api!A', 'api!C', 'api!B'],
        id='negative-ram-multiplier-stacks'),
    pytest.param(
        [ss.cell('A', ram_units=10, offset=999999999999999),
         ss.cell('B', ram_units=30), ss.cell('C', ram_units=20)],
        None,
        # ram 0, 10, 5; offset 1e15, 0, 0 -> 1, 0, 0 -> x1 = 1, 0, 0
        # the doc idiom's huge offset only ever adds offset_multiplier
        {'api!A': 1.0, 'api!B': 10.0, 'api!C': 5.0},
        ['api!B', 'api!C', 'api!A'],
        id='huge-offset-is-normalised-to-one'),
    pytest.param(
        [ss.cell('A', ram_units=10, offset=2, mute=True),
         ss.cell('B', ram_units=10, offset=2, mute=True),
         ss.cell('C', ram_units=40, offset=6)],
        [ram_by_instance_type.RamByInstanceTypeWeigher(10.0),
         weight_offset.WeightOffsetWeigher(2.5),
         mute_child.MuteChildWeigher(-10000.0, 300)],
        # ram 10, 10, 40 -> 0, 0, 1 -> x10 = 0, 0, 10
        # offset 2, 2, 6 -> 0, 0, 1 -> x2.5 = 0, 0, 2.5
        # mute 1, 1, 0 -> 1, 1, 0 -> x-10000 = -10000, -10000, 0
        {'api!A': -10000.0, 'api!B': -10000.0, 'api!C': 12.5},
        ['api!C', None, None],
        id='two-mute-children-tie-at-the-bottom'),
]


@pytest.mark.parametrize('cells, weighers, totals, order', HAND_WORKED)
def test_weights_and_order_match_hand_arithmetic(cells, weighers, totals,
                                                 order):
    result = selection.select(ss.candidates(*cells), ss.request(), [],
                              weighers or default_weighers(),
                              rng=random.Random(7))
    assert weights_of(result) == totals
    # None in the expected order: a tie (any order among the tied)
    got = order_of(result)
    for position, path in enumerate(order):
        if path is not None:
            assert got[position] == path, got


def test_scores_record_raw_normalised_and_weighted_values():
    cells = [ss.cell('A', ram_units=10, offset=0),
             ss.cell('B', ram_units=30, offset=5),
             ss.cell('C', ram_units=20, offset=0, mute=True)]
    result = selection.select(ss.candidates(*cells), ss.request(), [],
                              default_weighers())
    assert result.scores['api!C'] == {
        RAM: {'raw': 20.0, 'normalized': 0.5, 'weighted': 5.0},
        OFFSET: {'raw': 0.0, 'normalized': 0.0, 'weighted': 0.0},
        MUTE: {'raw': 1.0, 'normalized': 1.0, 'weighted': -10000.0}}
    assert result.scores['api!B'][OFFSET] == {
        'raw': 5.0, 'normalized': 1.0, 'weighted': 1.0}
    assert result.picked.path == 'api!B'


# -- normalisation is per request (§10.20 fixed) ------------------------------

def test_normalisation_does_not_drift_across_requests():
    weighers = default_weighers()  # long-lived, as in a running scheduler
    # request 1 sees a huge weight_offset (nova kept it as maxval forever)
    first = [ss.cell('X', ram_units=1, offset=999999999999999),
             ss.cell('Y', ram_units=2, offset=0)]
    selection.select(ss.candidates(*first), ss.request(), [], weighers)

    cells = [ss.cell('A', ram_units=10, offset=0),
             ss.cell('B', ram_units=30, offset=5),
             ss.cell('C', ram_units=20, offset=0, mute=True)]
    reused = selection.select(ss.candidates(*cells), ss.request(), [],
                              weighers)
    fresh = selection.select(ss.candidates(*cells), ss.request(), [],
                             default_weighers())

    assert weights_of(reused) == weights_of(fresh)
    # B's offset 5 normalises against this request's 0..5 -> 1.0, so
    # B = 10 + 1 = 11.0; with nova's drift it would be 10 + 5/1e15.
    assert weights_of(reused)['api!B'] == 11.0
    assert reused.scores['api!B'][OFFSET]['normalized'] == 1.0


def test_weighers_keep_no_state_between_requests():
    weighers = default_weighers()
    before = [dict(vars(w)) for w in weighers]
    cells = [ss.cell('A', ram_units=1, offset=1e15), ss.cell('B')]
    selection.select(ss.candidates(*cells), ss.request(), [], weighers)
    assert [dict(vars(w)) for w in weighers] == before, \
        'no minval/maxval (or anything else) kept on the weigher'


# -- ties and the degenerate cases --------------------------------------------

def _picks(cells, weighers, runs=300, seed=1234):
    rng = random.Random(seed)
    picks = collections.Counter()
    lasts = collections.Counter()
    for _ in range(runs):
        result = selection.select(ss.candidates(*cells), ss.request(), [],
                                  weighers, rng=rng)
        picks[result.picked.path] += 1
        lasts[result.ordered[-1][0].path] += 1
    return picks, lasts


def test_tied_best_cells_are_picked_at_random():
    cells = [ss.cell('A', ram_units=30), ss.cell('B', ram_units=30),
             ss.cell('C', ram_units=10)]
    picks, lasts = _picks(cells, default_weighers())
    # A and B both weigh 10.0, C 0.0: each of A, B is picked, never C
    assert set(picks) == {'api!A', 'api!B'}
    assert min(picks.values()) >= 100, picks  # ~150 each of 300
    assert lasts == {'api!C': 300}


def test_unique_best_is_always_first_ties_below_are_shuffled():
    cells = [ss.cell('A', ram_units=20), ss.cell('B', ram_units=30),
             ss.cell('C', ram_units=20)]
    picks, lasts = _picks(cells, default_weighers())
    assert picks == {'api!B': 300}
    assert set(lasts) == {'api!A', 'api!C'}, lasts


def test_seeded_rng_makes_tie_breaking_reproducible():
    cells = [ss.cell(n, ram_units=5) for n in 'ABCD']

    def run():
        rng = random.Random(99)
        return [order_of(selection.select(ss.candidates(*cells),
                                          ss.request(), [],
                                          default_weighers(), rng=rng))
                for _ in range(5)]
    assert run() == run()


@pytest.mark.parametrize('cells', [
    pytest.param([], id='no-candidate'),
    pytest.param([ss.cell('A', ram_units=30, offset=9, mute=True)],
                 id='one-candidate'),
])
def test_one_candidate_or_fewer_is_not_weighed(cells):
    result = selection.select(ss.candidates(*cells), ss.request(), [],
                              default_weighers())
    assert [w for _c, w in result.ordered] == [0.0] * len(cells)
    assert result.scores == {}, 'nothing weighed, nothing scored'


def test_no_weighers_picks_uniformly_among_passing_cells():
    cells = [ss.cell('A', ram_units=1), ss.cell('B', ram_units=50),
             ss.cell('C', ram_units=99, offset=10)]
    result = selection.select(ss.candidates(*cells), ss.request(), [], [])
    assert sorted(weights_of(result).values()) == [0.0, 0.0, 0.0]
    assert result.scores == {}
    picks, _lasts = _picks(cells, [], runs=600)
    assert set(picks) == {'api!A', 'api!B', 'api!C'}
    # uniform: ~200 each of 600 (seeded, so stable)
    assert all(150 <= n <= 250 for n in picks.values()), picks


# -- issue 23: a non-finite weight never breaks a pick ---------------------

@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf')],
                         ids=['nan', 'inf', 'minus-inf'])
@pytest.mark.parametrize('multiplier', [1.0, float('nan')],
                         ids=['finite-multiplier', 'nan-multiplier'])
def test_non_finite_offsets_still_pick_a_cell(bad, multiplier):
    """A row written before the input checks (or by hand) with a NaN or
    infinite weight_offset, or a NaN multiplier: the pick still happens
    (it once raised IndexError), and a NaN total ranks last."""
    cells = [ss.candidate(ss.cell('a', offset=bad)),
             ss.candidate(ss.cell('b', offset=1.0)),
             ss.candidate(ss.cell('c', offset=2.0))]
    for seed in range(20):
        result = selection.select(
            cells, ss.request(), [],
            [weight_offset.WeightOffsetWeigher(multiplier)],
            rng=random.Random(seed))
        assert result.picked is not None
        ordered = result.ordered
        assert len(ordered) == 3
        totals = [w for _c, w in ordered]
        assert not any(w != w for w in totals)
