"""A parent that restarts asks its children to report at once (as nova's
``post_start_hook`` did): ``tree`` shows them healthy right away, not
``mute``, last seen ``never``, until their next periodic push."""

import pytest

from tests.functional import fixtures
from tests.functional.tree_support import ProcessTree
from tests.functional.tree_support import cells_api

pytestmark = pytest.mark.functional


def _children_seen(top):
    with cells_api(top.url, top.conf.path) as (api, ctxt):
        status = api.get_cell_status(ctxt, timeout=10)
    me = next(c for c in status['cells'] if c['cell_name'] == 'api')
    return {c['name']: (c.get('mute'), c.get('last_seen'))
            for c in me['value']['children']}


def test_a_restarted_parent_hears_from_its_children_at_once(
        tmp_path, stack, request):
    # The periodic push every 10 minutes: only the ask at start can
    # explain a child seen within the test.
    tree = ProcessTree({'api': {'child1': {}, 'child2': {}}}, tmp_path,
                       stack, request=request,
                       extra={'cells': {'parent_update_interval': 600}})
    tree.provision()
    tree.sync_schemas(cli=False)
    tree.wire(cli=False)
    tree.start()
    seen = fixtures.poll_until(lambda: _children_seen(tree['api']),
                               lambda s: all(not m and last for m, last
                                             in s.values()), timeout=20)
    assert all(not m and last for m, last in seen.values()), seen

    tree['api'].daemon.stop(timeout=30)
    tree.start_cell('api')
    seen = fixtures.poll_until(lambda: _children_seen(tree['api']),
                               lambda s: all(not m and last for m, last
                                             in s.values()), timeout=15)
    assert set(seen) == {'child1', 'child2'}
    assert all(not mute and last for mute, last in seen.values()), \
        (seen, tree.logs()[-5000:])
