"""Server tags (``Instance.tags``)."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['Tag', 'TagList']


@base.NovaObjectRegistry.register
class Tag(base.NovaObject):
    # 1.1 validation of the tag text.
    VERSION = '1.1'

    fields = {
        'resource_id': fields.StringField(),
        'tag': fields.StringField(),
    }


@base.NovaObjectRegistry.register
class TagList(base.ObjectListBase, base.NovaObject):
    # 1.1 Tag 1.1.
    VERSION = '1.1'

    fields = {
        'objects': fields.ListOfObjectsField('Tag'),
    }
