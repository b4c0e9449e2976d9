"""Trees of real ``nova-cells`` processes, and raw AMQP, for the functional
tests of intercell messaging and building (``test_intercell``,
``test_hostile_input``, ``test_build_tree``).

Built on :mod:`tests.functional.fixtures` (vhosts, throw-away databases,
``cells.conf`` writer, the :class:`~tests.functional.fixtures.Daemon`
runner): one process per cell, each with its own RabbitMQ vhost and its own
database, wired through the ``cells`` table, as an operator would deploy
them.  Nothing is mocked.

Also here:

* seeding a cell's database the way nova-compute and nova-manage would have
  filled it (``instance_types``, ``services`` + ``compute_nodes``) and
  creating instance rows in the API cell's database as nova-api does before
  it calls ``CellsAPI.build_instances``;
* ``CellsAPI`` clients (the project's own client, as nova-api uses it);
* raw AMQP with kombu (no oslo.messaging, no project code): publishing
  exactly the bytes a test wants onto a daemon's queues, and capturing what
  a daemon sends to a neighbour that has no daemon.
"""

import contextlib
import dataclasses
import json
import pathlib
import queue
import time
import typing
import uuid as uuidlib

import kombu
import oslo_messaging
from oslo_messaging.rpc import dispatcher as rpc_dispatcher
from oslo_utils import timeutils
import pytest
import sqlalchemy as sa
from sqlalchemy import pool as sa_pool

from tests.functional import fixtures

from nova_cells import conf as cells_conf
from nova_cells import context as cells_context
from nova_cells.objects import flavor as flavor_obj
from nova_cells.objects import instance as instance_obj
from nova_cells.client import proxies
from nova_cells.transport import rpc
from nova_cells import rpcapi

__all__ = [
    'walk_layout', 'TreeCell', 'ProcessTree', 'register_daemons',
    'insert_rows', 'seed_flavors', 'seed_compute_hosts', 'Flavor',
    'flavor_object', 'create_api_instances', 'instance_object',
    'cells_api', 'IMAGE', 'expected_capacities',
    'amqp_url', 'publish_raw', 'oslo_envelope', 'cells_message',
    'AmqpCapture', 'decode_envelope', 'queue_state', 'INTERCELL_TOPICS',
    'FakeConductor', 'fake_conductor', 'nova_rpc_server',
]

# Seconds a daemon gets to answer its first ping.
START_TIMEOUT = 30

INTERCELL_TOPICS = ('cells.intercell.targeted', 'cells.intercell.broadcast',
                    'cells.intercell.response')


# -- the tree ----------------------------------------------------------------

def walk_layout(layout, parent=None, path=None):
    """Yield ``(name, parent, full path, [children])`` top-down, breadth
    first within each level's dict order (parents before children)."""
    level = [(name, sub, parent, path) for name, sub in layout.items()]
    while level:
        following = []
        for name, sub, parent_name, parent_path in level:
            full = name if parent_path is None else '%s!%s' % (parent_path,
                                                               name)
            yield name, parent_name, full, list(sub)
            following.extend((child, subsub, name, full)
                             for child, subsub in sub.items())
        level = following


@dataclasses.dataclass
class TreeCell(object):
    """One cell of a :class:`ProcessTree`."""

    name: str
    parent: typing.Optional[str]
    path: str
    children: list
    depth: int
    url: str = None          # the cell's own broker (its vhost)
    db_url: str = None
    backend: str = 'sqlite'
    conf: fixtures.CellConf = None
    daemon: fixtures.Daemon = None
    more_daemons: list = dataclasses.field(default_factory=list)
    # Daemons a test killed for good (their logs still count).
    retired: list = dataclasses.field(default_factory=list)

    @property
    def live_daemons(self):
        """The daemons meant to be running: the first and the others
        added, not those retired."""
        return [d for d in [self.daemon] + self.more_daemons
                if d is not None]

    @property
    def is_leaf(self):
        return not self.children


