"""Following one build across real daemons: get_build_trace (1.41)
gathers, by request id, what each cell's scheduler decided."""

import uuid as uuidlib

import pytest

from nova_cells import context as cells_context
from tests.functional import fixtures
from tests.functional import tree_support
from tests.functional.tree_support import Flavor
from tests.functional.tree_support import ProcessTree

pytestmark = pytest.mark.functional

SMALL = Flavor(2, 'm1.small', 2048, 1, 20)
EXTRA = {'DEFAULT': {'service_down_time': 3600},
         'cells': {'local_scheduler_driver': 'builtin'}}


@pytest.fixture
def tree(tmp_path, stack, request):
    cells = ProcessTree({'api': {'child1': {'gc1': {}}}}, tmp_path, stack,
                        request=request, extra=EXTRA)
    cells.prepare([SMALL], {'gc1': [('gc1-cmp1', 65536, 32, 800)]})
    return cells.start()


def _build(tree, request_id):
    api = tree['api']
    uuid = str(uuidlib.uuid4())
    tree_support.create_api_instances(api.db_url, [(uuid, 'ft-trace',
                                                    SMALL)])
    ctxt = cells_context.RequestContext(user_id='ft-user',
                                        project_id='ft-project',
                                        request_id=request_id)
    with tree_support.cells_api(api.url) as (cells_api, _admin):
        cells_api.build_instances(ctxt, **tree_support.build_kwargs(
            tree_support.instance_object(uuid, 'ft-trace', SMALL), SMALL))
    return uuid


def _trace(tree, request_id):
    api = tree['api']
    with tree_support.cells_api(api.url, api.conf.path) as (cells_api, ctxt):
        return cells_api.get_build_trace(ctxt, request_id, timeout=10)


def test_a_build_is_followed_through_every_cell(tree):
    request_id = 'req-%s' % uuidlib.uuid4()
    uuid = _build(tree, request_id)
    answer = fixtures.poll_until(
        lambda: _trace(tree, request_id),
        lambda a: any(c['cell_name'] == 'api!child1!gc1' and c['value']
                      and c['value'][0]['outcome'] for c in a['cells']),
        timeout=30)
    assert answer['failures'] == [], answer
    by_cell = {c['cell_name']: c['value'] for c in answer['cells']}
    assert set(by_cell) == {'api', 'api!child1', 'api!child1!gc1'}
    assert [s.split(' to ')[-1] for e in by_cell['api']
            for s in e['steps'] if s.startswith('sent')] == ['api!child1']
    (leaf,) = by_cell['api!child1!gc1']
    assert leaf['instances'] == [uuid] and leaf['outcome'] == 'ok'
    assert leaf['steps'][-1] == 'built %s here, handed to BuiltinHandoff' \
        % uuid
    assert _trace(tree, 'req-nobody')['cells'] and all(
        c['value'] == [] for c in _trace(tree, 'req-nobody')['cells'])
    # The operator's command shows each hop with its decision.
    text = fixtures.run_manage(tree['api'].conf, 'trace', request_id,
                               '--timeout', '10', check=True).stdout
    assert 'Request %s: 3 build(s) seen in 3 cell(s)' % request_id in text
    for cell, hop, step in (('api', 1, 'sent %s to api!child1' % uuid),
                            ('api!child1', 2,
                             'sent %s to api!child1!gc1' % uuid),
                            ('api!child1!gc1', 3, 'built %s here' % uuid)):
        assert '  %s (hop %d): %s, ok in ' % (cell, hop, uuid) in text, text
        assert '    ' + step in text, text
