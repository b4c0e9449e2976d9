"""What each cell's scheduler decided for a build, gathered by request id
(get_build_trace over the build_trace broadcast)."""

from nova_cells import context as cells_context
from nova_cells.db import api as db_api
from nova_cells.scheduler import trace
from tests.unit import sched_support as ss

LAYOUT = {'api': {'child1': {'gc1': {}}, 'child2': {'gc2': {}}}}
HOSTS = {'gc1': [(65536, 32, 800)], 'gc2': [(65536, 32, 800)]}


def test_a_build_is_traced_through_every_cell_it_passed(tmp_path):
    with ss.building_tree(tmp_path, HOSTS, layout=LAYOUT) as harness:
        db_api.cell_update(harness.top.db, 'child2', {'state': 'disabled'})
        harness.top.state_manager.sync(force=True)
        ctxt = cells_context.RequestContext(user_id='u', project_id='p',
                                            request_id='req-trace-me')
        uuids = harness.build(1, ctxt=ctxt)
        harness.wait(uuids, timeout=30)
        harness.build(1)        # another request: not in the answer
        answer = harness.top.manager.get_build_trace(ss.ADMIN,
                                                     'req-trace-me')
    assert answer['failures'] == []
    by_cell = {c['cell_name']: c['value'] for c in answer['cells']}
    assert by_cell['api!child2'] == [] and by_cell['api!child2!gc2'] == []
    (top,) = by_cell['api']
    assert top['instances'] == uuids and top['outcome'] == 'ok'
    assert top['request_id'] == 'req-trace-me' and top['hop'] == 1
    assert top['steps'][0].startswith('1/2 cells are available: 1 '), \
        top['steps']
    assert top['steps'][0].endswith('(CellStateFilter).'), top['steps']
    assert top['steps'][-1] == 'sent %s to api!child1' % uuids[0]
    (child,) = by_cell['api!child1']
    assert child['steps'][-1] == 'sent %s to api!child1!gc1' % uuids[0]
    (leaf,) = by_cell['api!child1!gc1']
    assert leaf['steps'][-1] == ('built %s here, handed to BuiltinHandoff'
                                 % uuids[0])
    assert leaf['hop'] == 3 and leaf['seconds'] >= 0


class _Message(object):
    def __init__(self, uuid, request_id):
        self.uuid = uuid
        self.ctxt = cells_context.RequestContext(request_id=request_id)
        self.routing_path = 'api'
        self.hop_count = 1


def test_the_trace_keeps_the_last_builds_only():
    kept = trace.BuildTrace(keep=2)
    for index in range(3):
        message = _Message('m%d' % index, 'req-%d' % (index % 2))
        kept.begin(message, [])
        kept.step(message, 'step %d' % index)
    assert kept.find('req-0') == [dict(
        kept.find('req-0')[0], message='m2', steps=['step 2'])]
    assert [e['message'] for e in kept.find('req-1')] == ['m1']
    # A step of a forgotten build is dropped, not an error.
    kept.step(_Message('m0', 'req-0'), 'late')
    kept.end(_Message('m0', 'req-0'), 'ok', 0.1)
    assert [e['message'] for e in kept.find('req-0')] == ['m2']
