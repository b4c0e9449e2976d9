"""Place instances on this cell's compute nodes, here, without a conductor.

A small host scheduler over ``compute_nodes``: a node qualifies when its
nova-compute service is enabled and up and it has the flavor's free RAM,
disk and vCPUs; the node with the most free RAM wins (spreading, ties in
random order); resources are taken by one conditional UPDATE, so two
concurrent builds never over-commit a node (the next node is tried when a
claim loses the race).  The instance then becomes ACTIVE on that host, and
every change goes to the top.  When no node fits, the instance goes to
ERROR with a fault naming why.
"""

import random

from oslo_log import log as logging
from oslo_utils import timeutils

from nova_cells.cells import capacity
from nova_cells.db import api as db_api
from nova_cells.db import instances as db_instances
from nova_cells.db import outbox as db_outbox
from nova_cells import exception
from nova_cells.handoff import BaseHandoff
from nova_cells.messaging import delivery
from nova_cells.cells import propagation
from nova_cells.cells import servicegroup
from nova_cells.top import topsync

__all__ = ['BuiltinHandoff', 'POWER_STATE_RUNNING']

LOG = logging.getLogger(__name__)

POWER_STATE_RUNNING = 1
_PLACEMENT_FIELDS = ('host', 'node', 'vm_state', 'task_state', 'power_state',
                     'launched_at', 'launched_on')


def _needs(flavor):
    get = (flavor.get if isinstance(flavor, dict)
           else lambda k, d=None: getattr(flavor, k, d))
    return (get('memory_mb') or 0,
            (get('root_gb') or 0) + (get('ephemeral_gb') or 0),
            get('vcpus') or 0)


