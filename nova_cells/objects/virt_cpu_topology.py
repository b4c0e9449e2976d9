"""Sockets x cores x threads of a guest CPU."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['VirtCPUTopology']


@base.NovaObjectRegistry.register
class VirtCPUTopology(base.NovaObject):
    VERSION = '1.0'

    fields = {
        'sockets': fields.IntegerField(nullable=True, default=1),
        'cores': fields.IntegerField(nullable=True, default=1),
        'threads': fields.IntegerField(nullable=True, default=1),
    }
