"""Issue 9's scheduling features through a tree of real daemons.

One tree of seven ``nova-cells`` processes (a vhost and a database each,
builtin hand-off), configured once with every feature::

    api ─┬─ c1 (az1)           one host: most RAM
         ├─ c2 (az2)           one host: most vcpus
         ├─ c3 ─┬─ g1 (az3)    one host each; together most disk;
         │      └─ g2 (az3)    c3 fills g1 before g2 (fallback groups)
         └─ c4 (az4)           reserved for project ft-reserved

* pinning (every cell): project ft-reserved -> api!c4 (reserved), project
  ft-pin -> api!c2, flavor ft.c1only -> api!c1, flavor ft.c4only ->
  api!c4, image os_distro=windows -> api!c2;
* zones: capability ``az`` per leaf (above), zone spread weigher;
* fallback groups in c3's conf only: ``api!c3!g1``, then ``api!c3!g2``;
* server groups: the ``cell-`` policies (always at cell level);
* ``split_builds_by_capacity`` everywhere;
* in the API cell only, ``disk_weight_multiplier = 1000`` and
  ``vcpu_weight_multiplier = 100`` (RAM stays at 10): an ordinary build of
  a flavor with a disk goes to the cell with most disk units (c3), a
  zero-disk one to the cell with most vcpu units (c2), never to the cell
  with most RAM (c1).  The spread and soft group multipliers (10000) are
  above them all.

Each feature: the placement it must give, where the weighers alone would
put the build elsewhere, and a request refused whole with a fault that
says why; ``explain`` (the RPC nova-cells-manage uses) shows each new
filter's verdict and each new weigher's score for the same requests.

Builds are cast as nova-api casts them (rows at the top first, one
``build_instances`` per request with all its instances).  The tests share
the tree; counts that depend on free units are computed from the leaves'
compute nodes at the time of the test (after the top's view has caught
up), so the tests do not depend on each other's leftovers.
"""

import collections
import json
import contextlib
import uuid as uuidlib

import pytest

from tests.functional import fixtures
from tests.functional import tree_support
from tests.functional.tree_support import Flavor
from tests.functional.tree_support import ProcessTree

from nova_cells import context as cells_context

pytestmark = pytest.mark.functional

LAYOUT = {'api': {'c1': {}, 'c2': {}, 'c3': {'g1': {}, 'g2': {}},
                  'c4': {}}}
TOP_CHILDREN = ('c1', 'c2', 'c3', 'c4')
LEAVES_OF = {'c1': ('c1',), 'c2': ('c2',), 'c3': ('g1', 'g2'),
             'c4': ('c4',)}
PATH = {'c1': 'api!c1', 'c2': 'api!c2', 'c3': 'api!c3', 'c4': 'api!c4',
        'g1': 'api!c3!g1', 'g2': 'api!c3!g2'}

SMALL = Flavor(1, 'ft.small', 1024, 1, 10)
BIG = Flavor(2, 'ft.big', 32768, 1, 1)
HUGE = Flavor(3, 'ft.huge', 98304, 1, 1)
GIANT = Flavor(4, 'ft.giant', 1048576, 1, 1)
CPU = Flavor(5, 'ft.cpu', 1024, 8, 0)
C1ONLY = Flavor(6, 'ft.c1only', 1024, 1, 10)
C4ONLY = Flavor(7, 'ft.c4only', 1024, 1, 10)
FLAVORS = [SMALL, BIG, HUGE, GIANT, CPU, C1ONLY, C4ONLY]

# (host, memory_mb, vcpus, local_gb): one host per leaf.
HOSTS = {
    'c1': [('c1-cmp1', 278528, 32, 1000)],
    'c2': [('c2-cmp1', 98304, 128, 500)],
    'g1': [('g1-cmp1', 65536, 32, 2000)],
    'g2': [('g2-cmp1', 184320, 32, 1000)],
    'c4': [('c4-cmp1', 32768, 16, 200)],
}
ZONES = {'c1': 'az1', 'c2': 'az2', 'g1': 'az3', 'g2': 'az3', 'c4': 'az4'}

BUILD_TIMEOUT = 30
HUGE_MULTIPLIER = 10000.0

