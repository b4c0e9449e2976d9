"""``[database]``: oslo.db's options, with a SQLite default under state_path.

nova required ``[database] connection``; nova-cells defaults to a SQLite
file so that the demo and a first try need nothing installed.  Real cells
set a PostgreSQL or MySQL URL.

``max_pool_size`` defaults to 20 instead of oslo.db's 5.  A daemon applies
up to 16 durable messages per neighbour link at once (one per sender lane
of the neighbour) besides nova-api's requests, and SQLAlchemy closes every
connection beyond the pool's size when it is returned: with 5, each burst
of work opened connections again, and a PostgreSQL server starts a
process for each (1.1 new connections per build in a three-cell tree,
about a quarter of the machine's CPU per build; doc/performance.rst).  A
value set in ``cells.conf`` wins, as for any default.
"""

from oslo_db import options as db_options

__all__ = ['DEFAULT_CONNECTION', 'DEFAULT_MAX_POOL_SIZE', 'register_opts']

DEFAULT_CONNECTION = 'sqlite:///$state_path/nova_cells.sqlite'
DEFAULT_MAX_POOL_SIZE = 20


def register_opts(conf):
    db_options.set_defaults(conf, connection=DEFAULT_CONNECTION,
                            max_pool_size=DEFAULT_MAX_POOL_SIZE)
