"""nova_cells.cells.treeview: the flat ``get_cell_status`` answer as a tree
(``nova-cells-manage tree``), on hand-made statuses and a fixed "now"."""

import datetime
import json

from oslo_utils import timeutils
import pytest

from nova_cells.cells import treeview

NOW = datetime.datetime(2026, 3, 1, 12, 0, 0)


def _ago(seconds):
    return (NOW - datetime.timedelta(seconds=seconds)).isoformat()


def _caps(ram_mb, disk_mb=None):
    caps = {'ram_free': {'total_mb': ram_mb, 'units_by_mb': {'2048': 1}}}
    if disk_mb is not None:
        caps['disk_free'] = {'total_mb': disk_mb, 'units_by_mb': {}}
    return caps


def _link(name, state=None, reason=None, seen=30, mute=False, offset=0.0,
          scale=1.0):
    return {'name': name, 'is_parent': False,
            'last_seen': None if seen is None else _ago(seen),
            'mute': mute, 'state': state, 'state_reason': reason,
            'weight_offset': offset, 'weight_scale': scale}


def _value(name, children=(), instances=None, aggregated=None, own=None,
           capabilities=None):
    return {'name': name, 'capabilities': capabilities or {},
            'capacities': own or {},
            'aggregated_capacities': aggregated or {},
            'children': list(children), 'parents': [],
            'updated_at': None, 'instances': instances or {}}


def _status():
    """api -> child1 (gc1 answered, gc2 known only from child1),
    child2 (did not answer), child3 (mute, disabled, never seen)."""
    return {
        'cells': [
            {'cell_name': 'api', 'value': _value(
                'api', [_link('child1', state='enabled', seen=30),
                        _link('child2', seen=5),
                        _link('child3', state='disabled',
                              reason='maintenance', seen=None, mute=True,
                              offset=10.5, scale=2.0)],
                instances={'active': 5, 'error': 1},
                aggregated=_caps(3 * 8192, 40 * 1024),
                capabilities={'hypervisor': ['kvm', 'xen']})},
            {'cell_name': 'api!child1', 'value': _value(
                'api!child1',
                [_link('gc1', seen=600),
                 _link('gc2', state='draining',
                       reason='emptying for upgrade', seen=119)],
                instances={'active': 4}, aggregated=_caps(8192))},
            {'cell_name': 'api!child1!gc1', 'value': _value(
                'gc1', instances={'active': 3, 'deleted': 1},
                aggregated=_caps(8192, 20 * 1024), own=_caps(8192))},
            {'cell_name': 'api!child3', 'value': _value(
                'child3', aggregated=_caps(2 * 8192))},
        ],
        'failures': [{'cell_name': 'api!child2', 'class': 'CellTimeout',
                      'message': 'Timeout waiting for response from cell'}],
    }


def _count(nodes):
    return sum(1 + _count(n.children) for n in nodes)


def _table(text, status):
    """Rows of the aligned table as {column: value} (one per node of
    ``status``), cut at the header's column offsets."""
    lines = text.splitlines()
    header = lines[0]
    names = treeview._COLUMNS
    starts = [header.index(n) for n in names]
    rows = []
    for line in lines[1:1 + _count(treeview.assemble(status))]:
        cells = [line[s:e].strip()
                 for s, e in zip(starts, starts[1:] + [None])]
        rows.append(dict(zip(names, cells)))
    return rows


# -- assemble -----------------------------------------------------------------

def test_assemble_nests_by_path_and_joins_the_parents_view():
    (root,) = treeview.assemble(_status())
    assert root.path == 'api' and root.link is None
    assert [c.path for c in root.children] == [
        'api!child1', 'api!child2', 'api!child3']
    child1, child2, child3 = root.children
    assert [c.path for c in child1.children] == ['api!child1!gc1',
                                                 'api!child1!gc2']
    assert child2.children == [] and child3.children == []
    gc1, gc2 = child1.children
    assert (gc1.name, gc1.depth) == ('gc1', 2)
    # The parent's entry is the link; the child's own answer the value.
    assert gc2.link['state_reason'] == 'emptying for upgrade'
    assert gc1.value['instances'] == {'active': 3, 'deleted': 1}


