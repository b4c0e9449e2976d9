"""A leaf that hands builds to a nova-conductor that is not there says so
(nova's builds stayed in building/scheduling, logged at DEBUG only); the
consumer count comes from the real broker."""

import uuid as uuidlib

import kombu
import pytest

from nova_cells import context as cells_context
from nova_cells.transport import connections
from tests.functional import fixtures
from tests.functional import tree_support
from tests.functional.tree_support import Flavor
from tests.functional.tree_support import ProcessTree

pytestmark = pytest.mark.functional

SMALL = Flavor(2, 'm1.small', 2048, 1, 20)


def test_queue_consumers_on_the_real_broker(rabbit_url):
    factory = connections.ConnectionFactory()
    name = 'nc-ft-watch-%s' % uuidlib.uuid4().hex[:8]
    assert connections.queue_consumers(factory, rabbit_url, name) is None
    with kombu.Connection(connections.kombu_url(rabbit_url)) as conn:
        queue = kombu.Queue(name, channel=conn.default_channel)
        try:
            with conn.Consumer(queue, callbacks=[lambda *a: None]):
                assert connections.queue_consumers(
                    factory, rabbit_url, name) == 1
            assert connections.queue_consumers(
                factory, rabbit_url, name) == 0
        finally:
            queue.delete()


def test_a_leaf_without_a_conductor_warns(tmp_path, stack, request):
    tree = ProcessTree({'api': {'child1': {}}}, tmp_path, stack,
                       request=request,
                       extra={'DEFAULT': {'service_down_time': 3600}})
    tree.prepare([SMALL], {'child1': [('child1-cmp1', 65536, 32, 800)]})
    tree.start()
    api = tree['api']
    requests = [(str(uuidlib.uuid4()), 'ft-stuck', SMALL)]
    tree_support.create_api_instances(api.db_url, requests)
    ctxt = cells_context.RequestContext(user_id='ft-user',
                                        project_id='ft-project')
    with tree_support.cells_api(api.url) as (cells_api, _admin):
        uuid, name, flavor = requests[0]
        cells_api.build_instances(ctxt, **tree_support.build_kwargs(
            tree_support.instance_object(uuid, name, flavor), flavor))
    log = fixtures.poll_until(tree['child1'].daemon.log,
                              lambda t: 'Nothing consumes topic conductor'
                              in t, timeout=30)
    assert 'Nothing consumes topic conductor on rabbit://guest:***@' in log
    assert 'is the cell\'s nova-conductor running?' in log
