"""Flavors: the size of an instance, embedded in it and in build requests."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['Flavor', 'FlavorList']

# Fields edited in place, and how to copy each for the baseline.
_TRACKED = {'extra_specs': dict, 'projects': list}


@base.NovaObjectRegistry.register
class Flavor(base.NovaPersistentObject, base.NovaObject,
             base.NovaObjectDictCompat):
    """A flavor (nova's ``instance_types`` row plus extra specs and projects).

    Like nova, it notices in-place edits of ``extra_specs`` and ``projects``
    (``flavor.extra_specs['k'] = 'v'``), which field assignment tracking
    alone would miss, so such an edit shows in ``nova_object.changes``.
    """

    # 1.1 lazy-loadable extra_specs/projects; 1.2 description.
    VERSION = '1.2'
    obj_added_in = {'1.2': ('description',)}

    fields = {
        'id': fields.IntegerField(),
        'name': fields.StringField(nullable=True),
        'memory_mb': fields.IntegerField(),
        'vcpus': fields.IntegerField(),
        'root_gb': fields.IntegerField(),
        'ephemeral_gb': fields.IntegerField(),
        'flavorid': fields.StringField(),
        'swap': fields.IntegerField(),
        'rxtx_factor': fields.FloatField(nullable=True, default=1.0),
        'vcpu_weight': fields.IntegerField(nullable=True),
        'disabled': fields.BooleanField(),
        'is_public': fields.BooleanField(),
        'extra_specs': fields.DictOfStringsField(),
        'projects': fields.ListOfStringsField(),
        'description': fields.StringField(nullable=True),
    }

    def __init__(self, *args, **kwargs):
        super(Flavor, self).__init__(*args, **kwargs)
        self._baseline = {name: copy() for name, copy in _TRACKED.items()}

    def _snapshot(self, names):
        for name in names:
            copy = _TRACKED[name]
            self._baseline[name] = (copy(getattr(self, name))
                                    if self.obj_attr_is_set(name) else copy())

    def obj_reset_changes(self, fields=None, recursive=False):
        super(Flavor, self).obj_reset_changes(fields=fields,
                                              recursive=recursive)
        self._snapshot([n for n in _TRACKED if fields is None or n in fields])

    def obj_what_changed(self):
        changes = super(Flavor, self).obj_what_changed()
        for name in _TRACKED:
            if name in self and getattr(self, name) != self._baseline[name]:
                changes.add(name)
        return changes

    @classmethod
    def _obj_from_primitive(cls, context, objver, primitive):
        self = super(Flavor, cls)._obj_from_primitive(context, objver,
                                                      primitive)
        # NOTE: what the sender did not mark as changed is our clean
        # baseline.  nova meant the same but compared against the empty
        # baseline of __init__, so a received non-empty extra_specs came
        # out "changed"; we keep the sender's marks as they were.
        self._snapshot([n for n in _TRACKED if n not in self._changed_fields])
        return self


@base.NovaObjectRegistry.register
class FlavorList(base.ObjectListBase, base.NovaObject):
    # 1.1 Flavor 1.1.
    VERSION = '1.1'

    fields = {
        'objects': fields.ListOfObjectsField('Flavor'),
    }
