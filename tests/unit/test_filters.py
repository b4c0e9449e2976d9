"""The three cell filters (reference §7.2, §10.21-23; STYLE.md items 5-6):
every verdict's code and reasons, with the real oslo.policy check for the
admin-only hints (nova_cells.policy.CellPolicy, nova's defaults)."""

import pytest

from nova_cells.filters import different_cell
from nova_cells.filters import image_properties
from nova_cells.filters import target_cell
from nova_cells import scheduling
from nova_cells.scheduler import selection
from tests.unit import sched_support as ss

PASS, REJECT, ERROR = scheduling.PASS, scheduling.REJECT, scheduling.ERROR


def verdicts(plugin, cells, request, routing_path='api'):
    """path -> (code, reasons) of ``plugin`` for each cell."""
    found = {}
    for cand in ss.candidates(*cells, routing_path=routing_path):
        verdict = plugin.filter_cell(cand, request)
        found[cand.path] = (verdict.code, verdict.reasons)
    return found


# -- TargetCellFilter ---------------------------------------------------------

# (routing path, hints, context, expected pin path or None)
TARGET_PIN_CASES = [
    pytest.param('api', None, ss.ADMIN, None, id='no-hints'),
    pytest.param('api', {'different_cell': 'api!c1'}, ss.ADMIN, None,
                 id='no-target-hint'),
    pytest.param('api', {'target_cell': ''}, ss.ADMIN, None,
                 id='empty-hint'),
    pytest.param('api!c1', {'target_cell': 'api!c1'}, ss.ADMIN, 'api!c1',
                 id='admin-path-is-me'),
    pytest.param('api', {'target_cell': 'api!c2!g3'}, ss.ADMIN, 'api!c2!g3',
                 id='admin-path-below-grandchild'),
    pytest.param('api!c2', {'target_cell': 'api!c2!g3'}, ss.ADMIN,
                 'api!c2!g3', id='admin-path-below-child'),
    pytest.param('api!c1', {'target_cell': 'api!c2!g3'}, ss.ADMIN, None,
                 id='admin-path-outside-no-pin'),
    pytest.param('api!c1', {'target_cell': 'api!c10'}, ss.ADMIN, None,
                 id='admin-name-prefix-is-not-below'),
    pytest.param('api', {'target_cell': 'api!c2!g3'}, ss.USER, None,
                 id='non-admin-ignored'),
]


@pytest.mark.parametrize('routing_path, hints, ctxt, pin', TARGET_PIN_CASES)
def test_target_cell_pin(routing_path, hints, ctxt, pin):
    plugin = target_cell.TargetCellFilter()
    result = plugin.pre_filter(ss.request(routing_path, hints, ctxt))
    if pin is None:
        assert result is None
    else:
        assert (result.path, result.reason) == (pin, 'target_cell hint %s'
                                                % pin)


@pytest.mark.parametrize('routing_path, hints, ctxt, expected', [
    pytest.param('api', None, ss.ADMIN, (PASS, ()), id='no-hints-passes'),
    pytest.param('api', {'target_cell': 'api!c1'}, ss.ADMIN, (PASS, ()),
                 id='inside-passes'),
    pytest.param('api', {'target_cell': 'api!c2!g3'}, ss.USER, (PASS, ()),
                 id='non-admin-passes'),
    pytest.param('api!c1', {'target_cell': 'api!c2!g3'}, ss.ADMIN,
                 (REJECT, ('target_cell api!c2!g3 is not api!c1 or below '
                           'it',)),
                 id='admin-outside-rejected-naming-path'),
    pytest.param('api!c1', {'target_cell': 'elsewhere'}, ss.ADMIN,
                 (REJECT, ('target_cell elsewhere is not api!c1 or below '
                           'it',)),
                 id='admin-garbage-path-rejected'),
])
def test_target_cell_verdict_for_every_candidate(routing_path, hints, ctxt,
                                                 expected):
    cells = [ss.cell('g1'), ss.cell('g2'), ss.cell('me', is_me=True)]
    found = verdicts(target_cell.TargetCellFilter(), cells,
                     ss.request(routing_path, hints, ctxt), routing_path)
    assert found == {path: expected for path in found}
    assert len(found) == 3


