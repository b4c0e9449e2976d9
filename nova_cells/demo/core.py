"""The demo: a tree of cells in one process, on its embedded default.

api -> 2 children -> 2 grandchildren each (or any tree a topology file
describes, see :mod:`nova_cells.demo.topology`), every leaf with compute
hosts of varied sizes in its own SQLite database, all talking the
original's wire JSON over oslo.messaging's in-memory ``fake://`` transport.
The demo shows capacities flowing up the tree and the status of every
cell, as the top sees them, then builds instances through ``CellsAPI``
exactly as nova-api would, and shows where they landed.

The same building, waiting and reporting runs against real daemons on a
real broker in :mod:`nova_cells.testing.demo_processes`; what both share is the
:class:`Builder` base class and the seeding and rendering functions here.
"""

import collections
import json
import random
import threading
import time

from oslo_utils import timeutils
import sqlalchemy as sa

from nova_cells import context as cells_context
from nova_cells.db import instances as db_instances
from nova_cells.db import models
from nova_cells.demo import topology as demo_topology
from nova_cells.testing import inprocess
from nova_cells.objects import flavor as flavor_obj
from nova_cells.top import boot
from nova_cells.cells import propagation
from nova_cells.cells import treeview

__all__ = ['DEFAULT_LAYOUT', 'DEFAULT_FLAVORS', 'Builder', 'Demo',
           'seed_flavors', 'seed_hosts', 'render_text', 'render_json',
           'build_timeout']

DEFAULT_LAYOUT = demo_topology.DEFAULT_LAYOUT

# (name, memory_mb, vcpus, root_gb)
DEFAULT_FLAVORS = (('m1.small', 2048, 1, 20), ('m1.medium', 4096, 2, 40),
                   ('m1.large', 8192, 4, 80))

# Seconds between the in-process demo's nova-compute heartbeats: well
# inside nova's service_down_time (60 s).
HEARTBEAT_INTERVAL = 10

# How many instances the text output lists unless asked for all: enough
# to see where they go, few enough that a 1000-instance run stays legible.
LISTED_INSTANCES = 10


def seed_flavors(db):
    """The flavors every cell knows (nova-manage flavor create)."""
    with db.writer() as session:
        for index, (name, ram, vcpus, root) in enumerate(DEFAULT_FLAVORS):
            session.add(models.InstanceTypes(
                name=name, memory_mb=ram, vcpus=vcpus, root_gb=root,
                ephemeral_gb=0, flavorid=str(index + 1), swap=0,
                is_public=True, disabled=False, deleted=0))


def seed_hosts(db, hosts):
    """A service and an empty node per host, as a freshly started
    nova-compute writes them.

    :param hosts: ``[(host, memory_mb, vcpus, local_gb)]``.
    """
    now = timeutils.utcnow()
    with db.writer() as session:
        for host, ram, vcpus, disk in hosts:
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


def report_hosts_up(db):
    """What every nova-compute does each report_interval: say it is up.
    Without it the seeded hosts count as down a minute after seeding, and
    a big run is still building by then."""
    with db.writer() as session:
        session.execute(sa.update(models.Service).where(
            models.Service.binary == 'nova-compute').values(
                last_seen_up=timeutils.utcnow(),
                report_count=models.Service.report_count + 1))


def build_timeout(count, cells):
    """Seconds to wait for ``count`` builds in a tree of ``cells``: two
    minutes for the default (it takes ten seconds, but a loaded machine
    must not turn slow into failed), more for big runs (each build
    crosses every level, and a big tree shares the CPUs)."""
    return max(120.0, count * 0.3 + cells * 1.0)


