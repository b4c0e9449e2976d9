"""The scheduling plug-ins beyond nova (doc/scheduling/): pinning by
project, flavor and image property, zones, fallback groups, server groups,
and the vcpu / disk / zone-spread / server-group weighers.

For each: the verdicts or raw weights that could go wrong (pass and
reject, with the reason text), the batch form agreeing with the per-cell
form, nothing looked at by default, configuration parsed at load (a bad
value fails there, naming the option), and the plug-in through
``selection.select`` as ``explain`` (record_all) and a real pick see it.
"""

import random

import pytest

from nova_cells.filters import _pins
from nova_cells.filters import availability_zone
from nova_cells.filters import fallback_group
from nova_cells.filters import flavor_cells
from nova_cells.filters import image_property_cells
from nova_cells.filters import project_cells
from nova_cells.filters import server_group as server_group_filter
from nova_cells.scheduler import plugins
from nova_cells import scheduling
from nova_cells.scheduler import selection
from nova_cells.weights import az_spread
from nova_cells.weights import disk_by_instance_type
from nova_cells.weights import server_group as server_group_weigher
from nova_cells.weights import vcpu_by_instance_type
from tests.unit import sched_support as ss

PASS, REJECT, ERROR = scheduling.PASS, scheduling.REJECT, scheduling.ERROR
OK = (PASS, ())

NEW_FILTERS = ['ProjectCellsFilter', 'FlavorCellsFilter',
               'ImagePropertyCellsFilter', 'CellAvailabilityZoneFilter',
               'ServerGroupCellFilter', 'FallbackGroupFilter']
NEW_WEIGHERS = ['VcpuByInstanceTypeWeigher', 'DiskByInstanceTypeWeigher',
                'AvailabilityZoneSpreadWeigher', 'ServerGroupCellWeigher']

SMALL = {'name': 'm1.small', 'memory_mb': 2048, 'vcpus': 1, 'root_gb': 20,
         'ephemeral_gb': 0, 'extra_specs': {}}
BIG = {'name': 'm1.big', 'memory_mb': 8192, 'vcpus': 4, 'root_gb': 40,
       'ephemeral_gb': 10, 'extra_specs': {}}


def tree(routing_path='api', names=('c1', 'c2', 'c3'), **cell_kwargs):
    """This cell (``routing_path``) and its children, as candidates."""
    cells = [ss.cell('me', is_me=True, **cell_kwargs.get('me', {}))]
    cells += [ss.cell(n, **cell_kwargs.get(n, {})) for n in names]
    return ss.candidates(*cells, routing_path=routing_path)


def verdicts(plugin, candidates, request):
    """path -> (code, reasons) from ``filter_cell``; asserts that the
    batch form rejects exactly the same cells with the same reasons."""
    plugin.prepare(candidates, request)
    found = {}
    for cand in candidates:
        verdict = plugin.filter_cell(cand, request)
        found[cand.path] = (verdict.code, verdict.reasons)
    passed, rejected = plugin.filter_cells(candidates, request)
    assert [c.path for c in passed] == [
        p for p, (code, _r) in found.items() if code == PASS]
    assert {p: (v.code, v.reasons) for p, v in rejected.items()} == {
        p: v for p, v in found.items() if v[0] != PASS}
    return found


def through_selection(plugin, candidates, request, weighers=()):
    """select() recording all and fast: the same survivors and
    rejections; returns the explain dict."""
    explained = selection.select(candidates, request, [plugin],
                                 list(weighers), random.Random(0),
                                 record_all=True)
    fast = selection.select(candidates, request, [plugin], list(weighers),
                            random.Random(0), record_all=False)
    assert fast.summary() == explained.summary()
    assert {p: (v.code, v.reasons, v.plugin)
            for p, v in fast.rejections().items()} == {
        p: (v.code, v.reasons, v.plugin)
        for p, v in explained.rejections().items()}
    assert sorted(c.path for c in fast._ranking[0]) == sorted(
        c.path for c in explained._ranking[0])
    return explained.to_dict()


def explain_verdicts(explained):
    return {c['path']: [(v['plugin'], v['code'], tuple(v['reasons']))
                        for v in c['verdicts']]
            for c in explained['candidates']}


# -- loading: names, entry points, defaults -----------------------------------

def test_new_plugins_are_in_all_filters_and_all_weighers():
    filters = plugins.resolve_names(['nova.cells.filters.all_filters'])
    weighers = plugins.resolve_names(['nova.cells.weights.all_weighers'])
    assert filters[3:] == NEW_FILTERS
    assert filters[-1] == 'FallbackGroupFilter'
    assert weighers[3:] == NEW_WEIGHERS


@pytest.mark.parametrize('family, name', [
    ('filters', n) for n in NEW_FILTERS] + [
    ('weighers', n) for n in NEW_WEIGHERS])
def test_entry_point_loads_the_class(family, name, make_conf):
    loaded, = plugins.load_plugins(family, [name], make_conf())
    assert loaded.name == name


def test_defaults_change_nothing(make_conf):
    """Not configured, not asked: no new filter looks at a cell and no new
    weigher adds to a total."""
    conf = make_conf()
    filters = plugins.load_plugins('filters', NEW_FILTERS, conf)
    weighers = plugins.load_plugins('weighers', NEW_WEIGHERS, conf)
    request = ss.request(flavor=SMALL, project_id='p1', num_instances=3)
    assert [f.is_applicable(request) for f in filters] == [False] * 6
    assert [(w.name, w.multiplier_for(request)) for w in weighers] == [
        ('VcpuByInstanceTypeWeigher', 0.0),
        ('DiskByInstanceTypeWeigher', 0.0),
        ('AvailabilityZoneSpreadWeigher', 20.0),
        ('ServerGroupCellWeigher', 0.0)]
    cands = tree(c1={'capabilities': {'az': ['az1']}})
    assert weighers[2].weigh_cells(cands, request) == [0.0] * 4


