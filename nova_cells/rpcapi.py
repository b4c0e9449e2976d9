"""Client side of the cells RPC API (topic ``cells``), as nova-api uses it.

API version history (nova's, kept verbatim in meaning; reference §5.2):

    1.0 - Initial version.
    1.1 - Adds get_cell_info_for_neighbors() and sync_instances()
    1.2 - Adds service_get_all(), service_get_by_compute_host(),
          and proxy_rpc_to_compute_manager()
    1.3 - Adds task_log_get_all()
    1.4 - Adds compute_node_get(), compute_node_get_all(), and
          compute_node_stats()
    1.5 - Adds actions_get(), action_get_by_request_id(), and
          action_events_get()
    1.6 - Adds consoleauth_delete_tokens() and validate_console_port()

    ... Grizzly supports message version 1.6.  So, any changes to existing
    methods in 2.x after that point should be done such that they can
    handle the version_cap being set to 1.6.

    1.7 - Adds service_update()
    1.8 - Adds build_instances(), deprecates schedule_run_instance()
    1.9 - Adds get_capacities()
    1.10 - Adds bdm_update_or_create_at_top(), and bdm_destroy_at_top()
    1.11 - Adds get_migrations()
    1.12 - Adds instance_start() and instance_stop()
    1.13 - Adds cell_create(), cell_update(), cell_delete(), and
           cell_get()
    1.14 - Adds reboot_instance()
    1.15 - Adds suspend_instance() and resume_instance()
    1.16 - Adds instance_update_from_api()
    1.17 - Adds get_host_uptime()
    1.18 - Adds terminate_instance() and soft_delete_instance()
    1.19 - Adds pause_instance() and unpause_instance()
    1.20 - Adds resize_instance() and live_migrate_instance()
    1.21 - Adds revert_resize() and confirm_resize()
    1.22 - Adds reset_network()
    1.23 - Adds inject_network_info()
    1.24 - Adds backup_instance() and snapshot_instance()

    ... Havana supports message version 1.24.  So, any changes to existing
    methods in 1.x after that point should be done such that they can
    handle the version_cap being set to 1.24.

    1.25 - Adds rebuild_instance()
    1.26 - Adds service_delete()
    1.27 - Updates instance_delete_everywhere() for instance objects

    ... Icehouse supports message version 1.27.

    1.28 - Make bdm_update_or_create_at_top and use bdm objects
    1.29 - Adds set_admin_password()

    ... Juno supports message version 1.29.

    1.30 - Make build_instances() use flavor object
    1.31 - Add clean_shutdown to stop, resize, rescue, and shelve
    1.32 - Send objects for instances in build_instances()
    1.33 - Add clean_shutdown to resize_instance()
    1.34 - build_instances uses BlockDeviceMapping objects, drops
           legacy_bdm argument

    ... Kilo supports message version 1.34.

    1.35 - instance_update_at_top, instance_destroy_at_top, and
           instance_info_cache_update_at_top use instance objects
    1.36 - Added 'delete_type' parameter to terminate_instance()
    1.37 - Add get_keypair_at_top to fetch keypair from api cell

    ... Liberty, Mitaka, Newton, and Ocata support message version 1.37.

    1.38 - Handle uuid parameter in compute_node_get() method.

    nova-cells additions (a server at 1.38 refuses them):

    1.39 - Adds get_cell_status()
    1.40 - Adds explain_build()
    1.41 - get_cell_status() takes the seconds the caller waits (wait)
    1.42 - Adds get_build_trace()
"""

import oslo_messaging

from nova_cells.objects import build_payload
from nova_cells.client import lifecycle as lifecycle_client
from nova_cells.client import queries as queries_client
from nova_cells.client import sync as sync_client
from nova_cells.client import proxies
from nova_cells.transport import rpc
from nova_cells import TOPIC

__all__ = ['CellsAPI', 'VERSION_ALIASES']

VERSION_ALIASES = {
    'grizzly': '1.6',
    'havana': '1.24',
    'icehouse': '1.27',
    'juno': '1.29',
    'kilo': '1.34',
    'liberty': '1.37',
    'mitaka': '1.37',
    'newton': '1.37',
    'ocata': '1.37',
}


