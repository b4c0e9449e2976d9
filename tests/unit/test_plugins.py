"""Plug-in loading (reference §7.1, §10.21; STYLE.md item 4): nova's
configuration values as aliases, stevedore entry-point names, dotted class
paths, the "Did you mean" failure, and plug-ins built from configuration."""

import pytest

from nova_cells import conf as nc_conf
from nova_cells.filters import different_cell
from nova_cells.filters import image_properties
from nova_cells.filters import target_cell
from nova_cells.handoff import builtin
from nova_cells.handoff import conductor
from nova_cells.scheduler import plugins
from nova_cells.scheduler import core as scheduler
from nova_cells.weights import mute_child
from nova_cells.weights import ram_by_instance_type
from nova_cells.weights import weight_offset

NOVA_FILTERS = ['TargetCellFilter', 'DifferentCellFilter',
                'ImagePropertiesFilter']
NOVA_WEIGHERS = ['MuteChildWeigher', 'RamByInstanceTypeWeigher',
                 'WeightOffsetWeigher']
# Beyond nova (doc/scheduling/): in all_filters / all_weighers after
# nova's, looking at no cell and adding nothing unless configured or asked.
NEW_FILTERS = ['ProjectCellsFilter', 'FlavorCellsFilter',
               'ImagePropertyCellsFilter', 'CellAvailabilityZoneFilter',
               'ServerGroupCellFilter', 'FallbackGroupFilter']
NEW_WEIGHERS = ['VcpuByInstanceTypeWeigher', 'DiskByInstanceTypeWeigher',
                'AvailabilityZoneSpreadWeigher', 'ServerGroupCellWeigher']
FILTERS = NOVA_FILTERS + NEW_FILTERS
WEIGHERS = NOVA_WEIGHERS + NEW_WEIGHERS

CLASSES = {
    'TargetCellFilter': target_cell.TargetCellFilter,
    'DifferentCellFilter': different_cell.DifferentCellFilter,
    'ImagePropertiesFilter': image_properties.ImagePropertiesFilter,
    'MuteChildWeigher': mute_child.MuteChildWeigher,
    'RamByInstanceTypeWeigher': ram_by_instance_type.RamByInstanceTypeWeigher,
    'WeightOffsetWeigher': weight_offset.WeightOffsetWeigher,
}


@pytest.fixture
def conf():
    conf = nc_conf.new_config()
    yield conf
    conf.reset()


# -- aliases ------------------------------------------------------------------

@pytest.mark.parametrize('names, expected', [
    pytest.param(['nova.cells.filters.all_filters'], FILTERS,
                 id='all_filters-is-ordered-target-first'),
    pytest.param(['nova.cells.weights.all_weighers'], WEIGHERS,
                 id='all_weighers'),
    pytest.param(['nova.cells.filters.target_cell.TargetCellFilter'],
                 ['TargetCellFilter'], id='nova-target-cell'),
    pytest.param(['nova.cells.filters.different_cell.DifferentCellFilter'],
                 ['DifferentCellFilter'], id='nova-different-cell'),
    pytest.param(
        ['nova.cells.filters.image_properties.ImagePropertiesFilter'],
        ['ImagePropertiesFilter'], id='nova-image-properties'),
    pytest.param(['nova.cells.weights.mute_child.MuteChildWeigher'],
                 ['MuteChildWeigher'], id='nova-mute-child'),
    pytest.param(
        ['nova.cells.weights.ram_by_instance_type.RamByInstanceTypeWeigher'],
        ['RamByInstanceTypeWeigher'], id='nova-ram'),
    pytest.param(['nova.cells.weights.weight_offset.WeightOffsetWeigher'],
                 ['WeightOffsetWeigher'], id='nova-offset'),
    pytest.param(['nova.cells.scheduler.CellsScheduler'], ['CellsScheduler'],
                 id='nova-scheduler'),
    pytest.param(['ImagePropertiesFilter', 'nova.cells.filters.all_filters',
                  ' TargetCellFilter '],
                 ['ImagePropertiesFilter', 'TargetCellFilter',
                  'DifferentCellFilter'] + NEW_FILTERS,
                 id='duplicates-removed-first-position-kept'),
    pytest.param(['my.pkg.MyFilter', 'my.pkg.MyFilter'], ['my.pkg.MyFilter'],
                 id='unknown-names-pass-through-once'),
    pytest.param([], [], id='nothing'),
])
def test_resolve_names(names, expected):
    assert plugins.resolve_names(names) == expected


# -- classes by entry point, alias or dotted path -----------------------------

@pytest.mark.parametrize('family, name, expected', [
    pytest.param('filters' if n in FILTERS else 'weighers', n, cls,
                 id='entry-point-' + n)
    for n, cls in sorted(CLASSES.items())
] + [
    pytest.param('filters',
                 'nova_cells.filters.target_cell.TargetCellFilter',
                 target_cell.TargetCellFilter, id='dotted-path-filter'),
    pytest.param('weighers', 'nova_cells.weights.mute_child.MuteChildWeigher',
                 mute_child.MuteChildWeigher, id='dotted-path-weigher'),
    pytest.param('scheduler_drivers', 'CellsScheduler',
                 scheduler.CellsScheduler, id='scheduler-entry-point'),
    pytest.param('handoff_drivers', 'builtin', builtin.BuiltinHandoff,
                 id='handoff-builtin'),
    pytest.param('handoff_drivers', 'conductor', conductor.ConductorHandoff,
                 id='handoff-conductor'),
])
def test_load_class(family, name, expected):
    assert plugins.load_class(family, name) is expected


