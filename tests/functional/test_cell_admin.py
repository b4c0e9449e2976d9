"""cell_create / cell_update / cell_get / cell_delete (RPC 1.13) over
RabbitMQ against a running API daemon with a child (api -> c1).

nova's ``cell_get`` answered a CellState, which could not cross RPC
(reference §10.18); ours answers the neighbour's row as a dict, and the
daemon's view (``get_cell_info_for_neighbors``) follows every change.
"""

import contextlib

import pytest

from tests.functional import tree_support
from tests.functional.tree_support import ProcessTree

from nova_cells import context as cells_context
from nova_cells import exception
from nova_cells import transport_url

pytestmark = pytest.mark.functional

LAYOUT = {'api': {'c1': {}}}
EXTRA = {'cells': {'db_check_interval': 0}}
ADMIN = cells_context.get_admin_context()


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    with contextlib.ExitStack() as stack:
        tree = ProcessTree(LAYOUT, tmp_path_factory.mktemp('celladmin'),
                           stack, extra=EXTRA)
        tree.provision()
        tree.sync_schemas(cli=False)
        tree.wire(cli=False)
        tree.start()
        yield tree


@pytest.fixture(autouse=True)
def _logs(request, tree):
    tree_support.register_daemons(request, tree)


@pytest.fixture(scope='module')
def api(tree):
    with tree_support.nova_api_client(tree['api'].url) as client:
        yield client


def _names(api):
    return sorted(c['name'] for c in api.get_cell_info_for_neighbors(ADMIN))


def test_cell_get_answers_a_plain_row(api, tree):
    row = api.cell_get(ADMIN, 'c1')
    assert isinstance(row, dict)
    assert row['name'] == 'c1'
    assert row['is_parent'] is False
    # The password never leaves the daemon (issue 23).
    assert row['transport_url'] == transport_url.mask(tree['c1'].url)
    assert ':***@' in row['transport_url']


def test_cell_create_update_delete_round_trip(api):
    created = api.cell_create(ADMIN, {
        'name': 'c9', 'transport_url': 'rabbit://u:p@h9:5672/v9',
        'is_parent': False, 'weight_offset': 0.0, 'weight_scale': 1.0})
    assert created['name'] == 'c9'
    assert _names(api) == ['c1', 'c9']
    updated = api.cell_update(ADMIN, 'c9', {'weight_offset': 7.5})
    assert updated['weight_offset'] == 7.5
    assert api.cell_get(ADMIN, 'c9')['weight_offset'] == 7.5
    assert api.cell_delete(ADMIN, 'c9') == 1
    assert _names(api) == ['c1']


@pytest.mark.parametrize('call, error', [
    (lambda api: api.cell_get(ADMIN, 'nope'), exception.CellNotFound),
    (lambda api: api.cell_update(ADMIN, 'nope', {'weight_offset': 1.0}),
     exception.CellNotFound),
    (lambda api: api.cell_create(ADMIN, {
        'name': 'c1', 'transport_url': 'rabbit://h/x', 'is_parent': False}),
     exception.CellExists),
], ids=['get-unknown', 'update-unknown', 'create-duplicate'])
def test_cell_admin_errors_reach_the_caller(api, call, error):
    with pytest.raises(error):
        call(api)
    assert _names(api) == ['c1']
