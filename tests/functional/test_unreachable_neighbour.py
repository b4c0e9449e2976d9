"""A neighbour whose broker is down holds nothing but its own messages.

api -> live (a real daemon with compute hosts) and api -> dead (a row
pointing at a port where no broker listens).  nova retried a send forever:
the start-up announcements to ``dead`` kept the daemon from its heartbeat
and READY, and a build sent to ``dead`` never fell through.  Here
``[cells] intercell_send_retries`` bounds each send, unpinned builds go
to the live child, and a build pinned to ``dead`` waits in the api cell's
outbox (durable forwarding) without holding anything else up.
"""

import contextlib
import time
import uuid as uuidlib

import pytest

from tests.functional import fixtures
from tests.functional import tree_support
from tests.functional.tree_support import Flavor
from tests.functional.tree_support import ProcessTree

from nova_cells import context as cells_context

pytestmark = pytest.mark.functional

LAYOUT = {'api': {'live': {}}}
DEAD_URL = 'rabbit://guest:guest@127.0.0.1:1/nowhere'
SMALL = Flavor(2, 'm1.small', 2048, 1, 20)
EXTRA = {
    'DEFAULT': {'service_down_time': 3600},
    'cells': {'local_scheduler_driver': 'builtin',
              'intercell_send_retries': 1,
              'parent_update_interval': 2,
              'call_timeout': 5,
              'scheduler_retries': 0},
    'oslo_messaging_rabbit': {'rabbit_retry_interval': 1,
                              'rabbit_retry_backoff': 1},
}


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with contextlib.ExitStack() as stack:
        tree = ProcessTree(LAYOUT, tmp_path_factory.mktemp('dead'), stack,
                           extra=EXTRA)
        tree.prepare([SMALL], {'live': [('live-cmp1', 65536, 32, 800)]})
        fixtures.run_manage(tree['api'].conf, 'cell', 'create', '--name',
                            'dead', '--cell_type', 'child',
                            '--transport-url', DEAD_URL, check=True)
        started = time.monotonic()
        tree.start()
        tree.ready_after = time.monotonic() - started
        yield tree


def _build(tree, hints=None):
    api = tree['api']
    uuid = str(uuidlib.uuid4())
    tree_support.create_api_instances(api.db_url, [(uuid, 'vm', SMALL)])
    ctxt = cells_context.RequestContext(user_id='ft-user',
                                        project_id='ft-project',
                                        is_admin=True, roles=['admin'])
    kwargs = tree_support.build_kwargs(
        tree_support.instance_object(uuid, 'vm', SMALL), SMALL)
    kwargs['filter_properties']['scheduler_hints'] = hints or {}
    with tree_support.cells_api(api.url) as (cells_api, _admin):
        cells_api.build_instances(ctxt, **kwargs)
    return uuid


def _settled_row(tree, uuid, timeout=30):
    return fixtures.poll_until(
        lambda: tree_support.rows_by_uuid(tree['api'].db_url).get(uuid),
        lambda row: row is not None and row['vm_state'] != 'building',
        timeout=timeout, interval=0.2)


def test_the_daemon_starts_and_beats_despite_the_dead_child(tree):
    # START_TIMEOUT of the harness is 30 s; announcements to the dead
    # child no longer stand in the way, so both answered ping.
    assert tree.ready_after < 30, tree.logs()
    heartbeat = fixtures.poll_until(
        lambda: [r for r in fixtures.live_rows(tree['api'].db_url,
                                               'services')
                 if r['binary'] == 'nova-cells'],
        lambda rows: rows and rows[0]['report_count'] >= 2, timeout=10)
    assert heartbeat and heartbeat[0]['report_count'] >= 2, tree.logs()
    log = tree['api'].daemon.log()
    assert 'to child dead failed' in log, log[-3000:]
    assert 'guest:guest@' not in log  # the URL is masked in every line


def test_builds_go_to_the_live_child(tree):
    uuid = _build(tree)
    row = _settled_row(tree, uuid)
    assert (row['vm_state'], row['cell_name']) == ('active', 'api!live'), \
        (row, tree['api'].daemon.log()[-3000:])


def test_a_build_pinned_to_the_dead_child_waits_in_the_outbox(tree):
    """Durable forwarding (issue 8): the build is the dead child's once
    recorded; it waits in the api cell's outbox, sent again every
    ``outbox_resend_interval``, instead of failing (nova's cast lost it).
    Other builds are not held up, and the daemon keeps running."""
    uuid = _build(tree, hints={'target_cell': 'api!dead'})
    queued = fixtures.poll_until(
        lambda: [r for r in fixtures.table_rows(tree['api'].db_url,
                                                'cell_outbox')
                 if r['neighbour'] == 'dead'],
        lambda rows: bool(rows), timeout=10)
    assert queued and uuid in queued[0]['message'], \
        tree['api'].daemon.log()[-3000:]
    other = _build(tree)
    row = _settled_row(tree, other)
    assert (row['vm_state'], row['cell_name']) == ('active', 'api!live')
    [pinned] = [r for r in fixtures.live_rows(tree['api'].db_url,
                                              'instances')
                if r['uuid'] == uuid]
    assert (pinned['vm_state'], pinned['host']) == ('building', None)
    tree.assert_running('api', 'live')
