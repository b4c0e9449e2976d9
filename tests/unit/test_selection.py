"""Selection: filtering, weighing, ordering and the diagnosis (reference
§6.4, §7.4; STYLE.md item 5): the k8s-form summary, the plain-data
``to_dict`` and what a failing filter does."""

import json
import random

import pytest

from nova_cells.filters import different_cell
from nova_cells.filters import image_properties
from nova_cells.filters import target_cell
from nova_cells import scheduling
from nova_cells.scheduler import selection
from nova_cells.weights import ram_by_instance_type
from tests.unit import sched_support as ss

HV = 'prominent_hypervisor_version'


def real_filters():
    return [target_cell.TargetCellFilter(),
            different_cell.DifferentCellFilter(),
            image_properties.ImagePropertiesFilter()]


class Boom(scheduling.BaseCellFilter):
    """A faulty filter: raises for the cells it is told to."""

    name = 'Boom'

    def __init__(self, explode_for=()):
        self.explode_for = set(explode_for)
        self.seen = []

    def filter_cell(self, candidate, request):
        self.seen.append(candidate.path)
        if candidate.name in self.explode_for:
            raise ValueError('no capacity table for %s' % candidate.name)
        return scheduling.Verdict.ok()


class Recording(scheduling.BaseCellFilter):
    """Passes everything and remembers whom it was asked about."""

    name = 'Recording'

    def __init__(self):
        self.seen = []

    def filter_cell(self, candidate, request):
        self.seen.append(candidate.path)
        return scheduling.Verdict.ok()


def four_cells():
    return [ss.cell('c1', ram_units=4), ss.cell('c2', ram_units=4),
            ss.cell('c3', ram_units=4, capabilities={HV: ['7.0']}),
            ss.cell('c4', ram_units=4, capabilities={HV: ['8.0']})]


# -- the k8s-form summary -----------------------------------------------------

def _summary_of(cells, hints, requires):
    props = {'hypervisor_version_requires': requires} if requires else {}
    result = selection.select(ss.candidates(*cells),
                              ss.request(hints=hints,
                                         image_properties=props),
                              real_filters(), [])
    return result


@pytest.mark.parametrize('hints, requires, expected', [
    pytest.param(
        {'different_cell': ['api!c1', 'api!c2']}, '<7.0',
        '0/4 cells are available: '
        '2 excluded by hint different_cell (DifferentCellFilter), '
        '1 hypervisor version 7.0 does not satisfy <7.0 '
        '(ImagePropertiesFilter), '
        '1 hypervisor version 8.0 does not satisfy <7.0 '
        '(ImagePropertiesFilter).',
        id='none-available-biggest-group-first'),
    pytest.param(
        {'different_cell': ['api!c1']}, '>=7.0,<8.0',
        '2/4 cells are available: '
        '1 excluded by hint different_cell (DifferentCellFilter), '
        '1 hypervisor version 8.0 does not satisfy <8.0,>=7.0 '
        '(ImagePropertiesFilter).',
        id='some-available'),
    pytest.param(None, None, '4/4 cells are available.', id='all-available'),
    pytest.param({'different_cell': ['api!c1', 'api!c2', 'api!c3',
                                     'api!c4']}, None,
                 '0/4 cells are available: 4 excluded by hint '
                 'different_cell (DifferentCellFilter).',
                 id='one-reason-for-all'),
])
def test_summary_in_k8s_form(hints, requires, expected):
    assert _summary_of(four_cells(), hints, requires).summary() == expected


def test_summary_without_candidates():
    result = selection.select([], ss.request(), real_filters(), [])
    assert result.summary() == '0/0 cells are available: no candidate cells.'
    assert result.picked is None and result.ordered == []


def test_summary_when_pinned():
    result = selection.select(
        ss.candidates(*four_cells()),
        ss.request(hints={'target_cell': 'api!c2!g3'}), real_filters(), [])
    assert result.summary() == ('pinned to api!c2!g3 by TargetCellFilter '
                                '(target_cell hint api!c2!g3).')


def test_pin_short_circuits_filters_and_weighers():
    recording = Recording()
    result = selection.select(
        ss.candidates(*four_cells()),
        ss.request(hints={'target_cell': 'api!c1'}),
        [target_cell.TargetCellFilter(), recording],
        [ram_by_instance_type.RamByInstanceTypeWeigher(10.0)])
    assert (result.pinned.path, result.pinned.plugin) == ('api!c1',
                                                          'TargetCellFilter')
    assert recording.seen == [], 'no filter runs once pinned'
    assert result.ordered == [] and result.scores == {}
    assert result.to_dict()['pinned'] == {
        'path': 'api!c1', 'reason': 'target_cell hint api!c1',
        'plugin': 'TargetCellFilter'}


# -- to_dict: the plain-data diagnosis ----------------------------------------