COMMON = {
    'local_scheduler_driver': 'builtin',
    'db_check_interval': 60,
    'parent_update_interval': 1,
    'call_timeout': 10,
    'scheduler_retries': 0,
    'scheduler_retry_delay': 1,
    'split_builds_by_capacity': True,
    'project_cells': 'ft-reserved:api!c4,ft-pin:api!c2',
    'reserved_cells': 'api!c4',
    'flavor_cells': 'ft.c1only:api!c1,ft.c4only:api!c4',
    'image_property_cells': 'os_distro=windows:api!c2',
    'az_spread_weight_multiplier': HUGE_MULTIPLIER,
    'soft_affinity_weight_multiplier': HUGE_MULTIPLIER,
    'soft_anti_affinity_weight_multiplier': HUGE_MULTIPLIER,
}


def _extra(cell):
    options = dict(COMMON)
    options['capabilities'] = ('az=%s' % ZONES[cell.name]
                               if cell.name in ZONES else 'hypervisor=kvm')
    if cell.name == 'api':
        options.update(vcpu_weight_multiplier=100.0,
                       disk_weight_multiplier=1000.0)
    if cell.name == 'c3':
        options['fallback_cell_groups'] = 'api!c3!g1,api!c3!g2'
    return {'DEFAULT': {'service_down_time': 3600}, 'cells': options}


def _ctxt(project, admin=False):
    return cells_context.RequestContext(
        user_id='ft-user', project_id=project, is_admin=admin,
        roles=['admin'] if admin else [])


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with contextlib.ExitStack() as stack:
        tree = ProcessTree(LAYOUT, tmp_path_factory.mktemp('sched'), stack,
                           extra=_extra)
        yield tree.start_seeded(FLAVORS, HOSTS)


@pytest.fixture(autouse=True)
def _attach_logs(request, tree):
    tree_support.register_daemons(request, tree)


# -- requests ----------------------------------------------------------------

class Request(object):
    """One nova-api request: ``count`` instances of ``flavor``."""

    def __init__(self, flavor, count=1, project='ft-project', hints=None,
                 image_properties=None, extra_specs=None, group=None,
                 admin=False, name='ft'):
        self.flavor = flavor
        self.project = project
        self.hints = dict(hints or {})
        self.image_properties = dict(image_properties or {})
        self.extra_specs = dict(extra_specs or {})
        self.group = dict(group or {})
        self.admin = admin
        self.uuids = [str(uuidlib.uuid4()) for _ in range(count)]
        self.name = name

    def kwargs(self):
        instances = []
        for index, uuid in enumerate(self.uuids):
            instance = tree_support.instance_object(
                uuid, '%s-%d' % (self.name, index), self.flavor,
                project_id=self.project)
            instance.launch_index = index
            instances.append(instance)
        kwargs = tree_support.build_kwargs(instances[0], self.flavor)
        kwargs['instances'] = instances
        flavor = tree_support.flavor_object(self.flavor)
        flavor.extra_specs = dict(self.extra_specs)
        image = dict(tree_support.IMAGE)
        image['properties'] = dict(self.image_properties)
        kwargs['image'] = image
        filter_properties = kwargs['filter_properties']
        filter_properties['instance_type'] = flavor
        filter_properties['scheduler_hints'] = dict(self.hints)
        filter_properties.update(self.group)
        return kwargs

    @property
    def ctxt(self):
        return _ctxt(self.project, self.admin)


def _cast(tree, *requests):
    """nova-api: each request's rows at the top, then its cast."""
    api = tree['api']
    for req in requests:
        tree_support.create_api_instances(
            api.db_url, [(u, '%s-%d' % (req.name, i), req.flavor)
                         for i, u in enumerate(req.uuids)],
            project_id=req.project)
    with tree_support.cells_api(api.url, api.conf.path) as (cells_api, _a):
        for req in requests:
            cells_api.build_instances(req.ctxt, **req.kwargs())


def _settled(tree, uuids):
    def fetch():
        rows = tree_support.rows_by_uuid(tree['api'].db_url)
        return {u: rows.get(u) for u in uuids}
    return fixtures.poll_until(
        fetch, lambda rows: all(r is not None and r['vm_state'] != 'building'
                                for r in rows.values()),
        timeout=BUILD_TIMEOUT, interval=0.3)


