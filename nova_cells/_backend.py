"""Choose the concurrency backend once, before anything else is imported.

``import oslo_messaging`` imports ``oslo_service.service``, which fixes
oslo.service's backend on first use (eventlet, unless told otherwise).  So
the choice has to be made before that import, and in exactly one place:

* the package registers a *default hook* (threading) that only applies when
  nobody chose explicitly, so tests and library users get native threads;
* ``nova_cells.cmd`` calls :func:`select` with the value of the
  ``NOVA_CELLS_BACKEND`` environment variable (``threading`` or
  ``eventlet``) before the entry points import anything heavy.  eventlet is
  monkey-patched there, as the original nova-cells ran.

No other module may depend on which backend is active, but for one
choice: ``[cells] intercell_transport = auto`` picks oslo.messaging under
eventlet (``nova_cells.service.assembly.intercell_transport``).
"""

import os
import sys

from oslo_service import backend as service_backend

__all__ = ['ENV_VAR', 'BACKENDS', 'install_default_hook', 'select',
           'active']

ENV_VAR = 'NOVA_CELLS_BACKEND'
BACKENDS = ('threading', 'eventlet')


def _default():
    return service_backend.BackendType.THREADING


def install_default_hook():
    """Make threading the default for anyone who did not choose."""
    service_backend.register_backend_default_hook(_default)


def select(name=None):
    """Select the backend by name (default: ``$NOVA_CELLS_BACKEND``).

    :raises ValueError: for a name other than ``threading`` or ``eventlet``.
    """
    name = (name or os.environ.get(ENV_VAR) or 'threading').strip().lower()
    if name not in BACKENDS:
        raise ValueError('%s=%r: must be one of %s'
                         % (ENV_VAR, name, ', '.join(BACKENDS)))
    if name == 'eventlet':
        import eventlet
        eventlet.monkey_patch()
    else:
        _keep_eventlet_out()
    service_backend.init_backend(service_backend.BackendType(name))
    return name


def _keep_eventlet_out():
    """With native threads, make ``import eventlet`` fail in this process.

    futurist and oslo.utils import eventlet (and dnspython with it) merely
    because it is installed, to check whether it is in use; the threading
    daemon never uses it, and it cost ~9 MB of resident memory per process.
    Every such import is optional (guarded by ``except ImportError``).  Only
    when nothing imported eventlet yet: an embedding program that did keeps
    it.
    """
    sys.modules.setdefault('eventlet', None)


def active():
    """Return the name of the backend in use (initialising the default)."""
    service_backend.get_backend()
    return service_backend.get_backend_type().value
