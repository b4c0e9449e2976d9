"""EC2-style ids of an instance (``Instance.ec2_ids``)."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['EC2Ids']


@base.NovaObjectRegistry.register
class EC2Ids(base.NovaObject):
    """The ``i-``/``ami-``/``aki-``/``ari-`` ids nova derived for EC2."""

    VERSION = '1.0'

    fields = {
        'instance_id': fields.StringField(read_only=True),
        'ami_id': fields.StringField(nullable=True, read_only=True),
        'kernel_id': fields.StringField(nullable=True, read_only=True),
        'ramdisk_id': fields.StringField(nullable=True, read_only=True),
    }
