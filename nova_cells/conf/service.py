"""``[DEFAULT]`` options of the daemon, under nova's names and defaults.

``transport_url`` and ``control_exchange`` belong to oslo.messaging, and the
``[database]`` options to oslo.db; :mod:`nova_cells.conf` registers those
through the libraries themselves.
"""

import socket

from oslo_config import cfg

__all__ = ['ALL_OPTS', 'register_opts']

ALL_OPTS = [
    cfg.HostDomainOpt('host',
                      default=socket.gethostname(),
                      sample_default='<current_hostname>',
                      help="""
Hostname, FQDN or IP address of this host.

Used as the server name of the ``cells`` RPC server and of the intercell
servers, and as the host of this service's row in the ``services`` table.
"""),
    cfg.StrOpt('state_path',
               default='/var/lib/nova-cells',
               help="""
Top-level directory for maintaining nova-cells' state.

The default database (a SQLite file) lives here.
"""),
    cfg.IntOpt('report_interval',
               default=10,
               help="""
Number of seconds indicating how frequently the state of this service is
written to its row of the ``services`` table (the heartbeat).

Related options:

* ``service_down_time``
"""),
    cfg.IntOpt('service_down_time',
               default=60,
               help="""
Maximum time in seconds since the last heartbeat for a service to be
considered up. Compute services that are down do not count in this cell's
capacity.

Related options:

* ``report_interval``
""", mutable=True),
    cfg.BoolOpt('periodic_enable',
                default=True,
                help="""
Enable periodic tasks.

If set to true, this option allows services to periodically run tasks on the
manager (``_update_our_parents``, ``_heal_instances``).
"""),
    cfg.BoolOpt('use_neutron',
                default=True,
                deprecated_for_removal=True,
                deprecated_since='17.0.0',
                deprecated_reason='nova-network is deprecated, as are '
                                  'its security groups.',
                help="""
Whether the cell's networking is neutron (as nova's option of this name).

A cell that builds an instance records its security groups in the cell's
database only with nova-network (``False``): with neutron the groups live
on the instance's ports, and only the project's ``default`` group is made
in the database, as nova did.
"""),
    cfg.IntOpt('periodic_fuzzy_delay',
               default=60,
               min=0,
               help="""
Number of seconds to randomly delay when starting the periodic task
scheduler to reduce stampeding.
"""),
]


def register_opts(conf):
    conf.register_opts(ALL_OPTS)
