"""A build's dry run (``explain_build``): what each cell would do with it.

The scheduler's own steps, run with every verdict and score recorded
(``record_all``), down the tree one nested call per cell that schedules,
building and changing nothing: the same checks as a build, so that
``explain`` never promises what a build would refuse.  A pinned build's
nested call goes, as the build does, straight to the pinned cell; the
cells of ours it passes through check it on the way as they check the
build (:func:`~nova_cells.handlers._table.guards_its_route`), and a
refusal comes back as the next cell's error.
"""

from nova_cells.objects import build_payload
from nova_cells import exception
from nova_cells import routing
from nova_cells.scheduler import split_plan

__all__ = ['explain']


def explain(scheduler, message, build_inst_kwargs, full_path=None):
    """What this cell would do with the request, and what the next cell
    would do, down to where it would be built.  ``full_path`` is this
    cell's path from the top (each level is a nested call, whose own
    routing path starts at the caller)."""
    ctxt = message.ctxt
    path = full_path or str(message.routing_path)
    build_inst_kwargs = scheduler.with_group_members(path, build_inst_kwargs)
    request = scheduler.make_request(ctxt, path, build_inst_kwargs)
    result = {'cell': path, 'action': None, 'next': None}
    if scheduler.pin_of(request) is None and scheduler.wants_plan(request):
        return _explain_split(scheduler, request, result,
                              build_payload.without_hint(build_inst_kwargs,
                                                         'target_cell'))
    selection = scheduler.select(request, record_all=True)
    result['selection'] = selection.to_dict()
    target, kwargs, refusal = _next_cell(scheduler, path, selection,
                                         build_inst_kwargs)
    if target is None:
        result['action'] = 'fail: %s' % refusal
    elif target == path:
        result['action'] = 'build here'
    else:
        result['action'] = 'forward to %s' % target
        result['next'] = _ask_next(scheduler.runner, ctxt, path, target,
                                   kwargs)
    return result


def _explain_split(scheduler, request, result, build_inst_kwargs):
    """The plan of a split build: its first pick's diagnosis (every
    verdict, every score), each cell's part, and what each child would do
    with its part."""
    ctxt, path = request.ctxt, request.routing_path
    try:
        plan = scheduler.plan(request, record_all=True)
    except exception.NoCellsAvailable as exc:
        result['selection'] = exc.selection.to_dict()
        result['action'] = 'fail: %s' % exc.format_message()
        return result
    result['selection'] = plan.selections[0].to_dict()
    # Each later pick weighs again with what the plan gave so far (the
    # zone spread, the soft groups): its pick and weighted scores.
    result['picks'] = [_pick_of(selection) for selection in plan.selections]
    items = plan.items()
    if len(items) == 1 and items[0][0].is_me:
        result['action'] = 'build here: %d instance(s)' % items[0][1]
        return result
    result['action'] = 'split: %s' % plan.describe()
    result['parts'] = []
    instances = build_inst_kwargs.get('instances') or []
    for candidate, part in split_plan.partition(instances, plan):
        entry = {'cell': candidate.path, 'count': len(part), 'next': None}
        if not candidate.is_me:
            entry['next'] = _ask_next(scheduler.runner, ctxt, path,
                                      candidate.path,
                                      dict(build_inst_kwargs, instances=part))
        result['parts'].append(entry)
    return result


def _pick_of(selection):
    picked, weight = next(selection.iter_ordered())
    scores = selection.scores.get(picked.path, {})
    return {'cell': picked.path, 'weight': weight,
            'scores': dict((name, score['weighted'])
                           for name, score in scores.items())}


def _next_cell(scheduler, path, selection, build_inst_kwargs):
    """``(target, kwargs, why not)``: where the build would go next."""
    if selection.pinned is not None:
        try:
            target, kwargs = scheduler.pinned_hop(selection.pinned, path,
                                                  build_inst_kwargs)
        except exception.NoCellsAvailable as exc:
            return None, build_inst_kwargs, exc.format_message()
        return target, kwargs, None
    if selection.picked is None:
        return None, build_inst_kwargs, selection.summary()
    return selection.picked.path, build_inst_kwargs, None


def _ask_next(runner, ctxt, path, target, build_inst_kwargs):
    """The next cell's own dry run (a nested call), or the error."""
    relative = routing.relative_target(target, path, runner.our_name)
    response = runner.targeted(ctxt, relative, 'explain_build',
                               {'build_inst_kwargs': build_inst_kwargs,
                                'full_path': target},
                               direction='down', need_response=True)
    if response.failure:
        return {'cell': target, 'error': '%s: %s' % (
            type(response.value).__name__, response.value)}
    return response.value