class Builder(object):
    """Building instances as nova-api would, and seeing where they went.

    Subclasses provide ``top_db`` (the API cell's database, where nova-api
    writes), ``cells_api`` (a CellsAPI client of the API cell) and
    :meth:`status`.
    """

    top_db = None
    cells_api = None

    def __init__(self, topology, seed=None):
        self.topology = topology
        self.rng = random.Random(seed)
        self.requested = []

    # Write every row before the first cast (True), or each just before
    # its cast, as nova-api answering one request after another (False).
    rows_first = False

    def build(self, count, progress=None):
        """Ask for ``count`` instances, one request each, random flavors.

        One request after another, the top's capacities keep up with the
        builds (a burst of casts is weighed on capacities of before the
        burst, and can pile onto one cell).  With daemons on SQLite
        (``rows_first``) the rows are written together first instead: a
        write of ours between a daemon's read and write of the same file
        would make its write fail ("database is locked").
        """
        flavors = [_flavor(self.rng.choice(DEFAULT_FLAVORS))
                   for _index in range(count)]
        if self.rows_first:
            self._cast(_new_instances(self.top_db, len(self.requested),
                                      flavors), flavors, progress)
            return
        for index, flavor in enumerate(flavors):
            self._cast(_new_instances(self.top_db, len(self.requested),
                                      [flavor]), [flavor],
                       progress and (lambda done, _total, index=index:
                                     progress(index + 1, count)))

    def _cast(self, instances, flavors, progress=None):
        """``build_instances`` per instance, as nova-api casts it."""
        ctxt = cells_context.RequestContext(user_id='demo',
                                            project_id='demo')
        self.requested.extend(i.uuid for i in instances)
        for index, (instance, flavor) in enumerate(zip(instances, flavors)):
            self.cells_api.build_instances(
                ctxt, **boot.build_kwargs(instance, flavor))
            if progress:
                progress(index + 1, len(instances))

    def wait(self, timeout=60.0, progress=None):
        """Wait until no requested instance is still building at the top."""
        deadline = time.monotonic() + timeout
        interval = 0.1 if len(self.requested) <= 200 else 0.3
        while True:
            rows = self.instances()
            settled = [r for r in rows if r['vm_state'] != 'building']
            if progress:
                progress(len(settled), len(self.requested))
            if len(settled) == len(self.requested) or \
                    time.monotonic() > deadline:
                return len(settled) == len(self.requested)
            time.sleep(interval)

    def instances(self):
        wanted = set(self.requested)
        return [r for r in db_instances.instance_get_all(self.top_db)
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
                    self.top_db, row['uuid'])
                if faults:
                    found[row['uuid']] = faults[0]['message']
        return found

    def status(self):
        raise NotImplementedError()

    def final_status(self, attempts=3):
        """The cell status for the report, asked again (a few times) while
        some cell did not answer in time: on a loaded machine a cell can
        miss call_timeout once; one that never answers is still shown."""
        for _attempt in range(attempts):
            status = self.status()
            if not status['failures']:
                break
        return status


