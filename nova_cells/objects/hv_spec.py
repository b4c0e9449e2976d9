"""A (architecture, hypervisor, vm mode) a compute node supports."""

from oslo_utils import versionutils

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['HVSpec']


@base.NovaObjectRegistry.register
class HVSpec(base.NovaObject):
    # 1.1 'vz' hypervisor type; 1.2 'lxd'.
    VERSION = '1.2'

    fields = {
        'arch': fields.ArchitectureField(),
        'hv_type': fields.HVTypeField(),
        'vm_mode': fields.VMModeField(),
    }

    def obj_make_compatible(self, primitive, target_version):
        super(HVSpec, self).obj_make_compatible(primitive, target_version)
        target = versionutils.convert_version_to_tuple(target_version)
        # Before 1.1 Virtuozzo went by its old name.
        if target < (1, 1) and primitive.get('hv_type') == 'vz':
            primitive['hv_type'] = 'parallels'
