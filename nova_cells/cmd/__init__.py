"""Entry points.  Importing this package selects the concurrency backend.

It must happen before oslo.messaging or oslo.service are imported by the
entry point modules (see :mod:`nova_cells._backend`).
"""

import sys
import warnings

# NOTE(nova-cells): libraries warn that eventlet is deprecated on every
# import (even when the threading backend is used); operators must see our
# one-line messages, not that.
warnings.filterwarnings('ignore', message='(?s).*[Ee]ventlet is deprecated')
warnings.filterwarnings('ignore', message='.*eventletutils module is '
                                          'deprecated')

from nova_cells import _backend  # noqa: E402

try:
    _backend.select()
except ValueError as exc:
    sys.stderr.write('nova-cells: %s\n' % exc)
    sys.exit(2)
