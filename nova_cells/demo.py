"""The demo: a tree of cells in one process, on its embedded default.

api -> 2 children -> 2 grandchildren each, every leaf with compute hosts of
varied sizes in its own SQLite database, all talking the original's wire
JSON over oslo.messaging's in-memory ``fake://`` transport.  The demo shows
capacities flowing up the tree and the status of every cell, as the top
sees them, then builds instances through ``CellsAPI`` exactly as nova-api
would, and shows where they landed.
"""

import collections
import json
import random
import time
import uuid

from oslo_utils import timeutils

from nova_cells import context as cells_context
from nova_cells.db import instances as db_instances
from nova_cells.db import models
from nova_cells import inprocess
from nova_cells.objects import flavor as flavor_obj
from nova_cells.objects import instance as instance_obj
from nova_cells import propagation

__all__ = ['DEFAULT_LAYOUT', 'DEFAULT_FLAVORS', 'Demo']

DEFAULT_LAYOUT = {'api': {'child1': {'gc1': {}, 'gc2': {}},
                          'child2': {'gc3': {}, 'gc4': {}}}}

# (name, memory_mb, vcpus, root_gb)
DEFAULT_FLAVORS = (('m1.small', 2048, 1, 20), ('m1.medium', 4096, 2, 40),
                   ('m1.large', 8192, 4, 80))

# (memory_mb, vcpus, local_gb) of the hosts of each leaf, varied on purpose.
_HOST_SIZES = ((65536, 32, 800), (131072, 64, 1600), (32768, 16, 400))


def _seed_flavors(db):
    with db.writer() as session:
        for index, (name, ram, vcpus, root) in enumerate(DEFAULT_FLAVORS):
            session.add(models.InstanceTypes(
                name=name, memory_mb=ram, vcpus=vcpus, root_gb=root,
                ephemeral_gb=0, flavorid=str(index + 1), swap=0,
                is_public=True, disabled=False, deleted=0))


def _seed_hosts(db, cell_name, count):
    now = timeutils.utcnow()
    with db.writer() as session:
        for index in range(count):
            ram, vcpus, disk = _HOST_SIZES[index % len(_HOST_SIZES)]
            host = '%s-host%d' % (cell_name, index + 1)
            session.add(models.Service(host=host, binary='nova-compute',
                                       topic='compute', report_count=1,
                                       disabled=False, last_seen_up=now,
                                       deleted=0))
            session.add(models.ComputeNode(
                host=host, hypervisor_hostname=host, vcpus=vcpus,
                memory_mb=ram, local_gb=disk, vcpus_used=0,
                memory_mb_used=0, local_gb_used=0, free_ram_mb=ram,
                free_disk_gb=disk, hypervisor_type='QEMU',
                hypervisor_version=6002000, cpu_info='{}', deleted=0))


class Demo(object):
    """Build the tree, let capacities flow up, build instances through
    CellsAPI as nova-api would, and report where they landed."""

    def __init__(self, base_dir, layout=None, hosts_per_leaf=3, seed=None):
        self.tree = inprocess.CellTree(
            layout or DEFAULT_LAYOUT, base_dir,
            overrides={'call_timeout': 10,
                       'local_scheduler_driver': 'builtin',
                       'scheduler_retries': 2,
                       'scheduler_retry_delay': 1})
        self.hosts_per_leaf = hosts_per_leaf
        self.rng = random.Random(seed)
        self.requested = []

    @property
    def top_name(self):
        return next(iter(self.tree.layout))

    @property
    def top(self):
        return self.tree.cells[self.top_name]

    def _leaves(self):
        parents = {parent for _n, parent, _p in
                   inprocess.walk_layout(self.tree.layout)}
        return [name for name, _parent, _path in
                inprocess.walk_layout(self.tree.layout)
                if name not in parents]

    def setup(self):
        self.tree.build()
        for cell in self.tree.cells.values():
            _seed_flavors(cell.db)
        for name in self._leaves():
            _seed_hosts(self.tree.cells[name].db, name, self.hosts_per_leaf)
        self.tree.start()
        self.tree.start_cells_rpc(self.top_name)
        self.cells_api = self.tree.cells_api(self.top_name)
        return self

    def propagate(self, timeout=10.0):
        """Leaves push up, as at daemon start; wait until the top knows."""
        ctxt = cells_context.get_admin_context()
        for name in self._leaves():
            propagation.update_our_parents(self.tree.cells[name].runner, ctxt)
        expected = sum(_HOST_SIZES[i % len(_HOST_SIZES)][0]
                       for _leaf in self._leaves()
                       for i in range(self.hosts_per_leaf))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ram = self.top.state_manager.get_our_capacities().get(
                'ram_free', {})
            if ram.get('total_mb') == expected:
                return True
            time.sleep(0.05)
        return False

    # -- building -------------------------------------------------------------

    def build(self, count, progress=None):
        """Ask for ``count`` instances, one request each, random flavors."""
        ctxt = cells_context.RequestContext(user_id='demo',
                                            project_id='demo')
        for index in range(count):
            flavor = _flavor(self.rng.choice(DEFAULT_FLAVORS))
            instance = _new_instance(self.top.db, index, flavor)
            self.requested.append(instance.uuid)
            self.cells_api.build_instances(
                ctxt, instances=[instance], image=_IMAGE,
                filter_properties={'instance_type': flavor,
                                   'scheduler_hints': {}},
                admin_password=None, injected_files=[],
                requested_networks=None, security_groups=['default'],
                block_device_mapping=None)
            if progress:
                progress(index + 1, count)

    def wait(self, timeout=60.0, progress=None):
        """Wait until no requested instance is still building at the top."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.instances()
            settled = [r for r in rows if r['vm_state'] != 'building']
            if progress:
                progress(len(settled), len(self.requested))
            if len(settled) == len(self.requested) or \
                    time.monotonic() > deadline:
                return len(settled) == len(self.requested)
            time.sleep(0.1)

    def instances(self):
        wanted = set(self.requested)
        return [r for r in db_instances.instance_get_all(self.top.db)
                if r['uuid'] in wanted]

    def summary(self):
        rows = self.instances()
        cells = collections.Counter(r['cell_name'] for r in rows)
        states = collections.Counter(r['vm_state'] for r in rows)
        return {
            'requested': len(self.requested),
            'states': dict(states),
            'cells': [{'cell': cell or '(not placed)', 'instances': n}
                      for cell, n in sorted(cells.items(),
                                            key=lambda i: str(i[0]))],
            'instances': [{'uuid': r['uuid'], 'name': r['display_name'],
                           'cell': r['cell_name'], 'host': r['host'],
                           'state': r['vm_state']} for r in rows],
            'faults': self._faults(rows),
        }

    def _faults(self, rows):
        found = {}
        for row in rows:
            if row['vm_state'] == 'error':
                faults = db_instances.instance_fault_get_by_instance(
                    self.top.db, row['uuid'])
                if faults:
                    found[row['uuid']] = faults[0]['message']
        return found

    def status(self):
        """The top's manager answer to get_cell_status (a broadcast)."""
        ctxt = cells_context.get_admin_context()
        return self.top.manager.get_cell_status(ctxt)

    def close(self):
        self.tree.close()