class CellsAPI(queries_client.QueriesClient,
               lifecycle_client.LifecycleClient,
               sync_client.SyncClient):
    """Cells client-side RPC API (the core here, areas in nova_cells.client).

    :param conf: ConfigOpts (``[upgrade_levels] cells`` caps the version).
    :param transport: an oslo.messaging transport to the local broker.
    :param enabled: ``[cells] enable`` of the caller (when False, the
        neighbour queries answer locally as nova did).
    """

    def __init__(self, conf, transport, enabled=True, serializer=None,
                 exchange=None):
        cap = conf.upgrade_levels.cells
        self.version_cap = VERSION_ALIASES.get(cap, cap)
        self.enabled = enabled
        target = oslo_messaging.Target(topic=TOPIC, version='1.0',
                                       exchange=exchange)
        if serializer is None:
            # nova's client rebuilt ServiceProxy/ComputeNodeProxy (§5.1).
            serializer = proxies.ProxyObjectSerializer()
        self.client = rpc.get_client(
            transport, target, version_cap=self.version_cap,
            serializer=rpc.RequestContextSerializer(serializer))

    def can_send_version(self, version):
        return self.client.can_send_version(version)

    def build_instances(self, ctxt, **kwargs):
        """Cast a build to the API cell's nova-cells (1.34, or older)."""
        version, build_inst_kwargs = build_payload.downgrade(
            kwargs, self.client.can_send_version)
        self._cast(ctxt, 'build_instances', version=version,
                   build_inst_kwargs=build_inst_kwargs)

    def get_cell_info_for_neighbors(self, ctxt):
        """Neighbour cells' info; ``[]`` when cells are disabled."""
        if not self.enabled:
            return []
        return self._call(ctxt, 'get_cell_info_for_neighbors')

    def get_capacities(self, ctxt, cell_name=None, timeout=None):
        return self._call(ctxt, 'get_capacities', timeout=timeout,
                          cell_name=cell_name)

    def cell_create(self, ctxt, values):
        return self._call(ctxt, 'cell_create', values=values)

    def cell_update(self, ctxt, cell_name, values):
        return self._call(ctxt, 'cell_update', cell_name=cell_name,
                          values=values)

    def cell_delete(self, ctxt, cell_name):
        return self._call(ctxt, 'cell_delete', cell_name=cell_name)

    def cell_get(self, ctxt, cell_name):
        return self._call(ctxt, 'cell_get', cell_name=cell_name)

    def get_cell_status(self, ctxt, timeout=None, wait=None):
        """Every reachable cell's status plus failures (nova-cells 1.39).

        :param wait: seconds the daemon may wait for the cells below it
            (1.41; each cell below waits less): a cell that has not
            answered by then is reported unreachable.  Default, or capped
            below 1.41: ``[cells] call_timeout`` of the daemon.
        :raises oslo_messaging.RPCVersionCapError: when capped below 1.39.
        """
        if wait is not None and self.client.can_send_version('1.41'):
            return self._call(ctxt, 'get_cell_status', version='1.41',
                              timeout=timeout, wait=wait)
        return self._call(ctxt, 'get_cell_status', version='1.39',
                          timeout=timeout)

    def get_build_trace(self, ctxt, request_id, timeout=None, wait=None):
        """What each cell's scheduler decided for the builds of
        ``request_id`` (nova-cells 1.42): ``{'cells': [{'cell_name',
        'value': [entries]}], 'failures': [...]}``; ``wait`` as for
        :meth:`get_cell_status`."""
        kwargs = {'request_id': request_id}
        if wait is not None:
            kwargs['wait'] = wait
        return self._call(ctxt, 'get_build_trace', timeout=timeout,
                          **kwargs)

    def explain_build(self, ctxt, timeout=None, **kwargs):
        """A dry run of ``build_instances`` (nova-cells 1.40): for each
        level, the candidates, every filter's verdict, every weigher's
        score and the pick.  Builds nothing."""
        _version, build_inst_kwargs = build_payload.downgrade(
            kwargs, lambda v: True)
        return self._call(ctxt, 'explain_build', timeout=timeout,
                          build_inst_kwargs=build_inst_kwargs)