def _placement(rows):
    return collections.Counter(
        '%s@%s' % ((r or {}).get('vm_state', 'missing'),
                   (r or {}).get('cell_name')) for r in rows.values())


def _build(tree, *requests):
    """Cast ``requests`` together; ``[Counter(state@cell)]`` per request
    once every instance is active or in error at the top."""
    _cast(tree, *requests)
    rows = _settled(tree, [u for r in requests for u in r.uuids])
    return [_placement({u: rows[u] for u in r.uuids}) for r in requests]


def _faults(tree, uuids):
    def fetch():
        found = collections.defaultdict(list)
        for row in fixtures.live_rows(tree['api'].db_url, 'instance_faults'):
            if row['instance_uuid'] in uuids:
                # message is cut at 255 characters; details has it all.
                found[row['instance_uuid']].append(
                    '%s\n%s' % (row['message'], row['details']))
        return found
    return fixtures.poll_until(fetch, lambda f: len(f) == len(uuids),
                               timeout=10, interval=0.3)


def _assert_refused(tree, req, placement, *needles, **kwargs):
    """Every instance ERROR at the top, refused in ``refused_at`` (the
    top by default), each with a fault whose message holds every needle;
    nothing built in a leaf."""
    refused_at = kwargs.pop('refused_at', 'api')
    assert set(placement) <= {'error@None', 'error@%s' % refused_at}, (
        placement, tree.logs()[-20000:])
    assert sum(placement.values()) == len(req.uuids)
    faults = _faults(tree, req.uuids)
    assert set(faults) == set(req.uuids), faults
    for uuid, messages in faults.items():
        assert any(all(n in m for n in needles) for m in messages), (
            needles, messages)
    for leaf in tree.leaves:
        rows = tree_support.rows_by_uuid(leaf.db_url)
        assert not set(rows) & set(req.uuids), leaf.name
    return faults


def _explain(tree, req):
    api = tree['api']
    with tree_support.cells_api(api.url, api.conf.path) as (cells_api, _a):
        return cells_api.explain_build(req.ctxt, timeout=30, **req.kwargs())


def _candidates(level):
    return {c['path']: c for c in level['selection']['candidates']}


def _verdict(candidate, plugin):
    (found,) = [v for v in candidate['verdicts'] if v['plugin'] == plugin]
    return found


def _assert_verdicts(level, plugin, children, code, reasons):
    """``plugin``'s verdict at ``level`` is ``(code, reasons)`` for each
    of ``children``."""
    cands = _candidates(level)
    for child in children:
        verdict = _verdict(cands[PATH[child]], plugin)
        assert (verdict['code'], verdict['reasons']) == (code, reasons), \
            (child, verdict)


def _raw(level, weigher):
    return {path: c['scores'][weigher]['raw']
            for path, c in _candidates(level).items()
            if weigher in c['scores']}


# -- capacities: what the leaves hold now, and the views above ---------------

def _node_units(node, flavor, reserve=0.1):
    """Free units of ``flavor`` on one compute node row, by nova's rule
    (and ours for vcpus), computed here by hand."""
    def units(free, total, slot):
        return int(max(0, free - total * reserve) / slot) if slot else 0
    ram = units(node['free_ram_mb'], node['memory_mb'], flavor.memory_mb)
    disk = units(node['free_disk_gb'] * 1024, node['local_gb'] * 1024,
                 flavor.disk_mb)
    vcpus = node['vcpus']
    cpu = units(vcpus - node['vcpus_used'], vcpus, flavor.vcpus)
    return {'ram': ram, 'disk': disk, 'vcpu': cpu}


def _leaf_units(tree, leaf, flavor):
    totals = collections.Counter()
    for node in fixtures.live_rows(tree[leaf].db_url, 'compute_nodes'):
        totals.update(_node_units(node, flavor))
    return dict(totals)


def _fit(units, flavor):
    kinds = ['ram', 'vcpu'] + (['disk'] if flavor.disk_mb else [])
    return min(units[k] for k in kinds)


def _view(tree, cell, child):
    conf = tree[cell].conf
    with tree_support.cells_api(tree[cell].url, conf.path) as (api, ctxt):
        return api.get_capacities(ctxt, cell_name=child)


