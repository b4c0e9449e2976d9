"""nova's tables for the cells query API: instance_actions,
instance_actions_events, migrations, task_log, key_pairs,
block_device_mapping and bw_usage_cache (the columns
and indexes nova Stein has; no foreign keys, as the rows of a cell's API
copy may arrive before their parents).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa

from nova_cells.db.migrations import adopt

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_MYSQL = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'}
_MIGRATION_TYPES = ('migration', 'resize', 'live-migration', 'evacuation')


def _nova_columns():
    return [
        sa.Column('created_at', sa.DateTime),
        sa.Column('updated_at', sa.DateTime),
        sa.Column('deleted_at', sa.DateTime),
        sa.Column('deleted', sa.Integer),
        sa.Column('id', sa.Integer, primary_key=True, nullable=False,
                  autoincrement=True),
    ]


def _create_instance_actions():
    adopt.create_table(
        'instance_actions', *_nova_columns(),
        sa.Column('action', sa.String(255)),
        sa.Column('instance_uuid', sa.String(36)),
        sa.Column('request_id', sa.String(255)),
        sa.Column('user_id', sa.String(255)),
        sa.Column('project_id', sa.String(255)),
        sa.Column('start_time', sa.DateTime),
        sa.Column('finish_time', sa.DateTime),
        sa.Column('message', sa.String(255)),
        sa.Index('instance_uuid_idx', 'instance_uuid'),
        sa.Index('request_id_idx', 'request_id'),
        sa.Index('instance_actions_instance_uuid_updated_at_idx',
                 'instance_uuid', 'updated_at'),
        **_MYSQL)
    adopt.create_table(
        'instance_actions_events', *_nova_columns(),
        sa.Column('event', sa.String(255)),
        sa.Column('action_id', sa.Integer),
        sa.Column('start_time', sa.DateTime),
        sa.Column('finish_time', sa.DateTime),
        sa.Column('result', sa.String(255)),
        sa.Column('traceback', sa.Text),
        sa.Column('host', sa.String(255)),
        sa.Column('details', sa.Text),
        **_MYSQL)


def _create_migrations():
    adopt.create_table(
        'migrations', *_nova_columns(),
        sa.Column('uuid', sa.String(36)),
        sa.Column('source_compute', sa.String(255)),
        sa.Column('dest_compute', sa.String(255)),
        sa.Column('source_node', sa.String(255)),
        sa.Column('dest_node', sa.String(255)),
        sa.Column('dest_host', sa.String(255)),
        sa.Column('old_instance_type_id', sa.Integer),
        sa.Column('new_instance_type_id', sa.Integer),
        sa.Column('instance_uuid', sa.String(36)),
        sa.Column('status', sa.String(255)),
        sa.Column('migration_type', sa.Enum(*_MIGRATION_TYPES,
                                            name='migration_type'),
                  nullable=True),
        sa.Column('hidden', sa.Boolean),
        sa.Column('memory_total', sa.BigInteger),
        sa.Column('memory_processed', sa.BigInteger),
        sa.Column('memory_remaining', sa.BigInteger),
        sa.Column('disk_total', sa.BigInteger),
        sa.Column('disk_processed', sa.BigInteger),
        sa.Column('disk_remaining', sa.BigInteger),
        sa.Index('migrations_instance_uuid_and_status_idx', 'deleted',
                 'instance_uuid', 'status'),
        # nova's MySQL prefix lengths (216_havana): InnoDB keys <= 3072 B
        sa.Index('migrations_by_host_nodes_and_status_idx', 'deleted',
                 'source_compute', 'dest_compute', 'source_node',
                 'dest_node', 'status',
                 mysql_length={'source_compute': 100, 'dest_compute': 100,
                               'source_node': 100, 'dest_node': 100}),
        sa.Index('migrations_uuid', 'uuid', unique=True),
        **_MYSQL)


def _create_task_log():
    adopt.create_table(
        'task_log', *_nova_columns(),
        sa.Column('task_name', sa.String(255), nullable=False),
        sa.Column('state', sa.String(255), nullable=False),
        sa.Column('host', sa.String(255), nullable=False),
        sa.Column('period_beginning', sa.DateTime, nullable=False),
        sa.Column('period_ending', sa.DateTime, nullable=False),
        sa.Column('message', sa.String(255), nullable=False),
        sa.Column('task_items', sa.Integer),
        sa.Column('errors', sa.Integer),
        sa.UniqueConstraint(
            'task_name', 'host', 'period_beginning', 'period_ending',
            name='uniq_task_log0task_name0host0period_beginning0'
                 'period_ending'),
        sa.Index('ix_task_log_period_beginning', 'period_beginning'),
        sa.Index('ix_task_log_host', 'host'),
        sa.Index('ix_task_log_period_ending', 'period_ending'),
        **_MYSQL)


def _create_key_pairs():
    adopt.create_table(
        'key_pairs', *_nova_columns(),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('user_id', sa.String(255)),
        sa.Column('fingerprint', sa.String(255)),
        sa.Column('public_key', sa.Text),
        sa.Column('type', sa.Enum('ssh', 'x509', name='keypair_types'),
                  nullable=False, server_default='ssh'),
        sa.UniqueConstraint('user_id', 'name', 'deleted',
                            name='uniq_key_pairs0user_id0name0deleted'),
        **_MYSQL)


def _create_block_device_mapping():
    adopt.create_table(
        'block_device_mapping', *_nova_columns(),
        sa.Column('instance_uuid', sa.String(36)),
        sa.Column('source_type', sa.String(255)),
        sa.Column('destination_type', sa.String(255)),
        sa.Column('guest_format', sa.String(255)),
        sa.Column('device_type', sa.String(255)),
        sa.Column('disk_bus', sa.String(255)),
        sa.Column('boot_index', sa.Integer),
        sa.Column('device_name', sa.String(255)),
        sa.Column('delete_on_termination', sa.Boolean),
        sa.Column('snapshot_id', sa.String(36)),
        sa.Column('volume_id', sa.String(36)),
        sa.Column('volume_size', sa.Integer),
        sa.Column('volume_type', sa.String(255)),
        sa.Column('image_id', sa.String(36)),
        sa.Column('no_device', sa.Boolean),
        sa.Column('connection_info', sa.Text),
        sa.Column('tag', sa.String(255)),
        sa.Column('attachment_id', sa.String(36)),
        sa.Column('uuid', sa.String(36)),
        sa.Index('snapshot_id', 'snapshot_id'),
        sa.Index('volume_id', 'volume_id'),
        sa.Index('block_device_mapping_instance_uuid_idx', 'instance_uuid'),
        sa.Index('block_device_mapping_instance_uuid_device_name_idx',
                 'instance_uuid', 'device_name'),
        sa.Index('block_device_mapping_instance_uuid_volume_id_idx',
                 'instance_uuid', 'volume_id'),
        sa.UniqueConstraint('uuid', name='uniq_block_device_mapping0uuid'),
        **_MYSQL)


def _create_bw_usage_cache():
    adopt.create_table(
        'bw_usage_cache', *_nova_columns(),
        sa.Column('uuid', sa.String(36)),
        sa.Column('mac', sa.String(255)),
        sa.Column('start_period', sa.DateTime, nullable=False),
        sa.Column('last_refreshed', sa.DateTime),
        sa.Column('bw_in', sa.BigInteger),
        sa.Column('bw_out', sa.BigInteger),
        sa.Column('last_ctr_in', sa.BigInteger),
        sa.Column('last_ctr_out', sa.BigInteger),
        sa.Index('bw_usage_cache_uuid_start_period_idx', 'uuid',
                 'start_period'),
        **_MYSQL)


def upgrade():
    _create_instance_actions()
    _create_migrations()
    _create_task_log()
    _create_key_pairs()
    _create_block_device_mapping()
    _create_bw_usage_cache()


def downgrade():
    for table in ('bw_usage_cache', 'block_device_mapping', 'key_pairs',
                  'task_log', 'migrations', 'instance_actions_events',
                  'instance_actions'):
        op.drop_table(table)
    bind = op.get_bind()
    for enum in ('keypair_types', 'migration_type'):
        sa.Enum(name=enum).drop(bind, checkfirst=True)