def test_options_are_parsed_at_load(make_conf):
    conf = make_conf('[cells]\n'
                     'project_cells = p1:api!c1;api!c2!g1 , p2:api!c3\n'
                     'reserved_cells = api!c1, api!c3\n'
                     'flavor_cells = m1.big:api!c2\n'
                     'image_property_cells = os_distro=windows:api!win\n'
                     'fallback_cell_groups = api!c1;api!c2,api!c3\n'
                     'spread_capability = datacentre\n'
                     'az_spread_weight_multiplier = 5\n'
                     'vcpu_weight_multiplier = 2\n'
                     'disk_weight_multiplier = -3\n'
                     'soft_affinity_weight_multiplier = 7\n'
                     'soft_anti_affinity_weight_multiplier = 9\n')
    (projects, flavors, images, _az, _sg, fallback) = plugins.load_plugins(
        'filters', NEW_FILTERS, conf)
    assert projects.project_cells == {'p1': ('api!c1', 'api!c2!g1'),
                                      'p2': ('api!c3',)}
    assert projects.reserved_cells == ('api!c1', 'api!c3')
    assert flavors.flavor_cells == {'m1.big': ('api!c2',)}
    assert images.entries == (('os_distro', 'windows', ('api!win',)),)
    assert fallback.groups == (('api!c1', 'api!c2'), ('api!c3',))
    vcpu, disk, spread, group = plugins.load_plugins('weighers',
                                                     NEW_WEIGHERS, conf)
    assert (vcpu.multiplier, disk.multiplier) == (2.0, -3.0)
    assert (spread.multiplier, spread.capability) == (5.0, 'datacentre')
    assert (group.multiplier, group.anti_affinity_multiplier) == (7.0, 9.0)


@pytest.mark.parametrize('family, name, text, message', [
    pytest.param('filters', 'ProjectCellsFilter', 'project_cells = p1:',
                 "[cells] project_cells = {'p1': ''}: entry 'p1' names no "
                 "cell path (expected path;path, e.g. api!c1;api!c2!gc3)",
                 id='pin-without-paths'),
    pytest.param('filters', 'ProjectCellsFilter',
                 'project_cells = p1:api!!c1',
                 "[cells] project_cells = {'p1': 'api!!c1'}: cell path "
                 "'api!!c1' has an empty cell name", id='empty-cell-name'),
    pytest.param('filters', 'ProjectCellsFilter',
                 'reserved_cells = api!c.1',
                 "[cells] reserved_cells = ['api!c.1']: cell path 'api!c.1' "
                 "has a cell name a cell cannot have ('c.1')",
                 id='reserved-bad-name'),
    pytest.param('filters', 'FlavorCellsFilter', 'flavor_cells = m1:;',
                 "[cells] flavor_cells = {'m1': ';'}: entry 'm1' names no "
                 "cell path (expected path;path, e.g. api!c1;api!c2!gc3)",
                 id='flavor-only-separators'),
    pytest.param('filters', 'ImagePropertyCellsFilter',
                 'image_property_cells = os_distro:api!win',
                 "[cells] image_property_cells = {'os_distro': 'api!win'}: "
                 "key 'os_distro' is not property=value",
                 id='image-key-without-value'),
    pytest.param('filters', 'FallbackGroupFilter',
                 'fallback_cell_groups = api!c1,,api!c2',
                 "[cells] fallback_cell_groups = ['api!c1', '', 'api!c2']: "
                 "item '' names no cell path (expected path;path, e.g. "
                 "api!c1;api!c2!gc3)", id='fallback-empty-group'),
    pytest.param('weighers', 'ServerGroupCellWeigher',
                 'soft_anti_affinity_weight_multiplier = -1',
                 "[cells] soft_anti_affinity_weight_multiplier = -1.0: must "
                 "not be negative (the policy gives the sign)",
                 id='negative-soft-multiplier'),
])
def test_bad_values_fail_at_load_naming_the_option(family, name, text,
                                                   message, make_conf):
    conf = make_conf('[cells]\n' + text + '\n')
    with pytest.raises(ValueError) as info:
        plugins.load_plugins(family, [name], conf)
    assert str(info.value) == message


# -- ProjectCellsFilter -------------------------------------------------------

PROJECT_PINS = {'p1': ('api!c1', 'api!c2!g1'), 'p2': ('api!c3',)}
PINNED_P1 = 'project p1 is pinned to api!c1 or api!c2!g1'
RESERVED = 'cell reserved for pinned projects'