class BuiltinHandoff(BaseHandoff):
    """The in-process host scheduler and compute stand-in."""

    reports_every_outcome = True

    def __init__(self, runner, db, service_down_time=60, rng=None):
        self.runner = runner
        self.db = db
        self.service_down_time = service_down_time
        self.rng = rng or random.Random()

    @classmethod
    def from_conf(cls, conf, runner, get_transport, exchange=None):
        return cls(runner, runner.services.db, conf.service_down_time)

    def build_instances(self, ctxt, build_inst_kwargs):
        flavor = build_inst_kwargs['filter_properties']['instance_type']
        instances_ = build_inst_kwargs['instances']
        for index, instance in enumerate(instances_):
            if instance.obj_attr_is_set('host') and instance.host:
                # Placed by an earlier copy of this build: report the
                # placement again (read from the row, so marked changed
                # here for the top to apply it).
                for key in _PLACEMENT_FIELDS:
                    setattr(instance, key, getattr(instance, key))
                topsync.instance_update_at_top(self.runner, ctxt, instance)
                continue
            try:
                self._place(ctxt, instance, flavor,
                            last=index == len(instances_) - 1)
            except exception.NoValidHost as exc:
                self._fail(ctxt, instance, exc)
        self._report_capacity(ctxt)

    # -- placement ---------------------------------------------------------

    def _usable_nodes(self, nodes, services, ram, disk, vcpus):
        """(nodes that fit, best first; a count of why others did not)."""
        now = timeutils.utcnow()
        fits, why = [], {}
        for node in nodes:
            reason = self._unfit(node, services.get(node['host']), now, ram,
                                 disk, vcpus)
            if reason:
                why[reason] = why.get(reason, 0) + 1
            else:
                fits.append(node)
        fits.sort(key=lambda n: (-(n['free_ram_mb'] or 0), self.rng.random()))
        return fits, why

    def _unfit(self, node, service, now, ram, disk, vcpus):
        if not service or service.get('disabled'):
            return 'service disabled'
        if not servicegroup.is_up(service, self.service_down_time, now):
            return 'service down'
        if (node['free_ram_mb'] or 0) < ram:
            return 'not enough free RAM'
        if (node['free_disk_gb'] or 0) < disk:
            return 'not enough free disk'
        if capacity.vcpus_free(node) < vcpus:
            return 'not enough free vCPUs'
        return None

    def _place(self, ctxt, instance, flavor, last=True):
        """Read, rank and claim in one transaction
        (:func:`~nova_cells.db.instances.place_on_best`), which also
        records the update for the top (with the build's mark for its
        ``last`` instance) when forwarding is durable."""
        ram, disk, vcpus = _needs(flavor)
        seen = {}

        def rank(nodes, services):
            fits, seen['why'] = self._usable_nodes(nodes, services, ram,
                                                   disk, vcpus)
            seen['fits'] = len(fits)
            return [(node, self._placement(node)) for node in fits]

        def then(conn, _node, values):
            return self._spawned_in(conn, ctxt, instance, values, last)
        try:
            node, recorded = db_instances.place_on_best(
                self.db, db_api.nodes_and_services, rank, ram, disk, vcpus,
                instance.uuid, then=then)
        except db_outbox.Duplicate:
            LOG.info('Instance %s was placed by another delivery of its '
                     'build', instance.uuid)
            return
        if node is not None:
            return self._spawned(ctxt, instance, node, recorded)
        why = seen.get('why', {})
        total = seen.get('fits', 0) + sum(why.values())
        reasons = ', '.join('%d %s' % (n, r) for r, n in sorted(why.items()))
        raise exception.NoValidHost(reason='0/%d hosts are available%s' % (
            total, ': ' + reasons if reasons else ''))

    @staticmethod
    def _placement(node):
        return {'host': node['host'], 'node': node['hypervisor_hostname'],
                'vm_state': 'active', 'task_state': None,
                'power_state': POWER_STATE_RUNNING,
                'launched_at': timeutils.utcnow(),
                'launched_on': node['host']}

    def _spawned_in(self, conn, ctxt, instance, values, last):
        """In the placement's transaction: the instance as placed, and,
        with durable forwarding, its update for the top recorded there
        too; returns what to send once committed (None: send it then)."""
        for key, value in values.items():
            setattr(instance, key, value)
        outbox = self.runner.outbox
        if outbox is None or not self.runner.state_manager.get_parent_cells():
            return None     # nothing recorded here (the top writes it)
        scope = delivery.scope_of(ctxt)
        if scope is None:
            return None     # not a received build's: sent once committed
        with outbox.collecting(scope) as posts:
            topsync.instance_update_at_top(self.runner, ctxt, instance)
        return outbox.record_in(conn, scope, posts, as_effect=last)

    def _spawned(self, ctxt, instance, node, recorded):
        """Committed; now tell the top (or send what was recorded)."""
        LOG.info('Instance %s is active on %s', instance.uuid, node['host'])
        if recorded is None:
            topsync.instance_update_at_top(self.runner, ctxt, instance)
        else:
            self.runner.outbox.queue(recorded)

    # -- failure and capacity -------------------------------------------------

    def _fail(self, ctxt, instance, exc):
        message = exc.format_message()
        LOG.warning('Instance %s: %s', instance.uuid, message)
        values = {'vm_state': 'error', 'task_state': None}
        db_instances.instance_update(self.db, instance.uuid, values)
        for key, value in values.items():
            setattr(instance, key, value)
        fault = {'instance_uuid': instance.uuid, 'code': 500,
                 'message': message[:255], 'details': message,
                 'host': None, 'created_at': timeutils.utcnow()}
        db_instances.instance_fault_create(self.db, fault)
        topsync.instance_update_at_top(self.runner, ctxt, instance)
        if not topsync.is_top(self.runner):
            topsync.instance_fault_create_at_top(self.runner, ctxt, fault)

    def _report_capacity(self, ctxt):
        """Capacities flow up on change too, not only every minute: one
        coalesced refresh and push for a burst of builds."""
        pusher = self.runner.services.pusher
        if pusher is not None:
            pusher.soon('own_capacities', ctxt)
            return
        try:
            propagation.refresh_and_tell_parents_our_capacities(self.runner,
                                                                ctxt)
        except Exception:  # noqa - the periodic push will catch up
            LOG.exception('Could not report capacity after a build')
