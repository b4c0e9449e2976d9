"""CellsManager: the RPC endpoint on topic ``cells``, and the periodic tasks.

Thin on purpose: it receives, validates and delegates to the state manager
(and, as the project grows, to the message runner and the scheduler).  Only
methods marked ``@expose`` can be called over RPC (oslo.messaging's explicit
access policy), so private helpers cannot be reached from the wire.
"""

from oslo_log import log as logging
import oslo_messaging
from oslo_messaging.rpc import server as rpc_server
from oslo_service import periodic_task

__all__ = ['CellsManager', 'RPC_API_VERSION']

LOG = logging.getLogger(__name__)

# NOTE(nova-cells): the version nova Stein's CellsManager served; methods
# this project adds come at later minor versions, each in doc/rpc-api.rst.
RPC_API_VERSION = '1.38'

expose = rpc_server.expose


class CellsManager(periodic_task.PeriodicTasks):
    """Handles RPC calls from nova-api and the cell's own services."""

    target = oslo_messaging.Target(version=RPC_API_VERSION)

    def __init__(self, conf, state_manager):
        super(CellsManager, self).__init__(conf)
        self.state_manager = state_manager

    # -- neighbours and capacities (1.1, 1.9) ------------------------------

    @expose
    def get_cell_info_for_neighbors(self, ctxt):
        """Return the info of every child, then every parent cell."""
        return self.state_manager.get_cell_info_for_neighbors()

    @expose
    def get_capacities(self, ctxt, cell_name=None):
        """Return our (aggregated) capacities, or one child's."""
        return self.state_manager.get_capacities(cell_name)

    # -- neighbour administration (1.13) -----------------------------------

    @expose
    def cell_create(self, ctxt, values):
        return self.state_manager.cell_create(values)

    @expose
    def cell_update(self, ctxt, cell_name, values):
        return self.state_manager.cell_update(cell_name, values)

    @expose
    def cell_delete(self, ctxt, cell_name):
        return self.state_manager.cell_delete(cell_name)

    @expose
    def cell_get(self, ctxt, cell_name):
        return self.state_manager.cell_get(cell_name)

    # -- periodic tasks ----------------------------------------------------

    @periodic_task.periodic_task
    def _refresh_cell_state(self, ctxt):
        """Keep neighbours and own capacity fresh even when nobody asks.

        nova refreshed lazily on access only, so a quiet cell reported stale
        capacity; this runs the same paced refresh every minute.
        """
        self.state_manager.get_my_state()

    def reset(self):
        """SIGHUP: re-read the cell list (and the JSON file) at once."""
        self.state_manager.sync(force=True)
