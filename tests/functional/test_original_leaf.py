"""An original nova-cells leaf gets each build exactly once (issue 21).

The original does not deduplicate: a build it receives twice is built
twice (the second copy fails on the duplicate instance rows and turns the
whole request to ERROR), and an RPC *call* of ``process_message`` makes it
run the whole build inside the call.  Our api cell, with durable
forwarding, must send it what the original sends: one cast per build.

The leaf is a stand-in for the original (``original_standin.py``: raw
AMQP on its own vhost, answering a call only after ``call_delay``
seconds, as the original did).  Our api knows it for an original by
itself on the kombu transport (no marker on its broker), or from
``[cells] original_neighbours`` on the oslo.messaging transport.  One
request of 600 instances and 20 single ones are cast by nova-api's client;
after the resend interval has passed several times over, the stand-in must
have received every instance once, and no message twice.
"""

import collections
import time
import uuid as uuidlib

import pytest

from tests.functional import fixtures
from tests.functional.original_standin import OriginalStandIn
from tests.functional import tree_support
from tests.functional.tree_support import Flavor
from tests.functional.tree_support import ProcessTree

from nova_cells import context as cells_context

pytestmark = pytest.mark.functional

TINY = Flavor(1, 'm1.tiny', 512, 1, 1)
RESEND = 2
BIG_REQUEST = 600
SINGLES = 20
TRANSPORTS = {
    'kombu': {'intercell_transport': 'kombu'},
    'oslo.messaging': {'intercell_transport': 'oslo.messaging',
                       'original_neighbours': 'leaf'},
}


def _builds_received(standin):
    """``{instance uuid: times}`` and ``{message uuid: times}`` of the
    builds the stand-in took for itself."""
    instances, messages = collections.Counter(), collections.Counter()
    for event in list(standin.events):
        if event['method'] != 'build_instances':
            continue
        messages[event['uuid']] += 1
        build = event['message']['method_kwargs']['build_inst_kwargs']
        for instance in build['instances']:
            instances[instance['nova_object.data']['uuid']] += 1
    return instances, messages


def _cast(tree, requests):
    ctxt = cells_context.RequestContext(user_id='ft-user',
                                        project_id='ft-project')
    api = tree['api']
    with tree_support.cells_api(api.url, api.conf.path) as (cells_api, _a):
        for group in requests:
            instances = [tree_support.instance_object(u, 'ft-vm', TINY)
                         for u in group]
            kwargs = tree_support.build_kwargs(instances[0], TINY)
            kwargs['instances'] = instances
            cells_api.build_instances(ctxt, **kwargs)


@pytest.mark.parametrize('transport', sorted(TRANSPORTS))
def test_an_original_leaf_gets_each_build_once(transport, request, tmp_path,
                                               stack):
    cells = dict(TRANSPORTS[transport], durable_forwarding=True,
                 outbox_resend_interval=RESEND, call_timeout=RESEND)
    tree = ProcessTree({'api': {'leaf': {}}}, tmp_path, stack,
                       extra={'cells': cells}, request=request)
    tree.provision()
    tree.sync_schemas(cli=False)
    tree.wire(cli=False)
    standin = stack.enter_context(OriginalStandIn.for_cell(
        tree, 'leaf', call_delay=3 * RESEND))
    tree.start_cell('api')
    requests = [[str(uuidlib.uuid4()) for _ in range(BIG_REQUEST)]] + [
        [str(uuidlib.uuid4())] for _ in range(SINGLES)]
    everyone = [u for group in requests for u in group]
    tree_support.create_api_instances(
        tree['api'].db_url, [(u, 'ft-vm', TINY) for u in everyone])
    _cast(tree, requests)

    fixtures.poll_until(lambda: _builds_received(standin)[0],
                        lambda got: set(got) >= set(everyone), timeout=60,
                        interval=0.5)
    time.sleep(4 * RESEND)      # what would be resent, has been by now
    instances, messages = _builds_received(standin)
    assert set(instances) == set(everyone), tree.logs()[-5000:]
    assert {u: n for u, n in instances.items() if n != 1} == {}
    assert {u: n for u, n in messages.items() if n != 1} == {}
    assert len(messages) == 1 + SINGLES
    rows = fixtures.table_rows(tree['api'].db_url, 'cell_outbox')
    assert rows == [], 'nothing left to send'
    tree.assert_running('api')
