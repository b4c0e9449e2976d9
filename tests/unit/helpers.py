"""Helpers that insert the nova rows the state manager reads
(``services``, ``compute_nodes``, ``instance_types``) into a test database."""

import datetime

from oslo_utils import timeutils

from nova_cells.db import models


def add_compute_service(db, host, disabled=False, last_seen_up=None,
                        forced_down=False):
    """Insert a nova-compute ``services`` row; default: heartbeat now."""
    if last_seen_up is None:
        last_seen_up = timeutils.utcnow()
    with db.writer() as session:
        session.add(models.Service(host=host, binary='nova-compute',
                                   topic='compute', disabled=disabled,
                                   forced_down=forced_down,
                                   last_seen_up=last_seen_up,
                                   report_count=1))


def add_compute_node(db, host, memory_mb, free_ram_mb, local_gb,
                     free_disk_gb, node=None):
    """Insert a ``compute_nodes`` row with nova's NOT NULL columns."""
    with db.writer() as session:
        session.add(models.ComputeNode(
            host=host, hypervisor_hostname=node or host,
            vcpus=8, vcpus_used=0,
            memory_mb=memory_mb, memory_mb_used=memory_mb - free_ram_mb,
            free_ram_mb=free_ram_mb,
            local_gb=local_gb, local_gb_used=local_gb - free_disk_gb,
            free_disk_gb=free_disk_gb,
            hypervisor_type='QEMU', hypervisor_version=1, cpu_info='{}'))


def add_flavor(db, name, memory_mb, root_gb, ephemeral_gb=0):
    """Insert an ``instance_types`` row."""
    with db.writer() as session:
        session.add(models.InstanceTypes(
            name=name, flavorid=name, memory_mb=memory_mb, vcpus=1,
            root_gb=root_gb, ephemeral_gb=ephemeral_gb))


def hours_ago(hours):
    return timeutils.utcnow() - datetime.timedelta(hours=hours)


def run_main(argv, main=None):
    """``(status, stdout, stderr)`` of one in-process command
    (``nova-cells-manage`` by default); the global CONF reset afterwards,
    as a new process would have it.  The sub-command option is
    unregistered too: it would make later entry points in this process
    (nova-cells) require a category."""
    import io
    import sys

    from oslo_config import cfg

    from nova_cells.cmd import manage
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        (main or manage.main)(argv)
        status = 0
    except SystemExit as exc:
        status = exc.code
    finally:
        sys.stdout, sys.stderr = saved
        cfg.CONF.reset()
        cfg.CONF.clear()
        cfg.CONF.unregister_opt(manage.category_opt)
    return status, out.getvalue(), err.getvalue()
