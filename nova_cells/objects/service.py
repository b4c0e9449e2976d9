"""Services (nova-compute, nova-cells, ...): ``service_get_all`` & co."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['Service', 'ServiceList']


@base.NovaObjectRegistry.register
class Service(base.NovaPersistentObject, base.NovaObject,
              base.NovaObjectDictCompat):
    """A row of a cell's ``services`` table.

    nova stamped its own code's service version on every ``Service`` it
    built; a value object must not, so ``version`` is whatever the sender
    put there (37 for nova 19).
    """

    # Stein: 1.22.  1.13 last_seen_up; 1.14 forced_down; 1.16 version;
    # 1.21 uuid; others: ComputeNode bumps and query methods.
    VERSION = '1.22'
    obj_added_in = {
        '1.13': ('last_seen_up',),
        '1.14': ('forced_down',),
        '1.16': ('version',),
        '1.21': ('uuid',),
    }

    fields = {
        'id': fields.IntegerField(read_only=True),
        'uuid': fields.UUIDField(),
        'host': fields.StringField(nullable=True),
        'binary': fields.StringField(nullable=True),
        'topic': fields.StringField(nullable=True),
        'report_count': fields.IntegerField(),
        'disabled': fields.BooleanField(),
        'disabled_reason': fields.StringField(nullable=True),
        'availability_zone': fields.StringField(nullable=True),
        'compute_node': fields.ObjectField('ComputeNode'),
        'last_seen_up': fields.DateTimeField(nullable=True),
        'forced_down': fields.BooleanField(),
        'version': fields.IntegerField(),
    }


@base.NovaObjectRegistry.register
class ServiceList(base.ObjectListBase, base.NovaObject):
    # Stein: 1.19 (get_all_computes_by_hv_type).
    VERSION = '1.19'

    fields = {
        'objects': fields.ListOfObjectsField('Service'),
    }
