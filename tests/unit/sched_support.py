"""Support for the scheduler tests.

Two halves:

* cells as the plug-ins see them (real
:class:`nova_cells.cells.state.CellState`
  objects wrapped in :class:`nova_cells.scheduling.Candidate`) and requests
  built with the real policy (:class:`nova_cells.policy.CellPolicy`), for
  the pure filter / weigher / selection tests;
* an in-process tree (``api -> child1 (gc1, gc2), child2 (gc3, gc4)``, the
  demo's layout) with the builtin hand-off, seeded with flavors and hosts as
  :mod:`nova_cells.demo.core` does, capacities propagated before use, and
  builds made through the API cell's manager or ``CellsAPI`` as nova-api would.

Nothing here changes project code; only the fake:// isolation of
tests/unit/tree_support.py is reused.
"""

import contextlib
import datetime
import threading
import uuid


from nova_cells import conf as nc_conf
from nova_cells import context
from nova_cells.db import instances as db_instances
from nova_cells.db import models
from nova_cells.demo import core as demo
from nova_cells.testing import inprocess
from nova_cells.objects import flavor as flavor_obj
from nova_cells.objects import instance as instance_obj
from nova_cells import policy
from nova_cells.cells import propagation
from nova_cells import scheduling
from nova_cells.cells import state
from tests.unit import tree_support

NOW = datetime.datetime(2026, 3, 1, 12, 0, 0)

ADMIN = context.RequestContext(user_id='admin', project_id='admin',
                               is_admin=True, roles=['admin'])
USER = context.RequestContext(user_id='alice', project_id='demo',
                              is_admin=False, roles=['member'])

_POLICY = []


def cell_policy():
    """One CellPolicy (nova's defaults: both hints admin-only)."""
    if not _POLICY:
        _POLICY.append(policy.CellPolicy(nc_conf.new_config()))
    return _POLICY[0]


# -- cells and requests as the plug-ins see them ------------------------------

def cell(name, ram_units=None, offset=0.0, mute=False, is_me=False,
         capabilities=None, memory_mb=4096, now=NOW):
    """A CellState: ``ram_units`` free slots of ``memory_mb``, the
    neighbour row's ``weight_offset``, last seen 10 s (or 1 h if ``mute``)
    before ``now``, and capabilities (lists become sets)."""
    cell_state = state.CellState(name, is_me=is_me)
    if ram_units is not None:
        cell_state.capacities = {'ram_free': {
            'total_mb': ram_units * memory_mb,
            'units_by_mb': {str(memory_mb): ram_units}}}
    if not is_me:
        cell_state.update_db_info({'weight_offset': offset,
                                   'is_parent': False,
                                   'transport_url': 'fake:///' + name})
    cell_state.last_seen = now - datetime.timedelta(
        seconds=3600 if mute else 10)
    cell_state.capabilities = {k: set(v) for k, v in
                               (capabilities or {}).items()}
    return cell_state


def candidate(cell_state, routing_path='api'):
    """The candidate for ``cell_state`` seen from ``routing_path``."""
    path = routing_path if cell_state.is_me else '%s!%s' % (
        routing_path, cell_state.name)
    return scheduling.Candidate(cell_state, path)


def candidates(*cell_states, **kwargs):
    return [candidate(c, **kwargs) for c in cell_states]


def request(routing_path='api', hints=None, ctxt=ADMIN,
            image_properties=None, memory_mb=4096, now=NOW, flavor=None,
            project_id=None, num_instances=1, group=None, planning=False):
    """A CellRequest authorized by the real policy for ``ctxt``.

    ``flavor``: the instance_type dict (default ``m1.test`` of
    ``memory_mb``); ``project_id``: the instance's project (default the
    context's); ``group`` (a GroupSpec) and ``planning`` as the scheduler
    sets them.
    """
    properties = {'uuid': str(uuid.uuid4())}
    if project_id is not None:
        properties['project_id'] = project_id
    spec = {'image': {'properties': dict(image_properties or {})},
            'instance_properties': properties,
            'instance_type': dict(flavor or {'memory_mb': memory_mb,
                                             'name': 'm1.test'}),
            'num_instances': num_instances}
    return scheduling.CellRequest(ctxt, routing_path, spec, hints,
                                  cell_policy().authorizer(ctxt), now=now,
                                  group=group, planning=planning)


