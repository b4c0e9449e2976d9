"""SQLAlchemy models with nova's table and column names.

Only the columns nova-cells reads or writes are declared, but every one has
nova's name, type and default so that a cell's existing nova database and a
nova-cells database are interchangeable for these tables.  ``cells`` is
complete, exactly as nova's (reference §3.1).

Soft delete follows nova: ``deleted`` is 0 for a live row and the row's
``id`` once deleted, so that unique constraints include ``deleted``.
"""

from oslo_utils import timeutils
from sqlalchemy import orm
from sqlalchemy import (BigInteger, Boolean, Column, DateTime, Enum, Float,
                        Index, Integer, String, Text, UniqueConstraint)
from sqlalchemy.dialects import mysql

__all__ = ['BASE', 'Cell', 'CellOutbox', 'CellInbox', 'CellClaim',
           'Service', 'ComputeNode', 'InstanceTypes', 'Instance',
           'InstanceFault', 'InstanceAction',
           'InstanceActionEvent', 'Migration', 'TaskLog', 'KeyPair',
           'BlockDeviceMapping', 'BandwidthUsage', 'InstanceExtra',
           'InstanceSystemMetadata', 'InstanceMetadata', 'InstanceInfoCache',
           'InstanceIdMapping', 'S3Image', 'SecurityGroup',
           'SecurityGroupInstanceAssociation', 'SecurityGroupIngressRule',
           'SecurityGroupDefaultRule', 'Tag', 'ConsoleAuthToken']


# nova's MediumText: TEXT, MEDIUMTEXT on MySQL (where nova's migrations
# gave a column more than TEXT's 64 KB).
_MEDIUM_TEXT = Text().with_variant(mysql.MEDIUMTEXT(), 'mysql')


class _Base(orm.DeclarativeBase):
    pass


BASE = _Base


class _NovaBase(object):
    """nova's TimestampMixin + SoftDeleteMixin columns."""

    created_at = Column(DateTime, default=lambda: timeutils.utcnow())
    updated_at = Column(DateTime, onupdate=lambda: timeutils.utcnow())
    deleted_at = Column(DateTime)
    deleted = Column(Integer, default=0)

    def as_dict(self):
        """Return the row's columns as a plain dict (nova's ``dict(row)``)."""
        return {c.name: getattr(self, c.key)
                for c in self.__table__.columns}


