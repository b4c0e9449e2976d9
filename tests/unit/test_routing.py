"""Cell paths and items (reference §4.3, §10.7):
nova_cells.routing."""

import pytest

from nova_cells import routing


# -- RoutingPath --------------------------------------------------------------

@pytest.mark.parametrize('text, cells', [
    pytest.param('api', ('api',), id='single-cell'),
    pytest.param('api!c1!g1', ('api', 'c1', 'g1'), id='three-cells'),
    pytest.param('', (), id='empty-string-is-empty-path'),
    pytest.param(None, (), id='none-is-empty-path'),
])
def test_parse_and_str_round_trip(text, cells):
    path = routing.RoutingPath.parse(text)
    assert path.cells == cells
    assert len(path) == len(cells)
    assert str(path) == (text or '')
    assert routing.RoutingPath.parse(str(path)) == path


@pytest.mark.parametrize('text', ['api', 'api!c1', '', None,
                                  routing.RoutingPath(['api', 'c1'])])
def test_parse_and_append_is_parse_then_append(text):
    joined = routing.RoutingPath.parse_and_append(text, 'g1')
    assert joined == routing.RoutingPath.parse(text).append('g1')
    assert joined.last == 'g1'


def test_path_is_immutable_append_and_reversed_return_new_paths():
    path = routing.RoutingPath.parse('api!c1')
    longer = path.append('g1')
    backwards = longer.reversed()
    assert str(path) == 'api!c1', 'append must not mutate'
    assert str(longer) == 'api!c1!g1'
    assert str(backwards) == 'g1!c1!api'
    assert str(longer) == 'api!c1!g1', 'reversed must not mutate'
    assert longer is not path and backwards is not longer
    with pytest.raises(AttributeError):
        path.cells = ('x',)  # read-only property
    with pytest.raises(AttributeError):
        path.extra = 1  # __slots__: no new attributes either
    with pytest.raises(TypeError):
        path.cells[0] = 'x'


@pytest.mark.parametrize('path, other, expected', [
    pytest.param('api!c1!g1', 'api', True, id='prefix-one-cell'),
    pytest.param('api!c1!g1', 'api!c1', True, id='prefix-two-cells'),
    pytest.param('api!c1!g1', 'api!c1!g1', True, id='itself'),
    pytest.param('api!c1!g1', '', True, id='empty-prefix'),
    pytest.param('api!c1', 'api!c1!g1', False, id='longer-is-not-a-prefix'),
    pytest.param('api!c10', 'api!c1', False,
                 id='cells-not-characters-c10-vs-c1'),
    pytest.param('api!c1', 'ap', False, id='partial-name-is-not-a-prefix'),
])
def test_startswith_compares_whole_cells(path, other, expected):
    assert routing.RoutingPath.parse(path).startswith(
        routing.RoutingPath.parse(other)) is expected


def test_equality_hash_and_accessors():
    path = routing.RoutingPath.parse('api!c1!g1')
    assert path == 'api!c1!g1', 'compares equal to its wire string'
    assert path != 'api!c1'
    assert path == routing.RoutingPath(['api', 'c1', 'g1'])
    assert hash(path) == hash(routing.RoutingPath.parse('api!c1!g1'))
    assert {path: 1}[routing.RoutingPath.parse('api!c1!g1')] == 1
    assert (path.first, path.last, path[1]) == ('api', 'g1', 'c1')
    assert path.contains('c1') and not path.contains('c')
    assert list(path) == ['api', 'c1', 'g1']
    assert not routing.RoutingPath.parse('')
    assert routing.RoutingPath.parse('').first is None
    assert routing.RoutingPath.parse('').last is None


# -- reverse_path / response_cell_name_from_path ------------------------------

@pytest.mark.parametrize('path, expected', [
    pytest.param('a!b!c', 'c!b!a', id='three'),
    pytest.param('a', 'a', id='one'),
    pytest.param('', '', id='empty'),
])
def test_reverse_path(path, expected):
    assert routing.reverse_path(path) == expected


@pytest.mark.parametrize('path, neighbor_only, expected', [
    pytest.param('c1!c2!c3', False, 'c3!c2!c1', id='full-reversed'),
    pytest.param('c1!c2!c3', True, 'c3!c2', id='nova-neighbor-only'),
    pytest.param('c1!c2', True, 'c2!c1', id='two-cells-neighbor-only'),
    # §10.7: nova tested len(path) == 1 on the string; we count cells.
    pytest.param('abc', True, 'abc', id='single-long-name-neighbor-only'),
    pytest.param('a', True, 'a', id='single-char-name-neighbor-only'),
    pytest.param('abc', False, 'abc', id='single-cell-full'),
    pytest.param('api!child!grandchild', True, 'grandchild!child',
                 id='long-names-count-cells-not-characters'),
])
def test_response_cell_name_from_path(path, neighbor_only, expected):
    assert routing.response_cell_name_from_path(
        path, neighbor_only=neighbor_only) == expected


def test_response_cell_name_accepts_a_routing_path():
    path = routing.RoutingPath.parse('api!c1!g1')
    assert routing.response_cell_name_from_path(path) == 'g1!c1!api'
    assert routing.response_cell_name_from_path(path, True) == 'g1!c1'


# -- cell@item ----------------------------------------------------------------

@pytest.mark.parametrize('text, expected', [
    pytest.param('a!b@host', ('a!b', 'host'), id='path-and-host'),
    pytest.param('host', (None, 'host'), id='no-separator'),
    pytest.param('a@b@c', ('a@b', 'c'), id='rsplit-on-last-at'),
    pytest.param('api!c1@42', ('api!c1', '42'), id='numeric-item'),
    pytest.param('@host', ('', 'host'), id='empty-cell'),
    pytest.param('api@', ('api', ''), id='empty-item'),
])
def test_split_cell_and_item(text, expected):
    assert routing.split_cell_and_item(text) == expected


@pytest.mark.parametrize('cell, item, expected', [
    pytest.param('a!b', 'host', 'a!b@host', id='path-and-host'),
    pytest.param('api!c1', 42, 'api!c1@42', id='item-stringified'),
    pytest.param(None, 'host', 'host', id='no-cell-item-alone'),
    pytest.param(None, 42, 42, id='no-cell-item-unchanged'),
])
def test_cell_with_item(cell, item, expected):
    assert routing.cell_with_item(cell, item) == expected


@pytest.mark.parametrize('cell, item', [
    pytest.param('a!b', 'host', id='host'),
    pytest.param('api!child!gc', 'h@x', id='item-with-at-is-not-round-trip'),
])
def test_cell_with_item_then_split(cell, item):
    joined = routing.cell_with_item(cell, item)
    cell_back, item_back = routing.split_cell_and_item(joined)
    if '@' in item:
        # nova's rsplit: an '@' inside the item moves into the cell part.
        assert (cell_back, item_back) == (cell + '@h', 'x')
    else:
        assert (cell_back, item_back) == (cell, item)


def test_separators_are_novas():
    assert (routing.PATH_CELL_SEP, routing.CELL_ITEM_SEP,
            routing.BLOCK_SYNC_FLAG) == ('!', '@', '!!')