_IMAGE = {'id': '155d900f-4e14-4e4c-a73d-069cbf4541e6', 'name': 'cirros',
          'container_format': 'bare', 'disk_format': 'qcow2', 'min_disk': 0,
          'min_ram': 0, 'size': 25165824, 'status': 'active',
          'properties': {}}


def _flavor(spec):
    name, ram, vcpus, root = spec
    index = [f[0] for f in DEFAULT_FLAVORS].index(name) + 1
    return flavor_obj.Flavor(
        id=index, flavorid=str(index), name=name, memory_mb=ram, vcpus=vcpus,
        root_gb=root, ephemeral_gb=0, swap=0, rxtx_factor=1.0, vcpu_weight=0,
        disabled=False, is_public=True, extra_specs={}, description=None)


def _new_instance(db, index, flavor):
    """What nova-api does first: the instance row in the API database."""
    values = {'uuid': str(uuid.uuid4()), 'display_name': 'demo-%d' % index,
              'project_id': 'demo', 'user_id': 'demo', 'vm_state': 'building',
              'task_state': 'scheduling', 'memory_mb': flavor.memory_mb,
              'vcpus': flavor.vcpus, 'root_gb': flavor.root_gb,
              'ephemeral_gb': 0, 'instance_type_id': flavor.id}
    db_instances.instance_create(db, values)
    return instance_obj.Instance(
        uuid=values['uuid'], display_name=values['display_name'],
        project_id='demo', user_id='demo', vm_state='building',
        task_state='scheduling', flavor=flavor, metadata={},
        system_metadata={}, image_ref=_IMAGE['id'])


def render_text(summary, status):
    """Where the instances landed, and the tree as the top sees it."""
    states = sorted(summary['states'].items())
    lines = ['%d instances requested: %s' % (
        summary['requested'], ', '.join('%d %s' % (n, s) for s, n in states))]
    lines.append('')
    for cell in sorted(status['cells'], key=lambda c: c['cell_name']):
        value = cell['value']
        ram = value['aggregated_capacities'].get('ram_free', {})
        placed = sum(c['instances'] for c in summary['cells']
                     if c['cell'] == cell['cell_name'] or
                     str(c['cell']).startswith(cell['cell_name'] + '!'))
        lines.append('%-24s %4d instances   free RAM %8s MB' % (
            '  ' * cell['cell_name'].count('!') + value['name'], placed,
            ram.get('total_mb', 0)))
    for failure in status['failures']:
        lines.append('UNREACHABLE %s: %s' % (failure['cell_name'],
                                             failure['message']))
    lines.append('')
    lines.append('%-12s %-16s %-14s %s' % ('instance', 'cell', 'host',
                                           'state'))
    for row in summary['instances']:
        lines.append('%-12s %-16s %-14s %s' % (row['name'], row['cell'],
                                               row['host'], row['state']))
    for uuid_, message in sorted(summary['faults'].items()):
        lines.append('fault %s: %s' % (uuid_, message))
    return '\n'.join(lines)


def render_json(summary, status):
    return json.dumps(dict(summary, tree=status), indent=2, sort_keys=True,
                      default=str)
