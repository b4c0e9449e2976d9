"""Security groups, as listed on an instance (nova-network era)."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['SecurityGroup', 'SecurityGroupList']


@base.NovaObjectRegistry.register
class SecurityGroup(base.NovaPersistentObject, base.NovaObject):
    # 1.1 unicode strings; 1.2 uuid (a Neutron group's id, never in nova's DB).
    VERSION = '1.2'
    obj_added_in = {'1.2': ('uuid',)}

    fields = {
        'id': fields.IntegerField(),
        'name': fields.StringField(),
        'description': fields.StringField(),
        'user_id': fields.StringField(),
        'project_id': fields.StringField(),
        'uuid': fields.UUIDField(),
    }


@base.NovaObjectRegistry.register
class SecurityGroupList(base.ObjectListBase, base.NovaObject):
    # 1.1 SecurityGroup 1.1.
    VERSION = '1.1'

    fields = {
        'objects': fields.ListOfObjectsField('SecurityGroup'),
    }
