"""The base of nova's versioned objects, as they travel between cells.

Everything that crosses a cell boundary inside a message (an ``Instance``
going up, a ``Flavor`` inside ``build_inst_kwargs``, a list of ``Service``
in a response) is an oslo.versionedobjects primitive in nova's namespace:

    {"nova_object.name": "Flavor", "nova_object.namespace": "nova",
     "nova_object.version": "1.2", "nova_object.data": {...},
     "nova_object.changes": [...]}

The classes here give those primitives a Python form that serializes back
to exactly the same JSON, so a nova-api or nova-cells of the original on the
other side of a link cannot tell us apart.  They are value objects only:
nothing here touches a database (nova's ``@remotable`` methods are absent).

Call :func:`register_all` once at start-up (the daemon and the tests do)
before deserializing anything: a nested field names its class by string
(``ObjectField('Flavor')``), and the class must be registered by then.
"""

import importlib
import sys

import netaddr
from oslo_utils import versionutils
from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import fields as ovo_fields

from nova_cells.objects import fields

__all__ = [
    'NovaObject',
    'NovaObjectDictCompat',
    'NovaObjectRegistry',
    'NovaObjectSerializer',
    'NovaPersistentObject',
    'ObjectListBase',
    'OBJECT_MODULES',
    'obj_to_primitive',
    'register_all',
]

# NOTE: the package that holds the object modules; the registration hook
# publishes the newest class of each name there (``objects.Instance``), as
# nova did for ``nova.objects``.
_PACKAGE = __name__.rpartition('.')[0]

#: Every module that defines registered objects (import order is free:
#: nested fields name their classes by string, resolved when used).
OBJECT_MODULES = (
    'block_device',
    'compute_node',
    'ec2',
    'flavor',
    'hv_spec',
    'instance',
    'instance_action',
    'instance_fault',
    'instance_info_cache',
    'instance_numa_topology',
    'instance_pci_requests',
    'keypair',
    'migration',
    'migration_context',
    'network_request',
    'pci_device',
    'pci_device_pool',
    'security_group',
    'service',
    'tag',
    'trusted_certs',
    'vcpu_model',
    'virt_cpu_topology',
    'virt_device_metadata',
)


class NovaObjectRegistry(ovo_base.VersionedObjectRegistry):
    """nova's object registry.

    oslo.versionedobjects keeps one registry per process, keyed by object
    name; this subclass only adds nova's habit of exposing the highest
    version of each class as an attribute of the objects package.
    """

    def registration_hook(self, cls, index):
        package = sys.modules.get(_PACKAGE)
        if package is None:
            return
        current = getattr(package, cls.obj_name(), None)
        if current is None or _version(cls) >= _version(current):
            setattr(package, cls.obj_name(), cls)


def _version(cls):
    return versionutils.convert_version_to_tuple(cls.VERSION)


NovaObjectDictCompat = ovo_base.VersionedObjectDictCompat


