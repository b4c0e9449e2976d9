"""Builds through api -> child -> grandchild while something breaks.

Shared by ``tests/functional/test_faults.py`` (1,000 builds per scenario,
in CI) and ``tools/faults.py`` (the same scenarios at any count).  Real
daemons, real RabbitMQ (a vhost per cell), the api cell on PostgreSQL:

* ``kill-child``: the child daemon is SIGKILLed and restarted twice while
  the builds flow;
* ``restart-broker``: RabbitMQ itself is restarted once (``rabbitmqctl
  stop_app`` / ``start_app``: every queue that is not durable is gone,
  every connection drops);
* ``api-db-outage``: the api cell's database refuses connections for a few
  seconds (``ALLOW_CONNECTIONS false`` and its sessions terminated);
* ``kill-api``: the api cell's daemon is SIGKILLed mid-burst and restarted
  2 s later (nova-api's casts wait in its queue meanwhile; those it had
  taken but not yet journalled were lost before the journal);
* ``stop-child``: the child is frozen (SIGSTOP) for 30 s mid-burst, so the
  api resends what it does not confirm and the copies reach the child with
  the first ones when it resumes;
* ``drain-gc``: the grandchild is drained at the child for 8 s while the
  child's scheduler retries (20 times, a second apart) for longer than the
  api's resend interval: copies of a build arrive while the first is still
  being scheduled;
* ``two-daemons``: two daemons per cell on one database and vhost
  (active/active), one of the child's SIGKILLed mid-burst for good.

Afterwards every instance must exist exactly once at the top and once in
the grandchild, with a host, and none may be left in scheduling.
"""

import collections
import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid as uuidlib

import sqlalchemy as sa

from nova_cells import context as cells_context
from tests.functional import fixtures
from tests.functional import tree_support
from tests.functional.tree_support import Flavor
from tests.functional.tree_support import ProcessTree

__all__ = ['SCENARIOS', 'IN_CI', 'run_scenario', 'Outcome']

LAYOUT = {'api': {'child': {'gc': {}}}}
TINY = Flavor(1, 'm1.tiny', 512, 1, 1)
# Room for 4 x 1,000 tiny instances: capacity never limits a run.
HOSTS = [('gc-cmp%d' % i, 512 * 1024, 1024, 2048) for i in range(1, 5)]
EXTRA = {
    'DEFAULT': {'service_down_time': 3600},
    'cells': {'local_scheduler_driver': 'builtin',
              'db_check_interval': 60,
              'parent_update_interval': 5,
              'call_timeout': 10,
              'durable_forwarding': True,
              'outbox_resend_interval': 3,
              'scheduler_retries': 2,
              'scheduler_retry_delay': 1},
    # Quorum queues (doc/reliability.rst): a cast from nova-api waiting in
    # the api cell's queue survives a broker restart.  With nova's
    # transient queues it is gone with the queue, before nova-cells ever
    # had it (the intercell legs are covered by the outbox either way).
    'oslo_messaging_rabbit': {'rabbit_quorum_queue': True,
                              'rabbit_transient_quorum_queue': True},
}
PG_ADMIN_URL = 'postgresql+psycopg2://postgres@127.0.0.1:5432/postgres'


class Outcome(object):
    """What a run left behind, counted."""

    def __init__(self, count, top_rows, gc_rows, child_rows, outboxes,
                 took, events):
        self.count = count
        self.top_states = collections.Counter(
            r['vm_state'] if r else 'missing' for r in top_rows.values())
        self.top_without_host = sorted(
            u for u, r in top_rows.items() if r is None or not r['host'])
        self.top_in_scheduling = sorted(
            u for u, r in top_rows.items()
            if r is not None and (r['task_state'] == 'scheduling'
                                  or r['vm_state'] == 'building'))
        self.gc_count = len(gc_rows)
        self.gc_duplicates = sum(n - 1 for n in collections.Counter(
            r['uuid'] for r in gc_rows).values() if n > 1)
        self.gc_missing = sorted(set(top_rows) - {r['uuid'] for r in gc_rows})
        self.host_mismatch = sorted(
            r['uuid'] for r in gc_rows
            if top_rows.get(r['uuid']) and
            top_rows[r['uuid']]['host'] != r['host'])
        self.child_count = len(child_rows)
        self.outboxes = outboxes
        self.took = took
        self.events = events

    @property
    def ok(self):
        return (self.top_states == {'active': self.count}
                and not self.top_without_host
                and not self.top_in_scheduling
                and self.gc_count == self.count
                and not self.gc_duplicates and not self.gc_missing
                and not self.host_mismatch and self.child_count == 0)

    def lines(self, scenario):
        return [
            '%s: %d builds settled in %.1f s' % (scenario, self.count,
                                                 self.took),
            '  events: %s' % '; '.join(self.events),
            '  top: %s, without host %d, in scheduling %d'
            % (dict(self.top_states), len(self.top_without_host),
               len(self.top_in_scheduling)),
            '  grandchild: %d rows, %d duplicates, %d missing, %d on another '
            'host than the top says' % (self.gc_count, self.gc_duplicates,
                                        len(self.gc_missing),
                                        len(self.host_mismatch)),
            '  child: %d instance rows; outboxes left: %s'
            % (self.child_count, self.outboxes),
        ]