def capacities(ram=None, disk=None, vcpus=None):
    """nova's capacities dict (plus vcpu_free) from ``{size: units}``
    tables: ``ram``/``disk`` by MB, ``vcpus`` by vcpu count."""
    def table(units):
        return {str(size): n for size, n in (units or {}).items()}
    found = {}
    if ram is not None:
        found['ram_free'] = {'total_mb': 0, 'units_by_mb': table(ram)}
    if disk is not None:
        found['disk_free'] = {'total_mb': 0, 'units_by_mb': table(disk)}
    if vcpus is not None:
        found['vcpu_free'] = {'total': 0, 'units_by_vcpus': table(vcpus)}
    return found


# -- the in-process tree ------------------------------------------------------

LAYOUT = demo.DEFAULT_LAYOUT
PATHS = {'api': 'api', 'child1': 'api!child1', 'child2': 'api!child2',
         'gc1': 'api!child1!gc1', 'gc2': 'api!child1!gc2',
         'gc3': 'api!child2!gc3', 'gc4': 'api!child2!gc4'}

IMAGE = {'id': '155d900f-4e14-4e4c-a73d-069cbf4541e6', 'name': 'cirros',
         'container_format': 'bare', 'disk_format': 'qcow2', 'min_disk': 0,
         'min_ram': 0, 'status': 'active', 'properties': {}}


def seed_flavors(db):
    """The demo's flavors, in ``instance_types`` (capacity slot sizes)."""
    with db.writer() as session:
        for index, (name, ram, vcpus, root) in enumerate(
                demo.DEFAULT_FLAVORS):
            session.add(models.InstanceTypes(
                name=name, memory_mb=ram, vcpus=vcpus, root_gb=root,
                ephemeral_gb=0, flavorid=str(index + 1), swap=0,
                is_public=True, disabled=False, deleted=0))


def seed_hosts(db, cell_name, sizes):
    """One up, enabled nova-compute per ``(memory_mb, vcpus, local_gb)``,
    named ``<cell>-host<n>`` (as the demo names them; the demo's seeding)."""
    demo.seed_hosts(db, [('%s-host%d' % (cell_name, index + 1), ram, vcpus,
                          disk)
                         for index, (ram, vcpus, disk) in enumerate(sizes)])


def flavor(name='m1.small', memory_mb=2048, vcpus=1, root_gb=20,
           flavor_id=1):
    return flavor_obj.Flavor(
        id=flavor_id, flavorid=str(flavor_id), name=name,
        memory_mb=memory_mb, vcpus=vcpus, root_gb=root_gb, ephemeral_gb=0,
        swap=0, rxtx_factor=1.0, vcpu_weight=0, disabled=False,
        is_public=True, extra_specs={}, description=None)


def new_instance(db, the_flavor, name, ctxt=USER):
    """What nova-api does first: the row in the API database, and the
    Instance object that goes into build_instances."""
    values = {'uuid': str(uuid.uuid4()), 'display_name': name,
              'project_id': ctxt.project_id, 'user_id': ctxt.user_id,
              'vm_state': 'building', 'task_state': 'scheduling',
              'memory_mb': the_flavor.memory_mb, 'vcpus': the_flavor.vcpus,
              'root_gb': the_flavor.root_gb, 'ephemeral_gb': 0,
              'instance_type_id': the_flavor.id}
    db_instances.instance_create(db, values)
    return instance_obj.Instance(
        uuid=values['uuid'], display_name=name,
        project_id=ctxt.project_id, user_id=ctxt.user_id,
        vm_state='building', task_state='scheduling', flavor=the_flavor,
        metadata={}, system_metadata={}, image_ref=IMAGE['id'])


def build_kwargs(instances, the_flavor, hints=None, image=None):
    """nova's build_inst_kwargs (compute API -> CellsAPI.build_instances)."""
    return {'instances': list(instances), 'image': image or dict(IMAGE),
            'filter_properties': {'instance_type': the_flavor,
                                  'scheduler_hints': dict(hints or {})},
            'admin_password': None, 'injected_files': [],
            'requested_networks': None, 'security_groups': ['default'],
            'block_device_mapping': None}


