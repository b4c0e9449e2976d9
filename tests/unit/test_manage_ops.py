"""nova-cells-manage trace, flavor, boot and metrics: the parts that need
no daemon (the functional test runs them against a real tree)."""

import argparse

import pytest

from nova_cells.cmd import manage_ops
from nova_cells import conf as cells_conf
from nova_cells import exception


def test_trace_lines_order_builds_by_arrival_and_name_silent_cells():
    answer = {'cells': [
        {'cell_name': 'api!c1', 'value': [{
            'arrived_at': '2026-12-07T12:00:01', 'hop': 2,
            'instances': ['u1'], 'outcome': 'ok', 'seconds': 0.004,
            'steps': ['built u1 here, handed to BuiltinHandoff']}]},
        {'cell_name': 'api', 'value': [{
            'arrived_at': '2026-12-07T12:00:00', 'hop': 1,
            'instances': ['u1'], 'outcome': 'ok', 'seconds': 0.01,
            'steps': ['1/1 cells are available.', 'sent u1 to api!c1']}]}],
        'failures': [{'cell_name': 'api!c2', 'class': 'CellTimeout',
                      'message': 'no answer'}]}
    assert manage_ops._trace_lines('req-1', answer) == [
        'Request req-1: 2 build(s) seen in 2 cell(s)',
        '2026-12-07T12:00:00  api (hop 1): u1, ok in 0.010 s',
        '    1/1 cells are available.',
        '    sent u1 to api!c1',
        '2026-12-07T12:00:01  api!c1 (hop 2): u1, ok in 0.004 s',
        '    built u1 here, handed to BuiltinHandoff',
        'api!c2: no answer (CellTimeout: no answer)']


def test_hints_are_key_value_pairs():
    assert manage_ops._hints(['target_cell=api!c1', 'a=1', 'a=2']) == {
        'target_cell': 'api!c1', 'a': ['1', '2']}
    with pytest.raises(exception.NovaCellsException, match='KEY=VALUE'):
        manage_ops._hints(['nothing'])


def _conf(**cells):
    conf = cells_conf.new_config()
    for name, value in cells.items():
        conf.set_override(name, value, 'cells')
    return conf


def test_boot_runs_in_the_api_cell_only():
    with pytest.raises(exception.NovaCellsException,
                       match='boot runs in the API cell'):
        manage_ops.boot(None, argparse.Namespace(hint=[]),
                        _conf(cell_type='compute'))


def test_metrics_off_says_which_option_turns_them_on():
    with pytest.raises(exception.NovaCellsException,
                       match=r'set \[cells\] metrics_port'):
        manage_ops.metrics(None, argparse.Namespace(timeout=1), _conf())


def test_metrics_nobody_listening_is_one_error():
    with pytest.raises(exception.NovaCellsException,
                       match='no metrics at http://127.0.0.1:9/metrics'):
        manage_ops.metrics(None, argparse.Namespace(timeout=1),
                           _conf(metrics_port=9))
