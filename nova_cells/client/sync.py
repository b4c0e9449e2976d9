"""Client methods of the cells RPC API: sync (see nova_cells.rpcapi).

What compute cells cast to their own nova-cells to keep the top up to date
(``instance_update_at_top`` and friends), and what the API cell casts to
make cells re-send or delete instances (``sync_instances``,
``instance_delete_everywhere``).  Versions and fallbacks are nova's
(reference §5.3).
"""

from oslo_serialization import jsonutils

from nova_cells.client import _base
from nova_cells.objects import base as objects_base
from nova_cells.objects import instance as instance_obj

__all__ = ['SyncClient']


def _primitive(obj):
    return jsonutils.to_primitive(objects_base.obj_to_primitive(obj),
                                  convert_instances=True)


class SyncClient(_base.ClientBase):
    """Mixed into :class:`nova_cells.rpcapi.CellsAPI`."""

    def _cast_instance_at_top(self, ctxt, method, instance):
        """1.35 sends the object; a server capped at 1.34 gets a dict."""
        version = self._newest(method)
        if version == '1.34':
            instance = _primitive(instance)
        self._cast(ctxt, method, version=version, instance=instance)

    def instance_update_at_top(self, ctxt, instance):
        """Send an instance's changes to the top (cast, 1.35)."""
        self._cast_instance_at_top(ctxt, 'instance_update_at_top', instance)

    def instance_destroy_at_top(self, ctxt, instance):
        """Tell the top an instance is gone (cast, 1.35)."""
        self._cast_instance_at_top(ctxt, 'instance_destroy_at_top', instance)

    def instance_info_cache_update_at_top(self, ctxt, info_cache):
        """Send an instance's network info cache to the top: on the wire an
        ``instance_update_at_top`` of ``Instance(uuid, info_cache)``."""
        instance = instance_obj.Instance(uuid=info_cache.instance_uuid,
                                         info_cache=info_cache)
        self._cast_instance_at_top(ctxt, 'instance_update_at_top', instance)

    def instance_fault_create_at_top(self, ctxt, instance_fault):
        """Record a fault at the top (cast, 1.0; a plain dict of the row)."""
        fault = instance_fault
        if not isinstance(fault, dict):
            fault = objects_base.obj_to_primitive(fault)
        fault = jsonutils.to_primitive(fault, convert_instances=True)
        self._cast(ctxt, 'instance_fault_create_at_top',
                   instance_fault=fault)

    def instance_delete_everywhere(self, ctxt, instance, delete_type):
        """Delete an instance wherever it is (cast, 1.27; 1.0: a dict).

        :param delete_type: ``'soft'`` or ``'hard'``.
        """
        version = self._newest('instance_delete_everywhere')
        if version == '1.0':
            instance = _primitive(instance)
        self._cast(ctxt, 'instance_delete_everywhere', version=version,
                   instance=instance, delete_type=delete_type)

    def sync_instances(self, ctxt, project_id=None, updated_since=None,
                       deleted=False):
        """Make every cell send its instances to the top (cast, 1.1).

        :param updated_since: only instances changed since then (an ISO
            8601 string, or a datetime).
        """
        if updated_since is not None and not isinstance(updated_since, str):
            updated_since = updated_since.isoformat()
        self._cast(ctxt, 'sync_instances', project_id=project_id,
                   updated_since=updated_since, deleted=deleted)
