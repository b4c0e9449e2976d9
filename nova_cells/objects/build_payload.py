"""The ``build_instances`` payload across the RPC versions nova-api sent.

1.34 carries Instance, Flavor and BlockDeviceMapping objects; 1.32 had
primitive BDMs and ``legacy_bdm``; 1.30 had instance dicts; 1.8 a flavor
dict.  :func:`downgrade` shapes a payload for an older server (the
client), :func:`upgrade` turns any of them back into objects (the server).
"""

from oslo_serialization import jsonutils

from nova_cells.objects import base as objects_base
from nova_cells.objects import flavor as flavor_obj
from nova_cells.objects import instance as instance_obj

__all__ = ['upgrade', 'downgrade', 'without_hint']

_INSTANCE_SCALARS = frozenset(
    name for name, field in instance_obj.Instance.fields.items()
    if not hasattr(field, 'objname'))


def _object_from_dict(cls, values, allowed):
    obj = cls()
    for key, value in values.items():
        if key in allowed and key in cls.fields:
            try:
                setattr(obj, key, value)
            except (ValueError, TypeError):
                continue
    return obj


def _upgrade_instance(value):
    if not isinstance(value, dict):
        return value
    return _object_from_dict(instance_obj.Instance, value,
                             _INSTANCE_SCALARS - {'deleted'})


def _upgrade_flavor(value):
    if not isinstance(value, dict):
        return value
    if 'nova_object.name' in value:
        return objects_base.NovaObjectSerializer().deserialize_entity(
            None, value)
    return _object_from_dict(flavor_obj.Flavor, value,
                             set(flavor_obj.Flavor.fields))


def upgrade(build_inst_kwargs):
    """Return a copy with objects for instances and flavor (server side)."""
    kwargs = dict(build_inst_kwargs)
    kwargs['instances'] = [_upgrade_instance(i)
                           for i in kwargs.get('instances') or []]
    filter_properties = dict(kwargs.get('filter_properties') or {})
    if 'instance_type' in filter_properties:
        filter_properties['instance_type'] = _upgrade_flavor(
            filter_properties['instance_type'])
    kwargs['filter_properties'] = filter_properties
    kwargs.pop('legacy_bdm', None)
    return kwargs


def downgrade(build_inst_kwargs, can_send_version):
    """Return ``(version, kwargs)`` for the newest version allowed."""
    kwargs = dict(build_inst_kwargs)
    kwargs['image'] = jsonutils.to_primitive(kwargs.get('image'))
    if can_send_version('1.34'):
        kwargs.pop('legacy_bdm', None)
        return '1.34', kwargs
    bdms = kwargs.get('block_device_mapping')
    if bdms is not None and not isinstance(bdms, (list, dict)):
        kwargs['block_device_mapping'] = objects_base.obj_to_primitive(bdms)
    version = '1.32'
    if not can_send_version('1.32'):
        kwargs['instances'] = [jsonutils.to_primitive(
            objects_base.obj_to_primitive(i)) for i in kwargs['instances']]
        version = '1.30'
    if not can_send_version('1.30'):
        filter_properties = dict(kwargs.get('filter_properties') or {})
        flavor = filter_properties.get('instance_type')
        if flavor is not None and not isinstance(flavor, dict):
            filter_properties['instance_type'] = \
                objects_base.obj_to_primitive(flavor)
        kwargs['filter_properties'] = filter_properties
        version = '1.8'
    return version, kwargs


def without_hint(build_inst_kwargs, hint):
    """A copy of ``build_inst_kwargs`` without the scheduler hint ``hint``
    (the payload itself is left as it is)."""
    filter_properties = dict(build_inst_kwargs.get('filter_properties') or {})
    hints = dict(filter_properties.get('scheduler_hints') or {})
    hints.pop(hint, None)
    filter_properties['scheduler_hints'] = hints
    return dict(build_inst_kwargs, filter_properties=filter_properties)