def test_assemble_health_and_state():
    (root,) = treeview.assemble(_status())
    child1, child2, child3 = root.children
    gc1, gc2 = child1.children
    assert [n.status for n in (root, child1, child2, child3, gc1, gc2)] == [
        'ok', 'ok', 'UNREACHABLE', 'mute', 'ok', 'not reached']
    assert [n.state for n in (root, child1, child2, child3, gc1, gc2)] == [
        'enabled', 'enabled', 'enabled', 'disabled', 'enabled', 'draining']
    assert child2.failure == {'class': 'CellTimeout', 'message':
                              'Timeout waiting for response from cell'}
    assert not child2.reachable and not gc2.reachable and gc1.reachable
    # Instances are summed over vm states; unknown when not answered.
    assert (root.instances, gc1.instances, child2.instances,
            gc2.instances) == (6, 4, None, None)
    assert child3.instances == 0
    assert gc1.free_mb('ram_free') == 8192
    assert gc1.free_mb('disk_free') == 20 * 1024
    assert child3.free_mb('disk_free') is None
    assert gc2.free_mb('ram_free') is None


def test_assemble_from_a_middle_cell_roots_at_that_cell():
    status = _status()
    status['cells'] = [c for c in status['cells']
                       if c['cell_name'].startswith('api!child1')]
    status['failures'] = []
    (root,) = treeview.assemble(status)
    assert root.path == 'api!child1' and root.link is None
    assert root.state == 'enabled' and root.status == 'ok'
    assert [c.name for c in root.children] == ['gc1', 'gc2']


def test_assemble_empty_status():
    assert treeview.assemble({'cells': [], 'failures': []}) == []
    assert treeview.to_plain({}) == []


# -- to_plain -----------------------------------------------------------------

def test_to_plain_is_nested_json():
    plain = treeview.to_plain(_status())
    json.dumps(plain)
    (root,) = plain
    assert (root['path'], root['health'], root['instances'],
            root['free_ram_mb'], root['free_disk_mb']) == (
        'api', 'ok', 6, 3 * 8192, 40 * 1024)
    assert root['instances_by_state'] == {'active': 5, 'error': 1}
    assert root['capabilities'] == {'hypervisor': ['kvm', 'xen']}
    assert root['last_seen'] is None and root['failure'] is None
    by_path = {}

    def walk(node):
        by_path[node['path']] = node
        for child in node['children']:
            walk(child)
    walk(root)
    assert sorted(by_path) == ['api', 'api!child1', 'api!child1!gc1',
                               'api!child1!gc2', 'api!child2',
                               'api!child3']
    child3 = by_path['api!child3']
    assert (child3['state'], child3['state_reason'], child3['mute'],
            child3['health'], child3['weight_offset'],
            child3['weight_scale']) == (
        'disabled', 'maintenance', True, 'mute', 10.5, 2.0)
    child2 = by_path['api!child2']
    assert child2['health'] == 'UNREACHABLE'
    assert child2['failure']['class'] == 'CellTimeout'
    assert child2['instances'] is None and child2['children'] == []
    gc1 = by_path['api!child1!gc1']
    assert gc1['free_ram_mb'] == 8192
    assert gc1['capacities'] == _caps(8192)
    assert gc1['last_seen'] == _ago(600)
    gc2 = by_path['api!child1!gc2']
    assert (gc2['health'], gc2['state'], gc2['state_reason']) == (
        'not reached', 'draining', 'emptying for upgrade')
    assert gc2['capacities'] is None and gc2['instances'] is None


# -- render_text --------------------------------------------------------------

