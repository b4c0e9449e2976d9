"""Instance faults: why an instance went to ERROR (sent up the tree)."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['InstanceFault', 'InstanceFaultList']


@base.NovaObjectRegistry.register
class InstanceFault(base.NovaPersistentObject, base.NovaObject,
                    base.NovaObjectDictCompat):
    # 1.1 unicode strings; 1.2 create() may notify cells.
    VERSION = '1.2'

    fields = {
        'id': fields.IntegerField(),
        'instance_uuid': fields.UUIDField(),
        'code': fields.IntegerField(),
        'message': fields.StringField(nullable=True),
        'details': fields.StringField(nullable=True),
        'host': fields.StringField(nullable=True),
    }


@base.NovaObjectRegistry.register
class InstanceFaultList(base.ObjectListBase, base.NovaObject):
    # 1.1 InstanceFault 1.1; 1.2 InstanceFault 1.2.
    VERSION = '1.2'

    fields = {
        'objects': fields.ListOfObjectsField('InstanceFault'),
    }
