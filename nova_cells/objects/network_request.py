"""Networks/ports/fixed IPs asked for at boot (``requested_networks``)."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['NetworkRequest', 'NetworkRequestList']


@base.NovaObjectRegistry.register
class NetworkRequest(base.NovaObject):
    # 1.1 pci_request_id; 1.2 tag.
    VERSION = '1.2'
    obj_added_in = {'1.2': ('tag',)}

    fields = {
        'network_id': fields.StringField(nullable=True),
        'address': fields.IPAddressField(nullable=True),
        'port_id': fields.UUIDField(nullable=True),
        'pci_request_id': fields.UUIDField(nullable=True),
        'tag': fields.StringField(nullable=True),
    }

    def obj_load_attr(self, attr):
        # nova: an unset request field reads as None.
        setattr(self, attr, None)


@base.NovaObjectRegistry.register
class NetworkRequestList(base.ObjectListBase, base.NovaObject):
    # 1.1 NetworkRequest 1.1.
    VERSION = '1.1'

    fields = {
        'objects': fields.ListOfObjectsField('NetworkRequest'),
    }
