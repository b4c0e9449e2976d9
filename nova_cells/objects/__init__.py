"""nova's versioned objects, as they travel inside cells messages.

Call :func:`register_all` once at start-up; after it, every class is also
reachable as an attribute of this package (``objects.Instance``), as in
nova.  See :mod:`nova_cells.objects.base` for the wire contract.
"""

from nova_cells.objects.base import register_all

__all__ = ['register_all']
