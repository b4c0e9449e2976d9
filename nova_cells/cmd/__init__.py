"""Entry points.  Importing this package selects the concurrency backend.

It must happen before oslo.messaging or oslo.service are imported by the
entry point modules (see :mod:`nova_cells._backend`).
"""

import sys

from nova_cells import _backend

try:
    _backend.select()
except ValueError as exc:
    sys.stderr.write('nova-cells: %s\n' % exc)
    sys.exit(2)