def test_to_dict_has_verdicts_scores_weights_and_pick():
    cells = [ss.cell('c1', ram_units=10), ss.cell('c2', ram_units=30),
             ss.cell('c3', ram_units=20)]
    result = selection.select(
        ss.candidates(*cells), ss.request(hints={'different_cell': 'api!c2'}),
        [different_cell.DifferentCellFilter()],
        [ram_by_instance_type.RamByInstanceTypeWeigher(10.0)],
        rng=random.Random(1))
    # c2 is excluded; c1 (10) and c3 (20) remain: ram 0, 1 -> x10 = 0, 10
    ok = {'code': 'pass', 'reasons': [], 'plugin': 'DifferentCellFilter'}
    assert result.to_dict() == {
        'pinned': None,
        'candidates': [
            {'path': 'api!c1', 'is_me': False, 'verdicts': [ok],
             'scores': {'RamByInstanceTypeWeigher': {
                 'raw': 10.0, 'normalized': 0.0, 'weighted': 0.0}},
             'weight': 0.0},
            {'path': 'api!c2', 'is_me': False,
             'verdicts': [{'code': 'reject',
                           'reasons': ['excluded by hint different_cell'],
                           'plugin': 'DifferentCellFilter'}],
             'scores': {}, 'weight': None},
            {'path': 'api!c3', 'is_me': False, 'verdicts': [ok],
             'scores': {'RamByInstanceTypeWeigher': {
                 'raw': 20.0, 'normalized': 1.0, 'weighted': 10.0}},
             'weight': 10.0},
        ],
        'ordered': ['api!c3', 'api!c1'],
        'picked': 'api!c3',
        'summary': '2/3 cells are available: 1 excluded by hint '
                   'different_cell (DifferentCellFilter).',
    }
    json.dumps(result.to_dict())  # plain data: explain, faults, logs


def test_rejections_name_the_verdict_that_removed_each_cell():
    result = _summary_of(four_cells(), {'different_cell': 'api!c1'}, '<7.0')
    rejections = result.rejections()
    assert sorted(rejections) == ['api!c1', 'api!c3', 'api!c4']
    assert rejections['api!c1'].plugin == 'DifferentCellFilter'
    assert rejections['api!c3'].reasons == (
        'hypervisor version 7.0 does not satisfy <7.0',)
    # a removed cell is not shown to the later filters
    assert [v.plugin for v in result.verdicts['api!c1']] == [
        'TargetCellFilter', 'DifferentCellFilter']
    assert [v.plugin for v in result.verdicts['api!c2']] == [
        'TargetCellFilter', 'DifferentCellFilter', 'ImagePropertiesFilter']


# -- a filter that raises -----------------------------------------------------

def test_filter_that_raises_gives_error_verdict_and_removes_the_cell():
    boom, after = Boom(explode_for={'c2'}), Recording()
    cells = [ss.cell('c1'), ss.cell('c2'), ss.cell('c3')]
    result = selection.select(ss.candidates(*cells), ss.request(),
                              [boom, after], [])
    verdict = result.verdicts['api!c2'][-1]
    assert (verdict.code, verdict.reasons, verdict.plugin) == (
        scheduling.ERROR, ('filter failed: no capacity table for c2',),
        'Boom')
    assert after.seen == ['api!c1', 'api!c3'], 'c2 was removed'
    assert sorted(c.path for c, _w in result.ordered) == ['api!c1', 'api!c3']
    assert result.summary() == ('2/3 cells are available: 1 filter failed: '
                                'no capacity table for c2 (Boom).')


def test_filter_raising_for_every_cell_leaves_none():
    cells = [ss.cell('c1'), ss.cell('c2')]
    result = selection.select(ss.candidates(*cells), ss.request(),
                              [Boom(explode_for={'c1', 'c2'})], [])
    assert result.picked is None
    assert result.to_dict()['candidates'][0]['verdicts'] == [
        {'code': 'error', 'reasons': ['filter failed: no capacity table for '
                                      'c1'], 'plugin': 'Boom'}]


class BadPrepare(scheduling.BaseCellFilter):
    """A filter whose look at all the candidates fails."""

    name = 'BadPrepare'

    def prepare(self, candidates, request):
        raise ValueError('capacities of c2 are not numbers')

    def filter_cell(self, candidate, request):
        return scheduling.Verdict.ok()


@pytest.mark.parametrize('record_all', [True, False])
def test_a_failing_prepare_is_every_candidates_error_with_why(record_all):
    after = Recording()
    cells = [ss.cell('c1'), ss.cell('c2')]
    result = selection.select(ss.candidates(*cells), ss.request(),
                              [BadPrepare(), after], [],
                              record_all=record_all)
    assert result.picked is None and after.seen == []
    for path in ('api!c1', 'api!c2'):
        verdict = result.verdicts_of(path)[-1]
        assert (verdict.code, verdict.reasons, verdict.plugin) == (
            scheduling.ERROR,
            ('filter failed: capacities of c2 are not numbers',),
            'BadPrepare')


def test_filtering_stops_when_nobody_is_left():
    after = Recording()
    result = selection.select(
        ss.candidates(ss.cell('c1')),
        ss.request(hints={'different_cell': 'api!c1'}),
        [different_cell.DifferentCellFilter(), after], [])
    assert after.seen == [] and result.ordered == []


def test_selection_does_not_touch_the_hints():
    hints = {'target_cell': 'api!elsewhere', 'different_cell': ['api!c1']}
    request = ss.request(hints=hints)
    selection.select(ss.candidates(*four_cells()), request, real_filters(),
                     [])
    assert request.scheduler_hints == hints
    assert hints == {'target_cell': 'api!elsewhere',
                     'different_cell': ['api!c1']}
