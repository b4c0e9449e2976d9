"""``nova-cells-manage instances list|show`` (nova_cells.cmd.manage_views)
on a SQLite cell database, called as the command line calls them."""

import argparse
import datetime
import json

import pytest

from nova_cells.cmd import manage_views
from nova_cells.db import instances as db_instances
from nova_cells import exception

T0 = datetime.datetime(2026, 3, 1, 12, 0, 0)

# (uuid, display name, cell_name, vm_state)
ROWS = [
    ('00000000-0000-0000-0000-000000000001', 'vm-c1', 'api!child1',
     'active'),
    ('00000000-0000-0000-0000-000000000002', 'vm-gc1', 'api!child1!gc1',
     'active'),
    ('00000000-0000-0000-0000-000000000003', 'vm-gc1-err', 'api!child1!gc1',
     'error'),
    ('00000000-0000-0000-0000-000000000004', 'vm-c10', 'api!child10',
     'active'),
    ('00000000-0000-0000-0000-000000000005', 'vm-c2', 'api!child2!gc3',
     'error'),
    ('00000000-0000-0000-0000-000000000006', 'vm-nowhere', None,
     'building'),
]
UUIDS = [r[0] for r in ROWS]


@pytest.fixture
def filled(db):
    for index, (uuid, name, cell, vm_state) in enumerate(ROWS):
        db_instances.instance_create(db, {
            'uuid': uuid, 'display_name': name, 'cell_name': cell,
            'vm_state': vm_state, 'task_state': None,
            'host': None if cell is None else '%s-host' % name,
            'project_id': 'demo', 'user_id': 'alice', 'memory_mb': 2048,
            'vcpus': 1, 'root_gb': 20, 'instance_type_id': 2,
            'created_at': T0 + datetime.timedelta(minutes=index)})
    # A deleted row is never listed.
    db_instances.instance_create(db, {
        'uuid': '00000000-0000-0000-0000-0000000000ff',
        'display_name': 'gone', 'cell_name': 'api!child1',
        'vm_state': 'deleted', 'deleted': 1})
    return db


def _list_args(**kwargs):
    values = dict(cell=None, state=None, limit=100, format='json',
                  command='instances', action='list', stuck=False,
                  older_than=600)
    values.update(kwargs)
    return argparse.Namespace(**values)


def _listed(db, capsys, **kwargs):
    manage_views.instances_list(db, _list_args(**kwargs))
    return json.loads(capsys.readouterr().out)


def test_list_all_json(filled, capsys):
    rows = _listed(filled, capsys)
    assert [r['uuid'] for r in rows] == UUIDS
    first = rows[0]
    assert set(first) == set(manage_views._INSTANCE_COLUMNS)
    assert (first['display_name'], first['cell_name'], first['host'],
            first['vm_state'], first['task_state']) == (
        'vm-c1', 'api!child1', 'vm-c1-host', 'active', None)
    # Dates as ISO strings (plain JSON).
    assert first['created_at'] == T0.isoformat()
    assert rows[5]['cell_name'] is None


def test_list_cell_is_a_path_prefix(filled, capsys):
    rows = _listed(filled, capsys, cell='api!child1')
    # The cell itself and below, not a cell whose name merely starts so.
    assert [r['display_name'] for r in rows] == ['vm-c1', 'vm-gc1',
                                                 'vm-gc1-err']
    rows = _listed(filled, capsys, cell='api!child1!gc1')
    assert [r['display_name'] for r in rows] == ['vm-gc1', 'vm-gc1-err']
    rows = _listed(filled, capsys, cell='api!child10')
    assert [r['display_name'] for r in rows] == ['vm-c10']
    rows = _listed(filled, capsys, cell='api')
    assert len(rows) == 5   # all but the one with no cell yet
    assert _listed(filled, capsys, cell='api!child') == []
    assert _listed(filled, capsys, cell='api!child3') == []


def test_list_state_filter(filled, capsys):
    rows = _listed(filled, capsys, state='error')
    assert [r['display_name'] for r in rows] == ['vm-gc1-err', 'vm-c2']
    rows = _listed(filled, capsys, state='error', cell='api!child1')
    assert [r['display_name'] for r in rows] == ['vm-gc1-err']
    assert _listed(filled, capsys, state='deleted') == []
    assert _listed(filled, capsys, state='shelved') == []


def test_list_limit(filled, capsys):
    rows = _listed(filled, capsys, limit=2)
    assert [r['uuid'] for r in rows] == UUIDS[:2]
    # The limit applies after the cell filter.
    rows = _listed(filled, capsys, limit=1, cell='api!child2')
    assert [r['display_name'] for r in rows] == ['vm-c2']
    rows = _listed(filled, capsys, limit=2, state='active')
    assert [r['display_name'] for r in rows] == ['vm-c1', 'vm-gc1']
    # 0: all of them.
    assert len(_listed(filled, capsys, limit=0)) == len(ROWS)


def test_list_table(filled, capsys):
    manage_views.instances_list(filled, _list_args(format='table',
                                                   cell='api!child1!gc1'))
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith('+-') and out[-1].startswith('+-')
    header = [c.strip() for c in out[1].strip('|').split('|')]
    assert header == ['Uuid', 'Display name', 'Cell name', 'Host',
                      'Vm state', 'Task state', 'Created at']
    body = [[c.strip() for c in line.strip('|').split('|')]
            for line in out[3:-1]]
    assert [(b[1], b[2], b[4], b[5]) for b in body] == [
        ('vm-gc1', 'api!child1!gc1', 'active', ''),
        ('vm-gc1-err', 'api!child1!gc1', 'error', '')]


