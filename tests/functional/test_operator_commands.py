"""An operator's smoke test of a whole tree without nova-api, through the
installed nova-cells-manage: flavor create/list, boot, trace, metrics,
and builds that go nowhere listed and failed visibly."""

import json
import socket

import pytest

from tests.functional import fixtures
from tests.functional.tree_support import ProcessTree

pytestmark = pytest.mark.functional


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _extra(metrics_port):
    def extra(cell):
        cells = {'local_scheduler_driver': 'conductor'
                 if cell.name == 'child2' else 'builtin'}
        if cell.name == 'api':
            cells['metrics_port'] = metrics_port
        return {'DEFAULT': {'service_down_time': 3600}, 'cells': cells}
    return extra


def _manage(cell, *args):
    result = fixtures.run_manage(cell.conf, *args)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


def _json(cell, *args):
    return json.loads(_manage(cell, *(args + ('--format', 'json'))))


def test_flavor_boot_trace_metrics_and_stuck_builds(tmp_path, stack,
                                                    request):
    tree = ProcessTree({'api': {'child1': {}, 'child2': {}}}, tmp_path,
                       stack, request=request, extra=_extra(_free_port()))
    tree.prepare([], {'child1': [('c1-cmp1', 65536, 32, 800)],
                      'child2': [('c2-cmp1', 65536, 32, 800)]})
    tree.start()
    api = tree['api']

    assert 'Flavor smoke.small created in' in _manage(
        api, 'flavor', 'create', '--name', 'smoke.small', '--ram', '512',
        '--vcpus', '1', '--disk', '1')
    assert [f['name'] for f in _json(api, 'flavor', 'list')] == \
        ['smoke.small']
    refused = fixtures.run_manage(api.conf, 'flavor', 'create', '--name',
                                  'smoke.small', '--ram', '1', '--vcpus',
                                  '1', '--disk', '1')
    assert refused.returncode == 2 and 'already exists' in refused.stderr

    booted = _json(api, 'boot', '--flavor', 'smoke.small', '--count', '2',
                   '--hint', 'target_cell=api!child1', '--wait', '30')
    assert [(i['name'], i['vm_state'], i['cell']) for i in
            booted['instances']] == [('smoke-1', 'active', 'api!child1'),
                                     ('smoke-2', 'active', 'api!child1')], \
        (booted, tree.logs()[-6000:])

    trace = _json(api, 'trace', booted['request_id'], '--timeout', '10')
    assert trace['failures'] == []
    cells = {c['cell_name']: c['value'] for c in trace['cells']}
    assert len(cells['api']) == 2 and len(cells['api!child1']) == 2
    assert cells['api!child2'] == []
    assert all(e['steps'][-1].startswith('built ') for e in
               cells['api!child1'])
    text = _manage(api, 'trace', booted['request_id'], '--timeout', '10')
    assert 'Request %s: 4 build(s) seen in 2 cell(s)' % \
        booted['request_id'] in text

    metrics = {(m['name'], m['labels']): m['value']
               for m in _json(api, 'metrics')}
    assert metrics[('nova_cells_build_scheduling_seconds_count',
                    'outcome=ok')] == 2

    # child2 hands its builds to a nova-conductor that is not there.
    stuck = _json(api, 'boot', '--flavor', 'smoke.small', '--name', 'lost',
                  '--hint', 'target_cell=api!child2', '--wait', '3')
    (lost,) = stuck['instances']
    assert lost['vm_state'] == 'building'
    listed = _json(api, 'instances', 'list', '--stuck', '--older-than',
                   '0')
    assert [r['uuid'] for r in listed] == [lost['uuid']]
    failed = _json(api, 'instances', 'fail', '--stuck', '--older-than',
                   '0', '--reason', 'no conductor in child2')
    assert failed == {'failed': [lost['uuid']], 'not_building': []}
    shown = _json(api, 'instances', 'show', lost['uuid'])
    assert shown['vm_state'] == 'error'
    assert shown['faults'][0]['message'].endswith(
        '(no conductor in child2)')
    assert _json(api, 'instances', 'list', '--stuck', '--older-than',
                 '0') == []
