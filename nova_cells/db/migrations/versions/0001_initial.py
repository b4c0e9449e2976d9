"""Initial schema: nova's cells, services, compute_nodes, instance_types,
instances and instance_faults tables (the columns nova-cells uses).

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa

from nova_cells.db.migrations import adopt

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

_MYSQL = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'}


def _nova_columns():
    return [
        sa.Column('created_at', sa.DateTime),
        sa.Column('updated_at', sa.DateTime),
        sa.Column('deleted_at', sa.DateTime),
        sa.Column('deleted', sa.Integer),
        sa.Column('id', sa.Integer, primary_key=True),
    ]


def _create_cells():
    adopt.create_table(
        'cells', *_nova_columns(),
        sa.Column('name', sa.String(255)),
        sa.Column('api_url', sa.String(255)),
        sa.Column('transport_url', sa.String(255), nullable=False),
        sa.Column('weight_offset', sa.Float),
        sa.Column('weight_scale', sa.Float),
        sa.Column('is_parent', sa.Boolean),
        sa.UniqueConstraint('name', 'deleted', name='uniq_cells0name0deleted'),
        **_MYSQL)


def _create_services():
    adopt.create_table(
        'services', *_nova_columns(),
        sa.Column('uuid', sa.String(36), nullable=True),
        sa.Column('host', sa.String(255)),
        sa.Column('binary', sa.String(255)),
        sa.Column('topic', sa.String(255)),
        sa.Column('report_count', sa.Integer, nullable=False),
        sa.Column('disabled', sa.Boolean),
        sa.Column('disabled_reason', sa.String(255)),
        sa.Column('last_seen_up', sa.DateTime, nullable=True),
        sa.Column('forced_down', sa.Boolean),
        sa.Column('version', sa.Integer),
        sa.UniqueConstraint('host', 'topic', 'deleted',
                            name='uniq_services0host0topic0deleted'),
        sa.UniqueConstraint('host', 'binary', 'deleted',
                            name='uniq_services0host0binary0deleted'),
        sa.Index('services_uuid_idx', 'uuid', unique=True),
        **_MYSQL)


def _create_compute_nodes():
    adopt.create_table(
        'compute_nodes', *_nova_columns(),
        sa.Column('service_id', sa.Integer, nullable=True),
        sa.Column('host', sa.String(255), nullable=True),
        sa.Column('uuid', sa.String(36), nullable=True),
        sa.Column('vcpus', sa.Integer, nullable=False),
        sa.Column('memory_mb', sa.Integer, nullable=False),
        sa.Column('local_gb', sa.Integer, nullable=False),
        sa.Column('vcpus_used', sa.Integer, nullable=False),
        sa.Column('memory_mb_used', sa.Integer, nullable=False),
        sa.Column('local_gb_used', sa.Integer, nullable=False),
        sa.Column('hypervisor_type', sa.Text, nullable=False),
        sa.Column('hypervisor_version', sa.Integer, nullable=False),
        sa.Column('hypervisor_hostname', sa.String(255)),
        sa.Column('free_ram_mb', sa.Integer),
        sa.Column('free_disk_gb', sa.Integer),
        sa.Column('current_workload', sa.Integer),
        sa.Column('running_vms', sa.Integer),
        sa.Column('cpu_info', sa.Text, nullable=False),
        sa.Column('disk_available_least', sa.Integer),
        sa.Column('host_ip', sa.String(39)),
        sa.Column('supported_instances', sa.Text),
        sa.Column('metrics', sa.Text),
        sa.Column('stats', sa.Text),
        sa.Column('ram_allocation_ratio', sa.Float, nullable=True),
        sa.Column('cpu_allocation_ratio', sa.Float, nullable=True),
        sa.Column('disk_allocation_ratio', sa.Float, nullable=True),
        sa.Column('mapped', sa.Integer, nullable=True),
        sa.UniqueConstraint(
            'host', 'hypervisor_hostname', 'deleted',
            name='uniq_compute_nodes0host0hypervisor_hostname0deleted'),
        sa.Index('compute_nodes_uuid_idx', 'uuid', unique=True),
        **_MYSQL)


def _create_instance_types():
    adopt.create_table(
        'instance_types', *_nova_columns(),
        sa.Column('name', sa.String(255)),
        sa.Column('memory_mb', sa.Integer, nullable=False),
        sa.Column('vcpus', sa.Integer, nullable=False),
        sa.Column('root_gb', sa.Integer),
        sa.Column('ephemeral_gb', sa.Integer),
        sa.Column('flavorid', sa.String(255)),
        sa.Column('swap', sa.Integer, nullable=False),
        sa.Column('rxtx_factor', sa.Float),
        sa.Column('vcpu_weight', sa.Integer),
        sa.Column('disabled', sa.Boolean),
        sa.Column('is_public', sa.Boolean),
        sa.Column('description', sa.Text),
        sa.UniqueConstraint('flavorid', 'deleted',
                            name='uniq_instance_types0flavorid0deleted'),
        sa.UniqueConstraint('name', 'deleted',
                            name='uniq_instance_types0name0deleted'),
        **_MYSQL)


_INSTANCE_STRINGS = (
    'user_id', 'project_id', 'image_ref', 'kernel_id', 'ramdisk_id',
    'hostname', 'key_name', 'vm_state', 'task_state', 'host', 'node',
    'reservation_id', 'availability_zone', 'display_name',
    'display_description', 'locked_by', 'os_type', 'architecture', 'vm_mode',
    'root_device_name', 'default_ephemeral_device', 'default_swap_device',
    'config_drive', 'cell_name')
_INSTANCE_INTEGERS = (
    'launch_index', 'power_state', 'memory_mb', 'vcpus', 'root_gb',
    'ephemeral_gb', 'instance_type_id', 'progress', 'cleaned')


def _create_instances():
    adopt.create_table(
        'instances', *_nova_columns(),
        sa.Column('uuid', sa.String(36), nullable=False),
        *[sa.Column(name, sa.String(255)) for name in _INSTANCE_STRINGS],
        *[sa.Column(name, sa.Integer) for name in _INSTANCE_INTEGERS],
        sa.Column('key_data', sa.Text),
        sa.Column('user_data', sa.Text),
        sa.Column('launched_on', sa.Text),
        sa.Column('ephemeral_key_uuid', sa.String(36)),
        sa.Column('launched_at', sa.DateTime),
        sa.Column('terminated_at', sa.DateTime),
        sa.Column('access_ip_v4', sa.String(39)),
        sa.Column('access_ip_v6', sa.String(39)),
        sa.Column('locked', sa.Boolean),
        sa.Column('auto_disk_config', sa.Boolean),
        sa.Column('shutdown_terminate', sa.Boolean),
        sa.Column('disable_terminate', sa.Boolean),
        sa.Index('uuid', 'uuid', unique=True),
        sa.Index('instances_host_deleted_idx', 'host', 'deleted'),
        sa.Index('instances_project_id_deleted_idx', 'project_id', 'deleted'),
        sa.Index('instances_updated_at_project_id_idx', 'updated_at',
                 'project_id'),
        **_MYSQL)


def _create_instance_faults():
    adopt.create_table(
        'instance_faults', *_nova_columns(),
        sa.Column('instance_uuid', sa.String(36)),
        sa.Column('code', sa.Integer, nullable=False),
        sa.Column('message', sa.String(255)),
        sa.Column('details', sa.Text),
        sa.Column('host', sa.String(255)),
        sa.Index('instance_faults_host_idx', 'host'),
        sa.Index('instance_faults_instance_uuid_deleted_created_at_idx',
                 'instance_uuid', 'deleted', 'created_at'),
        **_MYSQL)


def upgrade():
    _create_cells()
    _create_services()
    _create_compute_nodes()
    _create_instance_types()
    _create_instances()
    _create_instance_faults()


def downgrade():
    for table in ('instance_faults', 'instances', 'instance_types',
                  'compute_nodes', 'services', 'cells'):
        op.drop_table(table)