def test_list_empty_database(db, capsys):
    assert _listed(db, capsys) == []
    manage_views.instances_list(db, _list_args(format='table'))
    assert 'Uuid' in capsys.readouterr().out


def _show_args(uuid, fmt='json'):
    return argparse.Namespace(uuid=uuid, format=fmt, command='instances',
                              action='show')


def test_show_json_with_faults(filled, capsys):
    uuid = UUIDS[2]
    for minute, message in ((1, 'first'), (2, 'No cells available '
                                           'matching scheduling criteria.')):
        db_instances.instance_fault_create(filled, {
            'instance_uuid': uuid, 'code': 500, 'message': message,
            'details': message, 'host': None,
            'created_at': T0 + datetime.timedelta(minutes=minute)})
    manage_views.instances_show(filled, _show_args(uuid))
    shown = json.loads(capsys.readouterr().out)
    assert set(shown) == set(manage_views._SHOWN_FIELDS) | {'faults'}
    assert (shown['uuid'], shown['display_name'], shown['cell_name'],
            shown['vm_state'], shown['host'], shown['memory_mb'],
            shown['project_id']) == (
        uuid, 'vm-gc1-err', 'api!child1!gc1', 'error', 'vm-gc1-err-host',
        2048, 'demo')
    assert shown['created_at'] == (T0 + datetime.timedelta(
        minutes=2)).isoformat()
    # Newest fault first.
    assert [(f['code'], f['message']) for f in shown['faults']] == [
        (500, 'No cells available matching scheduling criteria.'),
        (500, 'first')]
    assert shown['faults'][1]['created_at'] == (
        T0 + datetime.timedelta(minutes=1)).isoformat()


def test_show_table(filled, capsys):
    db_instances.instance_fault_create(filled, {
        'instance_uuid': UUIDS[0], 'code': 500, 'message': 'boom',
        'created_at': T0})
    manage_views.instances_show(filled, _show_args(UUIDS[0], 'table'))
    out = capsys.readouterr().out
    rows = {cells[0]: cells[1] for cells in (
        [c.strip() for c in line.strip('|').split('|')]
        for line in out.splitlines() if line.startswith('|'))}
    assert rows['uuid'] == UUIDS[0]
    assert rows['cell_name'] == 'api!child1'
    assert rows['fault'] == '%s 500: boom' % T0.isoformat()


def test_show_without_faults(filled, capsys):
    manage_views.instances_show(filled, _show_args(UUIDS[3]))
    shown = json.loads(capsys.readouterr().out)
    assert shown['faults'] == [] and shown['cell_name'] == 'api!child10'


@pytest.mark.parametrize('uuid', [
    '00000000-0000-0000-0000-0000000000aa',
    # Deleted rows are not shown either.
    '00000000-0000-0000-0000-0000000000ff',
])
def test_show_unknown_uuid(filled, capsys, uuid):
    with pytest.raises(exception.NovaCellsException) as caught:
        manage_views.instances_show(filled, _show_args(uuid))
    assert uuid in str(caught.value)
    assert "not found in this cell's database" in str(caught.value)
    assert capsys.readouterr().out == ''


def test_commands_table():
    assert manage_views.COMMANDS[('instances', 'list')] is \
        manage_views.instances_list
    assert manage_views.COMMANDS[('instances', 'show')] is \
        manage_views.instances_show


def test_parsers_accept_the_documented_options():
    parser = argparse.ArgumentParser()
    manage_views.add_view_parsers(parser.add_subparsers(dest='command'))
    args = parser.parse_args(['instances', 'list', '--cell', 'api!child1',
                              '--state', 'error', '--limit', '5',
                              '--format', 'json'])
    assert (args.action, args.cell, args.state, args.limit, args.format) == (
        'list', 'api!child1', 'error', 5, 'json')
    args = parser.parse_args(['instances', 'list'])
    assert (args.cell, args.state, args.limit, args.format) == (
        None, None, 100, 'table')
    args = parser.parse_args(['instances', 'show', UUIDS[0]])
    assert (args.action, args.uuid, args.format) == ('show', UUIDS[0],
                                                     'table')
    args = parser.parse_args(['tree', '--timeout', '7', '--format', 'json'])
    assert (args.timeout, args.format) == (7, 'json')
    assert parser.parse_args(['tree']).format == 'text'
    args = parser.parse_args(['capacities', '--cell_name', 'child1'])
    assert (args.cell_name, args.format) == ('child1', 'table')


@pytest.mark.parametrize('argv', [
    ['instances', 'list', '--limit', '-1'],
    ['instances', 'list', '--limit', 'many'],
    ['tree', '--timeout', '0'],
    ['capacities', '--timeout', '-5'],
])
def test_bad_numbers_are_refused_by_the_parser(argv, capsys):
    parser = argparse.ArgumentParser(prog='nova-cells-manage')
    manage_views.add_view_parsers(parser.add_subparsers(dest='category'))
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(argv)
    assert exit_info.value.code == 2
    assert 'argument --' in capsys.readouterr().err


def test_good_numbers_parse():
    parser = argparse.ArgumentParser(prog='nova-cells-manage')
    manage_views.add_view_parsers(parser.add_subparsers(dest='category'))
    args = parser.parse_args(['instances', 'list', '--limit', '0'])
    assert args.limit == 0
    assert parser.parse_args(['tree', '--timeout', '7']).timeout == 7
