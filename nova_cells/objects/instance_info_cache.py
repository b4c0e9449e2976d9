"""An instance's cached network info (``Instance.info_cache``)."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['InstanceInfoCache']


@base.NovaObjectRegistry.register
class InstanceInfoCache(base.NovaPersistentObject, base.NovaObject):
    """``network_info`` is a :class:`~nova_cells.objects.fields.NetworkInfo`
    (list of VIF dicts) in Python and its JSON string on the wire."""

    # 1.1 network_info became a list of VIFs; 1.2 new()/update_cells;
    # 1.3 delete(); 1.4 unicode strings; 1.5 timestamps really filled in.
    VERSION = '1.5'

    fields = {
        'instance_uuid': fields.UUIDField(),
        'network_info': fields.NetworkModelField(nullable=True),
    }