@pytest.mark.parametrize('routing_path, project, reserved, expected', [
    pytest.param('api', 'p1', (), {
        'api': (REJECT, ('project p1 is pinned to api!c1 or api!c2!g1',)),
        'api!c1': OK, 'api!c2': OK,
        'api!c3': (REJECT, ('project p1 is pinned to api!c1 or '
                            'api!c2!g1',))},
        id='pinned-child-and-child-on-the-way'),
    pytest.param('api!c2', 'p1', (), {
        'api!c2': (REJECT, (PINNED_P1,)), 'api!c2!g1': OK,
        'api!c2!g2': (REJECT, (PINNED_P1,))},
        id='below-a-pin-this-cell-is-not-in-it'),
    pytest.param('api!c1', 'p1', (), {
        'api!c1': OK, 'api!c1!g1': OK, 'api!c1!g2': OK},
        id='inside-the-pinned-subtree-all-pass'),
    pytest.param('api', 'p9', ('api!c1',), {
        'api': OK, 'api!c1': (REJECT, ('cell reserved for pinned '
                                       'projects',)),
        'api!c2': OK, 'api!c3': OK},
        id='unpinned-project-kept-out-of-reserved'),
    pytest.param('api', 'p9', ('api!c2!g1',), {
        'api': OK, 'api!c1': OK, 'api!c2': OK, 'api!c3': OK},
        id='child-above-reserved-is-not-reserved'),
    pytest.param('api!c2!g1', 'p9', ('api!c2!g1',), {
        'api!c2!g1': (REJECT, (RESERVED,)),
        'api!c2!g1!x': (REJECT, (RESERVED + ' (within api!c2!g1)',))},
        id='this-cell-and-below-reserved'),
    pytest.param('api', 'p2', ('api!c1', 'api!c3'), {
        'api': (REJECT, ('project p2 is pinned to api!c3',)),
        'api!c1': (REJECT, ('project p2 is pinned to api!c3',)),
        'api!c2': (REJECT, ('project p2 is pinned to api!c3',)),
        'api!c3': OK},
        id='pinned-project-enters-its-reserved-cell'),
])
def test_project_cells_verdicts(routing_path, project, reserved, expected):
    plugin = project_cells.ProjectCellsFilter(PROJECT_PINS, reserved)
    names = {'api': ('c1', 'c2', 'c3'), 'api!c2': ('g1', 'g2'),
             'api!c1': ('g1', 'g2'), 'api!c2!g1': ('x',)}[routing_path]
    request = ss.request(routing_path, project_id=project)
    assert plugin.is_applicable(request)
    assert verdicts(plugin, tree(routing_path, names), request) == expected


def test_project_cells_uses_the_context_project_without_instance_one():
    plugin = project_cells.ProjectCellsFilter({'demo': ('api!c1',)})
    request = ss.request(ctxt=ss.USER)
    assert request.project_id == 'demo'
    assert plugin.is_applicable(request)


def test_project_cells_not_applicable_to_other_projects():
    plugin = project_cells.ProjectCellsFilter(PROJECT_PINS)
    assert not plugin.is_applicable(ss.request(project_id='p9'))
    assert not project_cells.ProjectCellsFilter().is_applicable(
        ss.request(project_id='p1'))


def test_project_cells_through_selection():
    plugin = project_cells.ProjectCellsFilter(PROJECT_PINS, ('api!c1',))
    explained = through_selection(plugin, tree(),
                                  ss.request(project_id='p2'))
    assert explained['picked'] == 'api!c3'
    assert explained['summary'] == (
        '1/4 cells are available: 3 project p2 is pinned to api!c3 '
        '(ProjectCellsFilter).')
    assert explain_verdicts(explained)['api!c1'] == [
        ('ProjectCellsFilter', REJECT, ('project p2 is pinned to api!c3',))]
    # Not pinned, no reservation: shown as not applicable, nobody rejected.
    explained = through_selection(project_cells.ProjectCellsFilter(
        PROJECT_PINS), tree(), ss.request(project_id='p9'))
    assert explain_verdicts(explained)['api!c1'] == [
        ('ProjectCellsFilter', PASS, ('not applicable to this request',))]
    assert explained['summary'] == '4/4 cells are available.'


# -- FlavorCellsFilter --------------------------------------------------------

def test_flavor_cells_verdicts():
    plugin = flavor_cells.FlavorCellsFilter({'m1.big': ('api!c2',)})
    request = ss.request(flavor=BIG)
    assert plugin.is_applicable(request)
    assert verdicts(plugin, tree(), request) == {
        'api': (REJECT, ('flavor m1.big is pinned to api!c2',)),
        'api!c1': (REJECT, ('flavor m1.big is pinned to api!c2',)),
        'api!c2': OK,
        'api!c3': (REJECT, ('flavor m1.big is pinned to api!c2',))}
    assert not plugin.is_applicable(ss.request(flavor=SMALL))
    assert not flavor_cells.FlavorCellsFilter().is_applicable(
        ss.request(flavor=BIG))


def test_flavor_cells_through_selection():
    plugin = flavor_cells.FlavorCellsFilter({'m1.big': ('api!c2!g1',)})
    explained = through_selection(plugin, tree(), ss.request(flavor=BIG))
    assert explained['picked'] == 'api!c2'
    assert explained['summary'] == (
        '1/4 cells are available: 3 flavor m1.big is pinned to api!c2!g1 '
        '(FlavorCellsFilter).')
    assert explain_verdicts(explained)['api!c2'] == [
        ('FlavorCellsFilter', PASS, ())]


# -- ImagePropertyCellsFilter -------------------------------------------------

IMAGE_PINS = image_property_cells.parse({
    'os_distro=windows': 'api!c1;api!c2',
    'hw_arch=aarch64': 'api!c2;api!c3',
    'hw_gpu=True': 'api!c3'})


