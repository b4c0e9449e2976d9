"""Stand-ins for a cell's own services, as the cells API reaches them.

The cells RPC API proxies some calls to a cell's nova-compute and
nova-consoleauth (``validate_console_port``, ``service_update``'s
maintenance mode, ``consoleauth_delete_tokens``).  A test serves this
object on their topics and asserts what it was asked.
"""

import threading

import oslo_messaging
from oslo_messaging.rpc import server as rpc_server

__all__ = ['FakeComputeService']


class FakeComputeService(object):
    """nova-compute / nova-consoleauth, recording each call.

    :param version: the RPC API version it serves.
    :param console_host: the instance host whose console port 5900 it
        accepts.
    """

    def __init__(self, version, console_host):
        self.target = oslo_messaging.Target(version=version)
        self.console_host = console_host
        self.calls = []
        self.lock = threading.Lock()

    def _record(self, method, **kwargs):
        with self.lock:
            self.calls.append((method, kwargs))

    @rpc_server.expose
    def validate_console_port(self, ctxt, instance, port, console_type):
        self._record('validate_console_port', instance=instance, port=port,
                     console_type=console_type)
        return port == '5900' and instance.host == self.console_host

    @rpc_server.expose
    def host_maintenance_mode(self, ctxt, host, mode):
        self._record('host_maintenance_mode', host=host, mode=mode)
        return 'on_maintenance' if mode else 'off_maintenance'

    @rpc_server.expose
    def delete_tokens_for_instance(self, ctxt, instance_uuid):
        self._record('delete_tokens_for_instance',
                     instance_uuid=instance_uuid)