@pytest.mark.parametrize('nova_path', [
    'nova.cells.filters.target_cell.TargetCellFilter',
    'nova.cells.filters.different_cell.DifferentCellFilter',
    'nova.cells.filters.image_properties.ImagePropertiesFilter',
    'nova.cells.weights.mute_child.MuteChildWeigher',
    'nova.cells.weights.ram_by_instance_type.RamByInstanceTypeWeigher',
    'nova.cells.weights.weight_offset.WeightOffsetWeigher',
])
def test_every_nova_class_path_loads_our_class(nova_path, conf):
    family = 'filters' if '.filters.' in nova_path else 'weighers'
    loaded = plugins.load_plugins(family, [nova_path], conf)
    name = nova_path.rsplit('.', 1)[1]
    assert [type(p) for p in loaded] == [CLASSES[name]]
    assert loaded[0].name == name


@pytest.mark.parametrize('family, name, message', [
    pytest.param('filters', 'TargetCelFilter',
                 "No such filter 'TargetCelFilter'. "
                 "Did you mean 'TargetCellFilter'?", id='typo-filter'),
    pytest.param('weighers', 'RamByInstanceTypeWeiger',
                 "No such weigher 'RamByInstanceTypeWeiger'. "
                 "Did you mean 'RamByInstanceTypeWeigher'?",
                 id='typo-weigher'),
    pytest.param('handoff_drivers', 'bultin',
                 "No such hand-off driver 'bultin'. Did you mean 'builtin'?",
                 id='typo-handoff'),
    pytest.param('weighers', 'Zzz',
                 "No such weigher 'Zzz'. Known: "
                 "AvailabilityZoneSpreadWeigher, DiskByInstanceTypeWeigher, "
                 "MuteChildWeigher, RamByInstanceTypeWeigher, "
                 "ServerGroupCellWeigher, VcpuByInstanceTypeWeigher, "
                 "WeightOffsetWeigher.",
                 id='nothing-close-lists-known'),
    pytest.param('filters', 'nova_cells.filters.target_cell.Nope',
                 "No such filter 'nova_cells.filters.target_cell.Nope'. "
                 "Did you mean "
                 "'nova.cells.filters.target_cell.TargetCellFilter'?",
                 id='dotted-path-missing-class-suggests-nova-alias'),
])
def test_unknown_plugin_fails_with_a_suggestion(family, name, message):
    with pytest.raises(plugins.UnknownPlugin) as info:
        plugins.load_class(family, name)
    assert str(info.value) == message


def test_unknown_name_fails_at_load_time(conf):
    with pytest.raises(plugins.UnknownPlugin) as info:
        plugins.load_plugins('filters', ['nova.cells.filters.all_filters',
                                         'TargetCelFilter'], conf)
    assert "Did you mean 'TargetCellFilter'?" in str(info.value)


# -- built from configuration -------------------------------------------------

def test_defaults_from_conf_give_nova_multipliers_in_order(conf):
    filters = plugins.load_plugins('filters',
                                   conf.cells.scheduler_filter_classes, conf)
    weighers = plugins.load_plugins('weighers',
                                    conf.cells.scheduler_weight_classes, conf)
    assert [p.name for p in filters] == FILTERS
    assert [(p.name, p.multiplier) for p in weighers] == [
        ('MuteChildWeigher', -10000.0),
        ('RamByInstanceTypeWeigher', 10.0),
        ('WeightOffsetWeigher', 1.0),
        ('VcpuByInstanceTypeWeigher', 0.0),
        ('DiskByInstanceTypeWeigher', 0.0),
        ('AvailabilityZoneSpreadWeigher', 20.0),
        ('ServerGroupCellWeigher', 20.0)]
    assert weighers[0].mute_child_interval == 300


def test_multipliers_come_from_cells_options(conf):
    conf.set_override('ram_weight_multiplier', -2.5, 'cells')
    conf.set_override('offset_weight_multiplier', 7.0, 'cells')
    conf.set_override('mute_weight_multiplier', -1.0, 'cells')
    conf.set_override('mute_child_interval', 42, 'cells')
    conf.set_override('scheduler_weight_classes',
                      ['WeightOffsetWeigher',
                       'nova.cells.weights.all_weighers'], 'cells')
    weighers = plugins.load_plugins('weighers',
                                    conf.cells.scheduler_weight_classes, conf)
    assert [(p.name, p.multiplier) for p in weighers] == [
        ('WeightOffsetWeigher', 7.0),
        ('MuteChildWeigher', -1.0),
        ('RamByInstanceTypeWeigher', -2.5),
        ('VcpuByInstanceTypeWeigher', 0.0),
        ('DiskByInstanceTypeWeigher', 0.0),
        ('AvailabilityZoneSpreadWeigher', 20.0),
        ('ServerGroupCellWeigher', 20.0)]
    assert weighers[1].mute_child_interval == 42


def test_plugins_are_built_once_and_do_not_read_conf_later(conf):
    weigher, = plugins.load_plugins('weighers', ['RamByInstanceTypeWeigher'],
                                    conf)
    conf.set_override('ram_weight_multiplier', 99.0, 'cells')
    assert weigher.multiplier == 10.0, 'read at load time only'


def test_a_class_without_from_conf_is_instantiated_plainly(conf):
    loaded = plugins.load_plugins(
        'filters', ['tests.unit.test_plugins.PlainFilter'], conf)
    assert [type(p) for p in loaded] == [PlainFilter]


class PlainFilter(target_cell.TargetCellFilter):
    from_conf = None
