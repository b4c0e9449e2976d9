"""oslo.messaging's options, registered on a given ConfigOpts.

oslo.messaging registers some of its groups (metrics, tracing) on the global
``cfg.CONF`` at import time only; a private ``ConfigOpts`` (one per cell when
a whole tree runs in one process) needs them registered explicitly or the
first call or cast fails.  The control exchange defaults to ``nova`` as in
nova, so that our cells and nova's land on the same exchanges.
"""

import importlib

import oslo_messaging
from oslo_messaging import opts as messaging_opts

__all__ = ['CONTROL_EXCHANGE', 'register_opts']

CONTROL_EXCHANGE = 'nova'

_IMPORT_TIME_GROUPS = (
    ('oslo_messaging._metrics.client', 'oslo_messaging_metrics'),
    ('oslo_messaging._tracing.client', 'oslo_messaging_tracing'),
)


def register_opts(conf):
    oslo_messaging.set_transport_defaults(control_exchange=CONTROL_EXCHANGE)
    for group, opts in messaging_opts.list_opts():
        conf.register_opts(opts, group=group)
    for module_name, group in _IMPORT_TIME_GROUPS:
        module = importlib.import_module(module_name)
        conf.register_opts(getattr(module, group), group=group)
