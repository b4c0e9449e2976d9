"""An instance's other rows, as nova writes them when a cell builds it.

``instance_extra``, ``instance_system_metadata``, ``instance_metadata``,
``instance_info_caches``, ``instance_id_mappings``, ``s3_images``, the
security group tables, ``tags`` and ``console_auth_tokens``: created when
missing (a database nova made has them all, and keeps them as they are).

``instance_types.description``, which revision 0001 created and nova's
cell database never had, is dropped: nothing wrote it, and the model must
read the table nova created.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from nova_cells.db.migrations import adopt

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_MYSQL = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'}
_MEDIUM_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql')


def _nova_columns():
    return [
        sa.Column('created_at', sa.DateTime),
        sa.Column('updated_at', sa.DateTime),
        sa.Column('deleted_at', sa.DateTime),
        sa.Column('deleted', sa.Integer),
        sa.Column('id', sa.Integer, primary_key=True, nullable=False,
                  autoincrement=True),
    ]


def _create_instance_extra():
    texts = ('numa_topology', 'pci_requests', 'flavor', 'vcpu_model',
             'migration_context', 'keypairs', 'device_metadata',
             'trusted_certs')
    adopt.create_table(
        'instance_extra', *_nova_columns(),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        *[sa.Column(name, sa.Text) for name in texts],
        sa.Index('instance_extra_idx', 'instance_uuid'),
        **_MYSQL)


def _create_metadata():
    adopt.create_table(
        'instance_system_metadata', *_nova_columns(),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        sa.Column('key', sa.String(255), nullable=False),
        sa.Column('value', sa.String(255)),
        sa.Index('instance_uuid', 'instance_uuid'),
        **_MYSQL)
    adopt.create_table(
        'instance_metadata', *_nova_columns(),
        sa.Column('key', sa.String(255)),
        sa.Column('value', sa.String(255)),
        sa.Column('instance_uuid', sa.String(36)),
        sa.Index('instance_metadata_instance_uuid_idx', 'instance_uuid'),
        **_MYSQL)


def _create_info_caches_and_ec2_ids():
    adopt.create_table(
        'instance_info_caches', *_nova_columns(),
        sa.Column('network_info', _MEDIUM_TEXT),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        sa.UniqueConstraint('instance_uuid',
                            name='uniq_instance_info_caches0instance_uuid'),
        **_MYSQL)
    adopt.create_table(
        'instance_id_mappings', *_nova_columns(),
        sa.Column('uuid', sa.String(36), nullable=False),
        sa.Index('ix_instance_id_mappings_uuid', 'uuid'),
        **_MYSQL)
    adopt.create_table(
        's3_images', *_nova_columns(),
        sa.Column('uuid', sa.String(36), nullable=False),
        **_MYSQL)


def _create_security_groups():
    adopt.create_table(
        'security_groups', *_nova_columns(),
        sa.Column('name', sa.String(255)),
        sa.Column('description', sa.String(255)),
        sa.Column('user_id', sa.String(255)),
        sa.Column('project_id', sa.String(255)),
        sa.UniqueConstraint(
            'project_id', 'name', 'deleted',
            name='uniq_security_groups0project_id0name0deleted'),
        **_MYSQL)
    adopt.create_table(
        'security_group_instance_association', *_nova_columns(),
        sa.Column('security_group_id', sa.Integer),
        sa.Column('instance_uuid', sa.String(36)),
        sa.Index('security_group_instance_association_instance_uuid_idx',
                 'instance_uuid'),
        **_MYSQL)
    adopt.create_table(
        'security_group_rules', *_nova_columns(),
        sa.Column('parent_group_id', sa.Integer),
        sa.Column('protocol', sa.String(255)),
        sa.Column('from_port', sa.Integer),
        sa.Column('to_port', sa.Integer),
        sa.Column('cidr', sa.String(43)),
        sa.Column('group_id', sa.Integer),
        **_MYSQL)
    adopt.create_table(
        'security_group_default_rules', *_nova_columns(),
        sa.Column('protocol', sa.String(5)),
        sa.Column('from_port', sa.Integer),
        sa.Column('to_port', sa.Integer),
        sa.Column('cidr', sa.String(43)),
        **_MYSQL)


def _create_tags_and_tokens():
    adopt.create_table(
        'tags',
        sa.Column('resource_id', sa.String(36), primary_key=True,
                  nullable=False),
        sa.Column('tag', sa.String(80), primary_key=True, nullable=False),
        sa.Index('tags_tag_idx', 'tag'),
        **_MYSQL)
    adopt.create_table(
        'console_auth_tokens',
        sa.Column('created_at', sa.DateTime),
        sa.Column('updated_at', sa.DateTime),
        sa.Column('id', sa.Integer, primary_key=True, nullable=False,
                  autoincrement=True),
        sa.Column('token_hash', sa.String(255), nullable=False),
        sa.Column('console_type', sa.String(255), nullable=False),
        sa.Column('host', sa.String(255), nullable=False),
        sa.Column('port', sa.Integer, nullable=False),
        sa.Column('internal_access_path', sa.String(255)),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        sa.Column('expires', sa.Integer, nullable=False),
        sa.Column('access_url_base', sa.String(255)),
        sa.UniqueConstraint('token_hash',
                            name='uniq_console_auth_tokens0token_hash'),
        sa.Index('console_auth_tokens_instance_uuid_idx', 'instance_uuid'),
        sa.Index('console_auth_tokens_host_expires_idx', 'host', 'expires'),
        sa.Index('console_auth_tokens_token_hash_idx', 'token_hash'),
        sa.Index('console_auth_tokens_token_hash_instance_uuid_idx',
                 'token_hash', 'instance_uuid'),
        **_MYSQL)


def _drop_flavor_description():
    columns = {c['name'] for c in
               sa.inspect(op.get_bind()).get_columns('instance_types')}
    if 'description' in columns:
        with op.batch_alter_table('instance_types') as batch:
            batch.drop_column('description')


def upgrade():
    _create_instance_extra()
    _create_metadata()
    _create_info_caches_and_ec2_ids()
    _create_security_groups()
    _create_tags_and_tokens()
    _drop_flavor_description()


def downgrade():
    """Nothing: the tables may be nova's own (a cell nova created has
    them all, and its services still read them), and they cost nothing
    to a nova-cells of revision 0005, which ignores them."""
