"""Shared test set-up: native threads unless a test starts eventlet itself.

Importing :mod:`nova_cells` installs the threading default hook; nothing in
the test process monkey-patches.  Daemons under test run as subprocesses
and choose their own backend through ``NOVA_CELLS_BACKEND``.
"""

import nova_cells  # noqa: F401 - selects the default backend hook first
