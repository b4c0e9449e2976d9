"""PCI devices an instance asked for (``Instance.pci_requests``)."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['InstancePCIRequest', 'InstancePCIRequests']


@base.NovaObjectRegistry.register
class InstancePCIRequest(base.NovaObject, base.NovaObjectDictCompat):
    # 1.1 request_id; 1.2 numa_policy; 1.3 requester_id.
    VERSION = '1.3'
    obj_added_in = {
        '1.1': ('request_id',),
        '1.2': ('numa_policy',),
        '1.3': ('requester_id',),
    }

    fields = {
        'count': fields.IntegerField(),
        'spec': fields.ListOfDictOfNullableStringsField(),
        'alias_name': fields.StringField(nullable=True),
        # True for a request added by a resize (nova-network era).
        'is_new': fields.BooleanField(default=False),
        'request_id': fields.UUIDField(nullable=True),
        'requester_id': fields.StringField(nullable=True),
        'numa_policy': fields.PCINUMAAffinityPolicyField(nullable=True),
    }

    def obj_load_attr(self, attr):
        # nova: fields missing from an old sender read as None.
        setattr(self, attr, None)


@base.NovaObjectRegistry.register
class InstancePCIRequests(base.NovaObject, base.NovaObjectDictCompat):
    # 1.1 InstancePCIRequest 1.1.
    VERSION = '1.1'

    fields = {
        'instance_uuid': fields.UUIDField(),
        'requests': fields.ListOfObjectsField('InstancePCIRequest'),
    }