def _settle_views(tree, flavor):
    """Wait until the top (and c3) see each child's free units of
    ``flavor`` as its leaves' compute nodes have them; returns
    ``{leaf or top child: units of flavor that fit}``."""
    def views():
        seen = {}
        for cell, children in (('api', TOP_CHILDREN), ('c3', ('g1', 'g2'))):
            for child in children:
                caps = _view(tree, cell, child) or {}
                seen[child] = (
                    int(caps.get('ram_free', {}).get('units_by_mb', {}).get(
                        str(flavor.memory_mb), 0)),
                    int(caps.get('vcpu_free', {}).get(
                        'units_by_vcpus', {}).get(str(flavor.vcpus), 0)))
        return seen

    def wanted():
        leaf = {name: _leaf_units(tree, name, flavor)
                for name in ('c1', 'c2', 'g1', 'g2', 'c4')}
        want = {}
        groups = dict(LEAVES_OF, g1=('g1',), g2=('g2',))
        for child, leaves in groups.items():
            want[child] = (sum(leaf[x]['ram'] for x in leaves),
                           sum(leaf[x]['vcpu'] for x in leaves))
        return want, leaf

    want, leaf = wanted()
    seen = fixtures.poll_until(views, lambda s: s == want, timeout=15,
                               interval=0.3)
    assert seen == want, ('views above never caught up', seen, want)
    fits = {name: _fit(units, flavor) for name, units in leaf.items()}
    fits['c3'] = fits['g1'] + fits['g2']
    return fits


# -- 1. pinning ---------------------------------------------------------------

def test_pinning_places_by_project_flavor_and_image(tree):
    plain = Request(SMALL, name='ft-plain')
    reserved = Request(SMALL, project='ft-reserved', name='ft-res')
    pinned = Request(SMALL, project='ft-pin', name='ft-pin')
    by_flavor = Request(C1ONLY, name='ft-flavor')
    windows = Request(SMALL, image_properties={'os_distro': 'windows'},
                      name='ft-win')

    # explain: each pinning filter's verdicts, cell by cell.
    answer = _explain(tree, reserved)
    assert answer['action'] == 'forward to api!c4', answer
    cands = _candidates(answer)
    for child in ('c1', 'c2', 'c3'):
        verdict = _verdict(cands[PATH[child]], 'ProjectCellsFilter')
        assert verdict['code'] == 'reject', verdict
        assert verdict['reasons'] == [
            'project ft-reserved is pinned to api!c4'], verdict
    assert _verdict(cands['api!c4'], 'ProjectCellsFilter')['code'] == 'pass'

    answer = _explain(tree, plain)
    cands = _candidates(answer)
    verdict = _verdict(cands['api!c4'], 'ProjectCellsFilter')
    assert verdict['code'] == 'reject', verdict
    assert 'reserved' in verdict['reasons'][0], verdict
    # The weighers' own choice for an unpinned ft.small: c3 (most disk).
    assert answer['action'] == 'forward to api!c3', answer

    answer = _explain(tree, by_flavor)
    assert answer['action'] == 'forward to api!c1', answer
    _assert_verdicts(answer, 'FlavorCellsFilter', ('c2', 'c3'), 'reject',
                     ['flavor ft.c1only is pinned to api!c1'])

    answer = _explain(tree, windows)
    assert answer['action'] == 'forward to api!c2', answer
    _assert_verdicts(answer, 'ImagePropertyCellsFilter', ('c1', 'c3'),
                     'reject', ['image os_distro=windows is pinned to '
                                'api!c2'])

    placed = _build(tree, plain, reserved, pinned, by_flavor, windows)
    assert placed == [{'active@api!c3!g1': 1}, {'active@api!c4': 1},
                      {'active@api!c2': 1}, {'active@api!c1': 1},
                      {'active@api!c2': 1}], (placed, tree.logs()[-20000:])


