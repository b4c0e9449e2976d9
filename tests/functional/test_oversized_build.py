"""A build too large for a cell below waits in the outbox, it is not lost.

api -> child -> gc, real daemons on the kombu intercell transport (the
default on RabbitMQ), a vhost and a database per cell (the api cell on
PostgreSQL).  gc runs with a small ``[cells] max_message_size``; every
daemon announces its limit in its capabilities
(``nova_cells_max_message_size``), unioned up the tree, so the api sees
gc's limit in the child's capabilities and refuses to send the child a
build larger than it.  Before, the child's broker took the build (a
durable message counted as delivered, its outbox row cleared) and gc's
daemon dropped it on receipt: the instance stayed in scheduling at the
top for good.

Here the oversized build (a user_data of 24,000 characters, as nova-api
accepts up to 64 KiB) stays in the api cell's ``cell_outbox``, reported
by one ERROR line, and nothing reaches gc; a small build goes through
meanwhile.  Once gc is restarted with a larger limit and the capability
has propagated, the api's outbox resend delivers it and it ends ACTIVE.
"""

import base64
import os
import re
import uuid as uuidlib

import pytest

from tests.functional import fixtures
from tests.functional import tree_support
from tests.functional.tree_support import Flavor
from tests.functional.tree_support import ProcessTree

from nova_cells import context as cells_context

pytestmark = pytest.mark.functional

LAYOUT = {'api': {'child': {'gc': {}}}}
LEAF = 'api!child!gc'
SMALL = Flavor(2, 'm1.small', 2048, 1, 20)
HOSTS = {'gc': [('gc-cmp1', 65536, 32, 800)]}
SIZE_CAPABILITY = 'nova_cells_max_message_size'
DEFAULT_LIMIT = 8 * 1024 * 1024    # [cells] max_message_size's default
GC_SMALL_LIMIT = 16384
GC_LARGE_LIMIT = 1048576
RESEND = 2                          # [cells] outbox_resend_interval
SETTLE = 30
ADMIN = cells_context.RequestContext(user_id='ft-user',
                                     project_id='ft-project', is_admin=True,
                                     roles=['admin'])
TOO_LARGE = re.compile(r'of (\d+) bytes exceeds max_message_size (\d+); '
                       r'not sent to child')


def _extra(limits):
    """Every cell's options; ``limits`` (``{cell: max_message_size}``,
    read each time a conf is written) for the cells not at the
    default."""
    def extra(cell):
        options = {'DEFAULT': {'service_down_time': 3600},
                   'cells': {'local_scheduler_driver': 'builtin',
                             'parent_update_interval': 2,
                             'outbox_resend_interval': RESEND,
                             'call_timeout': 5,
                             'scheduler_retries': 0}}
        if cell.name in limits:
            options['cells']['max_message_size'] = limits[cell.name]
        return options
    return extra


def _rewrite_conf(tree, name):
    """The cell's cells.conf written again (same path, host, broker and
    database) with the tree's current options."""
    cell = tree[name]
    cell.conf = fixtures.write_cells_conf(
        tree.base_dir / name, cell.url, cell.db_url, name=name,
        cell_type='api' if cell.parent is None else 'compute',
        debug=tree.debug, extra=tree.extra(cell), host=cell.conf.host)


def _child_limits(tree):
    """The ``nova_cells_max_message_size`` values the api holds for its
    child (its own and its subtree's, unioned)."""
    api = tree['api']
    with tree_support.cells_api(api.url, api.conf.path) as (cells_api,
                                                            ctxt):
        neighbours = cells_api.get_cell_info_for_neighbors(ctxt)
    [child] = [n for n in neighbours if n['name'] == 'child']
    return set((child['capabilities'] or {}).get(SIZE_CAPABILITY, ()))


def _wait_for_child_limits(tree, expected):
    limits = fixtures.poll_until(lambda: _child_limits(tree),
                                 lambda found: found == expected,
                                 timeout=SETTLE, interval=0.5)
    assert limits == expected, (limits, tree.logs()[-20000:])


def _build(tree, name, user_data=None):
    """nova-api's build: the instance row at the top, then the cast."""
    api = tree['api']
    uuid = str(uuidlib.uuid4())
    tree_support.create_api_instances(api.db_url, [(uuid, name, SMALL)])
    instance = tree_support.instance_object(uuid, name, SMALL)
    instance.user_data = user_data
    with tree_support.cells_api(api.url, api.conf.path) as (cells_api, _a):
        cells_api.build_instances(
            ADMIN, **tree_support.build_kwargs(instance, SMALL))
    return uuid


