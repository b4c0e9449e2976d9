"""Instance sync across cells (sync_instances, instance_delete_everywhere and
the *_at_top casts from compute cells).

Endpoint of topic ``cells``; see :mod:`nova_cells.endpoints`.

The ``*_at_top`` methods are what a compute cell's services cast to their
own nova-cells: each goes up as a broadcast not run locally, or, in the top
cell itself, is applied at once (:mod:`nova_cells.top.topsync`).
``sync_instances`` and ``instance_delete_everywhere`` are broadcasts down,
not run locally; what each cell does with them is in
:mod:`nova_cells.handlers.sync`.
"""

from nova_cells import api_methods
from nova_cells.endpoints import _base
from nova_cells.objects import instance as instance_obj
from nova_cells.top import topsync

__all__ = ['SyncEndpoint', 'instance_from_primitive']

expose = api_methods.expose

_INSTANCE_SCALARS = frozenset(
    name for name, field in instance_obj.Instance.fields.items()
    if not hasattr(field, 'objname'))


def instance_from_primitive(value):
    """An Instance from the plain dict older clients sent (1.34 for the
    ``*_at_top`` casts, 1.0 for ``instance_delete_everywhere``); objects
    pass through.  Fields that do not coerce are dropped."""
    if not isinstance(value, dict):
        return value
    instance = instance_obj.Instance()
    for key, item in value.items():
        if key in _INSTANCE_SCALARS:
            try:
                setattr(instance, key, item)
            except (TypeError, ValueError):
                continue
    return instance


class SyncEndpoint(_base.BaseEndpoint):
    """Part of the cells RPC API (server side)."""

    # -- up to the top (1.0, 1.35) -------------------------------------------

    @expose
    def instance_update_at_top(self, ctxt, instance):
        """Broadcast an instance's changes up (an object since 1.35)."""
        topsync.instance_update_at_top(self.runner, ctxt,
                                       instance_from_primitive(instance))

    @expose
    def instance_destroy_at_top(self, ctxt, instance):
        """Broadcast an instance's deletion up (an object since 1.35)."""
        topsync.instance_destroy_at_top(self.runner, ctxt,
                                        instance_from_primitive(instance))

    @expose
    def instance_fault_create_at_top(self, ctxt, instance_fault):
        """Broadcast a fault (a primitive dict of the row) up (1.0)."""
        topsync.instance_fault_create_at_top(self.runner, ctxt,
                                             dict(instance_fault))

    # -- down to every cell (1.1, 1.27) -------------------------------------

    @expose
    def sync_instances(self, ctxt, project_id=None, updated_since=None,
                       deleted=False):
        """Make every cell below send its instances up (1.1)."""
        if updated_since is not None and not isinstance(updated_since, str):
            updated_since = updated_since.isoformat()
        self.runner.broadcast(ctxt, 'sync_instances',
                              {'project_id': project_id,
                               'updated_since': updated_since,
                               'deleted': deleted},
                              direction='down', run_locally=False)

    @expose
    def instance_delete_everywhere(self, ctxt, instance, delete_type):
        """Delete an instance in whichever cell below has it (1.27; a dict
        before)."""
        self.runner.broadcast(ctxt, 'instance_delete_everywhere',
                              {'instance': instance_from_primitive(instance),
                               'delete_type': delete_type},
                              direction='down', run_locally=False)
