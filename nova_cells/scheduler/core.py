"""CellsScheduler: where a build goes next (reference §6).

For a build request reaching this cell: build the request spec, gather the
candidates (the children, plus this cell when it has no children or has
capacity of its own), filter and weigh them
(:mod:`nova_cells.scheduler.selection`),
then either hand the build to this cell's host scheduler or forward it to
the chosen child, falling through to the next cell when sending fails.
With no cell available it retries ``scheduler_retries`` times,
``scheduler_retry_delay`` seconds apart.

Differences from nova, on purpose: when everything fails, every instance is
set to ERROR at the top *with an instance fault saying why* (the diagnosis
of the last attempt, in the k8s form "0/4 cells are available: ...";
§10.24); a TargetCellFilter pin is acted on here, not inside the filter
(§10.5 of the style guide); a pinned path outside the subtree is refused.
A pinned build travels as nova's did, one message to the full pinned
path, but a cell of ours it passes through that cannot route it on fails
its instances at the top with a fault (nova logged it and lost it).
"""

import contextlib
import time

from oslo_log import log as logging
from oslo_utils import timeutils

from nova_cells.objects import build_payload
from nova_cells.db import instances as db_instances
from nova_cells.db import new_instances as db_new_instances
from nova_cells.messaging import delivery
from nova_cells.scheduler import dry_run
from nova_cells import exception
from nova_cells.filters import cell_state
from nova_cells.filters import free_units
from nova_cells.handoff import new_instance
from nova_cells.objects import instance as instance_obj
from nova_cells.scheduler import plugins
from nova_cells import routing
from nova_cells import scheduling
from nova_cells.scheduler import selection as cell_selection
from nova_cells.scheduler import trace as build_trace
from nova_cells.scheduler import server_groups
from nova_cells.scheduler import split_plan
from nova_cells.top import topsync

__all__ = ['CellsScheduler', 'SchedulerSettings', 'build_request_spec',
           'with_cell_state_filter', 'with_free_units_filter',
           'load_plugin_lists']

LOG = logging.getLogger(__name__)


class SchedulerSettings(object):
    """The ``[cells]`` options the scheduler itself acts on (the
    plug-ins read their own)."""

    def __init__(self, scheduler_retries=10, scheduler_retry_delay=2,
                 split_builds_by_capacity=False,
                 server_group_cell_level=False, use_neutron=True):
        self.scheduler_retries = scheduler_retries
        self.scheduler_retry_delay = scheduler_retry_delay
        self.split_builds_by_capacity = split_builds_by_capacity
        self.server_group_cell_level = server_group_cell_level
        self.use_neutron = use_neutron

    @classmethod
    def from_conf(cls, conf):
        return cls(conf.cells.scheduler_retries,
                   conf.cells.scheduler_retry_delay,
                   conf.cells.split_builds_by_capacity,
                   conf.cells.server_group_cell_level,
                   conf.use_neutron)


def _primitive_flavor(flavor):
    if flavor is None or isinstance(flavor, dict):
        return dict(flavor or {})
    return {f: getattr(flavor, f) for f in flavor.fields
            if flavor.obj_attr_is_set(f) and f not in ('projects',)}


def build_request_spec(image, instances, flavor):
    """nova's request_spec: image, first instance, flavor, count."""
    first = instances[0] if instances else None
    properties = {}
    if first is not None:
        properties = {f: getattr(first, f) for f in
                      ('uuid', 'project_id', 'user_id', 'image_ref')
                      if first.obj_attr_is_set(f)}
    return {'image': image or {}, 'instance_properties': properties,
            'instance_type': _primitive_flavor(flavor),
            'num_instances': len(instances)}


def load_plugin_lists(conf):
    """``(filters, weighers)`` as ``[cells]`` names them, CellStateFilter
    first and FreeUnitsFilter after it."""
    filters = plugins.load_plugins('filters',
                                   conf.cells.scheduler_filter_classes, conf)
    weighers = plugins.load_plugins('weighers',
                                    conf.cells.scheduler_weight_classes, conf)
    return with_free_units_filter(with_cell_state_filter(filters)), weighers