class ProcessTree(object):
    """A tree of cells, one ``nova-cells`` process each.

    Nothing happens in the constructor; call :meth:`provision` (vhosts,
    databases, ``cells.conf`` files), then sync the schemas, wire the
    neighbours, seed and :meth:`start`.  Every resource is registered on
    ``stack`` so that closing it kills the daemons (whole process groups)
    first, then drops the databases and deletes the vhosts.

    :param layout: nested dict, e.g. ``{'api': {'child': {'gc': {}}}}``.
    :param base_dir: a directory for configs, SQLite files and logs.
    :param stack: a :class:`contextlib.ExitStack`.
    :param backends: ``{cell name: 'sqlite'|'postgresql'|'mysql'}``
        (default SQLite).
    :param extra: ``{section: {option: value}}`` for every cell, or a
        callable ``(TreeCell) -> extra``.
    :param request: the pytest request of a function-scoped test: each
        daemon is registered as it starts, so that a failed test shows its
        log (module-scoped trees use :func:`register_daemons` per test).
    """

    def __init__(self, layout, base_dir, stack, backends=None, extra=None,
                 debug=False, request=None):
        self.layout = layout
        self.request = request
        self.base_dir = pathlib.Path(base_dir)
        self.stack = stack
        self.backends = backends or {}
        self.extra = extra
        self.debug = debug
        self.cells = {}
        for name, parent, path, children in walk_layout(layout):
            self.cells[name] = TreeCell(
                name=name, parent=parent, path=path, children=children,
                depth=path.count('!'),
                backend=self.backends.get(name, 'sqlite'))
        self.top = next(iter(layout))

    def __getitem__(self, name):
        return self.cells[name]

    @property
    def leaves(self):
        return [c for c in self.cells.values() if c.is_leaf]

    @property
    def daemons(self):
        return [c.daemon for c in self.cells.values() if c.daemon]

    def levels(self):
        """Cells grouped by depth, top first."""
        depth = max(c.depth for c in self.cells.values())
        return [[c for c in self.cells.values() if c.depth == d]
                for d in range(depth + 1)]

    # -- resources ------------------------------------------------------------

    def provision(self):
        """A vhost, a database and a cells.conf per cell."""
        for cell in self.cells.values():
            cell.url = self.stack.enter_context(fixtures.rabbit_vhost())
        for cell in self.cells.values():
            directory = self.base_dir / cell.name
            directory.mkdir(parents=True, exist_ok=True)
            cell.db_url = self.stack.enter_context(
                fixtures.throwaway_database(cell.backend, directory))
            extra = self.extra(cell) if callable(self.extra) else self.extra
            cell.conf = fixtures.write_cells_conf(
                directory, cell.url, cell.db_url, name=cell.name,
                cell_type='api' if cell.parent is None else 'compute',
                debug=self.debug, extra=extra)
        # Registered after the databases: runs before they are dropped.
        self.stack.callback(self.kill_all)
        return self

    def sync_schemas(self, cli=True):
        """``nova-cells-manage db sync`` in every cell (side by side), or
        the same migrations in-process (``cli=False``, faster)."""
        if not cli:
            for cell in self.cells.values():
                fixtures.sync_schema(cell.db_url)
            return
        results = fixtures.run_many_confs(
            {c.name: (c.conf, ['db', 'sync']) for c in self.cells.values()})
        _check_all(results, 'db sync')

    def neighbour_rows(self):
        """``{cell: [(neighbour, is_parent, transport_url)]}``."""
        rows = {name: [] for name in self.cells}
        for cell in self.cells.values():
            if cell.parent is not None:
                rows[cell.name].append((cell.parent, True,
                                        self.cells[cell.parent].url))
            for child in cell.children:
                rows[cell.name].append((child, False, self.cells[child].url))
        return rows

    def wire(self, cli=True):
        """Record every cell's parent and children in its ``cells`` table.

        With ``cli`` through ``nova-cells-manage cell create`` (commands on
        different databases run side by side; a cell's own rows one after
        the other), else with plain SQL inserts.
        """
        rows = self.neighbour_rows()
        if not cli:
            for name, neighbours in rows.items():
                insert_rows(self.cells[name].db_url, 'cells', [
                    dict(name=n, is_parent=p, transport_url=url,
                         weight_offset=0.0, weight_scale=1.0, deleted=0,
                         created_at=timeutils.utcnow())
                    for n, p, url in neighbours])
            return
        rounds = max(len(n) for n in rows.values())
        for index in range(rounds):
            commands = {}
            for name, neighbours in rows.items():
                if index < len(neighbours):
                    other, is_parent, url = neighbours[index]
                    commands['%s->%s' % (name, other)] = (
                        self.cells[name].conf,
                        ['cell', 'create', '--name', other, '--cell_type',
                         'parent' if is_parent else 'child',
                         '--transport-url', url])
            _check_all(fixtures.run_many_confs(commands), 'cell create')

    def prepare(self, flavors, hosts):
        """Provision, sync, wire (plain SQL), seed ``flavors`` in every cell
        and ``hosts`` (``{leaf: [(host, ram, vcpus, disk)]}``) in the
        leaves: everything but starting.  Returns the capacities the top
        must end up with."""
        self.provision()
        self.sync_schemas(cli=False)
        self.wire(cli=False)
        for cell in self.cells.values():
            seed_flavors(cell.db_url, flavors)
        for name, leaf_hosts in hosts.items():
            seed_compute_hosts(self.cells[name].db_url, leaf_hosts)
        return expected_capacities(
            [h for leaf_hosts in hosts.values() for h in leaf_hosts], flavors)

    def start_seeded(self, flavors, hosts):
        """:meth:`prepare`, :meth:`start`, then wait until the top holds
        every leaf's capacities (asserted, with the daemons' logs)."""
        expected = self.prepare(flavors, hosts)
        self.start()
        caps = self.wait_for_top_capacities(expected)
        assert caps == expected, self.logs()[-20000:]
        return self

    def wait_for_top_capacities(self, expected, timeout=30):
        """Poll the top's ``get_capacities`` until it is ``expected``; the
        caller asserts on the returned value."""
        top = self.cells[self.top]
        with cells_api(top.url, top.conf.path) as (api, ctxt):
            return fixtures.poll_until(lambda: api.get_capacities(ctxt),
                                       lambda c: c == expected,
                                       timeout=timeout, interval=0.2)

    # -- processes ------------------------------------------------------------

    def start_cell(self, name, wait=True):
        cell = self.cells[name]
        cell.daemon = fixtures.Daemon(cell.conf, self.base_dir).start()
        if self.request is not None:
            register_daemons(self.request, self)
        if wait:
            self.wait_ready(name)
        return cell.daemon

    def wait_ready(self, name, timeout=START_TIMEOUT):
        cell = self.cells[name]
        fixtures.wait_for_ping(cell.url, daemon=cell.daemon,
                               deadline=cell.daemon.started_at + timeout,
                               config_file=cell.conf.path)

    def start(self):
        """Start level by level, top first; each level answers ping before
        the next starts (so that a child's start-up report finds its
        parent's queues)."""
        for level in self.levels():
            for cell in level:
                self.start_cell(cell.name, wait=False)
            for cell in level:
                self.wait_ready(cell.name)
        return self

    def kill(self, name):
        daemon = self.cells[name].daemon
        if daemon is not None:
            daemon.kill()

    def kill_all(self):
        for cell in self.cells.values():
            for daemon in cell.live_daemons + cell.retired:
                daemon.kill()

    def retire(self, name):
        """SIGKILL cell ``name``'s first daemon for good; the next one
        added takes its place as the cell's daemon."""
        cell = self.cells[name]
        assert cell.more_daemons, 'the last daemon of %s' % name
        cell.daemon.kill()
        cell.retired.append(cell.daemon)
        cell.daemon = cell.more_daemons.pop(0)

    def add_daemon(self, name, wait=True):
        """Another daemon for cell ``name``: the same database, vhost and
        options, another host (active/active, as operators run for
        availability).  Killed with the tree."""
        cell = self.cells[name]
        label = str(len(cell.live_daemons + cell.retired) + 1)
        directory = self.base_dir / cell.name / ('daemon-' + label)
        directory.mkdir(parents=True, exist_ok=True)
        extra = self.extra(cell) if callable(self.extra) else self.extra
        conf = fixtures.write_cells_conf(
            directory, cell.url, cell.db_url, name=cell.name,
            cell_type='api' if cell.parent is None else 'compute',
            debug=self.debug, extra=extra,
            host='%s-%s' % (cell.conf.host, label))
        daemon = fixtures.Daemon(conf, self.base_dir, label=label).start()
        cell.more_daemons.append(daemon)
        if wait:
            # Either daemon answers a ping of the shared topic: wait for
            # this one's own word that it serves.
            started = fixtures.poll_until(
                lambda: daemon.running() and 'nova-cells started' in
                daemon.log(), bool, timeout=START_TIMEOUT, interval=0.2)
            assert started, daemon.log()
        return daemon

    def logs(self):
        return '\n'.join('=== %s %s ===\n%s' % (c.name, d.label, d.log())
                         for c in self.cells.values()
                         for d in c.live_daemons + c.retired)

    def assert_running(self, *names):
        """Every daemon of the cells named (all by default) that is
        meant to run still runs: none crashed."""
        for name in names or self.cells:
            cell = self.cells[name]
            assert cell.daemon is not None, '%s never started' % name
            for daemon in cell.live_daemons:
                assert daemon.running(), (
                    '%s (daemon %s) is not running; log:\n%s'
                    % (name, daemon.label, daemon.log()))


