"""Sending instance state to the top: broadcast up, or apply here at the top.

"At the top" means a cell with no parents.  A cell below broadcasts the
change up (not run locally, as nova); the top applies it to its own
database directly.  Either way the caller need not know where it is.
"""

from nova_cells.top import instances

__all__ = ['instance_update_at_top', 'instance_destroy_at_top',
           'instance_fault_create_at_top', 'bdm_update_or_create_at_top',
           'is_top']


def is_top(runner):
    return not runner.state_manager.get_parent_cells()


def _up(runner, ctxt, method_name, kwargs):
    runner.broadcast(ctxt, method_name, kwargs, direction='up',
                     run_locally=False)


def instance_update_at_top(runner, ctxt, instance):
    if is_top(runner):
        return instances.update_at_top(runner.services.db, instance,
                                       runner.our_name)
    _up(runner, ctxt, 'instance_update_at_top', {'instance': instance})


def instance_destroy_at_top(runner, ctxt, instance):
    if is_top(runner):
        return instances.destroy_at_top(runner.services.db, instance.uuid)
    _up(runner, ctxt, 'instance_destroy_at_top', {'instance': instance})


def instance_fault_create_at_top(runner, ctxt, fault):
    if is_top(runner):
        return instances.fault_create_at_top(runner.services.db, fault)
    _up(runner, ctxt, 'instance_fault_create_at_top',
        {'instance_fault': fault})


def bdm_update_or_create_at_top(runner, ctxt, bdm, create=None):
    """A disk of an instance built here, for the top's copy (``bdm``: its
    columns, a plain dict as nova's cells manager sent it).  Nothing to do
    at the top itself: the rows written here are the top's."""
    if is_top(runner):
        return
    _up(runner, ctxt, 'bdm_update_or_create_at_top',
        {'bdm': {k: v for k, v in bdm.items() if k != 'id'},
         'create': create})
