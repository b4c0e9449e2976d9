#!/usr/bin/env python3
"""Benchmark: the CPU of a build's database calls, call by call, on
PostgreSQL (issue 7).

Each row is one function of ``nova_cells.db`` that a cell runs for every
build or every durable hop: CPU microseconds of this process per call (the
server's work is not counted), the best of ``--rounds`` rounds of
``--calls`` calls after a warm-up, each on a throw-away database.

The baseline is the same rows run by an older commit of this repository
(``--baseline REV``), checked out in a temporary git worktree and measured
by a child process with that tree first on ``PYTHONPATH``, in the same
invocation, the two trees taking turns.

    python tools/bench/statements.py [--calls 1000] [--rounds 2]
        [--baseline e383b7a] [--database-url postgresql+psycopg2://...]
"""

import argparse
import datetime
import json
import os
import sys
import uuid

import sqlalchemy as sa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
import sync  # noqa: E402

NODES = 10


def _seed_nodes(db, models):
    """``NODES`` compute nodes with their services, big enough for every
    claim of the run; returns the first node's id."""
    now = datetime.datetime.utcnow()
    with db.connection_writer() as conn:
        for index in range(NODES):
            service_id = conn.execute(models.Service.__table__.insert(), {
                'host': 'h%d' % index, 'binary': 'nova-compute',
                'topic': 'compute', 'report_count': 0, 'disabled': False,
                'deleted': 0, 'last_seen_up': now,
                'created_at': now}).inserted_primary_key[0]
            conn.execute(models.ComputeNode.__table__.insert(), {
                'host': 'h%d' % index, 'service_id': service_id,
                'vcpus': 10 ** 6, 'memory_mb': 10 ** 9, 'local_gb': 10 ** 9,
                'vcpus_used': 0, 'memory_mb_used': 0, 'local_gb_used': 0,
                'free_ram_mb': 10 ** 9, 'free_disk_gb': 10 ** 9,
                'hypervisor_type': 'qemu', 'hypervisor_version': 1,
                'cpu_info': '', 'deleted': 0, 'created_at': now})
        return conn.execute(sa.select(models.ComputeNode.__table__.c.id)
                            ).scalars().first()


def _leaf_writer(db, db_instances):
    """``write(uuid)``: what a leaf writes for one instance it builds, in
    the tree being measured: nova's rows of an instance (the instance,
    its extra, system metadata, info cache, EC2 mapping, block device and
    action: ``nova_cells.db.new_instances``) where the tree has them, else
    the instance row alone (the trees before issue 20)."""
    try:
        from nova_cells import context as cells_context
        from nova_cells.db import new_instances
        new_instance = _common.project_module(
            'nova_cells.handoff.new_instance')
        from nova_cells.objects import base as objects_base
    except ImportError:
        return lambda instance_uuid: db_instances.instance_create(db, {
            'uuid': instance_uuid, 'vm_state': 'building', 'memory_mb': 1,
            'vcpus': 1, 'root_gb': 1, 'project_id': 'p', 'user_id': 'u'})
    objects_base.register_all()
    message = _common.wire_sample('targeted/build_instances/down')
    ctxt = cells_context.RequestContext.from_dict(message['ctxt'])
    serializer = objects_base.NovaObjectSerializer()
    kwargs = serializer.deserialize_entity(
        None, message['method_kwargs']['build_inst_kwargs'])
    kwargs['instances'] = kwargs['instances'][:1]
    template, = new_instance.prepare(ctxt, kwargs)
    shared = new_instances.shared_rows(db, ctxt.project_id, ctxt.user_id,
                                       [], template.image_refs)

    def write(instance_uuid):
        kwargs['instances'][0].uuid = instance_uuid
        new, = new_instance.prepare(ctxt, kwargs)
        new_instances.create_or_load(db, new, shared)
    return write


def _rows(db, node_id, service_id):
    """``{row name: call}``; each call is what one build asks of it."""
    from nova_cells.db import api as db_api
    from nova_cells.db import instances as db_instances
    from nova_cells.db import outbox as db_outbox
    instances = _common.project_module('nova_cells.top.instances')
    from nova_cells.objects import instance as instance_obj

    def new_uuid():
        return str(uuid.uuid4())

    create = _leaf_writer(db, db_instances)

    def create_and_place():
        instance_uuid = new_uuid()
        create(instance_uuid)
        db_instances.claim_and_place(db, node_id, 1, 1, 1, instance_uuid, {
            'host': 'h0', 'node': 'h0', 'vm_state': 'active',
            'task_state': None})

    top_rows = sync.seed_instances(db, 64)

    def top_update():
        update = instance_obj.Instance(uuid=top_rows[0], vm_state='active',
                                       task_state=None,
                                       display_name=new_uuid())
        db_instances.apply_top_updates(
            db, [instances.top_update(update, sync.CELL)],
            marks=[new_uuid()])

    return [
        ('leaf: new instance rows + claim', create_and_place),
        ('leaf: nodes + services', lambda: db_api.compute_nodes_with_services(
            db)),
        ('scheduling cell: cells by uuid',
         lambda: db_instances.instance_cells_by_uuid(db, [new_uuid()])),
        ('durable hop: outbox row + mark',
         lambda: db_outbox.outbox_add_many(
             db, [(new_uuid(), 'n', 'up', 'x' * 900)], 10,
             received_uuid=new_uuid())),
        ('received here: inbox lookup',
         lambda: db_outbox.inbox_contains(db, new_uuid())),
        ('top: one update + mark', top_update),
        ('heartbeat', lambda: db_api.service_report(db, service_id)),
    ]


def measure(admin_url, calls):
    """``[(row, CPU us per call)]`` for the nova_cells on sys.path."""
    from nova_cells.db import api as db_api
    from nova_cells.db import migration
    from nova_cells.db import models

    with sync.ThrowawayPG(admin_url) as pg:
        db = db_api.Database(pg.url, max_pool_size=20)
        try:
            migration.db_sync(db)
            node_id = _seed_nodes(db, models)
            service_id = db_api.service_create(db, {
                'host': 'cells', 'binary': 'nova-cells',
                'topic': 'cells'})['id']
            return [(name, _common.cpu_us_per_call(call, calls))
                    for name, call in _rows(db, node_id, service_id)]
        finally:
            db.dispose()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--calls', type=int, default=1000)
    parser.add_argument('--database-url', default=sync.PG_ADMIN_URL,
                        help='PostgreSQL server (its admin database)')
    _common.add_beside_arguments(parser, rounds=2)
    args = parser.parse_args(argv)
    calls, rounds = args.calls, args.rounds
    if args.quick:
        calls, rounds = 20, 1
    if args.json:
        print(json.dumps(measure(args.database_url, calls)))
        return 0
    print('statements: %s' % _common.load_note())
    ours, theirs = _common.measure_beside(
        args.baseline, rounds, lambda: measure(args.database_url, calls),
        __file__, ['--calls', str(calls), '--database-url',
                   args.database_url])
    _common.print_beside('call', ours, theirs, args.baseline or '')
    print('%d calls a row, best of %d rounds, %d nodes'
          % (calls, rounds, NODES))
    return 0


if __name__ == '__main__':
    sys.exit(main())
