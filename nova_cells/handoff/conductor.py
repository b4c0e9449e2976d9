"""Hand a build to the cell's own nova-conductor (nova's behaviour).

A cast of ``build_instances`` on topic ``conductor``, namespace
``compute_task``, version 1.19, with nova Stein's argument names, on the
cell's own broker (``[DEFAULT] transport_url``).
"""

import oslo_messaging

from nova_cells.handoff import BaseHandoff
from nova_cells.handoff import watch
from nova_cells.transport import rpc

__all__ = ['ConductorHandoff', 'TOPIC', 'NAMESPACE', 'VERSION']

TOPIC = 'conductor'
NAMESPACE = 'compute_task'
VERSION = '1.19'


class ConductorHandoff(BaseHandoff):

    def __init__(self, get_transport, serializer, exchange=None,
                 consumer_watch=None):
        """:param consumer_watch: a
        :class:`~nova_cells.handoff.watch.ConsumerWatch` of topic
        ``conductor`` (warns when no conductor consumes it), or None."""
        self._get_transport = get_transport
        self._serializer = serializer
        self._exchange = exchange
        self._client = None
        self.consumer_watch = consumer_watch

    @classmethod
    def from_conf(cls, conf, runner, get_transport, exchange=None):
        return cls(get_transport, runner.serializer, exchange,
                   consumer_watch=watch.for_rabbit(conf, TOPIC))

    @property
    def client(self):
        if self._client is None:
            target = oslo_messaging.Target(topic=TOPIC, namespace=NAMESPACE,
                                           version=VERSION,
                                           exchange=self._exchange)
            self._client = rpc.get_client(
                self._get_transport(), target,
                serializer=rpc.RequestContextSerializer(self._serializer))
        return self._client

    def build_instances(self, ctxt, build_inst_kwargs):
        kw = build_inst_kwargs
        self.client.cast(ctxt, 'build_instances',
                         instances=kw['instances'],
                         image=kw.get('image'),
                         filter_properties=kw.get('filter_properties'),
                         admin_password=kw.get('admin_password'),
                         injected_files=kw.get('injected_files'),
                         requested_networks=kw.get('requested_networks'),
                         security_groups=kw.get('security_groups'),
                         request_spec=None, host_lists=None)
        if self.consumer_watch is not None:
            self.consumer_watch.handed_off(len(kw['instances']))