class NovaObject(ovo_base.VersionedObject):
    """Base class of every object in nova's namespace.

    The two namespace constants give every primitive nova's identity: the
    ``nova_object.`` key prefix and ``"nova_object.namespace": "nova"``.
    """

    OBJ_SERIAL_NAMESPACE = 'nova_object'
    OBJ_PROJECT_NAMESPACE = 'nova'

    #: Fields that later versions added, as ``{'1.2': ('description',)}``.
    #: :meth:`obj_make_compatible` drops them when backporting to an older
    #: peer, which is all most of nova's hand-written version checks did.
    obj_added_in = {}

    # NOTE: oslo.versionedobjects checks a name against ``obj_fields``, a
    # list it builds anew on every call, so serializing an Instance (about
    # 70 fields) cost 70 such lists; and ``obj_what_changed`` read every
    # field to find the nested objects.  Together that was an eighth of a
    # build's CPU (doc/performance.rst).  Same answers, without the scans.

    def obj_attr_is_set(self, attrname):
        if attrname not in self.fields and \
                attrname not in self.obj_extra_fields:
            raise AttributeError(
                "%(objname)s object has no attribute '%(attrname)s'"
                % {'objname': self.obj_name(), 'attrname': attrname})
        return hasattr(self, '_obj_' + attrname)

    def obj_what_changed(self):
        changes = {name for name in self._changed_fields
                   if name in self.fields}
        for name in _object_fields(type(self)):
            value = getattr(self, '_obj_' + name, None)
            if isinstance(value, ovo_base.VersionedObject) and \
                    value.obj_what_changed():
                changes.add(name)
        return changes

    def obj_make_compatible(self, primitive, target_version):
        super(NovaObject, self).obj_make_compatible(primitive, target_version)
        target = versionutils.convert_version_to_tuple(target_version)
        for version, names in self.obj_added_in.items():
            if target < versionutils.convert_version_to_tuple(version):
                for name in names:
                    primitive.pop(name, None)


def _object_fields(cls):
    """The fields of ``cls`` that can hold a nested object (an
    ``ObjectField``), computed once per class: the only ones whose changes
    ``obj_what_changed`` must look into."""
    names = cls.__dict__.get('_nested_object_fields')
    if names is None:
        names = tuple(name for name, field in cls.fields.items()
                      if isinstance(getattr(field, '_type', None),
                                    ovo_fields.Object))
        cls._nested_object_fields = names
    return names


class NovaPersistentObject(object):
    """Mixin for objects backed by a nova table with soft delete.

    Adds the four bookkeeping columns every such nova table has; the
    registry merges these fields into the class that mixes this in.
    """

    fields = {
        'created_at': fields.DateTimeField(nullable=True),
        'updated_at': fields.DateTimeField(nullable=True),
        'deleted_at': fields.DateTimeField(nullable=True),
        'deleted': fields.BooleanField(default=False),
    }


class ObjectListBase(ovo_base.ObjectListBase):
    """Base of the ``...List`` objects (one ``objects`` field).

    Combined with :class:`NovaObject` as ``(ObjectListBase, NovaObject)``
    so the primitive keys carry nova's prefix.
    """


class NovaObjectSerializer(ovo_base.VersionedObjectSerializer):
    """Turns nova objects into primitives and back, anywhere in a payload.

    Used on ``method_kwargs`` of intercell messages, on response values and
    on the ``cells`` RPC topic.  Nested dicts, lists and tuples are walked;
    anything else passes through unchanged.

    A primitive whose version is newer in its minor part than the class we
    know (for example ``Flavor 1.9`` against our ``1.2``) raises
    :class:`oslo_versionedobjects.exception.IncompatibleObjectVersion`, as it
    did in the original nova-cells: there is no conductor to backport it.
    A third version component (``1.2.1``) is dropped and accepted.
    """

    OBJ_BASE_CLASS = NovaObject


def obj_to_primitive(obj):
    """Recursively turn an object into plain Python data (not versioned).

    A list object becomes a list, any other object a dict of its set
    fields, and network addresses become strings; use it where nova's
    callers wanted plain dicts (e.g. for filters or logs), never on the wire.
    """
    if isinstance(obj, ObjectListBase):
        return [obj_to_primitive(item) for item in obj]
    if isinstance(obj, NovaObject):
        return {key: obj_to_primitive(getattr(obj, key))
                for key in obj.obj_fields
                if obj.obj_attr_is_set(key) or key in obj.obj_extra_fields}
    if isinstance(obj, (netaddr.IPAddress, netaddr.IPNetwork)):
        return str(obj)
    return obj


def register_all():
    """Import every object module so each class is registered.

    Safe to call more than once; importing is what registers, and Python
    imports a module only once.
    """
    for name in OBJECT_MODULES:
        importlib.import_module('%s.%s' % (_PACKAGE, name))