@pytest.mark.parametrize('properties, expected', [
    pytest.param({'os_distro': 'windows'}, {
        'api': (REJECT, ('image os_distro=windows is pinned to api!c1 or '
                         'api!c2',)),
        'api!c1': OK, 'api!c2': OK,
        'api!c3': (REJECT, ('image os_distro=windows is pinned to api!c1 '
                            'or api!c2',))}, id='one-entry'),
    pytest.param({'os_distro': 'windows', 'hw_arch': 'aarch64'}, {
        'api': (REJECT, ('image hw_arch=aarch64 is pinned to api!c2 or '
                         'api!c3',
                         'image os_distro=windows is pinned to api!c1 or '
                         'api!c2')),
        'api!c1': (REJECT, ('image hw_arch=aarch64 is pinned to api!c2 or '
                            'api!c3',)),
        'api!c2': OK,
        'api!c3': (REJECT, ('image os_distro=windows is pinned to api!c1 '
                            'or api!c2',))}, id='every-match-must-pass'),
    pytest.param({'hw_gpu': True}, {
        'api': (REJECT, ('image hw_gpu=True is pinned to api!c3',)),
        'api!c1': (REJECT, ('image hw_gpu=True is pinned to api!c3',)),
        'api!c2': (REJECT, ('image hw_gpu=True is pinned to api!c3',)),
        'api!c3': OK}, id='compared-as-strings'),
])
def test_image_property_cells_verdicts(properties, expected):
    plugin = image_property_cells.ImagePropertyCellsFilter(IMAGE_PINS)
    request = ss.request(image_properties=properties)
    assert plugin.is_applicable(request)
    assert verdicts(plugin, tree(), request) == expected


@pytest.mark.parametrize('properties', [
    {}, {'os_distro': 'ubuntu'}, {'hw_arch': 'x86_64', 'other': 'windows'}])
def test_image_property_cells_not_applicable_without_a_match(properties):
    plugin = image_property_cells.ImagePropertyCellsFilter(IMAGE_PINS)
    assert not plugin.is_applicable(ss.request(image_properties=properties))


def test_image_property_cells_through_selection():
    plugin = image_property_cells.ImagePropertyCellsFilter(IMAGE_PINS)
    explained = through_selection(plugin, tree(), ss.request(
        image_properties={'os_distro': 'windows', 'hw_arch': 'aarch64'}))
    assert explained['picked'] == 'api!c2'
    assert explained['summary'] == (
        '1/4 cells are available: '
        '1 image hw_arch=aarch64 is pinned to api!c2 or api!c3 '
        '(ImagePropertyCellsFilter), '
        '1 image hw_arch=aarch64 is pinned to api!c2 or api!c3; '
        'image os_distro=windows is pinned to api!c1 or api!c2 '
        '(ImagePropertyCellsFilter), '
        '1 image os_distro=windows is pinned to api!c1 or api!c2 '
        '(ImagePropertyCellsFilter).')


# -- CellAvailabilityZoneFilter -----------------------------------------------

def zoned_tree():
    return tree(me={'capabilities': {'az': ['az0']}},
                c1={'capabilities': {'az': ['az1', 'az2'],
                                     'datacentre': ['dc1']}},
                c2={'capabilities': {'az': ['az3'], 'datacentre': ['dc2']}})


def _flavor_with(**extra_specs):
    return dict(SMALL, extra_specs=extra_specs)


@pytest.mark.parametrize('hints, flavor, expected', [
    pytest.param({'az': 'az3'}, SMALL, {
        'api': (REJECT, ('no az az3 here (az0)',)),
        'api!c1': (REJECT, ('no az az3 here (az1, az2)',)),
        'api!c2': OK,
        'api!c3': (REJECT, ('no az az3 here (none declared)',))},
        id='hint-az'),
    pytest.param({'az': ['az2']}, SMALL, {
        'api': (REJECT, ('no az az2 here (az0)',)), 'api!c1': OK,
        'api!c2': (REJECT, ('no az az2 here (az3)',)),
        'api!c3': (REJECT, ('no az az2 here (none declared)',))},
        id='hint-as-one-item-list'),
    pytest.param({'datacentre': 'dc1'}, SMALL, {
        'api': (REJECT, ('no datacentre dc1 here (none declared)',)),
        'api!c1': OK,
        'api!c2': (REJECT, ('no datacentre dc1 here (dc2)',)),
        'api!c3': (REJECT, ('no datacentre dc1 here (none declared)',))},
        id='hint-datacentre'),
    pytest.param(None, _flavor_with(**{'cells:az': 'az0'}), {
        'api': OK, 'api!c1': (REJECT, ('no az az0 here (az1, az2)',)),
        'api!c2': (REJECT, ('no az az0 here (az3)',)),
        'api!c3': (REJECT, ('no az az0 here (none declared)',))},
        id='flavor-extra-spec'),
    pytest.param({'az': 'az1'}, _flavor_with(**{'cells:az': 'az3'}), {
        'api': (REJECT, ('no az az1 here (az0)',)), 'api!c1': OK,
        'api!c2': (REJECT, ('no az az1 here (az3)',)),
        'api!c3': (REJECT, ('no az az1 here (none declared)',))},
        id='hint-wins-over-extra-spec'),
    pytest.param({'az': 'az3'}, _flavor_with(**{'cells:datacentre': 'dc1'}),
                 {'api': (REJECT, ('no az az3 here (az0)',
                                   'no datacentre dc1 here (none declared)')),
                  'api!c1': (REJECT, ('no az az3 here (az1, az2)',)),
                  'api!c2': (REJECT, ('no datacentre dc1 here (dc2)',)),
                  'api!c3': (REJECT, ('no az az3 here (none declared)',
                                      'no datacentre dc1 here (none '
                                      'declared)'))},
                 id='both-names-must-match'),
    pytest.param({'az': ['az1', 'az2']}, SMALL, {
        p: (ERROR, ("hint az must be a string, not ['az1', 'az2']",))
        for p in ('api', 'api!c1', 'api!c2', 'api!c3')},
        id='bad-hint-is-an-error'),
])
def test_availability_zone_verdicts(hints, flavor, expected):
    plugin = availability_zone.CellAvailabilityZoneFilter()
    request = ss.request(hints=hints, flavor=flavor)
    assert plugin.is_applicable(request)
    assert verdicts(plugin, zoned_tree(), request) == expected


