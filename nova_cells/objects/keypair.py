"""SSH/x509 key pairs, embedded in an instance (``Instance.keypairs``)."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['KeyPair', 'KeyPairList']


@base.NovaObjectRegistry.register
class KeyPair(base.NovaPersistentObject, base.NovaObject,
              base.NovaObjectDictCompat):
    # 1.1 unicode strings; 1.2 type; 1.3 name not null;
    # 1.4 localonly flag on get_by_name().
    VERSION = '1.4'
    obj_added_in = {'1.2': ('type',)}

    fields = {
        'id': fields.IntegerField(),
        'name': fields.StringField(nullable=False),
        'user_id': fields.StringField(nullable=True),
        'fingerprint': fields.StringField(nullable=True),
        'public_key': fields.StringField(nullable=True),
        'type': fields.StringField(nullable=False),
    }


@base.NovaObjectRegistry.register
class KeyPairList(base.ObjectListBase, base.NovaObject):
    # 1.1 KeyPair 1.2; 1.2 KeyPair 1.3; 1.3 limit/marker on get_by_user().
    VERSION = '1.3'

    fields = {
        'objects': fields.ListOfObjectsField('KeyPair'),
    }
