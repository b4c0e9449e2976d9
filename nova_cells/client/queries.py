"""Client methods of the cells RPC API: queries (see nova_cells.rpcapi).

Names, versions and wire kwargs are nova's (reference §5.3).  Services and
compute nodes come back as :mod:`nova_cells.client.proxies` objects when the
client's serializer is :class:`nova_cells.client.proxies.ProxyObjectSerializer`
(as nova's was), whose ``id`` and ``host`` read ``<cell path>@<value>``.
"""

from oslo_log import log as logging
from oslo_utils import uuidutils

from nova_cells.client import _base
from nova_cells import exception
from nova_cells.objects import base as objects_base
from nova_cells import routing

__all__ = ['QueriesClient']

LOG = logging.getLogger(__name__)


class QueriesClient(_base.ClientBase):
    """Mixed into :class:`nova_cells.rpcapi.CellsAPI`; versions and cast or
    call are declared in :mod:`nova_cells.api_methods`."""

    # -- services -------------------------------------------------------------

    def service_get_all(self, ctxt, filters=None):
        """Services of every cell that answered (see the endpoint)."""
        return self._call(ctxt, 'service_get_all', filters=filters)

    def service_get_by_compute_host(self, ctxt, host_name):
        """``host_name`` is ``<cell path>@<host>``."""
        return self._call(ctxt, 'service_get_by_compute_host',
                          host_name=host_name)

    def get_host_uptime(self, ctxt, host_name):
        return self._call(ctxt, 'get_host_uptime',
                          host_name=host_name)

    def service_update(self, ctxt, host_name, binary, params_to_update):
        return self._call(ctxt, 'service_update', host_name=host_name,
                          binary=binary, params_to_update=params_to_update)

    def service_delete(self, ctxt, cell_service_id):
        """``cell_service_id`` is ``<cell path>@<service id>``."""
        return self._call(ctxt, 'service_delete',
                          cell_service_id=cell_service_id)

    # -- compute nodes --------------------------------------------------------

    def compute_node_get(self, ctxt, compute_id):
        """By ``<path>@<id>``, or ``<path>@<uuid>`` (needs 1.38).

        :raises ComputeHostNotFound: for a UUID when capped below 1.38.
        """
        version = '1.4'
        _cell, item = routing.split_cell_and_item(str(compute_id))
        if uuidutils.is_uuid_like(item):
            version = self._newest('compute_node_get')
            if version != '1.38':
                raise exception.ComputeHostNotFound(host=compute_id)
        return self._call(ctxt, 'compute_node_get', version=version,
                          compute_id=compute_id)

    def compute_node_get_all(self, ctxt, hypervisor_match=None):
        return self._call(ctxt, 'compute_node_get_all',
                          hypervisor_match=hypervisor_match)

    def compute_node_stats(self, ctxt):
        return self._call(ctxt, 'compute_node_stats')

    # -- task logs, instance actions, migrations, keypairs --------------------

    def task_log_get_all(self, ctxt, task_name, period_beginning,
                         period_ending, host=None, state=None):
        """``host``: None (every cell), ``<path>`` or ``<path>@<host>``."""
        return self._call(ctxt, 'task_log_get_all',
                          task_name=task_name,
                          period_beginning=period_beginning,
                          period_ending=period_ending, host=host, state=state)

    @staticmethod
    def _query_cell_of(instance):
        """:raises InstanceUnknownCell: when the instance has no cell."""
        if not instance['cell_name']:
            raise exception.InstanceUnknownCell(
                instance_uuid=instance['uuid'])
        return instance['cell_name']

    def actions_get(self, ctxt, instance):
        return self._call(ctxt, 'actions_get',
                          cell_name=self._query_cell_of(instance),
                          instance_uuid=instance['uuid'])

    def action_get_by_request_id(self, ctxt, instance, request_id):
        return self._call(ctxt, 'action_get_by_request_id',
                          cell_name=self._query_cell_of(instance),
                          instance_uuid=instance['uuid'],
                          request_id=request_id)

    def action_events_get(self, ctxt, instance, action_id):
        return self._call(ctxt, 'action_events_get',
                          cell_name=self._query_cell_of(instance),
                          action_id=action_id)

    def get_migrations(self, ctxt, filters):
        return self._call(ctxt, 'get_migrations', filters=filters)

    def get_keypair_at_top(self, ctxt, user_id, name):
        """The keypair of the top cell; None when cells are disabled.

        :raises KeypairNotFound: when the top has no such keypair.
        """
        if not getattr(self, 'enabled', True):
            return None
        keypair = self._call(ctxt, 'get_keypair_at_top',
                             user_id=user_id, name=name)
        if keypair is None:
            raise exception.KeypairNotFound(user_id=user_id, name=name)
        return keypair

    # -- casts to the top (errors of the BDM casts logged, as nova) -----------

    def bdm_update_or_create_at_top(self, ctxt, bdm, create=None):
        """1.28 with the BDM object, else 1.10 with its primitive."""
        version = self._newest('bdm_update_or_create_at_top')
        if version == '1.10':
            bdm = objects_base.obj_to_primitive(bdm)
        try:
            self._cast(ctxt, 'bdm_update_or_create_at_top', version=version,
                       bdm=bdm, create=create)
        except Exception:
            LOG.exception('Failed to notify cells of BDM update/create.')

    def bdm_destroy_at_top(self, ctxt, instance_uuid, device_name=None,
                           volume_id=None):
        try:
            self._cast(ctxt, 'bdm_destroy_at_top',
                       instance_uuid=instance_uuid, device_name=device_name,
                       volume_id=volume_id)
        except Exception:
            LOG.exception('Failed to notify cells of BDM destroy.')

    def bw_usage_update_at_top(self, ctxt, uuid, mac, start_period, bw_in,
                               bw_out, last_ctr_in, last_ctr_out,
                               last_refreshed=None):
        bw_update_info = {'uuid': uuid, 'mac': mac,
                          'start_period': start_period, 'bw_in': bw_in,
                          'bw_out': bw_out, 'last_ctr_in': last_ctr_in,
                          'last_ctr_out': last_ctr_out,
                          'last_refreshed': last_refreshed}
        self._cast(ctxt, 'bw_usage_update_at_top',
                   bw_update_info=bw_update_info)

    def consoleauth_delete_tokens(self, ctxt, instance_uuid):
        self._cast(ctxt, 'consoleauth_delete_tokens',
                   instance_uuid=instance_uuid)

    # -- consoles and host managers -------------------------------------------

    def validate_console_port(self, ctxt, instance_uuid, console_port,
                              console_type):
        return self._call(ctxt, 'validate_console_port',
                          instance_uuid=instance_uuid,
                          console_port=console_port,
                          console_type=console_type)

    def proxy_rpc_to_manager(self, ctxt, rpc_message, topic, call=False,
                             timeout=None):
        """Always a call on topic ``cells`` (the timeout goes on the
        client, as since Pike); ``call`` says whether the target cell
        calls or casts the host's service."""
        return self._call(ctxt, 'proxy_rpc_to_manager', timeout=timeout,
                          topic=topic, rpc_message=rpc_message, call=call)
