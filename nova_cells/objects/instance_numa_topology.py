"""An instance's guest NUMA layout and CPU pinning."""

from nova_cells.objects import base
from nova_cells.objects import fields

__all__ = ['InstanceNUMACell', 'InstanceNUMATopology']

# Optional cell fields that nova sets to None when not given.
_NULL_BY_DEFAULT = ('pagesize', 'cpu_pinning_raw', 'cpu_policy',
                    'cpu_thread_policy', 'cpuset_reserved')


@base.NovaObjectRegistry.register
class InstanceNUMACell(base.NovaObject, base.NovaObjectDictCompat):
    # 1.1 pagesize; 1.2 cpu_pinning_raw, cpu_topology;
    # 1.3 cpu_policy, cpu_thread_policy; 1.4 cpuset_reserved.
    VERSION = '1.4'
    obj_added_in = {
        '1.3': ('cpu_policy', 'cpu_thread_policy'),
        '1.4': ('cpuset_reserved',),
    }

    # NOTE: before ``fields`` below, which rebinds the name in this body.
    #: guest CPU -> host CPU, with int keys (stored with str keys).
    cpu_pinning = fields.DictProxyField('cpu_pinning_raw')

    fields = {
        'id': fields.IntegerField(),
        'cpuset': fields.SetOfIntegersField(),
        'memory': fields.IntegerField(),
        'pagesize': fields.IntegerField(nullable=True),
        'cpu_topology': fields.ObjectField('VirtCPUTopology', nullable=True),
        'cpu_pinning_raw': fields.DictOfIntegersField(nullable=True),
        'cpu_policy': fields.CPUAllocationPolicyField(nullable=True),
        'cpu_thread_policy': fields.CPUThreadAllocationPolicyField(
            nullable=True),
        # Host CPUs reserved for the hypervisor's emulator threads.
        'cpuset_reserved': fields.SetOfIntegersField(nullable=True),
    }

    def __init__(self, **kwargs):
        super(InstanceNUMACell, self).__init__(**kwargs)
        # nova: unset optional fields are None, and not a change.
        given = set(kwargs)
        if 'cpu_pinning' in given:
            given.add('cpu_pinning_raw')
        for name in _NULL_BY_DEFAULT:
            if name not in given:
                setattr(self, name, None)
                self.obj_reset_changes([name])


@base.NovaObjectRegistry.register
class InstanceNUMATopology(base.NovaObject, base.NovaObjectDictCompat):
    # 1.1 pagesize aware; 1.2 InstanceNUMACell 1.2;
    # 1.3 emulator_threads_policy.
    VERSION = '1.3'
    obj_added_in = {'1.3': ('emulator_threads_policy',)}

    fields = {
        # Unused since nova moved the topology to instance_extra.
        'id': fields.IntegerField(),
        'instance_uuid': fields.UUIDField(),
        'cells': fields.ListOfObjectsField('InstanceNUMACell'),
        'emulator_threads_policy': fields.CPUEmulatorThreadsPolicyField(
            nullable=True),
    }
