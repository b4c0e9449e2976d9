"""Instance actions and their events (the os-instance-actions API)."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['InstanceAction', 'InstanceActionEvent',
           'InstanceActionEventList', 'InstanceActionList']


@base.NovaObjectRegistry.register
class InstanceAction(base.NovaPersistentObject, base.NovaObject,
                     base.NovaObjectDictCompat):
    # 1.1 unicode strings.
    VERSION = '1.1'

    fields = {
        'id': fields.IntegerField(),
        'action': fields.StringField(nullable=True),
        'instance_uuid': fields.UUIDField(nullable=True),
        'request_id': fields.StringField(nullable=True),
        'user_id': fields.StringField(nullable=True),
        'project_id': fields.StringField(nullable=True),
        'start_time': fields.DateTimeField(nullable=True),
        'finish_time': fields.DateTimeField(nullable=True),
        'message': fields.StringField(nullable=True),
    }


@base.NovaObjectRegistry.register
class InstanceActionList(base.ObjectListBase, base.NovaObject):
    # 1.1 pagination and filters on get_by_instance_uuid.
    VERSION = '1.1'

    fields = {
        'objects': fields.ListOfObjectsField('InstanceAction'),
    }


@base.NovaObjectRegistry.register
class InstanceActionEvent(base.NovaPersistentObject, base.NovaObject,
                          base.NovaObjectDictCompat):
    # 1.1 serialized args on event_finish_with_failure; 1.2 host.
    VERSION = '1.2'
    obj_added_in = {'1.2': ('host',)}

    fields = {
        'id': fields.IntegerField(),
        'event': fields.StringField(nullable=True),
        'action_id': fields.IntegerField(nullable=True),
        'start_time': fields.DateTimeField(nullable=True),
        'finish_time': fields.DateTimeField(nullable=True),
        'result': fields.StringField(nullable=True),
        'traceback': fields.StringField(nullable=True),
        'host': fields.StringField(nullable=True),
    }


@base.NovaObjectRegistry.register
class InstanceActionEventList(base.ObjectListBase, base.NovaObject):
    # 1.1 InstanceActionEvent 1.1.
    VERSION = '1.1'

    fields = {
        'objects': fields.ListOfObjectsField('InstanceActionEvent'),
    }