# -- the faults ---------------------------------------------------------------


def _kill_child(tree, events, pause=2.0):
    tree.kill('child')
    events.append('child SIGKILLed at %.1f s' % _since(events))
    time.sleep(pause)
    tree.start_cell('child', wait=False)
    events.append('child restarted at %.1f s' % _since(events))


def _rabbitmqctl(*args):
    subprocess.run(['rabbitmqctl', '-q'] + list(args), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   timeout=120)


def _restart_broker(tree, events):
    _rabbitmqctl('stop_app')
    events.append('RabbitMQ stopped at %.1f s' % _since(events))
    time.sleep(1.0)
    _rabbitmqctl('start_app')
    _rabbitmqctl('await_startup')
    events.append('RabbitMQ started at %.1f s' % _since(events))


def _pg_admin(statements):
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level='AUTOCOMMIT',
                              poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


@contextlib.contextmanager
def database_outage(db_url):
    """The database refuses connections, its open sessions cut, until the
    block ends."""
    name = sa.engine.make_url(db_url).database
    _pg_admin(['ALTER DATABASE "%s" WITH ALLOW_CONNECTIONS false' % name,
               "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
               "WHERE datname = '%s' AND pid <> pg_backend_pid()" % name])
    try:
        yield
    finally:
        _pg_admin(['ALTER DATABASE "%s" WITH ALLOW_CONNECTIONS true'
                   % name])


def _api_db_outage(tree, events, seconds=5.0):
    with database_outage(tree['api'].db_url):
        events.append('api database down at %.1f s' % _since(events))
        time.sleep(seconds)
    events.append('api database back at %.1f s' % _since(events))


def _kill_api(tree, events, pause=2.0):
    tree.kill('api')
    events.append('api SIGKILLed at %.1f s' % _since(events))
    time.sleep(pause)
    tree.start_cell('api', wait=False)
    events.append('api restarted at %.1f s' % _since(events))


def _stop_child(tree, events, seconds=30.0):
    daemon = tree['child'].daemon
    os.killpg(daemon.pid, signal.SIGSTOP)
    events.append('child stopped at %.1f s' % _since(events))
    try:
        time.sleep(seconds)
    finally:
        os.killpg(daemon.pid, signal.SIGCONT)
    events.append('child resumed at %.1f s' % _since(events))


def _drain_gc(tree, events, seconds=8.0):
    child = tree['child']
    fixtures.run_manage(child.conf, 'cell', 'drain', '--cell_name', 'gc',
                        check=True)
    events.append('gc drained at %.1f s' % _since(events))
    time.sleep(seconds)
    fixtures.run_manage(child.conf, 'cell', 'enable', '--cell_name', 'gc',
                        check=True)
    events.append('gc enabled at %.1f s' % _since(events))


def _kill_a_child_daemon(tree, events):
    """Of two daemons per cell, one of the child's is SIGKILLed and stays
    dead: the other takes its share, and what it held."""
    tree.retire('child')
    events.append('one of the 2 child daemons SIGKILLed at %.1f s'
                  % _since(events))


def _two_daemons_per_cell(tree):
    for name in tree.cells:
        tree.add_daemon(name)


def _since(events):
    return time.monotonic() - events.started


class _Events(list):
    started = 0.0


# (fault, [fraction of the builds sent when it strikes, ...], options
# of the tree beside EXTRA)
SCENARIOS = {
    'kill-child': (_kill_child, [0.3, 0.6], {}),
    'restart-broker': (_restart_broker, [0.4], {}),
    'api-db-outage': (_api_db_outage, [0.4], {}),
    # On kombu: nova-api's casts are acknowledged once journalled.
    'kill-api': (_kill_api, [0.4],
                 {'cells': {'intercell_transport': 'kombu'}}),
    'stop-child': (_stop_child, [0.3], {}),
    'drain-gc': (_drain_gc, [0.3], {'cells': {'scheduler_retries': 20,
                                              'scheduler_retry_delay': 1}}),
    'two-daemons': (_kill_a_child_daemon, [0.4], {}),
}
# What a scenario does to the tree once it is up (before the builds).
SETUPS = {'two-daemons': _two_daemons_per_cell}


