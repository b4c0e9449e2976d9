"""The demo: a tree of cells in one process, on its embedded default.

api -> 2 children -> 2 grandchildren each, every leaf with compute hosts of
varied sizes in its own SQLite database, all talking the original's wire
JSON over oslo.messaging's in-memory ``fake://`` transport.  The demo shows
capacities flowing up the tree and the status of every cell, as the top
sees them.
"""

import json
import time

from oslo_utils import timeutils

from nova_cells import context as cells_context
from nova_cells.db import api as db_api
from nova_cells.db import models
from nova_cells import inprocess
from nova_cells import propagation

__all__ = ['DEFAULT_LAYOUT', 'DEFAULT_FLAVORS', 'Demo']

DEFAULT_LAYOUT = {'api': {'child1': {'gc1': {}, 'gc2': {}},
                          'child2': {'gc3': {}, 'gc4': {}}}}

# (name, memory_mb, vcpus, root_gb)
DEFAULT_FLAVORS = (('m1.small', 2048, 1, 20), ('m1.medium', 4096, 2, 40),
                   ('m1.large', 8192, 4, 80))

# (memory_mb, vcpus, local_gb) of the hosts of each leaf, varied on purpose.
_HOST_SIZES = ((65536, 16, 800), (131072, 32, 1600), (32768, 8, 400))


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
    """Build the tree, let capacities flow up, report what the top sees."""

    def __init__(self, base_dir, layout=None, hosts_per_leaf=3):
        self.tree = inprocess.CellTree(layout or DEFAULT_LAYOUT, base_dir,
                                       overrides={'call_timeout': 10,
                                                  'db_check_interval': 0})
        self.hosts_per_leaf = hosts_per_leaf

    def _leaves(self):
        return [name for name, _p, _path in
                inprocess.walk_layout(self.tree.layout)
                if not self._children_of(name)]

    def _children_of(self, name):
        return [n for n, parent, _p in inprocess.walk_layout(self.tree.layout)
                if parent == name]

    def setup(self):
        self.tree.build()
        for name in self.tree.cells:
            _seed_flavors(self.tree.cells[name].db)
        for name in self._leaves():
            _seed_hosts(self.tree.cells[name].db, name, self.hosts_per_leaf)
        self.tree.start()
        return self

    def propagate(self, timeout=10.0):
        """Leaves push up, as at daemon start; wait until the top knows."""
        ctxt = cells_context.get_admin_context()
        for name in self._leaves():
            propagation.update_our_parents(self.tree.cells[name].runner, ctxt)
        top = self.tree.cells[self.top_name]
        expected = self._expected_total_ram()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ram = top.state_manager.get_our_capacities().get('ram_free', {})
            if ram.get('total_mb') == expected:
                return True
            time.sleep(0.05)
        return False

    def _expected_total_ram(self):
        return sum(_HOST_SIZES[i % len(_HOST_SIZES)][0]
                   for _leaf in self._leaves()
                   for i in range(self.hosts_per_leaf))

    @property
    def top_name(self):
        return next(iter(self.tree.layout))

    def status(self):
        """The top's manager answer to get_cell_status (a broadcast)."""
        ctxt = cells_context.get_admin_context()
        return self.tree.cells[self.top_name].manager.get_cell_status(ctxt)

    def close(self):
        self.tree.close()


def render_text(status, top_capacities):
    """Human-readable tree: one line per cell, indented by depth."""
    lines = []
    for cell in sorted(status['cells'], key=lambda c: c['cell_name']):
        path = cell['cell_name']
        value = cell['value']
        ram = value['aggregated_capacities'].get('ram_free', {})
        units = ram.get('units_by_mb', {})
        lines.append('%s%-8s free RAM %8s MB  m1.small slots %5s' % (
            '  ' * path.count('!'), value['name'], ram.get('total_mb', 0),
            units.get('2048', 0)))
    for failure in status['failures']:
        lines.append('UNREACHABLE %s: %s' % (failure['cell_name'],
                                             failure['message']))
    lines.append('Top sees %s MB of free RAM in the whole tree.'
                 % top_capacities.get('ram_free', {}).get('total_mb', 0))
    return '\n'.join(lines)


def render_json(status, top_capacities):
    return json.dumps({'cells': status['cells'],
                       'failures': status['failures'],
                       'top_capacities': top_capacities}, indent=2,
                      sort_keys=True)