def _top_row(tree, uuid):
    return tree_support.rows_by_uuid(tree['api'].db_url).get(uuid)


def _wait_active(tree, uuid):
    row = fixtures.poll_until(
        lambda: _top_row(tree, uuid),
        lambda r: r is not None and r['vm_state'] != 'building',
        timeout=SETTLE, interval=0.2)
    found = row and (row['vm_state'], row['cell_name'], row['host'])
    assert found == ('active', LEAF, 'gc-cmp1'), (row, tree.logs()[-20000:])


def _outbox(tree, name):
    return fixtures.table_rows(tree[name].db_url, 'cell_outbox')


def _refused_sends(text):
    """``(size, limit)`` of each report of a send the api refused (the
    outbox's ERROR line, once per message; the driver does not log each
    try)."""
    return [TOO_LARGE.search(line).groups()
            for line in _lines(text, 'ERROR', 'too large for child')
            if TOO_LARGE.search(line)]


def _lines(text, *words):
    return [line for line in text.splitlines()
            if all(word in line for word in words)]


def test_an_oversized_build_waits_in_the_outbox_until_gc_takes_it(
        request, tmp_path, stack):
    limits = {'gc': GC_SMALL_LIMIT}
    tree = ProcessTree(LAYOUT, tmp_path, stack, extra=_extra(limits),
                       backends={'api': 'postgresql'}, request=request)
    tree.start_seeded([SMALL], HOSTS)
    # The default transport on RabbitMQ is the kombu driver.
    for name in tree.cells:
        assert _lines(tree[name].daemon.log(), 'Listening on',
                      'kombu'), tree[name].daemon.log()[-5000:]

    # 1. The api holds gc's limit among the child's capabilities.
    _wait_for_child_limits(tree, {str(DEFAULT_LIMIT), str(GC_SMALL_LIMIT)})

    # 2. A small build goes through; a large one does not fit gc.
    _wait_active(tree, _build(tree, 'ft-small'))
    user_data = base64.b64encode(os.urandom(18000)).decode('ascii')
    big = _build(tree, 'ft-big', user_data=user_data)

    # 3. Refused at the api: one row in its outbox for the child, tried
    # again every RESEND s, and one ERROR line however many tries.
    api_log = tree['api'].daemon.log
    rows = fixtures.poll_until(
        lambda: _outbox(tree, 'api'),
        lambda found: len(found) == 1 and found[0]['attempts'] >= 3,
        timeout=SETTLE, interval=0.5)
    assert [(r['neighbour'], big in r['message']) for r in rows] == [
        ('child', True)], (rows, api_log()[-20000:])
    assert rows[0]['attempts'] >= 3, rows
    sends = _refused_sends(api_log())
    assert len(sends) == 1, api_log()[-20000:]
    for size, limit in sends:
        assert int(limit) == GC_SMALL_LIMIT
        assert GC_SMALL_LIMIT < int(size) < 262144, size
    message_uuid = rows[0]['message_uuid']
    assert len(rows[0]['message']) > GC_SMALL_LIMIT
    reports = _lines(api_log(), 'ERROR', message_uuid,
                     'too large for child', 'stays in the outbox')
    assert len(reports) == 1, api_log()[-20000:]
    row = _top_row(tree, big)
    assert (row['vm_state'], row['task_state'], row['cell_name'],
            row['host']) == ('building', 'scheduling', None, None), row
    # Nothing was sent on to be dropped below.
    assert 'Rejected intercell message' not in tree['gc'].daemon.log()
    assert 'Rejected intercell message' not in tree['child'].daemon.log()
    assert _outbox(tree, 'child') == []
    assert big not in tree_support.rows_by_uuid(tree['gc'].db_url)

    # 4. gc restarted with a larger limit: once the api sees it, the
    # outbox resend delivers the build.
    limits['gc'] = GC_LARGE_LIMIT
    _rewrite_conf(tree, 'gc')
    tree['gc'].daemon.stop(timeout=15)
    tree.start_cell('gc')
    _wait_for_child_limits(tree, {str(DEFAULT_LIMIT), str(GC_LARGE_LIMIT)})
    _wait_active(tree, big)
    leftover = fixtures.poll_until(lambda: _outbox(tree, 'api'),
                                   lambda found: found == [], timeout=10)
    assert leftover == [], leftover
    [placed] = [r for r in fixtures.live_rows(tree['gc'].db_url, 'instances')
                if r['uuid'] == big]
    assert placed['host'] == 'gc-cmp1'
    assert 'Rejected intercell message' not in tree['gc'].daemon.log()
    assert len(_lines(api_log(), 'ERROR', message_uuid,
                      'too large for child')) == 1
    tree.assert_running()