class Demo(Builder):
    """Build the tree in this process, let capacities flow up, build
    instances through CellsAPI as nova-api would, and report where they
    landed.

    :param topology: a :class:`~nova_cells.demo.topology.Topology`
        (default: the 7-cell tree); ``layout`` and ``hosts_per_leaf``
        override it, as before topologies existed.
    """

    def __init__(self, base_dir, layout=None, hosts_per_leaf=None, seed=None,
                 topology=None):
        topology = topology or demo_topology.default()
        if layout is not None:
            topology.layout = layout
        if hosts_per_leaf is not None:
            topology.hosts_per_leaf = hosts_per_leaf
        super(Demo, self).__init__(topology, seed)
        self.tree = inprocess.CellTree(
            topology.layout, base_dir,
            overrides={'call_timeout': 10,
                       'local_scheduler_driver': 'builtin',
                       'scheduler_retries': 2,
                       'scheduler_retry_delay': 1})
        self.hosts_per_leaf = topology.hosts_per_leaf
        self._stopping = threading.Event()
        self._heartbeat = None

    @property
    def top_name(self):
        return self.topology.top

    @property
    def top(self):
        return self.tree.cells[self.top_name]

    @property
    def top_db(self):
        return self.top.db

    def _leaves(self):
        return self.topology.leaves()

    def setup(self):
        self.tree.build()
        for cell in self.tree.cells.values():
            seed_flavors(cell.db)
        for name in self._leaves():
            seed_hosts(self.tree.cells[name].db, self.topology.hosts(name))
        self._heartbeat = threading.Thread(target=self._report_hosts,
                                           name='demo-compute-heartbeat',
                                           daemon=True)
        self._heartbeat.start()
        self.tree.start()
        self.tree.start_cells_rpc(self.top_name)
        self.cells_api = self.tree.cells_api(self.top_name)
        return self

    def propagate(self, timeout=None):
        """Leaves push up, as at daemon start; wait until the top knows."""
        ctxt = cells_context.get_admin_context()
        for name in self._leaves():
            propagation.update_our_parents(self.tree.cells[name].runner, ctxt)
        expected = self.topology.total_ram_mb()
        timeout = timeout or max(30.0, len(self.topology) * 0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ram = self.top.state_manager.get_our_capacities().get(
                'ram_free', {})
            if ram.get('total_mb') == expected:
                return True
            time.sleep(0.05)
        return False

    def status(self):
        """The top's manager answer to get_cell_status (a broadcast)."""
        ctxt = cells_context.get_admin_context()
        return self.top.manager.get_cell_status(ctxt)

    def _report_hosts(self):
        """The leaves' nova-computes, reporting until the demo closes."""
        while not self._stopping.wait(HEARTBEAT_INTERVAL):
            for name in self._leaves():
                report_hosts_up(self.tree.cells[name].db)

    def close(self):
        self._stopping.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        self.tree.close()


def _flavor(spec):
    name, ram, vcpus, root = spec
    index = [f[0] for f in DEFAULT_FLAVORS].index(name) + 1
    return flavor_obj.Flavor(
        id=index, flavorid=str(index), name=name, memory_mb=ram, vcpus=vcpus,
        root_gb=root, ephemeral_gb=0, swap=0, rxtx_factor=1.0, vcpu_weight=0,
        disabled=False, is_public=True, extra_specs={}, description=None)


def _new_instances(db, first, flavors):
    """What nova-api does first (:func:`nova_cells.top.boot.
    request_instances`): the rows, ``demo-<n>`` from ``first`` on."""
    return boot.request_instances(
        db, flavors, ['demo-%d' % (first + index)
                      for index in range(len(flavors))], 'demo', 'demo')


# -- rendering ----------------------------------------------------------------


def _tree_lines(summary, status):
    """The tree as the top sees it (:mod:`nova_cells.cells.treeview`, the same
    drawing as ``nova-cells-manage tree``)."""
    return treeview.render_text(status).rstrip('\n').splitlines()


def _instance_lines(summary, limit):
    rows = summary['instances']
    shown = rows if limit is None else rows[:limit]
    width = max([16] + [len(str(r['cell'])) for r in shown])
    lines = ['%-12s %-*s %-18s %s' % ('instance', width, 'cell', 'host',
                                      'state')]
    for row in shown:
        lines.append('%-12s %-*s %-18s %s' % (row['name'], width,
                                              row['cell'], row['host'],
                                              row['state']))
    if len(shown) < len(rows):
        lines.append('... and %d more (--all-instances lists them all)'
                     % (len(rows) - len(shown)))
    return lines


def render_text(summary, status, limit=LISTED_INSTANCES, processes=None):
    """Where the instances landed, and the tree as the top sees it.

    :param limit: how many instances to list (None: all).
    :param processes: ``[{'cell', 'pid'}]`` of the daemons, if any.
    """
    states = sorted(summary['states'].items())
    lines = ['%d instances requested: %s' % (
        summary['requested'], ', '.join('%d %s' % (n, s) for s, n in states))]
    lines.append('')
    lines.extend(_tree_lines(summary, status))
    if processes:
        lines.append('')
        lines.append('%d nova-cells daemons, one per cell (pids %s)' % (
            len(processes), ', '.join(str(p['pid']) for p in processes)))
    lines.append('')
    lines.extend(_instance_lines(summary, limit))
    for uuid_, message in sorted(summary['faults'].items()):
        lines.append('fault %s: %s' % (uuid_, message))
    return '\n'.join(lines)


def render_json(summary, status, **extra):
    """The summary, the raw cell status as ``tree`` and ``extra`` keys
    (the daemons' pids, timings): everything, for scripts and tests."""
    return json.dumps(dict(summary, tree=status, **extra), indent=2,
                      sort_keys=True, default=str)
