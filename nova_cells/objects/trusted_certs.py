"""Ids of the certificates trusted to verify an instance's image."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['TrustedCerts']


@base.NovaObjectRegistry.register
class TrustedCerts(base.NovaObject):
    VERSION = '1.0'

    fields = {
        'ids': fields.ListOfStringsField(nullable=False),
    }
