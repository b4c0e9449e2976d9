"""Where a running daemon learns its neighbours: a JSON file or the database.

Both sources are re-read while the daemon runs (``db_check_interval = 0``
re-reads on every access; the JSON file when it changes on disk), so the
answer of ``get_cell_info_for_neighbors`` must follow the source without a
restart.
"""

import json
import os

import pytest

from tests.functional.fixtures import CellsRPC
from tests.functional.fixtures import poll_until
from tests.functional.fixtures import run_manage
from tests.functional.fixtures import wait_for_ping
from tests.functional.fixtures import write_cells_conf

pytestmark = pytest.mark.functional

PASSWORD = 'neighbourPW-s3cr3t'


def _entry(host, port, is_parent, weight_offset=0.0, weight_scale=1.0):
    return {
        'transport_url': 'rabbit://user-%s:%s@%s:%d/vh-%s'
                         % (host, PASSWORD, host, port, host),
        'is_parent': is_parent,
        'weight_offset': weight_offset,
        'weight_scale': weight_scale,
        'api_url': 'http://%s:8774' % host,
    }


def _expected(cells):
    """What get_cell_info_for_neighbors says of the file's ``cells``."""
    info = {}
    for name, entry in cells.items():
        host = entry['transport_url'].split('@')[1].split(':')[0]
        port = int(entry['transport_url'].split(':')[-1].split('/')[0])
        info[name] = {
            'name': name, 'capabilities': {},
            'is_parent': entry['is_parent'],
            'weight_offset': entry['weight_offset'],
            'weight_scale': entry['weight_scale'],
            'username': 'user-%s' % host, 'rpc_host': host, 'rpc_port': port,
        }
    return info


def _write_json(path, cells, in_place=False):
    """Replace the file atomically (as a configuration tool would), or
    rewrite it in place (as an editor may)."""
    if in_place:
        path.write_text(json.dumps(cells, indent=2))
        return
    tmp = '%s.tmp' % path
    with open(tmp, 'w') as f:
        json.dump(cells, f, indent=2)
    os.replace(tmp, path)


def _neighbours(client):
    answer = client.get_cell_info_for_neighbors()
    assert PASSWORD not in repr(answer), answer
    return answer


def _assert_children_first(answer):
    kinds = [bool(cell['is_parent']) for cell in answer]
    assert kinds == sorted(kinds), answer


INITIAL = {
    'child1': _entry('child1-broker', 5672, False, 1.5, 2.0),
    'parent1': _entry('parent1-broker', 5673, True),
}

# Each step: (what changes, the cells the file then holds, in place?).
STEPS = [
    ('add-a-cell',
     dict(INITIAL, child2=_entry('child2-broker', 5674, False)), False),
    ('remove-a-cell',
     {'parent1': INITIAL['parent1'],
      'child2': _entry('child2-broker', 5674, False)}, False),
    ('flip-child-to-parent',
     {'parent1': INITIAL['parent1'],
      'child2': _entry('child2-broker', 5674, True)}, True),
]


def test_cells_config_file_is_served_and_followed_without_restart(
        tmp_path, rabbit_url, synced_sqlite_url, daemon_factory):
    cells_json = tmp_path / 'cells.json'
    _write_json(cells_json, INITIAL)
    conf = write_cells_conf(tmp_path, rabbit_url, synced_sqlite_url,
                            cells_config=cells_json)
    daemon = daemon_factory(conf)
    wait_for_ping(rabbit_url, daemon=daemon)

    with CellsRPC(rabbit_url) as client:
        answer = _neighbours(client)
        assert {c['name']: c for c in answer} == _expected(INITIAL)
        _assert_children_first(answer)

        for step, cells, in_place in STEPS:
            _write_json(cells_json, cells, in_place)
            answer = poll_until(
                lambda: _neighbours(client),
                lambda ans: {c['name'] for c in ans} == set(cells) and
                {c['name']: c for c in ans} == _expected(cells),
                timeout=5)
            assert {c['name']: c for c in answer} == _expected(cells), step
            _assert_children_first(answer)

    assert daemon.running(), daemon.log()


def _db_cell_names(client):
    return {c['name']: c for c in _neighbours(client)}


def test_cells_created_and_deleted_with_manage_are_seen_by_the_daemon(
        tmp_path, rabbit_url, synced_database_url, daemon_factory):
    conf = write_cells_conf(tmp_path, rabbit_url, synced_database_url)
    daemon = daemon_factory(conf)
    wait_for_ping(rabbit_url, daemon=daemon)

    with CellsRPC(rabbit_url) as client:
        assert _neighbours(client) == []

        run_manage(conf, 'cell', 'create', '--name', 'dbchild',
                   '--cell_type', 'child', '--hostname', 'dbchild-broker',
                   '--port', '5675', '--username', 'dbuser', '--password',
                   PASSWORD, '--virtual_host', 'dbvh', '--woffset', '3.5',
                   check=True)
        seen = poll_until(lambda: _db_cell_names(client),
                          lambda cells: 'dbchild' in cells, timeout=5)
        assert set(seen) == {'dbchild'}, seen
        cell = seen['dbchild']
        assert (cell['is_parent'], cell['weight_offset'],
                cell['weight_scale']) == (False, 3.5, 1.0)
        assert (cell['username'], cell['rpc_host'], cell['rpc_port']) == \
            ('dbuser', 'dbchild-broker', 5675)

        run_manage(conf, 'cell', 'delete', '--cell_name', 'dbchild',
                   check=True)
        seen = poll_until(lambda: _db_cell_names(client),
                          lambda cells: 'dbchild' not in cells, timeout=5)
        assert seen == {}, seen

    assert daemon.running(), daemon.log()