def test_render_text_draws_the_tree_and_columns():
    text = treeview.render_text(_status(), now=NOW)
    rows = _table(text, _status())
    names = [r['CELL'] for r in rows]
    assert names == ['api', '|- child1', '|  |- gc1', '|  `- gc2',
                     '|- child2', '`- child3']
    by_name = {r['CELL'].split(' ')[-1]: r for r in rows}
    api = by_name['api']
    assert (api['HEALTH'], api['STATE'], api['INSTANCES'],
            api['FREE RAM GB'], api['FREE DISK GB'], api['LAST SEEN'],
            api['WEIGHT'], api['CAPABILITIES']) == (
        'ok', '-', '6', '24', '40', '-', '-', 'hypervisor=kvm;xen')
    child1 = by_name['child1']
    assert (child1['HEALTH'], child1['STATE'], child1['LAST SEEN'],
            child1['WEIGHT'], child1['FREE RAM GB']) == (
        'ok', 'enabled', '30s ago', '0/1', '8')
    gc1 = by_name['gc1']
    assert (gc1['INSTANCES'], gc1['FREE RAM GB'], gc1['FREE DISK GB'],
            gc1['LAST SEEN']) == ('4', '8', '20', '10m ago')
    gc2 = by_name['gc2']
    assert (gc2['HEALTH'], gc2['STATE'], gc2['INSTANCES'],
            gc2['FREE RAM GB'], gc2['LAST SEEN']) == (
        'not reached', 'draining', '-', '-', '119s ago')
    child2 = by_name['child2']
    assert (child2['HEALTH'], child2['STATE'], child2['INSTANCES'],
            child2['LAST SEEN']) == ('UNREACHABLE', 'enabled', '-', '5s ago')
    child3 = by_name['child3']
    assert (child3['HEALTH'], child3['STATE'], child3['LAST SEEN'],
            child3['WEIGHT'], child3['INSTANCES']) == (
        'mute', 'disabled', 'never', '10.5/2', '0')


def test_render_text_lists_problems_and_reasons_below():
    text = treeview.render_text(_status(), now=NOW, title='Cells from api')
    lines = text.splitlines()
    assert lines[0] == 'Cells from api'
    assert lines[1].split()[:2] == ['CELL', 'HEALTH']
    assert lines[-3:] == [
        'api!child1!gc2 draining: emptying for upgrade',
        'api!child2 UNREACHABLE: CellTimeout: '
        'Timeout waiting for response from cell',
        'api!child3 disabled: maintenance']
    assert len(lines) == 1 + 1 + 6 + 3
    assert all(line == line.rstrip() for line in lines)


def test_render_text_healthy_tree_has_no_problem_lines():
    status = _status()
    status['failures'] = []
    status['cells'] = [c for c in status['cells']
                       if c['cell_name'] in ('api!child1!gc1',)]
    text = treeview.render_text(status, now=NOW)
    lines = text.splitlines()
    assert len(lines) == 2
    # A root is named by its last path component, like every other row.
    assert lines[1].split()[:4] == ['gc1', 'ok', '-', '4']


@pytest.mark.parametrize('stamp, shown', [
    (_ago(0), '0s ago'),
    (_ago(119), '119s ago'),
    (_ago(120), '2m ago'),
    (_ago(3600 + 59), '60m ago'),
    ((NOW + datetime.timedelta(seconds=30)).isoformat(), '0s ago'),
    (None, 'never'),
    ('not a time', '?'),
])
def test_render_text_last_seen(stamp, shown):
    status = {'cells': [{'cell_name': 'api', 'value': _value(
        'api', [dict(_link('c'), last_seen=stamp)])}], 'failures': []}
    rows = _table(treeview.render_text(status, now=NOW), status)
    assert rows[1]['CELL'] == '`- c'
    assert rows[1]['LAST SEEN'] == shown
    assert rows[1]['HEALTH'] == 'not reached'


def test_render_text_accepts_an_aware_now():
    aware = NOW.replace(tzinfo=datetime.timezone.utc)
    status = {'cells': [{'cell_name': 'api', 'value': _value(
        'api', [_link('c', seen=45)])}], 'failures': []}
    rows = _table(treeview.render_text(status, now=aware), status)
    assert rows[1]['LAST SEEN'] == '45s ago'


def test_render_text_defaults_now_to_utcnow():
    status = {'cells': [{'cell_name': 'api', 'value': _value(
        'api', [dict(_link('c'), last_seen=timeutils.utcnow().isoformat())])}],
        'failures': []}
    rows = _table(treeview.render_text(status), status)
    assert rows[1]['LAST SEEN'] in ('0s ago', '1s ago', '2s ago')
