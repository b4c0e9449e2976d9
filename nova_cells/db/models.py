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
from sqlalchemy import (Boolean, Column, DateTime, Float, Index, Integer,
                        String, Text, UniqueConstraint)

__all__ = ['BASE', 'Cell', 'Service', 'ComputeNode', 'InstanceTypes',
           'Instance', 'InstanceFault']


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
    description = Column(Text)


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
