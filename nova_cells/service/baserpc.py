"""The base RPC API every nova service answers (namespace ``baseapi``).

nova-api and operators ``ping`` a service to know it is alive and consuming.
"""

import oslo_messaging
from oslo_messaging.rpc import server as rpc_server

__all__ = ['BaseRPCAPI', 'NAMESPACE', 'VERSION']

NAMESPACE = 'baseapi'
VERSION = '1.1'

expose = rpc_server.expose


class BaseRPCAPI(object):
    """Server side of the base RPC API, as ``nova.baserpc.BaseRPCAPI``."""

    target = oslo_messaging.Target(namespace=NAMESPACE, version=VERSION)

    def __init__(self, service_name, backdoor_port=None):
        self.service_name = service_name
        self.backdoor_port = backdoor_port

    @expose
    def ping(self, context, arg):
        return {'service': self.service_name, 'arg': arg}

    @expose
    def get_backdoor_port(self, context):
        return self.backdoor_port