@pytest.mark.parametrize('hints, flavor', [
    (None, SMALL), ({'az': ''}, SMALL), ({'other': 'az1'}, SMALL),
    (None, _flavor_with(**{'az': 'az1'}))])
def test_availability_zone_not_applicable_when_not_asked(hints, flavor):
    plugin = availability_zone.CellAvailabilityZoneFilter()
    assert not plugin.is_applicable(ss.request(hints=hints, flavor=flavor))


def test_availability_zone_through_selection():
    plugin = availability_zone.CellAvailabilityZoneFilter()
    explained = through_selection(plugin, zoned_tree(),
                                  ss.request(hints={'az': 'az2'}))
    assert explained['picked'] == 'api!c1'
    assert explained['summary'] == (
        '1/4 cells are available: '
        '1 no az az2 here (az0) (CellAvailabilityZoneFilter), '
        '1 no az az2 here (az3) (CellAvailabilityZoneFilter), '
        '1 no az az2 here (none declared) (CellAvailabilityZoneFilter).')


# -- FallbackGroupFilter ------------------------------------------------------

GROUPS = (('api!c1', 'api!c2!g1'), ('api!c3',))


def fallback_tree(units):
    """me, c1, c2, c3, c4 with ``units`` free m1.small slots each."""
    names = ('me', 'c1', 'c2', 'c3', 'c4')
    kwargs = {n: {'ram_units': u, 'memory_mb': 2048}
              for n, u in zip(names, units)}
    return tree(names=names[1:], **kwargs)


def fallback_request(num_instances=1, planning=False):
    flavor = dict(SMALL, root_gb=0)      # RAM units decide
    return ss.request(flavor=flavor, num_instances=num_instances,
                      planning=planning)


@pytest.mark.parametrize('units, num_instances, planning, expected', [
    pytest.param((5, 1, 0, 5, 5), 1, False, {
        'api': (REJECT, ('cells in no fallback group wait: group 1 has '
                         'room (api!c1)',)),
        'api!c1': OK, 'api!c2': OK,
        'api!c3': (REJECT, ('fallback group 2 waits: group 1 has room '
                            '(api!c1)',)),
        'api!c4': (REJECT, ('cells in no fallback group wait: group 1 has '
                            'room (api!c1)',))},
        id='first-group-has-room'),
    pytest.param((5, 1, 1, 5, 5), 2, False, {
        'api': (REJECT, ('cells in no fallback group wait: group 2 has '
                         'room (api!c3)',)),
        'api!c1': (REJECT, ('fallback group 1 has no room for 2 x '
                            'm1.small',)),
        'api!c2': (REJECT, ('fallback group 1 has no room for 2 x '
                            'm1.small',)),
        'api!c3': OK,
        'api!c4': (REJECT, ('cells in no fallback group wait: group 2 has '
                            'room (api!c3)',))},
        id='whole-request-does-not-fit-group-1'),
    pytest.param((5, 1, 1, 5, 5), 2, True, {
        'api': (REJECT, ('cells in no fallback group wait: group 1 has '
                         'room (api!c1, api!c2)',)),
        'api!c1': OK, 'api!c2': OK,
        'api!c3': (REJECT, ('fallback group 2 waits: group 1 has room '
                            '(api!c1, api!c2)',)),
        'api!c4': (REJECT, ('cells in no fallback group wait: group 1 has '
                            'room (api!c1, api!c2)',))},
        id='planning-places-one-at-a-time'),
    pytest.param((5, 0, 0, 0, 5), 1, False, {
        'api': OK,
        'api!c1': (REJECT, ('fallback group 1 has no room for 1 x '
                            'm1.small',)),
        'api!c2': (REJECT, ('fallback group 1 has no room for 1 x '
                            'm1.small',)),
        'api!c3': (REJECT, ('fallback group 2 has no room for 1 x '
                            'm1.small',)),
        'api!c4': OK}, id='cells-in-no-group-come-last'),
    pytest.param((0, 0, 0, 0, 0), 3, False, {
        p: (REJECT, ('no fallback group has room for 3 x m1.small',))
        for p in ('api', 'api!c1', 'api!c2', 'api!c3', 'api!c4')},
        id='no-room-anywhere'),
])
def test_fallback_group_verdicts(units, num_instances, planning, expected):
    plugin = fallback_group.FallbackGroupFilter(GROUPS)
    request = fallback_request(num_instances, planning)
    assert plugin.is_applicable(request)
    assert verdicts(plugin, fallback_tree(units), request) == expected


def test_fallback_group_counts_what_the_plan_assigned():
    plugin = fallback_group.FallbackGroupFilter(GROUPS)
    request = fallback_request(3, planning=True)
    cands = fallback_tree((0, 1, 1, 5, 0))
    request.assign(cands[1])
    request.assign(cands[2])
    found = verdicts(plugin, cands, request)
    assert found['api!c3'] == OK
    assert found['api!c1'] == (REJECT, ('fallback group 1 has no room for '
                                        '1 x m1.small',))