def _check_all(results, what):
    failed = ['%s: exit %s\n%s%s' % (key, r.returncode, r.stdout, r.stderr)
              for key, r in results.items() if r.returncode != 0]
    if failed:
        pytest.fail('nova-cells-manage %s failed:\n%s'
                    % (what, '\n'.join(failed)), pytrace=False)


def register_daemons(request, tree):
    """Make the conftest attach ``tree``'s daemon logs to a failed test."""
    daemons = request.node.stash.setdefault(fixtures.DAEMONS_KEY, [])
    for daemon in tree.daemons:
        if daemon not in daemons:
            daemons.append(daemon)


# -- databases ---------------------------------------------------------------

def _engine(url):
    return sa.create_engine(url, poolclass=sa_pool.NullPool)


def insert_rows(url, table, rows):
    """Insert ``rows`` (dicts) into ``table`` in one transaction, with
    SQLAlchemy Core (no project code)."""
    if not rows:
        return
    engine = _engine(url)
    try:
        tab = sa.Table(table, sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            conn.execute(sa.insert(tab), rows)
    finally:
        engine.dispose()


@dataclasses.dataclass(frozen=True)
class Flavor(object):
    id: int
    name: str
    memory_mb: int
    vcpus: int
    root_gb: int

    @property
    def disk_mb(self):
        return self.root_gb * 1024


def seed_flavors(url, flavors):
    """The ``instance_types`` rows (as nova-manage flavor create)."""
    insert_rows(url, 'instance_types', [
        dict(id=f.id, name=f.name, memory_mb=f.memory_mb, vcpus=f.vcpus,
             root_gb=f.root_gb, ephemeral_gb=0, flavorid=str(f.id), swap=0,
             rxtx_factor=1.0, is_public=True, disabled=False, deleted=0,
             created_at=timeutils.utcnow())
        for f in flavors])


def seed_compute_hosts(url, hosts, last_seen_up=None):
    """A nova-compute service and its (empty) node per host, as a freshly
    started nova-compute writes them.

    :param hosts: ``[(host, memory_mb, vcpus, local_gb)]``.
    """
    now = timeutils.utcnow()
    last_seen_up = last_seen_up or now
    insert_rows(url, 'services', [
        dict(host=host, binary='nova-compute', topic='compute',
             report_count=1, disabled=False, forced_down=False,
             last_seen_up=last_seen_up, created_at=now, deleted=0)
        for host, _ram, _vcpus, _disk in hosts])
    insert_rows(url, 'compute_nodes', [
        dict(host=host, hypervisor_hostname=host, vcpus=vcpus,
             memory_mb=ram, local_gb=disk, vcpus_used=0, memory_mb_used=0,
             local_gb_used=0, free_ram_mb=ram, free_disk_gb=disk,
             running_vms=0, hypervisor_type='QEMU',
             hypervisor_version=6002000, cpu_info='{}', created_at=now,
             deleted=0)
        for host, ram, vcpus, disk in hosts])


def expected_capacities(hosts, flavors, reserve_percent=10.0):
    """nova's capacities of a cell whose hosts are all up and empty,
    computed here by hand from the seeded numbers (reference §3.5)."""
    if not hosts:
        return {}
    reserve = reserve_percent / 100.0

    def units(free, total, slot):
        if not slot:        # a zero-disk flavor: nova counts 0 units
            return 0
        return int(max(0, free - total * reserve) / slot)

    ram_slots = sorted({f.memory_mb for f in flavors})
    disk_slots = sorted({f.disk_mb for f in flavors})
    vcpu_slots = sorted({f.vcpus for f in flavors if f.vcpus})
    return {
        'ram_free': {
            'total_mb': sum(h[1] for h in hosts),
            'units_by_mb': {str(s): sum(units(h[1], h[1], s)
                                        for h in hosts)
                            for s in ram_slots}},
        'disk_free': {
            'total_mb': sum(h[3] * 1024 for h in hosts),
            'units_by_mb': {str(s): sum(units(h[3] * 1024, h[3] * 1024,
                                              s) for h in hosts)
                            for s in disk_slots}},
        # Ours (issue 9): free vcpus (cpu_allocation_ratio unset: 1.0).
        'vcpu_free': {
            'total': sum(h[2] for h in hosts),
            'units_by_vcpus': {str(s): sum(units(h[2], h[2], s)
                                           for h in hosts)
                               for s in vcpu_slots}},
    }


def create_api_instances(url, requests, project_id='ft-project',
                         user_id='ft-user'):
    """What nova-api does first: one ``instances`` row per request in the
    API cell's database, building/scheduling, no host, no cell.

    :param requests: ``[(uuid, display_name, Flavor)]``.
    """
    now = timeutils.utcnow()
    insert_rows(url, 'instances', [
        dict(uuid=uuid, display_name=name, project_id=project_id,
             user_id=user_id, vm_state='building', task_state='scheduling',
             memory_mb=f.memory_mb, vcpus=f.vcpus, root_gb=f.root_gb,
             ephemeral_gb=0, instance_type_id=f.id, image_ref=IMAGE['id'],
             launch_index=0, created_at=now, deleted=0)
        for uuid, name, f in requests])


def rows_by_uuid(url, table='instances'):
    return {r['uuid']: r for r in fixtures.live_rows(url, table)}


def flavor_object(f):
    return flavor_obj.Flavor(
        id=f.id, flavorid=str(f.id), name=f.name, memory_mb=f.memory_mb,
        vcpus=f.vcpus, root_gb=f.root_gb, ephemeral_gb=0, swap=0,
        rxtx_factor=1.0, vcpu_weight=0, disabled=False, is_public=True,
        extra_specs={}, description=None)


def instance_object(uuid, display_name, flavor, project_id='ft-project',
                    user_id='ft-user'):
    """The Instance object nova-api hands to ``build_instances``."""
    return instance_obj.Instance(
        uuid=uuid, display_name=display_name, project_id=project_id,
        user_id=user_id, vm_state='building', task_state='scheduling',
        flavor=flavor_object(flavor), metadata={}, system_metadata={},
        image_ref=IMAGE['id'])


IMAGE = {'id': '155d900f-4e14-4e4c-a73d-069cbf4541e6', 'name': 'cirros',
         'container_format': 'bare', 'disk_format': 'qcow2', 'min_disk': 0,
         'min_ram': 0, 'size': 25165824, 'status': 'active',
         'properties': {}}


# -- nova-conductor, as a cell's hand-off meets it ---------------------------

class FakeConductor(object):
    """The compute-task endpoint of nova-conductor, recording its casts."""

    target = oslo_messaging.Target(namespace='compute_task', version='1.19')

    def __init__(self):
        self.calls = queue.Queue()

    def build_instances(self, ctxt, **kwargs):
        self.calls.put((ctxt, kwargs))


@contextlib.contextmanager
def nova_rpc_server(url, target, endpoint):
    """A test-side oslo.messaging RPC server playing a nova service on
    ``url`` (``target``: its topic, server, namespace, version), stopped
    when the block ends."""
    conf = cells_conf.new_config()
    transport = oslo_messaging.get_rpc_transport(conf, url=url)
    server = oslo_messaging.get_rpc_server(
        transport, target, [endpoint], executor='threading',
        access_policy=rpc_dispatcher.DefaultRPCAccessPolicy)
    server.start()
    try:
        yield endpoint
    finally:
        server.stop()
        server.wait()
        transport.cleanup()


def fake_conductor(url):
    """nova-conductor's compute-task endpoint on topic ``conductor``."""
    return nova_rpc_server(
        url, oslo_messaging.Target(topic='conductor', server='x',
                                   namespace='compute_task',
                                   version='1.19'), FakeConductor())


# -- the cells RPC API, as nova-api uses it -----------------------------------

@contextlib.contextmanager
def cells_api(url, config_file=None):
    """Yield ``(CellsAPI, admin context)`` talking to the cell on ``url``
    (with the ``[oslo_messaging_rabbit]`` options of ``config_file``, a
    cell's cells.conf, when given: a sender must declare queues as the
    daemon does)."""
    conf = cells_conf.new_config(
        default_config_files=[str(config_file)] if config_file else None)
    transport = rpc.get_transport(conf, url)
    try:
        yield rpcapi.CellsAPI(conf, transport), \
            cells_context.get_admin_context()
    finally:
        transport.cleanup()


@contextlib.contextmanager
def nova_api_client(url):
    """A ``CellsAPI`` as nova-api holds one: cell proxies rebuilt, and our
    exception module allowed (nova-api allows ``nova.exception``)."""
    conf = cells_conf.new_config()
    transport = oslo_messaging.get_rpc_transport(
        conf, url=url, allowed_remote_exmods=['nova_cells.exception'])
    try:
        yield rpcapi.CellsAPI(conf, transport,
                              serializer=proxies.ProxyObjectSerializer())
    finally:
        transport.cleanup()


def build_kwargs(instance, flavor):
    """``build_instances`` keyword arguments as nova-api sends them."""
    return dict(instances=[instance], image=IMAGE,
                filter_properties={'instance_type': flavor_object(flavor),
                                   'scheduler_hints': {}},
                admin_password=None, injected_files=[],
                requested_networks=None, security_groups=['default'],
                block_device_mapping=None)


# -- raw AMQP (kombu only) ----------------------------------------------------

def amqp_url(transport_url):
    """kombu's URL for an oslo.messaging ``rabbit://`` transport URL."""
    assert transport_url.startswith('rabbit://'), transport_url
    return 'amqp://' + transport_url[len('rabbit://'):]


# The exchanges as oslo.messaging's rabbit driver declares them (defaults:
# amqp_durable_queues = amqp_auto_delete = False); declaring them the same
# way lets a test create them before any daemon does.
def topic_exchange(name='nova'):
    return kombu.Exchange(name, type='topic', durable=False,
                          auto_delete=False)


def fanout_exchange(topic):
    return kombu.Exchange('%s_fanout' % topic, type='fanout', durable=False,
                          auto_delete=True)


def publish_raw(transport_url, messages):
    """Publish ``[(exchange name, routing key, body bytes)]`` exactly as
    given, with oslo.messaging's content type and properties (see the
    ``full_envelopes`` of the wire samples): application/json, utf-8,
    persistent.  Nothing is declared: the exchanges must exist."""
    with kombu.Connection(amqp_url(transport_url)) as conn:
        with conn.channel() as channel:
            producer = kombu.Producer(channel, auto_declare=False)
            for exchange, routing_key, body in messages:
                if isinstance(body, str):
                    body = body.encode('utf-8')
                producer.publish(body, exchange=exchange,
                                 routing_key=routing_key,
                                 content_type='application/json',
                                 content_encoding='utf-8',
                                 delivery_mode=2, priority=0,
                                 retry=True)


CONTEXT_KEYS = {
    'user': None, 'tenant': None, 'system_scope': None, 'project': None,
    'domain': None, 'user_domain': None, 'project_domain': None,
    'is_admin': True, 'read_only': False, 'show_deleted': False,
    'auth_token': None, 'global_request_id': None, 'resource_uuid': None,
    'roles': [], 'user_identity': '- - - - -', 'is_admin_project': True,
    'user_id': None, 'project_id': None, 'read_deleted': 'no',
    'remote_address': None, 'quota_class': None, 'user_name': None,
    'service_catalog': [], 'project_name': None,
}


def context_dict():
    """A nova admin context as ``RequestContext.to_dict()`` (wire samples)."""
    return dict(CONTEXT_KEYS, request_id='req-%s' % uuidlib.uuid4(),
                timestamp=timeutils.utcnow().isoformat())


def cells_message(message_type, method_name, routing_path, direction='down',
                  method_kwargs=None, need_response=False, fanout=False,
                  hop_count=None, max_hop_count=10, uuid=None, **extra):
    """A cells message dict in nova's key order (reference §4.2)."""
    message = {
        'message_type': message_type,
        'ctxt': context_dict(),
        'method_name': method_name,
        'method_kwargs': method_kwargs or {},
        'direction': direction,
        'need_response': need_response,
        'fanout': fanout,
        'uuid': uuid or str(uuidlib.uuid4()),
        'routing_path': routing_path,
        'hop_count': (routing_path.count('!') + 1 if hop_count is None
                      else hop_count),
        'max_hop_count': max_hop_count,
    }
    message.update(extra)
    return message


def oslo_envelope(message, method='process_message', version='1.0',
                  args=None, ctxt=None, oslo_version='2.0', raw_inner=None):
    """The body oslo.messaging's rabbit driver sends for a cast
    (``full_envelopes`` of the wire samples): the oslo envelope whose
    ``oslo.message`` is the JSON of method, args, version, a fresh
    ``_unique_id`` (oslo drops a repeated one as a duplicate) and the
    context as ``_context_*`` keys.

    :param message: the ``message`` argument (a string, normally the cells
        JSON); ignored when ``args`` is given.
    :param raw_inner: a string used verbatim as ``oslo.message``.
    """
    if raw_inner is None:
        inner = {'method': method,
                 'args': {'message': message} if args is None else args,
                 'version': version,
                 '_unique_id': uuidlib.uuid4().hex}
        for key, value in (ctxt or context_dict()).items():
            inner['_context_%s' % key] = value
        raw_inner = json.dumps(inner)
    return json.dumps({'oslo.version': oslo_version,
                       'oslo.message': raw_inner})


def decode_envelope(body):
    """``(inner oslo message dict, cells message dict or None)``."""
    if isinstance(body, bytes):
        body = body.decode('utf-8')
    outer = json.loads(body)
    inner = json.loads(outer['oslo.message'])
    message = inner.get('args', {}).get('message')
    return inner, (json.loads(message) if isinstance(message, str)
                   else None)


def queue_state(transport_url, name):
    """``(messages ready, consumers)`` of queue ``name`` (passive declare:
    fails if it does not exist)."""
    with kombu.Connection(amqp_url(transport_url)) as conn:
        with conn.channel() as channel:
            _name, messages, consumers = channel.queue_declare(
                queue=name, passive=True)
            return messages, consumers


class AmqpCapture(object):
    """A private queue on a broker where no daemon runs, bound the way a
    neighbour daemon's queues would be, to see what a daemon sends there.

    :param transport_url: the neighbour's broker.
    :param bindings: ``[kombu.Exchange, routing key]`` pairs.
    """

    def __init__(self, transport_url, bindings):
        self.conn = kombu.Connection(amqp_url(transport_url))
        self.channel = self.conn.channel()
        self.queue = kombu.Queue('ft-capture-%s' % uuidlib.uuid4().hex,
                                 exclusive=True, auto_delete=True,
                                 channel=self.channel)
        self.queue.declare()
        self.received = []
        for exchange, routing_key in bindings:
            exchange.declare(channel=self.channel)
            self.queue.bind_to(exchange=exchange.name,
                               routing_key=routing_key)

    def _receive(self):
        while True:
            raw = self.queue.get(no_ack=True)
            if raw is None:
                return
            self.received.append(decode_envelope(raw.body))

    def clear(self):
        """Forget everything received so far."""
        self._receive()
        self.received = []

    def wait_for(self, predicate, timeout=10, interval=0.05):
        """The first cells message received (now or within ``timeout``)
        that satisfies ``predicate``; it is taken out, the others stay."""
        deadline = time.monotonic() + timeout
        while True:
            self._receive()
            for index, (_inner, message) in enumerate(self.received):
                if message is not None and predicate(message):
                    del self.received[index]
                    return message
            if time.monotonic() >= deadline:
                return None
            time.sleep(interval)

    def close(self):
        try:
            self.channel.close()
        finally:
            self.conn.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