def test_target_cell_outside_subtree_leaves_no_cell_with_reason():
    request = ss.request('api!c1', {'target_cell': 'api!c2!g3'}, ss.ADMIN)
    result = selection.select(
        ss.candidates(ss.cell('g1'), ss.cell('g2'), routing_path='api!c1'),
        request, [target_cell.TargetCellFilter()], [])
    assert result.pinned is None and result.picked is None
    assert result.summary() == (
        '0/2 cells are available: 2 target_cell api!c2!g3 is not api!c1 or '
        'below it (TargetCellFilter).')


def test_target_cell_filter_is_pure():
    hints = {'target_cell': 'api!c2!g3'}
    request = ss.request('api', hints, ss.ADMIN)
    plugin = target_cell.TargetCellFilter()
    plugin.pre_filter(request)
    plugin.filter_cell(ss.candidate(ss.cell('c1')), request)
    assert request.scheduler_hints == {'target_cell': 'api!c2!g3'}, \
        'the hint is not popped by the filter (the scheduler drops it)'
    assert hints == {'target_cell': 'api!c2!g3'}


# -- DifferentCellFilter ------------------------------------------------------

EXCLUDED = (REJECT, ('excluded by hint different_cell',))
OK = (PASS, ())

# cells: children c1, c2 and me, seen from 'api'
DIFFERENT_CASES = [
    pytest.param(None, ss.ADMIN, {'api!c1': OK, 'api!c2': OK, 'api': OK},
                 id='no-hints'),
    pytest.param({'different_cell': 'api!c1'}, ss.ADMIN,
                 {'api!c1': EXCLUDED, 'api!c2': OK, 'api': OK},
                 id='str-hint'),
    pytest.param({'different_cell': ['api!c1', 'api!c2']}, ss.ADMIN,
                 {'api!c1': EXCLUDED, 'api!c2': EXCLUDED, 'api': OK},
                 id='list-hint'),
    pytest.param({'different_cell': ['api']}, ss.ADMIN,
                 {'api!c1': OK, 'api!c2': OK, 'api': EXCLUDED},
                 id='own-path-excludes-me'),
    pytest.param({'different_cell': ['api!c1!g1', 'c2', 'api!c']}, ss.ADMIN,
                 {'api!c1': OK, 'api!c2': OK, 'api': OK},
                 id='exact-full-path-only-no-prefix-or-bare-name'),
    pytest.param({'different_cell': []}, ss.ADMIN,
                 {'api!c1': OK, 'api!c2': OK, 'api': OK}, id='empty-list'),
    pytest.param({'different_cell': ['api!c1', 'api!c2']}, ss.USER,
                 {'api!c1': OK, 'api!c2': OK, 'api': OK},
                 id='non-admin-ignored'),
]


@pytest.mark.parametrize('hints, ctxt, expected', DIFFERENT_CASES)
def test_different_cell(hints, ctxt, expected):
    cells = [ss.cell('c1'), ss.cell('c2'), ss.cell('me', is_me=True)]
    found = verdicts(different_cell.DifferentCellFilter(), cells,
                     ss.request('api', hints, ctxt))
    assert found == expected


def test_different_cell_matches_full_paths_at_a_lower_level():
    hints = {'different_cell': ['api!c1!g1', 'api!c2!g3']}
    cells = [ss.cell('g1'), ss.cell('g2')]
    found = verdicts(different_cell.DifferentCellFilter(), cells,
                     ss.request('api!c1', hints, ss.ADMIN), 'api!c1')
    assert found == {'api!c1!g1': EXCLUDED, 'api!c1!g2': OK}