def test_pinning_refuses_with_the_filters_reasons(tree):
    # Another project's flavor pinned into the reserved cell: c4 refuses
    # the project, the others the flavor.
    reserved = Request(C4ONLY, name='ft-res-refused')
    # Flavor pinned to c1, image pinned to c2: no cell is both.
    conflict = Request(C1ONLY, image_properties={'os_distro': 'windows'},
                       name='ft-conflict')
    answer = _explain(tree, reserved)
    assert answer['action'].startswith('fail: 0/4 cells are available'), \
        answer
    placed = _build(tree, reserved, conflict)
    _assert_refused(tree, reserved, placed[0], '0/4 cells are available',
                    'flavor ft.c4only is pinned to api!c4 '
                    '(FlavorCellsFilter)',
                    'cell reserved for pinned projects (ProjectCellsFilter)')
    _assert_refused(tree, conflict, placed[1], '0/4 cells are available',
                    'FlavorCellsFilter', 'ImagePropertyCellsFilter',
                    'image os_distro=windows is pinned to api!c2')


# -- 2. availability zones ----------------------------------------------------

def test_zone_hint_and_flavor_extra_spec_place_in_that_zone(tree):
    by_hint = Request(SMALL, hints={'az': 'az2'}, name='ft-az2')
    by_spec = Request(SMALL, extra_specs={'cells:az': 'az1'}, name='ft-az1')
    answer = _explain(tree, by_hint)
    assert answer['action'] == 'forward to api!c2', answer
    cands = _candidates(answer)
    verdict = _verdict(cands['api!c1'], 'CellAvailabilityZoneFilter')
    assert (verdict['code'], verdict['reasons']) == (
        'reject', ['no az az2 here (az1)']), verdict
    verdict = _verdict(cands['api!c3'], 'CellAvailabilityZoneFilter')
    assert (verdict['code'], verdict['reasons']) == (
        'reject', ['no az az2 here (az3)']), verdict
    assert _verdict(cands['api!c2'],
                    'CellAvailabilityZoneFilter')['code'] == 'pass'

    placed = _build(tree, by_hint, by_spec)
    assert placed == [{'active@api!c2': 1}, {'active@api!c1': 1}], placed


def test_zone_spread_splits_a_request_across_zones(tree):
    # Unspread, all six would go to c3 (most disk units, by far); the
    # spread weigher gives each zone two.  c3 puts its two in g1 (its
    # first fallback group).
    req = Request(SMALL, count=6, name='ft-spread')
    answer = _explain(tree, req)
    assert answer['action'].startswith('split: '), answer
    assert sorted((p['cell'], p['count']) for p in answer['parts']) == [
        ('api!c1', 2), ('api!c2', 2), ('api!c3', 2)], answer['parts']
    # The first pick: nothing assigned yet, so every zone scores 0.
    assert set(_raw(answer, 'AvailabilityZoneSpreadWeigher').values()) == \
        {0.0}, answer
    (placed,) = _build(tree, req)
    assert placed == {'active@api!c1': 2, 'active@api!c2': 2,
                      'active@api!c3!g1': 2}, (placed, tree.logs()[-20000:])


def test_zone_nobody_has_is_refused(tree):
    req = Request(SMALL, hints={'az': 'az9'}, name='ft-az9')
    (placed,) = _build(tree, req)
    _assert_refused(tree, req, placed, '0/4 cells are available',
                    'no az az9 here', 'CellAvailabilityZoneFilter')


# -- 3. fallback groups (c3) --------------------------------------------------

def test_fallback_fills_the_first_group_then_overflows(tree):
    # target_cell takes the builds to c3, whose groups are g1 then g2;
    # its RAM weigher alone would pick g2 (more RAM) for ft.small.
    first = Request(SMALL, hints={'target_cell': 'api!c3'}, admin=True,
                    name='ft-fb-small')
    overflow = Request(HUGE, hints={'target_cell': 'api!c3'}, admin=True,
                       name='ft-fb-huge')
    answer = _explain(tree, first)
    below = answer['next']
    assert below['cell'] == 'api!c3', answer
    assert below['action'] == 'forward to api!c3!g1', below
    cands = _candidates(below)
    assert (_leaf_units(tree, 'g1', SMALL)['ram'] <
            _leaf_units(tree, 'g2', SMALL)['ram'])
    verdict = _verdict(cands['api!c3!g2'], 'FallbackGroupFilter')
    assert (verdict['code'], verdict['reasons']) == (
        'reject', ['fallback group 2 waits: group 1 has room (api!c3!g1)']), \
        verdict
    assert _verdict(cands['api!c3!g1'],
                    'FallbackGroupFilter')['code'] == 'pass'

    answer = _explain(tree, overflow)
    below = answer['next']
    assert below['action'] == 'forward to api!c3!g2', below
    verdict = _verdict(_candidates(below)['api!c3!g1'], 'FallbackGroupFilter')
    assert (verdict['code'], verdict['reasons']) == (
        'reject', ['fallback group 1 has no room for 1 x ft.huge']), verdict

    placed = _build(tree, first, overflow)
    assert placed == [{'active@api!c3!g1': 1}, {'active@api!c3!g2': 1}], (
        placed, tree.logs()[-20000:])


