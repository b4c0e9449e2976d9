"""``[database]``: oslo.db's options, with a SQLite default under state_path.

nova required ``[database] connection``; nova-cells defaults to a SQLite
file so that the demo and a first try need nothing installed.  Real cells
set a PostgreSQL or MySQL URL.
"""

from oslo_db import options as db_options

__all__ = ['DEFAULT_CONNECTION', 'register_opts']

DEFAULT_CONNECTION = 'sqlite:///$state_path/nova_cells.sqlite'


def register_opts(conf):
    db_options.set_defaults(conf, connection=DEFAULT_CONNECTION)