def test_fallback_group_membership():
    plugin = fallback_group.FallbackGroupFilter(GROUPS)
    at_c2 = tree('api!c2', ('g1', 'g2'))
    assert [plugin.group_of(c) for c in at_c2] == [2, 0, 2]
    assert [plugin.group_of(c) for c in fallback_tree((1,) * 5)] == [
        2, 0, 0, 1, 2]


def test_fallback_group_not_applicable_without_groups():
    assert not fallback_group.FallbackGroupFilter().is_applicable(
        fallback_request())


def test_fallback_group_verdict_needs_prepare():
    plugin = fallback_group.FallbackGroupFilter(GROUPS)
    with pytest.raises(RuntimeError):
        plugin.filter_cell(fallback_tree((1,) * 5)[0], fallback_request())


def test_fallback_group_through_selection_sees_what_reached_it():
    """After another filter removed group 1's only cell with room, group 2
    is active."""
    pin = flavor_cells.FlavorCellsFilter({'m1.small': ('api!c2', 'api!c3')})
    plugin = fallback_group.FallbackGroupFilter(GROUPS)
    cands = fallback_tree((5, 5, 0, 5, 5))
    for record_all in (True, False):
        result = selection.select(cands, fallback_request(), [pin, plugin],
                                  [], random.Random(0), record_all)
        assert result.picked.path == 'api!c3'
        assert result.summary() == (
            '1/5 cells are available: 3 flavor m1.small is pinned to '
            'api!c2 or api!c3 (FlavorCellsFilter), 1 fallback group 1 has '
            'no room for 1 x m1.small (FallbackGroupFilter).')
    # Alone, it keeps all of group 1 (api!c2 has no room but is in the
    # active group: the weighers choose among them).
    explained = through_selection(plugin, cands, fallback_request())
    assert explained['picked'] in ('api!c1', 'api!c2')
    assert explained['summary'] == (
        '2/5 cells are available: 2 cells in no fallback group wait: group '
        '1 has room (api!c1) (FallbackGroupFilter), 1 fallback group 2 '
        'waits: group 1 has room (api!c1) (FallbackGroupFilter).')
    assert explain_verdicts(explained)['api!c3'] == [
        ('FallbackGroupFilter', REJECT, (
            'fallback group 2 waits: group 1 has room (api!c1)',))]


# -- ServerGroupCellFilter ----------------------------------------------------

UUID = 'a0a0a0a0-0000-4000-8000-000000000001'


def group(policy, soft=False, members=()):
    return scheduling.GroupSpec(UUID, policy, soft, members)


@pytest.mark.parametrize('spec, expected', [
    pytest.param(group('anti-affinity', members=('api!c1!g1', 'api!c1',
                                                 'api')), {
        'api': (REJECT, ('holds 1 member(s) of server group %s' % UUID,)),
        'api!c1': (REJECT, ('holds 2 member(s) of server group %s' % UUID,)),
        'api!c2': OK, 'api!c3': OK}, id='anti-affinity'),
    pytest.param(group('anti-affinity'), {
        'api': OK, 'api!c1': OK, 'api!c2': OK, 'api!c3': OK},
        id='anti-affinity-first-member'),
    pytest.param(group('affinity', members=('api!c2!g1',)), {
        'api': (REJECT, ('holds no member of server group %s (members in '
                         'api!c2!g1)' % UUID,)),
        'api!c1': (REJECT, ('holds no member of server group %s (members '
                            'in api!c2!g1)' % UUID,)),
        'api!c2': OK,
        'api!c3': (REJECT, ('holds no member of server group %s (members '
                            'in api!c2!g1)' % UUID,))}, id='affinity'),
    pytest.param(group('affinity'), {
        'api': OK, 'api!c1': OK, 'api!c2': OK, 'api!c3': OK},
        id='affinity-first-member-goes-anywhere'),
    pytest.param(group('spread'), {
        p: (ERROR, ("unknown server group policy 'spread'",))
        for p in ('api', 'api!c1', 'api!c2', 'api!c3')},
        id='unknown-policy-is-an-error'),
])
def test_server_group_filter_verdicts(spec, expected):
    plugin = server_group_filter.ServerGroupCellFilter()
    request = ss.request(group=spec)
    assert plugin.is_applicable(request)
    assert verdicts(plugin, tree(), request) == expected


def test_server_group_filter_counts_what_the_plan_assigned():
    plugin = server_group_filter.ServerGroupCellFilter()
    cands = tree()
    anti = ss.request(group=group('anti-affinity'), planning=True,
                      num_instances=3)
    anti.assign(cands[2])
    assert verdicts(plugin, cands, anti)['api!c2'] == (
        REJECT, ('holds 1 member(s) of server group %s' % UUID,))
    affinity = ss.request(group=group('affinity'), planning=True,
                          num_instances=3)
    affinity.assign(cands[3])
    found = verdicts(plugin, cands, affinity)
    assert found['api!c3'] == OK
    assert found['api!c1'] == (REJECT, (
        'holds no member of server group %s (members in api!c3)' % UUID,))


@pytest.mark.parametrize('spec', [None, group('affinity', soft=True),
                                  group('anti-affinity', soft=True)])
def test_server_group_filter_not_applicable(spec):
    plugin = server_group_filter.ServerGroupCellFilter()
    assert not plugin.is_applicable(ss.request(group=spec))