def test_fallback_with_no_room_in_any_group_is_refused(tree):
    req = Request(GIANT, hints={'target_cell': 'api!c3'}, admin=True,
                  name='ft-fb-giant')
    below = _explain(tree, req)['next']
    assert below['action'] == (
        'fail: 0/2 cells are available: 2 no fallback group has room for '
        '1 x ft.giant (FallbackGroupFilter).'), below
    (placed,) = _build(tree, req)
    _assert_refused(tree, req, placed, '0/2 cells are available',
                    'no fallback group has room for 1 x ft.giant',
                    'FallbackGroupFilter', refused_at='api!c3')


# -- 4. server groups ---------------------------------------------------------

def _members(tree):
    """One instance pinned (target_cell) into each of c1, c2 and g1."""
    reqs = {cell: Request(SMALL, hints={'target_cell': PATH[cell]},
                          admin=True, name='ft-member-%s' % cell)
            for cell in ('c1', 'c2', 'g1')}
    placed = _build(tree, *reqs.values())
    assert placed == [{'active@%s' % PATH[c]: 1} for c in reqs], placed
    return {cell: req.uuids[0] for cell, req in reqs.items()}


@pytest.fixture(scope='module')
def members(tree):
    return _members(tree)


def _group(policy, members=()):
    return {'instance_group': {'uuid': str(uuidlib.uuid4()),
                               'policies': [policy],
                               'members': list(members)}}


def test_anti_affinity_one_cell_each_then_refused(tree):
    group = _group('cell-anti-affinity')
    req = Request(SMALL, count=3, group=group, name='ft-anti')
    group['instance_group']['members'] = list(req.uuids)
    (placed,) = _build(tree, req)
    # Three instances, three cells open to the project: one each.
    assert placed == {'active@api!c1': 1, 'active@api!c2': 1,
                      'active@api!c3!g1': 1}, (placed, tree.logs()[-20000:])

    # A fourth member, in nova's legacy shape: every cell holds one.
    uuid = group['instance_group']['uuid']
    fourth = Request(SMALL, hints={'group': uuid}, name='ft-anti-4th',
                     group={'group_policies': ['cell-anti-affinity']})
    fourth.group['group_members'] = list(req.uuids) + fourth.uuids
    answer = _explain(tree, fourth)
    _assert_verdicts(answer, 'ServerGroupCellFilter', ('c1', 'c2', 'c3'),
                     'reject', ['holds 1 member(s) of server group %s'
                                % uuid])
    (placed,) = _build(tree, fourth)
    _assert_refused(tree, fourth, placed, '0/4 cells are available',
                    '3 holds 1 member(s) of server group %s '
                    '(ServerGroupCellFilter)' % uuid)


def test_affinity_joins_the_members_cell(tree, members):
    req = Request(SMALL, group=_group('cell-affinity', [members['c2']]),
                  name='ft-aff')
    answer = _explain(tree, req)
    assert answer['action'] == 'forward to api!c2', answer
    cands = _candidates(answer)
    for child in ('c1', 'c3'):
        verdict = _verdict(cands[PATH[child]], 'ServerGroupCellFilter')
        assert verdict['code'] == 'reject', verdict
        assert 'holds no member of server group' in verdict['reasons'][0]
        assert 'api!c2' in verdict['reasons'][0]
    (placed,) = _build(tree, req)
    assert placed == {'active@api!c2': 1}, placed


def test_affinity_more_than_the_members_cell_holds_is_refused(tree, members):
    fits = _settle_views(tree, BIG)
    wanted = fits['c2'] + 1
    req = Request(BIG, count=wanted,
                  group=_group('cell-affinity', [members['c2']]),
                  name='ft-aff-big')
    (placed,) = _build(tree, req)
    _assert_refused(tree, req, placed,
                    'split: only %d of %d instances fit' % (fits['c2'],
                                                            wanted),
                    'FreeUnitsFilter', 'ServerGroupCellFilter')


