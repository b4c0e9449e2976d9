"""The guest CPU model of an instance (``Instance.vcpu_model``)."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['VirtCPUFeature', 'VirtCPUModel']


@base.NovaObjectRegistry.register
class VirtCPUModel(base.NovaObject):
    VERSION = '1.0'

    fields = {
        'arch': fields.ArchitectureField(nullable=True),
        'vendor': fields.StringField(nullable=True),
        'topology': fields.ObjectField('VirtCPUTopology', nullable=True),
        'features': fields.ListOfObjectsField('VirtCPUFeature', default=[]),
        'mode': fields.CPUModeField(nullable=True),
        'model': fields.StringField(nullable=True),
        'match': fields.CPUMatchField(nullable=True),
    }

    def obj_load_attr(self, attrname):
        # nova: anything not given reads as None.
        setattr(self, attrname, None)


@base.NovaObjectRegistry.register
class VirtCPUFeature(base.NovaObject):
    VERSION = '1.0'

    fields = {
        'policy': fields.CPUFeaturePolicyField(nullable=True),
        'name': fields.StringField(nullable=False),
    }

    def obj_load_attr(self, attrname):
        setattr(self, attrname, None)