class TreeHarness(object):
    """A started tree plus what the tests do with it."""

    def __init__(self, tree):
        self.tree = tree
        self.sleeps = []
        self._sleep_lock = threading.Lock()
        self._counter = 0

    @property
    def top(self):
        return self.tree.cells['api']

    def cell(self, name):
        return self.tree.cells[name]

    def leaves(self):
        parents = {p for _n, p, _path in inprocess.walk_layout(
            self.tree.layout)}
        return [n for n, _p, _path in inprocess.walk_layout(self.tree.layout)
                if n not in parents]

    def fake_sleep(self, name):
        def sleep(seconds):
            with self._sleep_lock:
                self.sleeps.append((name, seconds))
        return sleep

    def propagated(self):
        """True when every parent sees each child as the child sees
        itself (capacities and capabilities)."""
        for name, parent, _path in inprocess.walk_layout(self.tree.layout):
            if parent is None:
                continue
            child = self.tree.cells[name].state_manager
            seen = self.tree.cells[parent].state_manager.get_child_cell(name)
            if seen.capacities != child.get_our_capacities():
                return False
            if seen.capabilities != child.get_our_capabilities():
                return False
        return True

    def propagate(self, timeout=10.0):
        ctxt = context.get_admin_context()
        for name in self.leaves():
            propagation.update_our_parents(self.tree.cells[name].runner, ctxt)
        return tree_support.wait_until(self.propagated, timeout=timeout)

    def instances_for(self, count, the_flavor, ctxt=USER):
        made = []
        for _ in range(count):
            self._counter += 1
            made.append(new_instance(self.top.db, the_flavor,
                                     'vm-%d' % self._counter, ctxt))
        return made

    def build(self, count=1, ctxt=USER, the_flavor=None, hints=None,
              image=None):
        """One build request per instance through the API cell's manager
        (the ``cells`` RPC endpoint), as nova-api casts them."""
        the_flavor = the_flavor or flavor()
        uuids = []
        for instance in self.instances_for(count, the_flavor, ctxt):
            uuids.append(instance.uuid)
            self.top.manager.build_instances(
                ctxt, build_kwargs([instance], the_flavor, hints, image))
        return uuids

    def rows(self, uuids):
        """The top's rows for ``uuids``, in that order."""
        found = {r['uuid']: r for r in db_instances.instance_get_all(
            self.top.db, read_deleted='yes') if r['uuid'] in set(uuids)}
        return [found.get(u) for u in uuids]

    def settled(self, uuids):
        rows = self.rows(uuids)
        return all(r is not None and r['vm_state'] in ('active', 'error')
                   for r in rows)

    def wait(self, uuids, timeout=15.0):
        """The top's rows once none is building any more."""
        tree_support.wait_until(lambda: self.settled(uuids), timeout=timeout)
        return self.rows(uuids)

    def wait_faults(self, uuids, timeout=10.0):
        """uuid -> the top's newest fault message (waiting for each)."""
        def faults():
            found = {}
            for instance_uuid in uuids:
                rows = db_instances.instance_fault_get_by_instance(
                    self.top.db, instance_uuid)
                if rows:
                    found[instance_uuid] = rows[0]['message']
            return found if len(found) == len(uuids) else None
        return tree_support.wait_until(faults, timeout=timeout) or faults()


@contextlib.contextmanager
def building_tree(base_dir, hosts, capabilities=None, layout=None,
                  overrides=None):
    """A started, propagated tree ready to build.

    :param hosts: leaf name -> [(memory_mb, vcpus, local_gb)].
    :param capabilities: cell name -> ``['name=v1;v2', ...]`` ([cells]
        capabilities syntax), set on the cell's own state before start.
    :param overrides: extra ``[cells]`` options for every cell.
    """
    opts = {'call_timeout': 5, 'local_scheduler_driver': 'builtin',
            'scheduler_retries': 1, 'scheduler_retry_delay': 0}
    opts.update(overrides or {})
    tree = inprocess.CellTree(layout or LAYOUT, str(base_dir),
                              overrides=opts,
                              serializer=tree_support.pick_serializer())
    with tree_support.run_scoped_fake_exchanges(tree):
        tree.build()
        harness = TreeHarness(tree)
        try:
            for name, cell_parts in tree.cells.items():
                seed_flavors(cell_parts.db)
                cell_parts.scheduler.sleep = harness.fake_sleep(name)
            for name, sizes in (hosts or {}).items():
                seed_hosts(tree.cells[name].db, name, sizes)
            for name, entries in (capabilities or {}).items():
                tree.cells[name].state_manager.my_cell_state.capabilities = \
                    state.parse_capabilities(entries)
            tree.start()
            assert harness.propagate(), 'capacities did not reach the top'
            yield harness
        finally:
            tree_support.stop_all(tree)
            tree.close()