# -- ImagePropertiesFilter ----------------------------------------------------

RANGE = '>6.0, <=6.3'
HV = 'prominent_hypervisor_version'


def _reject(versions, spec='<=6.3,>6.0'):
    return (REJECT, ('hypervisor version %s does not satisfy %s'
                     % (versions, spec),))


# (image properties, the cell's versions or None, expected (code, reasons))
IMAGE_CASES = [
    pytest.param(None, ['7.0'], OK, id='no-properties'),
    pytest.param({'os_distro': 'cirros'}, ['7.0'], OK,
                 id='no-requirement'),
    pytest.param({'hypervisor_version_requires': RANGE}, None, OK,
                 id='cell-without-capability-passes'),
    pytest.param({'hypervisor_version_requires': RANGE}, ['6.2.0'], OK,
                 id='6.2.0-in-range'),
    pytest.param({'hypervisor_version_requires': RANGE}, ['7.0'],
                 _reject('7.0'), id='7.0-out-of-range'),
    pytest.param({'hypervisor_version_requires': RANGE}, ['6.3'], OK,
                 id='upper-bound-inclusive'),
    pytest.param({'hypervisor_version_requires': RANGE}, ['6.0'],
                 _reject('6.0'), id='lower-bound-exclusive'),
    pytest.param({'hypervisor_version_requires': RANGE}, ['7.0', '6.2.0'],
                 OK, id='multi-valued-any-satisfies'),
    pytest.param({'hypervisor_version_requires': RANGE}, ['7.0', '5.1'],
                 _reject('5.1, 7.0'), id='multi-valued-none-satisfies'),
    pytest.param({'hypervisor_version_requires': RANGE}, ['xen-four'],
                 _reject('xen-four'), id='unparsable-cell-version'),
    pytest.param({'hypervisor_version_requires': '>=7.0'}, ['7.0'], OK,
                 id='ge-7.0'),
    pytest.param({'hypervisor_version_requires': '==6.2'}, ['6.2.0'], OK,
                 id='eq-pads-zeros'),
    pytest.param({'hypervisor_version_requires': 'banana'}, ['6.2'],
                 (ERROR, ("invalid hypervisor_version_requires 'banana'",)),
                 id='invalid-requirement-error'),
    pytest.param({'hypervisor_version_requires': '6.2'}, None,
                 (ERROR, ("invalid hypervisor_version_requires '6.2'",)),
                 id='invalid-requirement-error-even-without-capability'),
]


@pytest.mark.parametrize('properties, versions, expected', IMAGE_CASES)
def test_image_properties(properties, versions, expected):
    caps = {HV: versions} if versions is not None else {}
    cand = ss.candidate(ss.cell('c1', capabilities=caps))
    request = ss.request(image_properties=properties)
    verdict = image_properties.ImagePropertiesFilter().filter_cell(cand,
                                                                   request)
    assert (verdict.code, verdict.reasons) == expected


def test_image_properties_without_image_in_spec():
    request = ss.request()
    request.request_spec.pop('image')
    verdict = image_properties.ImagePropertiesFilter().filter_cell(
        ss.candidate(ss.cell('c1', capabilities={HV: ['1.0']})), request)
    assert verdict.passed


def test_invalid_requirement_removes_every_cell_with_reason():
    cells = [ss.cell('c1', capabilities={HV: ['6.2']}), ss.cell('c2')]
    result = selection.select(
        ss.candidates(*cells),
        ss.request(image_properties={'hypervisor_version_requires': 'x'}),
        [image_properties.ImagePropertiesFilter()], [])
    assert result.picked is None
    assert result.summary() == (
        "0/2 cells are available: 2 invalid hypervisor_version_requires "
        "'x' (ImagePropertiesFilter).")
    assert {v[-1].code for v in result.verdicts.values()} == {ERROR}