# The scenarios CI runs at 1,000 builds: all of them.
IN_CI = ('api-db-outage', 'drain-gc', 'kill-api', 'kill-child',
         'restart-broker', 'stop-child', 'two-daemons')


# -- a run --------------------------------------------------------------------


def build_tree(base_dir, stack, request=None, durable=True, scenario=None,
               transport=None):
    """Start the 3-cell tree (with ``scenario``'s options); ``durable=
    False`` casts and forgets, as nova did (the baseline ``tools/faults.py
    --no-durable`` shows)."""
    extra = {section: dict(options) for section, options in EXTRA.items()}
    overrides = SCENARIOS[scenario][2] if scenario else {}
    for section, options in overrides.items():
        extra.setdefault(section, {}).update(options)
    extra['cells']['durable_forwarding'] = durable
    if transport:
        extra['cells']['intercell_transport'] = transport
    tree = ProcessTree(LAYOUT, base_dir, stack,
                       backends={'api': 'postgresql'}, extra=extra,
                       request=request)
    expected = tree.prepare([TINY], {'gc': HOSTS})
    tree.start()
    caps = tree.wait_for_top_capacities(expected, timeout=60)
    assert caps == expected, tree.logs()[-5000:]
    if scenario in SETUPS:
        SETUPS[scenario](tree)
    return tree


def _send_builds(tree, requests, on_progress, rate):
    """Cast every build as nova-api does (rows exist already), paced at
    ``rate`` per second; ``on_progress(sent)`` after each."""
    ctxt = cells_context.RequestContext(user_id='ft-user',
                                        project_id='ft-project')
    with tree_support.cells_api(tree['api'].url,
                                tree['api'].conf.path) as (cells_api, _a):
        began = time.monotonic()
        for index, (uuid, name, flavor) in enumerate(requests):
            instance = tree_support.instance_object(uuid, name, flavor)
            _cast_until_sent(cells_api, ctxt, instance, flavor)
            on_progress(index + 1)
            ahead = began + (index + 1) / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)


def _cast_until_sent(cells_api, ctxt, instance, flavor, tries=60):
    """nova-api's cast; while the broker restarts it may fail, and
    nova-api's caller would retry (the build is not ours until sent)."""
    for attempt in range(tries):
        try:
            cells_api.build_instances(
                ctxt, **tree_support.build_kwargs(instance, flavor))
            return
        except Exception:  # noqa - broker restarting
            if attempt == tries - 1:
                raise
            time.sleep(1.0)


def _settled(rows):
    return all(r is not None and r['host'] and r['vm_state'] == 'active'
               for r in rows.values())


def _outboxes(tree):
    return {name: len(fixtures.table_rows(cell.db_url, 'cell_outbox'))
            for name, cell in tree.cells.items()}


def run_scenario(tree, scenario, count, rate=60.0, settle_timeout=240):
    """Send ``count`` builds, strike at the scenario's moments, wait for
    the top to settle (or time out) and count what is where."""
    fault, moments, _options = SCENARIOS[scenario]
    strikes = [int(count * m) for m in moments]
    events = _Events()
    events.started = time.monotonic()
    requests = [(str(uuidlib.uuid4()), 'ft-%s-%04d' % (scenario, i), TINY)
                for i in range(count)]
    api = tree['api']
    tree_support.create_api_instances(api.db_url, requests)
    uuids = [u for u, _n, _f in requests]
    strike_threads = []
    one_at_a_time = threading.Lock()

    def strike():
        # Two strikes never overlap (with few builds they would: a second
        # kill before the first restart would leave a daemon untracked).
        with one_at_a_time:
            fault(tree, events)

    def on_progress(sent):
        if sent in strikes:
            thread = threading.Thread(target=strike)
            thread.start()
            strike_threads.append(thread)

    _send_builds(tree, requests, on_progress, rate)
    for thread in strike_threads:
        thread.join()
    events.append('all %d casts sent at %.1f s' % (count, _since(events)))

    def top_rows():
        rows = tree_support.rows_by_uuid(api.db_url)
        return {u: rows.get(u) for u in uuids}

    fixtures.poll_until(top_rows, _settled, timeout=settle_timeout,
                        interval=1.0)
    took = _since(events)
    # Let resends still in flight land, then look everywhere.
    fixtures.poll_until(lambda: _outboxes(tree),
                        lambda o: not any(o.values()), timeout=30,
                        interval=1.0)
    gc_rows = [r for r in fixtures.live_rows(tree['gc'].db_url, 'instances')]
    child_rows = fixtures.live_rows(tree['child'].db_url, 'instances')
    return Outcome(count, top_rows(), gc_rows, child_rows, _outboxes(tree),
                   took, events)
