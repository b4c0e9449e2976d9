"""``nova-cells-status upgrade check`` against real daemons, brokers and
databases: a healthy api/child pair passes; a link recorded on the wrong
side, an unreachable neighbour and an empty database are each named."""

import os
import subprocess

import pytest

from tests.functional import fixtures
from tests.functional.tree_support import ProcessTree
from tests.functional.tree_support import insert_rows

pytestmark = pytest.mark.functional

STATUS = os.path.join(fixtures.BIN_DIR, 'nova-cells-status')


def _check(conf):
    result = subprocess.run(
        [STATUS, '--config-file', str(conf.path), 'upgrade', 'check'],
        capture_output=True, text=True, timeout=120,
        env=fixtures._subprocess_env())
    return result.returncode, result.stdout + result.stderr


def _result_of(output, check):
    """The ``Result:`` line following ``Check: <check>``."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if 'Check: %s' % check in line:
            return lines[index + 1].strip('| ').strip()
    raise AssertionError('no check %r in:\n%s' % (check, output))


@pytest.fixture
def pair(tmp_path, stack, request):
    tree = ProcessTree({'api': {'child1': {}}}, tmp_path, stack,
                       request=request)
    tree.prepare([], {})
    return tree.start()


def test_a_healthy_pair_passes_and_a_wrong_side_fails(pair):
    status, output = _check(pair['api'].conf)
    assert status == 0, output
    assert _result_of(output, 'Link symmetry') == 'Result: Success'
    assert 'Every neighbour lists api on the other side' in output
    status, output = _check(pair['child1'].conf)
    assert status == 0, output

    # The api cell records a second link to child1's daemon, as its
    # parent: child1 lists api as its parent, so that side is wrong.
    insert_rows(pair['api'].db_url, 'cells', [dict(
        name='child1b', is_parent=True, transport_url=pair['child1'].url,
        weight_offset=0.0, weight_scale=1.0, deleted=0)])
    status, output = _check(pair['api'].conf)
    assert status == 2, output
    assert _result_of(output, 'Link symmetry') == 'Result: Failure'
    assert 'child1b (our parent) lists api as its parent too' in output, \
        output


def test_an_unreachable_neighbour_and_an_empty_database_are_named(
        tmp_path, rabbit_url, sqlite_url):
    conf = fixtures.write_cells_conf(tmp_path, rabbit_url, sqlite_url)
    status, output = _check(conf)
    assert status == 2
    assert 'empty database: run `nova-cells-manage db sync`' in output, output

    fixtures.sync_schema(sqlite_url)
    insert_rows(sqlite_url, 'cells', [dict(
        name='gone', is_parent=False,
        transport_url='rabbit://guest:guest@127.0.0.1:1/nowhere',
        weight_offset=0.0, weight_scale=1.0, deleted=0)])
    status, output = _check(conf)
    assert status == 1, output
    assert _result_of(output, "Neighbours' brokers") == 'Result: Warning'
    assert _result_of(output, 'Link symmetry') == 'Result: Warning'
    assert 'gone' in output and 'guest:guest' not in output
