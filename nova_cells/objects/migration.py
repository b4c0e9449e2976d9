"""Migrations (resize, live migration, evacuation) of an instance."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['Migration', 'MigrationList']

#: nova's fixed set; this one enum nova declared inline, and so do we.
MIGRATION_TYPES = ('migration', 'resize', 'live-migration', 'evacuation')


@base.NovaObjectRegistry.register
class Migration(base.NovaPersistentObject, base.NovaObject,
                base.NovaObjectDictCompat):
    # Stein: 1.5.  1.2 migration_type, hidden; 1.4 progress; 1.5 uuid.
    VERSION = '1.5'
    obj_added_in = {
        '1.2': ('migration_type', 'hidden'),
        '1.4': ('memory_total', 'memory_processed', 'memory_remaining',
                'disk_total', 'disk_processed', 'disk_remaining'),
        '1.5': ('uuid',),
    }

    fields = {
        'id': fields.IntegerField(),
        'uuid': fields.UUIDField(),
        'source_compute': fields.StringField(nullable=True),
        'dest_compute': fields.StringField(nullable=True),
        'source_node': fields.StringField(nullable=True),
        'dest_node': fields.StringField(nullable=True),
        'dest_host': fields.StringField(nullable=True),
        'old_instance_type_id': fields.IntegerField(nullable=True),
        'new_instance_type_id': fields.IntegerField(nullable=True),
        'instance_uuid': fields.StringField(nullable=True),
        'status': fields.StringField(nullable=True),
        'migration_type': fields.EnumField(MIGRATION_TYPES, nullable=False),
        'hidden': fields.BooleanField(nullable=False, default=False),
        'memory_total': fields.IntegerField(nullable=True),
        'memory_processed': fields.IntegerField(nullable=True),
        'memory_remaining': fields.IntegerField(nullable=True),
        'disk_total': fields.IntegerField(nullable=True),
        'disk_processed': fields.IntegerField(nullable=True),
        'disk_remaining': fields.IntegerField(nullable=True),
    }


@base.NovaObjectRegistry.register
class MigrationList(base.ObjectListBase, base.NovaObject):
    # Stein: 1.4.
    VERSION = '1.4'

    fields = {
        'objects': fields.ListOfObjectsField('Migration'),
    }