def test_soft_policies_weigh_towards_and_away_from_members(tree, members):
    toward = Request(SMALL, group=_group('soft-cell-affinity',
                                         [members['c1']]),
                     name='ft-soft-aff')
    away = Request(SMALL, group=_group('soft-cell-anti-affinity',
                                       [members['c1'], members['g1']]),
                   name='ft-soft-anti')
    answer = _explain(tree, toward)
    assert answer['action'] == 'forward to api!c1', answer
    raw = _raw(answer, 'ServerGroupCellWeigher')
    assert (raw['api!c1'], raw['api!c2'], raw['api!c3']) == (1.0, 0.0, 0.0)
    cands = _candidates(answer)
    for child in ('c1', 'c2', 'c3'):
        verdict = _verdict(cands[PATH[child]], 'ServerGroupCellFilter')
        assert verdict['reasons'] == ['not applicable to this request']
    answer = _explain(tree, away)
    assert answer['action'] == 'forward to api!c2', answer
    raw = _raw(answer, 'ServerGroupCellWeigher')
    assert (raw['api!c1'], raw['api!c2'], raw['api!c3']) == (1.0, 0.0, 1.0)
    placed = _build(tree, toward, away)
    assert placed == [{'active@api!c1': 1}, {'active@api!c2': 1}], placed


# -- 6. vcpu and disk weighers ------------------------------------------------

def test_vcpu_and_disk_weighers_steer_the_pick(tree):
    _settle_views(tree, CPU)
    zero_disk = Request(CPU, name='ft-cpu')
    with_disk = Request(SMALL, name='ft-disk')
    answer = _explain(tree, zero_disk)
    ram = _raw(answer, 'RamByInstanceTypeWeigher')
    vcpu = _raw(answer, 'VcpuByInstanceTypeWeigher')
    disk = _raw(answer, 'DiskByInstanceTypeWeigher')
    assert max(ram, key=ram.get) == 'api!c1', ram
    assert max(vcpu, key=vcpu.get) == 'api!c2', vcpu
    assert set(disk.values()) == {0.0}, disk
    assert answer['action'] == 'forward to api!c2', answer

    answer = _explain(tree, with_disk)
    ram = _raw(answer, 'RamByInstanceTypeWeigher')
    vcpu = _raw(answer, 'VcpuByInstanceTypeWeigher')
    disk = _raw(answer, 'DiskByInstanceTypeWeigher')
    assert max(ram, key=ram.get) == 'api!c1', ram
    assert max(vcpu, key=vcpu.get) == 'api!c2', vcpu
    assert max(disk, key=disk.get) == 'api!c3', disk
    assert answer['action'] == 'forward to api!c3', answer
    # The raw scores are the free units the cells report.
    units = {leaf: _leaf_units(tree, leaf, SMALL)
             for leaf in ('c1', 'c2', 'g1', 'g2')}
    for kind, scores in (('vcpu', vcpu), ('disk', disk), ('ram', ram)):
        assert scores == {
            'api!c1': units['c1'][kind], 'api!c2': units['c2'][kind],
            'api!c3': units['g1'][kind] + units['g2'][kind]}, (kind, scores)

    placed = _build(tree, zero_disk, with_disk)
    assert placed == [{'active@api!c2': 1}, {'active@api!c3!g1': 1}], placed


def test_split_refused_when_vcpu_units_do_not_add_up(tree):
    fits = _settle_views(tree, CPU)
    # RAM alone would take hundreds of ft.cpu; 8 vcpus each do not.
    room = fits['c1'] + fits['c2'] + fits['c3']
    assert room < 40 and all(
        _leaf_units(tree, leaf, CPU)['ram'] > room
        for leaf in ('c1', 'c2')), fits
    req = Request(CPU, count=room + 1, name='ft-cpu-split')
    answer = _explain(tree, req)
    assert answer['action'].startswith('fail: '), answer
    assert 'split: only %d of %d instances fit' % (
        room, room + 1) in answer['action'], answer
    (placed,) = _build(tree, req)
    _assert_refused(tree, req, placed,
                    'split: only %d of %d instances fit' % (room, room + 1),
                    'no free unit of ft.cpu left', 'FreeUnitsFilter')