class Cell(_Base, _NovaBase):
    """A neighbour cell (parent or child) of the cell owning this database."""

    __tablename__ = 'cells'
    __table_args__ = (
        UniqueConstraint('name', 'deleted', name='uniq_cells0name0deleted'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True)
    name = Column(String(255))
    api_url = Column(String(255))
    transport_url = Column(String(255), nullable=False)
    weight_offset = Column(Float(), default=0.0)
    weight_scale = Column(Float(), default=1.0)
    is_parent = Column(Boolean())
    # Beyond nova (revision 0003): 'enabled' (NULL too), 'disabled' or
    # 'draining'; see nova_cells.cellstate.
    state = Column(String(16), nullable=True, server_default='enabled')
    state_reason = Column(String(255), nullable=True)
    # Beyond nova (revision 0004): a JSON list of HMAC keys for this link.
    signing_keys = Column(Text, nullable=True)


class CellOutbox(_Base):
    """A message sent to a neighbour and not yet confirmed (0004; one row
    per neighbour since 0005)."""

    __tablename__ = 'cell_outbox'
    __table_args__ = (
        UniqueConstraint('message_uuid', 'neighbour',
                         name='uniq_cell_outbox0uuid0neighbour'),
        Index('cell_outbox_next_attempt_idx', 'next_attempt_at'),
        Index('cell_outbox_owner_idx', 'owner'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True, autoincrement=True)
    message_uuid = Column(String(36), nullable=False)
    # The host of the daemon sending it (0008; NULL: before 0008).
    owner = Column(String(255), nullable=True)
    neighbour = Column(String(255), nullable=False)
    direction = Column(String(4), nullable=False)
    message = Column(Text().with_variant(mysql.MEDIUMTEXT(), 'mysql'),
                     nullable=False)
    attempts = Column(Integer, nullable=False, server_default='0')
    created_at = Column(DateTime, nullable=False)
    next_attempt_at = Column(DateTime, nullable=False)


class CellInbox(_Base):
    """The uuid of a message this cell has applied (0004)."""

    __tablename__ = 'cell_inbox'
    __table_args__ = (
        Index('cell_inbox_created_at_idx', 'created_at'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    message_uuid = Column(String(36), primary_key=True)
    created_at = Column(DateTime, nullable=False)


class CellClaim(_Base):
    """A received message being applied here, and by whom (0007): a copy
    arriving meanwhile waits instead of being applied a second time."""

    __tablename__ = 'cell_claims'
    __table_args__ = (
        Index('cell_claims_claimed_at_idx', 'claimed_at'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    message_uuid = Column(String(36), primary_key=True)
    claimed_by = Column(String(64), nullable=False)
    claimed_at = Column(DateTime, nullable=False)


class Service(_Base, _NovaBase):
    """A service of this cell (nova-compute, nova-cells, ...)."""

    __tablename__ = 'services'
    __table_args__ = (
        UniqueConstraint('host', 'topic', 'deleted',
                         name='uniq_services0host0topic0deleted'),
        UniqueConstraint('host', 'binary', 'deleted',
                         name='uniq_services0host0binary0deleted'),
        Index('services_uuid_idx', 'uuid', unique=True),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True)
    uuid = Column(String(36), nullable=True)
    host = Column(String(255))
    binary = Column(String(255))
    topic = Column(String(255))
    report_count = Column(Integer, nullable=False, default=0)
    disabled = Column(Boolean, default=False)
    disabled_reason = Column(String(255))
    last_seen_up = Column(DateTime, nullable=True)
    forced_down = Column(Boolean, default=False)
    version = Column(Integer, default=0)


class ComputeNode(_Base, _NovaBase):
    """A hypervisor node of this cell, with its resources."""

    __tablename__ = 'compute_nodes'
    __table_args__ = (
        UniqueConstraint('host', 'hypervisor_hostname', 'deleted',
                         name='uniq_compute_nodes0host0hypervisor_hostname0'
                              'deleted'),
        Index('compute_nodes_uuid_idx', 'uuid', unique=True),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True)
    service_id = Column(Integer, nullable=True)
    host = Column(String(255), nullable=True)
    uuid = Column(String(36), nullable=True)
    vcpus = Column(Integer, nullable=False)
    memory_mb = Column(Integer, nullable=False)
    local_gb = Column(Integer, nullable=False)
    vcpus_used = Column(Integer, nullable=False)
    memory_mb_used = Column(Integer, nullable=False)
    local_gb_used = Column(Integer, nullable=False)
    hypervisor_type = Column(Text, nullable=False)
    hypervisor_version = Column(Integer, nullable=False)
    hypervisor_hostname = Column(String(255))
    free_ram_mb = Column(Integer)
    free_disk_gb = Column(Integer)
    current_workload = Column(Integer)
    running_vms = Column(Integer)
    cpu_info = Column(Text, nullable=False)
    disk_available_least = Column(Integer)
    host_ip = Column(String(39))
    supported_instances = Column(Text)
    metrics = Column(Text)
    stats = Column(Text, default='{}')
    ram_allocation_ratio = Column(Float, nullable=True)
    cpu_allocation_ratio = Column(Float, nullable=True)
    disk_allocation_ratio = Column(Float, nullable=True)
    mapped = Column(Integer, nullable=True, default=0)


class InstanceTypes(_Base, _NovaBase):
    """A flavor (nova's ``instance_types`` table)."""

    __tablename__ = 'instance_types'
    __table_args__ = (
        UniqueConstraint('flavorid', 'deleted',
                         name='uniq_instance_types0flavorid0deleted'),
        UniqueConstraint('name', 'deleted',
                         name='uniq_instance_types0name0deleted'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True)
    name = Column(String(255))
    memory_mb = Column(Integer, nullable=False)
    vcpus = Column(Integer, nullable=False)
    root_gb = Column(Integer)
    ephemeral_gb = Column(Integer)
    flavorid = Column(String(255))
    swap = Column(Integer, nullable=False, default=0)
    rxtx_factor = Column(Float, default=1)
    vcpu_weight = Column(Integer)
    disabled = Column(Boolean, default=False)
    is_public = Column(Boolean, default=True)
    # NOTE(nova-cells): no ``description``: nova's cell ``instance_types``
    # never had one (in Stein it exists only in the API database's
    # ``flavors``), and this model must read a table nova created.


class Instance(_Base, _NovaBase):
    """An instance, as this cell (or the top) records it."""

    __tablename__ = 'instances'
    __table_args__ = (
        Index('uuid', 'uuid', unique=True),
        Index('instances_host_deleted_idx', 'host', 'deleted'),
        Index('instances_project_id_deleted_idx', 'project_id', 'deleted'),
        Index('instances_updated_at_project_id_idx', 'updated_at',
              'project_id'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True, autoincrement=True)
    uuid = Column(String(36), nullable=False)
    user_id = Column(String(255))
    project_id = Column(String(255))
    image_ref = Column(String(255))
    kernel_id = Column(String(255))
    ramdisk_id = Column(String(255))
    hostname = Column(String(255))
    launch_index = Column(Integer)
    key_name = Column(String(255))
    key_data = Column(Text)
    power_state = Column(Integer)
    vm_state = Column(String(255))
    task_state = Column(String(255))
    memory_mb = Column(Integer)
    vcpus = Column(Integer)
    root_gb = Column(Integer)
    ephemeral_gb = Column(Integer)
    ephemeral_key_uuid = Column(String(36))
    host = Column(String(255))
    node = Column(String(255))
    instance_type_id = Column(Integer)
    user_data = Column(Text)
    reservation_id = Column(String(255))
    launched_at = Column(DateTime)
    terminated_at = Column(DateTime)
    availability_zone = Column(String(255))
    display_name = Column(String(255))
    display_description = Column(String(255))
    launched_on = Column(Text)
    locked = Column(Boolean)
    locked_by = Column(String(255))
    os_type = Column(String(255))
    architecture = Column(String(255))
    vm_mode = Column(String(255))
    root_device_name = Column(String(255))
    default_ephemeral_device = Column(String(255))
    default_swap_device = Column(String(255))
    config_drive = Column(String(255))
    access_ip_v4 = Column(String(39))
    access_ip_v6 = Column(String(39))
    auto_disk_config = Column(Boolean())
    progress = Column(Integer)
    shutdown_terminate = Column(Boolean(), default=False)
    disable_terminate = Column(Boolean(), default=False)
    cell_name = Column(String(255))
    cleaned = Column(Integer, default=0)


class InstanceFault(_Base, _NovaBase):
    """Why an instance went wrong, as nova records it."""

    __tablename__ = 'instance_faults'
    __table_args__ = (
        Index('instance_faults_host_idx', 'host'),
        Index('instance_faults_instance_uuid_deleted_created_at_idx',
              'instance_uuid', 'deleted', 'created_at'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True)
    instance_uuid = Column(String(36))
    code = Column(Integer(), nullable=False)
    message = Column(String(255))
    details = Column(Text)
    host = Column(String(255))


# -- queries (revision 0002): nova's tables for the cells query API ----------

class InstanceAction(_Base, _NovaBase):
    """A user-visible action on an instance (``os-instance-actions``)."""

    __tablename__ = 'instance_actions'
    __table_args__ = (
        Index('instance_uuid_idx', 'instance_uuid'),
        Index('request_id_idx', 'request_id'),
        Index('instance_actions_instance_uuid_updated_at_idx',
              'instance_uuid', 'updated_at'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True, nullable=False,
                autoincrement=True)
    action = Column(String(255))
    instance_uuid = Column(String(36))
    request_id = Column(String(255))
    user_id = Column(String(255))
    project_id = Column(String(255))
    start_time = Column(DateTime, default=lambda: timeutils.utcnow())
    finish_time = Column(DateTime)
    message = Column(String(255))


class InstanceActionEvent(_Base, _NovaBase):
    """One step of an instance action."""

    __tablename__ = 'instance_actions_events'
    __table_args__ = (
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True, nullable=False,
                autoincrement=True)
    event = Column(String(255))
    action_id = Column(Integer)
    start_time = Column(DateTime, default=lambda: timeutils.utcnow())
    finish_time = Column(DateTime)
    result = Column(String(255))
    traceback = Column(Text)
    host = Column(String(255))
    details = Column(Text)


MIGRATION_TYPES = ('migration', 'resize', 'live-migration', 'evacuation')


class Migration(_Base, _NovaBase):
    """A resize, migration, live migration or evacuation of an instance."""

    __tablename__ = 'migrations'
    __table_args__ = (
        Index('migrations_instance_uuid_and_status_idx', 'deleted',
              'instance_uuid', 'status'),
        # NOTE(nova-cells): nova's MySQL prefix lengths (216_havana), or
        # the key is longer than InnoDB's 3072 bytes.
        Index('migrations_by_host_nodes_and_status_idx', 'deleted',
              'source_compute', 'dest_compute', 'source_node', 'dest_node',
              'status', mysql_length={'source_compute': 100,
                                      'dest_compute': 100,
                                      'source_node': 100,
                                      'dest_node': 100}),
        Index('migrations_uuid', 'uuid', unique=True),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True, nullable=False)
    uuid = Column(String(36))
    source_compute = Column(String(255))
    dest_compute = Column(String(255))
    source_node = Column(String(255))
    dest_node = Column(String(255))
    dest_host = Column(String(255))
    old_instance_type_id = Column(Integer())
    new_instance_type_id = Column(Integer())
    instance_uuid = Column(String(36))
    status = Column(String(255))
    migration_type = Column(Enum(*MIGRATION_TYPES, name='migration_type'),
                            nullable=True)
    hidden = Column(Boolean, default=False)
    memory_total = Column(BigInteger, nullable=True)
    memory_processed = Column(BigInteger, nullable=True)
    memory_remaining = Column(BigInteger, nullable=True)
    disk_total = Column(BigInteger, nullable=True)
    disk_processed = Column(BigInteger, nullable=True)
    disk_remaining = Column(BigInteger, nullable=True)


class TaskLog(_Base, _NovaBase):
    """Audit of periodic tasks (``instance_usage_audit``)."""

    __tablename__ = 'task_log'
    __table_args__ = (
        UniqueConstraint('task_name', 'host', 'period_beginning',
                         'period_ending',
                         name='uniq_task_log0task_name0host0'
                              'period_beginning0period_ending'),
        Index('ix_task_log_period_beginning', 'period_beginning'),
        Index('ix_task_log_host', 'host'),
        Index('ix_task_log_period_ending', 'period_ending'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True, nullable=False,
                autoincrement=True)
    task_name = Column(String(255), nullable=False)
    state = Column(String(255), nullable=False)
    host = Column(String(255), nullable=False)
    period_beginning = Column(DateTime, nullable=False)
    period_ending = Column(DateTime, nullable=False)
    message = Column(String(255), nullable=False)
    task_items = Column(Integer(), default=0)
    errors = Column(Integer(), default=0)


class KeyPair(_Base, _NovaBase):
    """A user's keypair (the API cell's copy, for ``get_keypair_at_top``)."""

    __tablename__ = 'key_pairs'
    __table_args__ = (
        UniqueConstraint('user_id', 'name', 'deleted',
                         name='uniq_key_pairs0user_id0name0deleted'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True, nullable=False)
    name = Column(String(255), nullable=False)
    user_id = Column(String(255))
    fingerprint = Column(String(255))
    public_key = Column(Text)
    type = Column(Enum('ssh', 'x509', name='keypair_types'),
                  nullable=False, server_default='ssh')


class BlockDeviceMapping(_Base, _NovaBase):
    """A disk of an instance (the API cell's copy, from below)."""

    __tablename__ = 'block_device_mapping'
    __table_args__ = (
        Index('snapshot_id', 'snapshot_id'),
        Index('volume_id', 'volume_id'),
        Index('block_device_mapping_instance_uuid_idx', 'instance_uuid'),
        Index('block_device_mapping_instance_uuid_device_name_idx',
              'instance_uuid', 'device_name'),
        Index('block_device_mapping_instance_uuid_volume_id_idx',
              'instance_uuid', 'volume_id'),
        UniqueConstraint('uuid', name='uniq_block_device_mapping0uuid'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True, autoincrement=True)
    instance_uuid = Column(String(36))
    source_type = Column(String(255))
    destination_type = Column(String(255))
    guest_format = Column(String(255))
    device_type = Column(String(255))
    disk_bus = Column(String(255))
    boot_index = Column(Integer)
    device_name = Column(String(255))
    delete_on_termination = Column(Boolean, default=False)
    snapshot_id = Column(String(36))
    volume_id = Column(String(36))
    volume_size = Column(Integer)
    volume_type = Column(String(255))
    image_id = Column(String(36))
    no_device = Column(Boolean)
    connection_info = Column(Text)
    tag = Column(String(255))
    attachment_id = Column(String(36))
    uuid = Column(String(36))


class BandwidthUsage(_Base, _NovaBase):
    """Bandwidth usage of an instance's interface (``bw_usage_cache``)."""

    __tablename__ = 'bw_usage_cache'
    __table_args__ = (
        Index('bw_usage_cache_uuid_start_period_idx', 'uuid',
              'start_period'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True, nullable=False)
    uuid = Column(String(36))
    mac = Column(String(255))
    start_period = Column(DateTime, nullable=False)
    last_refreshed = Column(DateTime)
    bw_in = Column(BigInteger)
    bw_out = Column(BigInteger)
    last_ctr_in = Column(BigInteger)
    last_ctr_out = Column(BigInteger)


# -- an instance's other rows (revision 0006) ---------------------------------
#
# What nova's compute API writes beside the ``instances`` row when a cell
# builds an instance, and what ``instance_destroy`` soft-deletes with it:
# nova-conductor and nova-compute read them next (the flavor from
# ``instance_extra``, the ``create`` action, the block devices).  Columns,
# types and indexes as nova Stein's; no foreign keys here (nova's own
# databases have theirs).

class InstanceExtra(_Base, _NovaBase):
    """Serialized parts of an instance (flavor, NUMA, PCI requests...)."""

    __tablename__ = 'instance_extra'
    __table_args__ = (
        Index('instance_extra_idx', 'instance_uuid'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True, nullable=False)
    instance_uuid = Column(String(36), nullable=False)
    numa_topology = Column(Text)
    pci_requests = Column(Text)
    flavor = Column(Text)
    vcpu_model = Column(Text)
    migration_context = Column(Text)
    keypairs = Column(Text)
    device_metadata = Column(Text)
    trusted_certs = Column(Text)


class InstanceSystemMetadata(_Base, _NovaBase):
    """One ``system_metadata`` key of an instance (image properties...)."""

    __tablename__ = 'instance_system_metadata'
    __table_args__ = (
        Index('instance_uuid', 'instance_uuid'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True)
    key = Column(String(255), nullable=False)
    value = Column(String(255))
    instance_uuid = Column(String(36), nullable=False)


class InstanceMetadata(_Base, _NovaBase):
    """One user ``metadata`` key of an instance."""

    __tablename__ = 'instance_metadata'
    __table_args__ = (
        Index('instance_metadata_instance_uuid_idx', 'instance_uuid'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True)
    key = Column(String(255))
    value = Column(String(255))
    instance_uuid = Column(String(36))


class InstanceInfoCache(_Base, _NovaBase):
    """An instance's network info, as nova-compute caches it."""

    __tablename__ = 'instance_info_caches'
    __table_args__ = (
        UniqueConstraint('instance_uuid',
                         name='uniq_instance_info_caches0instance_uuid'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True, autoincrement=True)
    network_info = Column(_MEDIUM_TEXT)
    instance_uuid = Column(String(36), nullable=False)


class InstanceIdMapping(_Base, _NovaBase):
    """The integer behind an instance's EC2 id (``i-%08x``)."""

    __tablename__ = 'instance_id_mappings'
    __table_args__ = (
        Index('ix_instance_id_mappings_uuid', 'uuid'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True, nullable=False,
                autoincrement=True)
    uuid = Column(String(36), nullable=False)


class S3Image(_Base, _NovaBase):
    """The integer behind an image's EC2 id (``ami-%08x``)."""

    __tablename__ = 's3_images'
    __table_args__ = (
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True, nullable=False,
                autoincrement=True)
    uuid = Column(String(36), nullable=False)


class SecurityGroup(_Base, _NovaBase):
    """A nova-network security group (with neutron only ``default``,
    which nova ensures for the project on every instance create)."""

    __tablename__ = 'security_groups'
    __table_args__ = (
        UniqueConstraint('project_id', 'name', 'deleted',
                         name='uniq_security_groups0project_id0name0deleted'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True)
    name = Column(String(255))
    description = Column(String(255))
    user_id = Column(String(255))
    project_id = Column(String(255))


class SecurityGroupInstanceAssociation(_Base, _NovaBase):
    """A security group of an instance (nova-network)."""

    __tablename__ = 'security_group_instance_association'
    __table_args__ = (
        Index('security_group_instance_association_instance_uuid_idx',
              'instance_uuid'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True, nullable=False)
    security_group_id = Column(Integer)
    instance_uuid = Column(String(36))


class SecurityGroupIngressRule(_Base, _NovaBase):
    """A rule of a security group (``security_group_rules``)."""

    __tablename__ = 'security_group_rules'
    __table_args__ = ({'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},)
    id = Column(Integer, primary_key=True)
    parent_group_id = Column(Integer)
    protocol = Column(String(255))
    from_port = Column(Integer)
    to_port = Column(Integer)
    cidr = Column(String(43))
    group_id = Column(Integer)


class SecurityGroupDefaultRule(_Base, _NovaBase):
    """A rule copied into every new ``default`` group."""

    __tablename__ = 'security_group_default_rules'
    __table_args__ = ({'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},)
    id = Column(Integer, primary_key=True, nullable=False)
    protocol = Column(String(5))
    from_port = Column(Integer)
    to_port = Column(Integer)
    cidr = Column(String(43))


class Tag(_Base):
    """A tag of an instance (no soft delete: nova deletes tags)."""

    __tablename__ = 'tags'
    __table_args__ = (
        Index('tags_tag_idx', 'tag'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    resource_id = Column(String(36), primary_key=True, nullable=False)
    tag = Column(String(80), primary_key=True, nullable=False)


class ConsoleAuthToken(_Base):
    """A console token of an instance (no soft delete, as nova's)."""

    __tablename__ = 'console_auth_tokens'
    __table_args__ = (
        UniqueConstraint('token_hash',
                         name='uniq_console_auth_tokens0token_hash'),
        Index('console_auth_tokens_instance_uuid_idx', 'instance_uuid'),
        Index('console_auth_tokens_host_expires_idx', 'host', 'expires'),
        Index('console_auth_tokens_token_hash_idx', 'token_hash'),
        Index('console_auth_tokens_token_hash_instance_uuid_idx',
              'token_hash', 'instance_uuid'),
        {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'},
    )
    id = Column(Integer, primary_key=True, nullable=False)
    created_at = Column(DateTime, default=lambda: timeutils.utcnow())
    updated_at = Column(DateTime, onupdate=lambda: timeutils.utcnow())
    token_hash = Column(String(255), nullable=False)
    console_type = Column(String(255), nullable=False)
    host = Column(String(255), nullable=False)
    port = Column(Integer, nullable=False)
    internal_access_path = Column(String(255))
    instance_uuid = Column(String(36), nullable=False)
    expires = Column(Integer, nullable=False)
    access_url_base = Column(String(255))
