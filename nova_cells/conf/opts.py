"""Entry points for oslo-config-generator (``oslo.config.opts`` namespace)."""

import copy

from nova_cells.conf import api_database
from nova_cells.conf import cells
from nova_cells.conf import database
from nova_cells.conf import service
from nova_cells.conf import upgrade_levels

__all__ = ['list_opts', 'set_lib_defaults']


def list_opts():
    """Return ``[(group, [opts])]`` for every option nova-cells defines."""
    return [
        ('DEFAULT', copy.deepcopy(service.ALL_OPTS)),
        (cells.cells_group, copy.deepcopy(cells.ALL_OPTS)),
        (upgrade_levels.upgrade_group, copy.deepcopy(upgrade_levels.ALL_OPTS)),
        (api_database.api_db_group, copy.deepcopy(api_database.ALL_OPTS)),
    ]


def set_lib_defaults():
    """Apply nova-cells' defaults to library options for the generator."""
    from oslo_config import cfg
    from oslo_db import options as db_options
    import oslo_messaging

    cfg.set_defaults(db_options.database_opts,
                     connection=database.DEFAULT_CONNECTION,
                     max_pool_size=database.DEFAULT_MAX_POOL_SIZE)
    oslo_messaging.set_transport_defaults(control_exchange='nova')