# -- explain as the operator runs it ------------------------------------------

def test_manage_explain_shows_the_new_filters_and_weighers(tree, members):
    """``nova-cells-manage explain`` (text, and JSON) for the same kinds of
    request: the new plug-ins' verdicts and scores reach the operator."""
    base = ['explain', '--flavor', 'ft.small']
    conf = tree['api'].conf
    results = fixtures.run_many_confs({
        'split': (conf, base + ['--count', '6']),
        'reserved': (conf, base + ['--project', 'ft-reserved', '--format',
                                   'json']),
        'zone': (conf, base + ['--hint', 'az=az9']),
        'spec': (conf, base + ['--extra-spec', 'cells:az=az1', '--format',
                               'json']),
        'soft': (conf, base + ['--group-policy', 'soft-cell-affinity',
                               '--group-member', members['c2']]),
    })
    for key, result in results.items():
        assert result.returncode == 0, (key, result.stdout, result.stderr)
    out = {key: r.stdout for key, r in results.items()}

    split = out['split']
    for weigher in ('VcpuByInstanceTypeWeigher', 'DiskByInstanceTypeWeigher',
                    'AvailabilityZoneSpreadWeigher',
                    'ServerGroupCellWeigher', 'RamByInstanceTypeWeigher'):
        assert weigher in split, (weigher, split)
    for part in ('api!c1', 'api!c2', 'api!c3'):
        assert 'part %s: 2 instance(s)' % part in split, split
    assert ('reject by ProjectCellsFilter: cell reserved for pinned '
            'projects') in split, split
    assert ('reject by FallbackGroupFilter: fallback group 2 waits: group '
            '1 has room (api!c3!g1)') in split, split

    reserved = json.loads(out['reserved'])
    assert reserved['action'] == 'forward to api!c4', reserved
    assert json.loads(out['spec'])['action'] == 'forward to api!c1'

    zone = out['zone']
    assert 'reject by CellAvailabilityZoneFilter: no az az9 here (az1)' \
        in zone, zone
    assert '=> fail: ' in zone and '0/4 cells are available' in zone, zone

    soft = out['soft']
    assert '=> forward to api!c2' in soft, soft
    assert 'ServerGroupCellWeigher 1->1.000' in soft, soft


# -- 5. split builds by capacity (last: it fills every cell's ft.big) --------

def test_split_refused_when_free_units_do_not_add_up(tree):
    fits = _settle_views(tree, BIG)
    room = fits['c1'] + fits['c2'] + fits['c3']
    req = Request(BIG, count=room + 1, name='ft-big-refused')
    (placed,) = _build(tree, req)
    _assert_refused(tree, req, placed,
                    'split: only %d of %d instances fit' % (room, room + 1),
                    'FreeUnitsFilter')


def test_split_fills_every_cell_by_its_free_units(tree):
    fits = _settle_views(tree, BIG)
    room = fits['c1'] + fits['c2'] + fits['c3']
    assert all(fits[x] > 0 for x in ('c1', 'c2', 'g1', 'g2')), fits
    req = Request(BIG, count=room, name='ft-big')
    answer = _explain(tree, req)
    assert answer['action'].startswith('split: '), answer
    assert sorted((p['cell'], p['count']) for p in answer['parts']) == [
        ('api!c1', fits['c1']), ('api!c2', fits['c2']),
        ('api!c3', fits['c3'])], answer['parts']
    cands = _candidates(answer)
    # c4: no ft.big unit at all (and reserved).
    assert cands['api!c4']['verdicts'][-1]['code'] == 'reject', cands
    for child in ('c1', 'c2', 'c3'):
        assert _verdict(cands[PATH[child]],
                        'FreeUnitsFilter')['code'] == 'pass'
    (placed,) = _build(tree, req)
    assert placed == {'active@api!c1': fits['c1'],
                      'active@api!c2': fits['c2'],
                      'active@api!c3!g1': fits['g1'],
                      'active@api!c3!g2': fits['g2']}, (
        placed, tree.logs()[-20000:])
    tree.assert_running()