def test_server_group_filter_through_selection():
    plugin = server_group_filter.ServerGroupCellFilter()
    explained = through_selection(plugin, tree(), ss.request(
        group=group('anti-affinity', members=('api!c1', 'api!c2!x'))))
    assert explained['summary'] == (
        '2/4 cells are available: 2 holds 1 member(s) of server group %s '
        '(ServerGroupCellFilter).' % UUID)
    assert explained['picked'] in ('api', 'api!c3')


# -- weighers: raw weights ----------------------------------------------------

def capacity_tree():
    return tree(me={}, c1={}, c2={}, c3={})


def with_capacities(cands, tables):
    for cand, table in zip(cands, tables):
        cand.state.capacities = table
    return cands


def test_vcpu_weigher_raw_weights():
    cands = with_capacities(capacity_tree(), [
        ss.capacities(ram={2048: 9}, vcpus={1: 8, 4: 2}),
        ss.capacities(ram={2048: 9}, vcpus={4: 5}),
        ss.capacities(ram={2048: 9}),              # an original child
        {}])
    weigher = vcpu_by_instance_type.VcpuByInstanceTypeWeigher(1.0)
    request = ss.request(flavor=BIG)
    assert weigher.weigh_cells(cands, request) == [2.0, 5.0, 0.0, 0.0]
    assert [weigher.weigh_cell(c, request) for c in cands] == [
        2.0, 5.0, 0.0, 0.0]
    planning = ss.request(flavor=BIG, planning=True, num_instances=4)
    planning.assign(cands[1])
    planning.assign(cands[1])
    assert weigher.weigh_cells(cands, planning) == [2.0, 3.0, 0.0, 0.0]


def test_disk_weigher_raw_weights():
    cands = with_capacities(capacity_tree(), [
        ss.capacities(disk={51200: 3, 20480: 9}),
        ss.capacities(disk={51200: 6}),
        ss.capacities(ram={8192: 1}),
        {}])
    weigher = disk_by_instance_type.DiskByInstanceTypeWeigher(1.0)
    request = ss.request(flavor=BIG)            # 40 + 10 GB
    assert weigher.weigh_cells(cands, request) == [3.0, 6.0, 0.0, 0.0]
    assert [weigher.weigh_cell(c, request) for c in cands] == [
        3.0, 6.0, 0.0, 0.0]
    planning = ss.request(flavor=BIG, planning=True, num_instances=2)
    planning.assign(cands[0])
    assert weigher.weigh_cells(cands, planning) == [2.0, 6.0, 0.0, 0.0]


def spread_tree():
    return tree(names=('c1', 'c2', 'c3', 'c4'),
                me={'capabilities': {'az': ['az1']}},
                c1={'capabilities': {'az': ['az1']}},
                c2={'capabilities': {'az': ['az1', 'az2']}},
                c3={'capabilities': {'az': ['az3'], 'datacentre': ['d1']}})


def test_az_spread_weigher_raw_weights():
    weigher = az_spread.AvailabilityZoneSpreadWeigher(20.0, 'az')
    cands = spread_tree()
    request = ss.request(planning=True, num_instances=5)
    assert weigher.weigh_cells(cands, request) == [0.0] * 5
    request.assign(cands[1])                       # c1: az1
    request.assign(cands[1])
    request.assign(cands[3])                       # c3: az3
    # Zone loads az1 2, az3 1.  A cell weighs minus its least loaded
    # zone: me az1 -2; c1 az1 -2; c2 az1+az2 -0 (az2 is empty: c2 can
    # still place there); c3 az3 -1; c4 no zone 0.
    assert weigher.weigh_cells(cands, request) == [-2.0, -2.0, 0.0, -1.0,
                                                   0.0]
    # c2 spans two zones: its instance adds half to each (az1 2.5, az2
    # 0.5), so the zones, not the cells, are balanced.
    request.assign(cands[2])
    assert weigher.weigh_cells(cands, request) == [-2.5, -2.5, -0.5, -1.0,
                                                   0.0]
    assert [weigher.weigh_cell(c, request) for c in cands] == [
        -2.5, -2.5, -0.5, -1.0, 0.0]
    by_datacentre = az_spread.AvailabilityZoneSpreadWeigher(20.0,
                                                            'datacentre')
    assert by_datacentre.weigh_cells(cands, request) == [0.0, 0.0, 0.0,
                                                         -1.0, 0.0]


def test_az_spread_weigher_is_flat_outside_planning():
    weigher = az_spread.AvailabilityZoneSpreadWeigher(20.0, 'az')
    cands = spread_tree()
    request = ss.request(num_instances=5)
    request.assigned['api!c1'] = 2                # ignored: not planning
    request.assigned_candidates['api!c1'] = cands[1]
    assert weigher.weigh_cells(cands, request) == [0.0] * 5


@pytest.mark.parametrize('spec, multiplier', [
    (None, 0.0), (group('affinity'), 0.0), (group('anti-affinity'), 0.0),
    (group('affinity', soft=True), 7.0),
    (group('anti-affinity', soft=True), -9.0),
    (group('spread', soft=True), 0.0)])
def test_server_group_weigher_multiplier_for(spec, multiplier):
    weigher = server_group_weigher.ServerGroupCellWeigher(7.0, 9.0)
    assert weigher.multiplier_for(ss.request(group=spec)) == multiplier


