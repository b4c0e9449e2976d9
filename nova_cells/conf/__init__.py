"""Configuration of nova-cells: every option, registered on a given conf.

Nothing in the package reads a global ``CONF``: ``cmd/`` builds a
``ConfigOpts``, calls :func:`register_all`, and hands values down.  Tests and
the in-process demo build one ``ConfigOpts`` per cell the same way.
"""

from oslo_config import cfg
from oslo_log import log as logging

from nova_cells.conf import api_database
from nova_cells.conf import cells
from nova_cells.conf import database
from nova_cells.conf import messaging
from nova_cells.conf import service
from nova_cells.conf import upgrade_levels

__all__ = ['register_all', 'new_config']

_REGISTRARS = (
    service.register_opts,
    cells.register_opts,
    upgrade_levels.register_opts,
    database.register_opts,
    api_database.register_opts,
    messaging.register_opts,
)


def register_all(conf, with_logging=True):
    """Register every option nova-cells reads on ``conf``.

    :param conf: an ``oslo_config.cfg.ConfigOpts``.
    :param with_logging: also register oslo.log's options (left out when the
        caller registers them itself, as oslo.log refuses a second time).
    """
    for register in _REGISTRARS:
        register(conf)
    if with_logging:
        logging.register_options(conf)
    return conf


def new_config(args=(), default_config_files=None):
    """Return a fresh, parsed ``ConfigOpts`` with every option registered.

    Used by tests and by the in-process demo, which run several cells in one
    process, each with its own configuration.
    """
    conf = register_all(cfg.ConfigOpts())
    conf(list(args), project='nova-cells', validate_default_values=True,
         default_config_files=default_config_files or [])
    return conf
