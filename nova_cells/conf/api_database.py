"""``[api_database]``: nova's API database, where a Stein cell's flavors are.

Since Newton nova keeps flavors in the API database (tables ``flavors``,
``flavor_extra_specs``, ``flavor_projects``), not in the cell's
``instance_types``, which a Stein cell leaves empty.  nova's cells
manager read them from there to size its capacity units; nova-cells does
the same when ``connection`` is set, and reads the cell's own
``instance_types`` when it is not (older layouts, and cells that only ever
ran nova-cells).  See :mod:`nova_cells.db.flavors`.

The group has nova's name and, for every option here, nova's name, type
and default, so the section can be copied from ``nova.conf`` as it is.
Left out: ``slave_connection`` (nothing is read from a replica), and
``max_retries``/``retry_interval``, which oslo.db applies only to the
first connection of an engine: nova-cells makes the engine without
connecting, and a flavor read that fails is simply tried again at the
next capacity refresh, so an API database that is down never holds the
daemon's start.  oslo.config ignores those options in a copied section.
"""

from oslo_config import cfg

from nova_cells.conf import cells as cells_conf

__all__ = ['api_db_group', 'ALL_OPTS', 'register_opts']

api_db_group = cfg.OptGroup(
    'api_database',
    title='API Database Options',
    help="""
The *Nova API Database*: the database of the whole deployment that nova
keeps besides each cell's own (mandatory in nova since Mitaka). nova-cells
reads only the flavors from it (``flavors`` and ``flavor_extra_specs``), to
compute the capacity units this cell reports and for ``nova-cells-manage
explain``; it never writes to it.

Leave ``connection`` unset where flavors live in the cell's own
``instance_types`` table (a cell that predates the API database, or one
that only ever ran nova-cells).
""")

ALL_OPTS = [
    cfg.StrOpt('connection',
               secret=True,
               help="""
The SQLAlchemy connection string of nova's API database (nova's
``[api_database] connection``).

When set, every flavor this cell reads comes from the API database's
``flavors`` and ``flavor_extra_specs`` tables: the sizes of its capacity
units (``units_by_mb``), and the flavor ``nova-cells-manage explain`` asks
about. When unset (the default), they come from the cell's
``instance_types`` table.

A value SQLAlchemy cannot use (not a URL, an unknown dialect, a driver that
is not installed) is refused at start-up. A database that does not answer
is not: the daemon logs one line per capacity refresh and keeps the
capacities it last computed until the API database answers again.

Possible values:

* Unset, or a URL such as ``mysql+pymysql://nova:PASS@db/nova_api``.

Related options:

* ``[database] connection``: the cell's own database.
"""),
    cfg.StrOpt('connection_parameters',
               default='',
               help="""
Optional URL parameters to append onto the connection URL at connect time;
specify as ``param1=value1&param2=value2&...``.
"""),
    cfg.BoolOpt('sqlite_synchronous',
                default=True,
                help="""
If True, SQLite uses synchronous mode.
"""),
    cfg.StrOpt('mysql_sql_mode',
               default='TRADITIONAL',
               help="""
The SQL mode to be used for MySQL sessions. This option, including the
default, overrides any server-set SQL mode. To use whatever SQL mode is set
by the server configuration, set this to no value.
"""),
    cfg.IntOpt('connection_recycle_time',
               default=3600,
               deprecated_name='idle_timeout',
               help="""
Connections which have been present in the connection pool longer than this
number of seconds will be replaced with a new one the next time they are
checked out from the pool.
"""),
    cfg.IntOpt('max_pool_size',
               help="""
Maximum number of SQL connections to keep open in a pool (unset:
SQLAlchemy's default). nova-cells reads the API database once per capacity
refresh, so a small pool is enough.
"""),
    cfg.IntOpt('max_overflow',
               help="""
If set, use this value for max_overflow with SQLAlchemy.
"""),
    cfg.IntOpt('pool_timeout',
               help="""
If set, use this value for pool_timeout with SQLAlchemy.
"""),
    cfg.IntOpt('connection_debug',
               default=0,
               help="""
Verbosity of SQL debugging information: 0=None, 100=Everything.
"""),
    cfg.BoolOpt('connection_trace',
                default=False,
                help="""
Add Python stack traces to SQL as comment strings.
"""),
]


def register_opts(conf):
    group = cells_conf.fresh_group(api_db_group)
    conf.register_group(group)
    conf.register_opts(ALL_OPTS, group=group)