def test_server_group_weigher_raw_weights():
    weigher = server_group_weigher.ServerGroupCellWeigher(7.0, 9.0)
    cands = tree()
    members = ('api', 'api!c1', 'api!c1!g2', 'api!c3!x')
    soft = ss.request(group=group('affinity', soft=True, members=members),
                      planning=True, num_instances=2)
    assert weigher.weigh_cells(cands, soft) == [1.0, 2.0, 0.0, 1.0]
    soft.assign(cands[2])
    assert weigher.weigh_cells(cands, soft) == [1.0, 2.0, 1.0, 1.0]
    assert [weigher.weigh_cell(c, soft) for c in cands] == [1.0, 2.0, 1.0,
                                                            1.0]
    hard = ss.request(group=group('affinity', members=members))
    assert weigher.weigh_cells(cands, hard) == [0.0] * 4
    assert weigher.weigh_cell(cands[1], hard) == 0.0


# -- weighers through selection -----------------------------------------------

def scores_of(explained, weigher):
    return {c['path']: c['scores'].get(weigher)
            for c in explained['candidates']}


def test_weighers_through_selection_show_each_score():
    cands = with_capacities(capacity_tree(), [
        ss.capacities(ram={8192: 1}, disk={51200: 1}, vcpus={4: 1}),
        ss.capacities(ram={8192: 1}, disk={51200: 5}, vcpus={4: 1}),
        ss.capacities(ram={8192: 1}, disk={51200: 1}, vcpus={4: 9}),
        ss.capacities(ram={8192: 1}, disk={51200: 3}, vcpus={4: 5})])
    weighers = [vcpu_by_instance_type.VcpuByInstanceTypeWeigher(1.0),
                disk_by_instance_type.DiskByInstanceTypeWeigher(4.0),
                az_spread.AvailabilityZoneSpreadWeigher(20.0),
                server_group_weigher.ServerGroupCellWeigher(20.0, 20.0)]
    request = ss.request(flavor=BIG)
    explained = selection.select(cands, request, [], weighers,
                                 random.Random(0), record_all=True)
    as_dict = explained.to_dict()
    assert as_dict['picked'] == 'api!c1'          # 4 x 1 + 1 x 0 wins
    assert scores_of(as_dict, 'VcpuByInstanceTypeWeigher')['api!c2'] == {
        'raw': 9.0, 'normalized': 1.0, 'weighted': 1.0}
    assert scores_of(as_dict, 'DiskByInstanceTypeWeigher')['api!c1'] == {
        'raw': 5.0, 'normalized': 1.0, 'weighted': 4.0}
    assert scores_of(as_dict, 'DiskByInstanceTypeWeigher')['api!c3'] == {
        'raw': 3.0, 'normalized': 0.5, 'weighted': 2.0}
    # Flat (no planning, no soft group) but shown in explain.
    assert scores_of(as_dict, 'AvailabilityZoneSpreadWeigher')['api'] == {
        'raw': 0.0, 'normalized': 0.0, 'weighted': 0.0}
    assert scores_of(as_dict, 'ServerGroupCellWeigher')['api'] == {
        'raw': 0.0, 'normalized': 0.0, 'weighted': 0.0}
    assert dict((c.path, w) for c, w in explained.ordered) == {
        'api!c1': 4.0, 'api!c3': 2.5, 'api!c2': 1.0, 'api': 0.0}
    fast = selection.select(cands, request, [], weighers, random.Random(0),
                            record_all=False)
    assert [(c.path, w) for c, w in fast.ordered] == [
        (c.path, w) for c, w in explained.ordered]
    # A real pick skips the weigher with nothing to add (multiplier 0).
    assert 'ServerGroupCellWeigher' not in {
        name for name, _m, _c, _r in fast._weighings}


def test_soft_anti_affinity_pushes_away_through_selection():
    weigher = server_group_weigher.ServerGroupCellWeigher(20.0, 20.0)
    cands = tree()
    request = ss.request(group=group('anti-affinity', soft=True,
                                     members=('api!c1', 'api!c2', 'api!c2',
                                              'api!c3')))
    for record_all in (True, False):
        result = selection.select(cands, request, [], [weigher],
                                  random.Random(0), record_all)
        assert dict((c.path, w) for c, w in result.ordered) == {
            'api': 0.0, 'api!c1': -10.0, 'api!c3': -10.0, 'api!c2': -20.0}
        assert result.picked.path == 'api'
    scores = scores_of(selection.select(cands, request, [], [weigher],
                                        random.Random(0)).to_dict(),
                       'ServerGroupCellWeigher')
    assert scores['api!c2'] == {'raw': 2.0, 'normalized': 1.0,
                                'weighted': -20.0}


def test_az_spread_through_selection_moves_to_the_emptier_zone():
    weigher = az_spread.AvailabilityZoneSpreadWeigher(20.0)
    cands = spread_tree()[1:4]                    # c1 az1, c2 az1+2, c3 az3
    request = ss.request(planning=True, num_instances=3)
    request.assign(cands[0])
    # az1 holds one; c2's az2 and c3's az3 none: either takes the next.
    for record_all in (True, False):
        result = selection.select(cands, request, [], [weigher],
                                  random.Random(0), record_all)
        assert result.picked.path in ('api!c2', 'api!c3')
        assert dict((c.path, w) for c, w in result.ordered) == {
            'api!c3': 20.0, 'api!c1': 0.0, 'api!c2': 20.0}


def test_pins_describe_shortens_long_lists():
    assert _pins.describe(['b', 'a']) == 'a, b'
    assert _pins.describe(['e', 'd', 'c', 'b', 'a'], ' or ') == (
        'a or b or c and 2 more')