def with_cell_state_filter(filters):
    """``filters`` with CellStateFilter first (unless listed already): a
    disabled or draining cell gets no build whatever the filter list."""
    if any(isinstance(f, cell_state.CellStateFilter) for f in filters):
        return list(filters)
    return [cell_state.CellStateFilter()] + list(filters)


def with_free_units_filter(filters):
    """``filters`` with FreeUnitsFilter right after CellStateFilter
    (unless listed already): a split build's plan counts free units
    whatever the filter list."""
    if any(isinstance(f, free_units.FreeUnitsFilter) for f in filters):
        return list(filters)
    filters = list(filters)
    position = next((i + 1 for i, f in enumerate(filters)
                     if isinstance(f, cell_state.CellStateFilter)), 0)
    filters.insert(position, free_units.FreeUnitsFilter())
    return filters


class CellsScheduler(object):
    """Picks the next cell for builds arriving at this cell.

    :param runner: this cell's MessageRunner.
    :param filters: filter plug-ins in order; :param weighers: weighers.
    :param handoff: the local hand-off driver (:mod:`nova_cells.handoff`).
    :param policy: :class:`nova_cells.policy.CellPolicy`.
    :param sleep: how to wait between retries (tests pass a fake).
    """

    def __init__(self, runner, filters, weighers, handoff, policy,
                 settings=None, rng=None, sleep=time.sleep):
        self.runner = runner
        self.filters = filters
        self.weighers = weighers
        self.handoff = handoff
        self.policy = policy
        self.settings = settings or SchedulerSettings()
        self.rng = rng
        self.sleep = sleep
        # What it decided for recent builds (``trace``).
        self.trace = build_trace.BuildTrace()
        # The shared rows of the builds it makes here, once read.
        self.known_rows = db_new_instances.KnownRows()

    @classmethod
    def from_conf(cls, conf, runner, handoff, policy):
        filters, weighers = load_plugin_lists(conf)
        return cls(runner, filters, weighers, handoff, policy,
                   SchedulerSettings.from_conf(conf))

    def reload_plugins(self, conf):
        """SIGHUP: rebuild the plug-ins, so that the weigher multipliers
        (mutable options) take effect.  Each list is swapped whole: a pick
        in flight uses the old or the new one."""
        self.settings = SchedulerSettings.from_conf(conf)
        try:
            filters, weighers = load_plugin_lists(conf)
        except (plugins.UnknownPlugin, ValueError) as exc:
            LOG.error('Keeping the current filters and weighers: %s', exc)
            return
        self.filters, self.weighers = filters, weighers

    # -- choosing ----------------------------------------------------------

    def may_build_here(self):
        """True when this cell is one of its own candidates (a leaf, or a
        cell with hosts of its own): only then may a build's effect be
        here rather than a message to a child, and a received build is
        claimed on arrival (:class:`~nova_cells.messaging.delivery.Inbox`)
        or, in a leaf, with its first instance's rows
        (:meth:`_build_here`)."""
        manager = self.runner.state_manager
        return (not manager.get_child_cells() or
                bool(manager.get_my_state().capacities))

    def candidates(self, routing_path):
        """Children, plus me when I am a leaf or have capacity (§6.4)."""
        manager = self.runner.state_manager
        children = manager.get_child_cells()
        found = [scheduling.Candidate(c, '%s!%s' % (routing_path, c.name))
                 for c in children]
        me = manager.get_my_state()
        if not children or me.capacities:
            found.append(scheduling.Candidate(me, routing_path))
        return found

    def make_request(self, ctxt, routing_path, build_inst_kwargs):
        instances_ = build_inst_kwargs.get('instances') or []
        filter_properties = build_inst_kwargs.get('filter_properties') or {}
        flavor = filter_properties.get('instance_type')
        spec = build_request_spec(build_inst_kwargs.get('image'), instances_,
                                  flavor)
        group = server_groups.group_spec(
            filter_properties, self.settings.server_group_cell_level)
        return scheduling.CellRequest(
            ctxt, routing_path, spec,
            filter_properties.get('scheduler_hints'),
            self.policy.authorizer(ctxt), now=timeutils.utcnow(),
            group=group)

    def wants_plan(self, request):
        """Plan instance by instance: several instances, and either split
        builds are on or the group keeps members apart (one cell could
        not take them all)."""
        if request.num_instances <= 1:
            return False
        group = request.group
        return (self.settings.split_builds_by_capacity or
                (group is not None and group.policy == 'anti-affinity'))

    def with_group_members(self, path, build_inst_kwargs):
        """At the top, resolve the server group's members to cell paths
        (only the top knows every instance's cell)."""
        if len(routing.RoutingPath.parse(path)) != 1:
            return build_inst_kwargs
        db = self.runner.services.db
        return server_groups.with_member_cells(
            build_inst_kwargs,
            lambda uuids: db_instances.instance_cells_by_uuid(db, uuids))

    def pin_of(self, request):
        """A pre-filter's pin of ``request`` (TargetCellFilter), or None."""
        return cell_selection.pin_of(request, self.filters)

    def select(self, request, record_all=False):
        """Filter and weigh this cell's candidates; ``record_all`` keeps
        every verdict (explain), else only the rejections, which are
        counted for operators (an explanation is not)."""
        selection = cell_selection.select(
            self.candidates(request.routing_path), request, self.filters,
            self.weighers, self.rng, record_all=record_all)
        if not record_all:
            metrics = self.runner.services.metrics
            for verdict in selection.rejections().values():
                metrics.rejected(verdict.plugin)
        return selection

    # -- building ------------------------------------------------------------

    def build_instances(self, message, build_inst_kwargs):
        """Entry point of the ``build_instances`` intercell method."""
        started = time.monotonic()
        outcome = 'retried'     # raised: its sender sends it again
        self.trace.begin(message, build_inst_kwargs.get('instances') or [])
        try:
            outcome = self._build(message, build_inst_kwargs)
        finally:
            seconds = time.monotonic() - started
            self.runner.services.metrics.build_scheduled(seconds, outcome)
            self.trace.end(message, outcome, seconds)

    def _build(self, message, build_inst_kwargs):
        """Schedule; ``'ok'``, or ``'failed'`` when its instances were
        failed at the top."""
        ctxt = message.ctxt
        path = str(message.routing_path)
        kept_here = set()
        try:
            self._schedule(message, path, build_inst_kwargs, kept_here)
        except Exception as exc:
            if delivery.is_retriable(exc):
                # Our own database is unusable: not the build's fault.  A
                # durable sender sends it again; failing the instances
                # would need the same database anyway.
                raise
            LOG.error('Build of %s at %s failed: %s',
                      _uuids(build_inst_kwargs), path, exc)
            self.trace.step(message, 'failed: %s' % exc)
            if not delivery.claim_late(message.scope):
                return 'ok'     # a copy built it meanwhile
            self._keep_earlier_here(message, path, build_inst_kwargs,
                                    kept_here)
            # Not those an earlier delivery built here: they run.  With
            # the build's mark: a copy failing too finds it, and fails
            # nothing twice.
            with self._all_or_nothing(message, as_effect=True):
                self._fail_instances(ctxt, dict(
                    build_inst_kwargs, instances=[
                        i for i in build_inst_kwargs.get('instances') or []
                        if i.uuid not in kept_here]), exc)
            return 'failed'
        return 'ok'

    def _schedule(self, message, path, build_inst_kwargs, kept_here):
        ctxt = message.ctxt
        build_inst_kwargs = self._rebuild_ours_here(message, path,
                                                    build_inst_kwargs,
                                                    kept_here)
        if not build_inst_kwargs.get('instances'):
            return
        build_inst_kwargs = self.with_group_members(path, build_inst_kwargs)
        attempts = max(0, self.settings.scheduler_retries) + 1
        for attempt in range(attempts):
            request = self.make_request(ctxt, path, build_inst_kwargs)
            pin = self.pin_of(request)
            if pin is not None:
                return self._forward_pinned(message, path, pin,
                                            build_inst_kwargs)
            # NOTE(nova-cells): an unpinned request drops the hint, as
            # nova's filter popped it: a child never sees a target_cell
            # that this cell refused.
            kwargs = _without_target(build_inst_kwargs)
            try:
                if self.wants_plan(request):
                    return self._build_split(message, path, request, kwargs)
                return self._build_on(message, path, self.select(request),
                                      kwargs)
            except exception.NoCellsAvailable as exc:
                if attempt == attempts - 1:
                    raise
                LOG.info('No cell for %s at %s (attempt %d/%d): %s',
                         _uuids(build_inst_kwargs), path, attempt + 1,
                         attempts, exc)
                self.sleep(max(1, self.settings.scheduler_retry_delay))

    def _keep_earlier_here(self, message, path, build_inst_kwargs,
                           kept_here):
        """A leaf's build failed: the instances an earlier delivery built
        here are handed off again and kept (not failed with the others),
        when they can be."""
        if kept_here or self.runner.state_manager.get_child_cells():
            return
        try:
            self._rebuild_ours_here(message, path, build_inst_kwargs,
                                    kept_here, failed=True)
        except Exception as exc:
            if delivery.is_retriable(exc):
                raise
            LOG.error('Build %s: the instances an earlier delivery built '
                      'here cannot be handed off again either: %s',
                      _uuids(build_inst_kwargs), exc)

    def _rebuild_ours_here(self, message, path, build_inst_kwargs,
                           kept_here, failed=False):
        """A resent build (durable forwarding) may hold instances an
        earlier delivery already built in this cell: they stay here (the
        hand-off adopts their placement) instead of being scheduled again,
        possibly elsewhere, and their uuids are added to ``kept_here``
        once handed off again (a failure of the others does not fail
        them).  Returns the kwargs of the others.

        Not at the top, where nova-api created every row; not in a cell
        that does not build itself; in a leaf, only when the build failed
        (:meth:`_keep_earlier_here`): a leaf builds every instance here,
        and finds an earlier delivery's rows as it writes them, so the
        look costs a transaction only when it matters.
        """
        manager = self.runner.state_manager
        if self.runner.inbox is None or \
                len(routing.RoutingPath.parse(path)) == 1 or \
                not self.may_build_here() or \
                (not manager.get_child_cells() and not failed):
            return build_inst_kwargs
        instances_ = build_inst_kwargs.get('instances') or []
        db = self.runner.services.db
        here = db_instances.instance_cells_by_uuid(
            db, [i.uuid for i in instances_])
        if not here:
            return build_inst_kwargs
        ours = [i for i in instances_ if i.uuid in here]
        LOG.info('Build %s: %d instance(s) already built here by an '
                 'earlier delivery stay here', _uuids(build_inst_kwargs),
                 len(ours))
        self._build_here(message, path,
                         dict(build_inst_kwargs, instances=ours))
        kept_here.update(i.uuid for i in ours)
        return dict(build_inst_kwargs,
                    instances=[i for i in instances_ if i.uuid not in here])

    def _forward_pinned(self, message, path, pin, build_inst_kwargs):
        """Send a build pinned by ``target_cell`` straight to the pinned
        cell, as nova's top cell did: one targeted ``build_instances`` to
        the full pinned path, without the hint (nova's filter popped it
        before sending), so that the pinned cell schedules within its own
        subtree and the cells between only route it.

        Not one level at a time: an original nova-cells on the way would
        schedule the build, and its TargetCellFilter re-originates the
        message from its own name, which it cannot route (the build was
        lost).  This cell checks its own child on the path; a cell of ours
        further down that cannot route the build fails its instances at
        the top with a fault (:meth:`fail_unrouted`).
        """
        LOG.info('Build %s pinned to %s by %s', _uuids(build_inst_kwargs),
                 pin.path, pin.plugin)
        self.trace.step(message, 'pinned to %s by %s' % (pin.path,
                                                         pin.plugin))
        target, kwargs = self.pinned_hop(pin, path, build_inst_kwargs)
        if target == path:
            return self._build_here(message, path, kwargs)
        if not delivery.claim_late(message.scope):
            return
        response = self.runner.continue_targeted(
            message, target, 'build_instances', {'build_inst_kwargs': kwargs})
        if response is not None and response.failure:
            raise exception.NoCellsAvailable(
                reason='target_cell %s: %s' % (pin.path, response.value))
        self.trace.step(message, 'sent to %s' % target)

    def pinned_hop(self, pin, path, build_inst_kwargs):
        """``(target, kwargs)`` of a pinned build at ``path``: here, or the
        pinned cell itself (one message to the full path), without the
        hint either way.

        :raises NoCellsAvailable: this cell's child on the pinned path is
            unknown, or disabled or draining.  Used by the build and by
            explain alike, so that explain never promises what the build
            would refuse.
        """
        kwargs = _without_target(build_inst_kwargs)
        if pin.path == path:
            return path, kwargs
        name = routing.RoutingPath.parse(pin.path)[
            len(routing.RoutingPath.parse(path))]
        self.check_pinned_child(pin.path, path, name)
        return pin.path, kwargs

    def check_pinned_child(self, target, path, name):
        """Raise NoCellsAvailable unless this cell (at ``path``) has a
        child ``name`` that takes builds: the next cell of a build pinned
        to ``target``.  Checked here for the first step, and by each cell
        of ours that the build passes through for the next one
        (:mod:`nova_cells.handlers.targeted`)."""
        child = self.runner.state_manager.get_child_cell(name)
        if child is None:
            raise exception.NoCellsAvailable(
                reason='target_cell %s: %s has no child %s'
                % (target, path, name))
        if not child.accepts_builds:
            raise exception.NoCellsAvailable(
                reason='target_cell %s: %s is %s in %s%s' % (
                    target, name, child.admin_state, path,
                    ': %s' % child.admin_state_reason
                    if child.admin_state_reason else ''))

    def fail_unrouted(self, message, build_inst_kwargs, exc):
        """A pinned build passing through this cell cannot go on (unknown
        or refused child, hop limit, failed send): every instance to ERROR
        at the top with a fault saying why.

        With durable forwarding the failure's updates are recorded with
        the received build's mark, in one transaction: a second copy of
        the build finds the mark and sends nothing again.
        """
        if not isinstance(exc, exception.NoCellsAvailable):
            exc = exception.NoCellsAvailable(reason='target_cell %s: %s' % (
                message.target_cell, getattr(exc, 'message', None) or exc))
        LOG.error('Build %s cannot go on from %s: %s',
                  _uuids(build_inst_kwargs), message.routing_path, exc)
        with self._all_or_nothing(message, as_effect=True):
            self._fail_instances(message.ctxt, build_inst_kwargs, exc)

    def _build_on(self, message, path, selection, build_inst_kwargs):
        summary = selection.summary()
        self.trace.step(message, summary)
        if selection.picked is None:
            raise exception.NoCellsAvailable(reason=summary)
        held_back, failed = [], []
        for candidate, _weight in selection.iter_ordered():
            if self._link_failing(candidate):
                # Its earlier builds wait in the outbox until it confirms
                # them; a new one goes there only when nothing else can
                # take it.
                held_back.append(candidate)
                continue
            try:
                if candidate.is_me:
                    return self._build_here(message, path,
                                            build_inst_kwargs)
                return self._send_to_child(message, candidate,
                                           build_inst_kwargs)
            except Exception as exc:
                if delivery.is_retriable(exc):
                    raise
                LOG.error("Couldn't communicate with cell %s: %s",
                          candidate.path, exc)
                failed.append('%s (%s)' % (candidate.path, exc))
        for candidate in held_back:
            LOG.info('Build %s queued for %s, whose link is not confirming '
                     '(no other cell could take it)',
                     _uuids(build_inst_kwargs), candidate.path)
            return self._send_to_child(message, candidate, build_inst_kwargs)
        raise exception.NoCellsAvailable(
            reason='every chosen cell failed: %s' % ', '.join(
                failed or [c.path for c, _w in selection.ordered]))

    def plan(self, request, record_all=False):
        """The :class:`~nova_cells.scheduler.split_plan.Plan` of a
        multi-instance
        request (raises NoCellsAvailable when it does not fit)."""
        request.planning = True
        return split_plan.plan_build(
            request, lambda r: self.select(r, record_all=record_all),
            keep_selections=record_all)

    def _build_split(self, message, path, request, build_inst_kwargs):
        """Send each cell its part of the plan, as a build of its own.

        A part whose cell cannot be reached is scheduled again on its own
        (an ordinary pick among the cells, as nova would have sent the
        whole request), so one failing link does not fail the others.
        """
        plan = self.plan(request)
        LOG.info('Build %s split at %s: %s', _uuids(build_inst_kwargs),
                 path, plan.describe())
        self.trace.step(message, 'split: %s' % plan.describe())
        if not delivery.claim_late(message.scope):
            return
        instances_ = build_inst_kwargs.get('instances') or []
        # With the build's mark whatever the parts became (sent on, or
        # failed at the top): a copy finds it and does nothing twice.
        with self._all_or_nothing(message, as_effect=True):
            for candidate, part in split_plan.partition(instances_, plan):
                self._send_part(message, path, candidate, dict(
                    build_inst_kwargs, instances=part))

    def _all_or_nothing(self, message, as_effect=False):
        """With durable forwarding, what the handling of ``message`` posts
        (the parts) is recorded in the outbox in one transaction, with the
        received build's mark (whatever their method with ``as_effect``,
        :meth:`~nova_cells.messaging.delivery.Outbox.together`)."""
        outbox = self.runner.outbox
        return (outbox.together(message.scope, as_effect=as_effect)
                if outbox is not None else contextlib.nullcontext())

    def _send_part(self, message, path, candidate, kwargs):
        try:
            if candidate.is_me:
                return self._build_here(message, path, kwargs)
            return self._send_to_child(message, candidate, kwargs)
        except Exception as exc:
            if delivery.is_retriable(exc):
                raise
            LOG.error("Couldn't send part %s of a split build to %s: %s",
                      _uuids(kwargs), candidate.path, exc)
        try:
            self._build_on(message, path, self.select(
                self.make_request(message.ctxt, path, kwargs)), kwargs)
        except exception.NoCellsAvailable as exc:
            LOG.error('Part %s of a split build found no cell: %s',
                      _uuids(kwargs), exc)
            self._fail_instances(message.ctxt, kwargs, exc)

    def _link_failing(self, candidate):
        outbox = self.runner.outbox
        return (outbox is not None and not candidate.is_me
                and outbox.link_failing('down', candidate.name))

    def _send_to_child(self, message, candidate, build_inst_kwargs):
        LOG.debug('Sending build %s to %s', _uuids(build_inst_kwargs),
                  candidate.path)
        if not delivery.claim_late(message.scope):
            return
        response = self.runner.continue_targeted(
            message, candidate.path, 'build_instances',
            {'build_inst_kwargs': build_inst_kwargs})
        if response is not None and response.failure:
            response.value_or_raise()
        _assume_sent(candidate.state, build_inst_kwargs)
        self.trace.step(message, 'sent %s to %s' % (
            _uuids(build_inst_kwargs), candidate.path))

    def _build_here(self, message, path, build_inst_kwargs):
        """Write the instances here and hand them off.

        A build not claimed on arrival (a leaf's, or one this cell was
        not expected to build) is claimed in the transaction of its first
        instance's rows: a copy being applied, or applied, is found there.
        With a hand-off that reports every outcome itself (builtin), its
        reports to the top are recorded in one transaction at the end,
        with the build's mark: a copy finds the mark and reports nothing
        twice.  With a conductor, the reports of the new rows go up before
        the hand-off (nova-compute's later updates must not overtake
        them), and the mark follows it.
        """
        claim = delivery.pending_claim(message.scope)
        together = (self._all_or_nothing(message, as_effect=True)
                    if self.handoff.reports_every_outcome
                    else contextlib.nullcontext())
        ctxt = message.ctxt
        try:
            with together:
                created = self._create_instances_here(
                    ctxt, build_inst_kwargs, claim)
                kwargs = dict(build_inst_kwargs, instances=created)
                self.handoff.build_instances(ctxt, kwargs)
        except delivery.AppliedAlready:
            LOG.info('Build %s was applied here by another delivery',
                     _uuids(build_inst_kwargs))
            return
        self.trace.step(message, 'built %s here, handed to %s' % (
            _uuids(kwargs), type(self.handoff).__name__))

    def _create_instances_here(self, ctxt, build_inst_kwargs, claim=None):
        """Write the instances' rows in this cell as nova's compute API
        did (:mod:`nova_cells.handoff.new_instance`) and tell the top where
        they are (unless the hand-off reports each outcome at once anyway:
        one update up the tree per instance instead of two).

        :param claim: the build's :class:`~nova_cells.messaging.delivery.
            PendingClaim`, taken with the first instance's rows.
        :returns: the instances as nova-conductor gets them.
        :raises AppliedAlready: the claim found the build applied.
        """
        tell_top = not self.handoff.reports_every_outcome
        db = self.runner.services.db
        news = new_instance.prepare(ctxt, build_inst_kwargs,
                                    self.settings.use_neutron)
        if not news:
            if claim is not None:
                claim.alone()
            return []
        shared, first = db_new_instances.create_first(
            db, news[0], ctxt.project_id, ctxt.user_id, self.known_rows,
            claim=claim)
        created = []
        for new in news:
            rows = first if new is news[0] else \
                db_new_instances.create_or_load(db, new, shared)
            instance = new_instance.as_loaded(rows)
            self._bdms_to_top(ctxt, rows)
            if tell_top:
                topsync.instance_update_at_top(self.runner, ctxt, instance)
            created.append(instance)
        return created

    def _bdms_to_top(self, ctxt, rows):
        """A disk with a device name goes up as nova's compute cell sent
        it (``bdm_update_or_create_at_top``); one without is not found
        again by name at the top, so nova did not send it."""
        if not rows.created:
            return
        for bdm in rows.bdms:
            if bdm.get('device_name') is not None:
                topsync.bdm_update_or_create_at_top(self.runner, ctxt, bdm,
                                                    create=True)

    # -- explaining -----------------------------------------------------------

    def explain(self, message, build_inst_kwargs, full_path=None):
        """Dry run (:mod:`nova_cells.scheduler.dry_run`): what this cell would
        do with the request, and the cells below, building nothing."""
        return dry_run.explain(self, message, build_inst_kwargs, full_path)

    # -- failing --------------------------------------------------------------

    def _fail_instances(self, ctxt, build_inst_kwargs, exc):
        """ERROR at the top, with a fault saying why (nova wrote none)."""
        message = getattr(exc, 'message', None) or str(exc)
        for source in build_inst_kwargs.get('instances') or []:
            update = instance_obj.Instance(uuid=source.uuid,
                                           vm_state='error', task_state=None)
            fault = {'instance_uuid': source.uuid, 'code': 500,
                     'message': message[:255], 'details': message,
                     'host': None, 'created_at': timeutils.utcnow()}
            try:
                topsync.instance_update_at_top(self.runner, ctxt, update)
                topsync.instance_fault_create_at_top(self.runner, ctxt,
                                                     fault)
            except Exception:  # noqa - keep failing the others
                LOG.exception('Could not set %s to ERROR at the top',
                              source.uuid)


def _without_target(build_inst_kwargs):
    return build_payload.without_hint(build_inst_kwargs, 'target_cell')


def _uuids(build_inst_kwargs):
    return ','.join(i.uuid for i in build_inst_kwargs.get('instances') or [])


def _assume_sent(state, build_inst_kwargs):
    """Count a build just sent to a child against the child's last
    reported capacities, until its next report: the builds after it in a
    burst are weighed on what is left, not all sent to the same child
    (:meth:`nova_cells.cells.state.CellState.assume_build`)."""
    flavor = (build_inst_kwargs.get('filter_properties') or {}).get(
        'instance_type')
    count = len(build_inst_kwargs.get('instances') or ())
    if flavor is None or not count:
        return
    flavor = _primitive_flavor(flavor)
    state.assume_build(count, memory_mb=flavor.get('memory_mb'),
                       disk_mb=scheduling.flavor_disk_mb(flavor),
                       vcpus=flavor.get('vcpus'))
