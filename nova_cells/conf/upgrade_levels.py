"""``[upgrade_levels]``: RPC version caps, as nova had them for cells v1.

Both accept a version (``1.34``) or a release alias (``kilo``); the alias
tables live beside the clients that use them (``rpcapi`` and ``rpc_driver``).
"""

from oslo_config import cfg

from nova_cells.conf import cells as cells_conf

__all__ = ['upgrade_group', 'ALL_OPTS', 'register_opts']

upgrade_group = cfg.OptGroup(
    'upgrade_levels',
    title='Upgrade levels Options',
    help="""
upgrade_levels options are used to set version cap for RPC messages sent
between different nova services.

By default all services send messages using the latest version they know
about.
""")

ALL_OPTS = [
    cfg.StrOpt('cells',
               help="""
Cells version.

Cells client-side RPC API version cap (nova-api and compute services to
nova-cells on topic ``cells``). Use this option to set a version cap for
messages sent to local cells services.

Possible values:

* None: the latest version (the default).
* A version such as ``1.34`` or a release alias such as ``kilo``.
"""),
    cfg.StrOpt('intercell',
               help="""
Intercell version.

Intercell RPC API is the client side of the cells service (nova-cells to
nova-cells) RPC API. Use this option to set a version cap for messages sent
between cells services.

Possible values:

* None: the latest version (the default).
* ``grizzly`` or ``1.0``: the only version there ever was.
"""),
]


def register_opts(conf):
    group = cells_conf.fresh_group(upgrade_group)
    conf.register_group(group)
    conf.register_opts(ALL_OPTS, group=group)
