"""Instance lifecycle actions routed to the instance's cell (start, stop,
reboot, ..., run_compute_api_method, instance_update_from_api).

Endpoint of topic ``cells``; see :mod:`nova_cells.endpoints`.  Each action
is a targeted message down to ``instance.cell_name`` (reference §4.14); an
instance without a cell only gets a warning, as in nova.  What happens in
the target cell is in :mod:`nova_cells.handlers.lifecycle`.
"""

from oslo_log import log as logging

from nova_cells.endpoints import _base
from nova_cells import manager as cells_manager

__all__ = ['LifecycleEndpoint']

LOG = logging.getLogger(__name__)

expose = cells_manager.expose


class LifecycleEndpoint(_base.BaseEndpoint):
    """Part of the cells RPC API (server side)."""

    def _instance_action(self, ctxt, instance, method, extra_kwargs=None,
                         need_response=False):
        """Targeted message to the instance's cell (nova's
        ``MessageRunner._instance_action``)."""
        cell_name = instance.cell_name if \
            instance.obj_attr_is_set('cell_name') else None
        if not cell_name:
            LOG.warning('No cell_name for %(method)s() from API '
                        '(instance %(uuid)s)',
                        {'method': method, 'uuid': instance.uuid})
            return None
        method_kwargs = {'instance': instance}
        method_kwargs.update(extra_kwargs or {})
        return self.runner.targeted(ctxt, cell_name, method, method_kwargs,
                                    need_response=need_response)

    @expose
    def run_compute_api_method(self, ctxt, cell_name, method_info, call):
        """A compute API method run in ``cell_name``; its value if
        ``call``."""
        response = self.runner.targeted(
            ctxt, cell_name, 'run_compute_api_method',
            {'method_info': method_info}, need_response=call)
        if call:
            return response.value_or_raise()
        return None

    @expose
    def instance_update_from_api(self, ctxt, instance, expected_vm_state,
                                 expected_task_state, admin_state_reset):
        self._instance_action(ctxt, instance, 'instance_update_from_api', {
            'expected_vm_state': expected_vm_state,
            'expected_task_state': expected_task_state,
            'admin_state_reset': admin_state_reset})

    @expose
    def start_instance(self, ctxt, instance):
        self._instance_action(ctxt, instance, 'start_instance')

    @expose
    def stop_instance(self, ctxt, instance, do_cast=True,
                      clean_shutdown=True):
        response = self._instance_action(
            ctxt, instance, 'stop_instance',
            {'clean_shutdown': clean_shutdown}, need_response=not do_cast)
        if not do_cast and response is not None:
            return response.value_or_raise()
        return None

    @expose
    def reboot_instance(self, ctxt, instance, reboot_type):
        self._instance_action(ctxt, instance, 'reboot_instance',
                              {'reboot_type': reboot_type})

    @expose
    def suspend_instance(self, ctxt, instance):
        self._instance_action(ctxt, instance, 'suspend_instance')

    @expose
    def resume_instance(self, ctxt, instance):
        self._instance_action(ctxt, instance, 'resume_instance')

    @expose
    def pause_instance(self, ctxt, instance):
        self._instance_action(ctxt, instance, 'pause_instance')

    @expose
    def unpause_instance(self, ctxt, instance):
        self._instance_action(ctxt, instance, 'unpause_instance')

    @expose
    def terminate_instance(self, ctxt, instance, delete_type='delete'):
        self._instance_action(ctxt, instance, 'terminate_instance',
                              {'delete_type': delete_type})

    @expose
    def soft_delete_instance(self, ctxt, instance):
        self._instance_action(ctxt, instance, 'soft_delete_instance')

    @expose
    def resize_instance(self, ctxt, instance, flavor,
                        extra_instance_updates, clean_shutdown=True):
        self._instance_action(ctxt, instance, 'resize_instance', {
            'flavor': flavor,
            'extra_instance_updates': extra_instance_updates,
            'clean_shutdown': clean_shutdown})

    @expose
    def live_migrate_instance(self, ctxt, instance, block_migration,
                              disk_over_commit, host_name):
        self._instance_action(ctxt, instance, 'live_migrate_instance', {
            'block_migration': block_migration,
            'disk_over_commit': disk_over_commit, 'host_name': host_name})

    @expose
    def revert_resize(self, ctxt, instance):
        self._instance_action(ctxt, instance, 'revert_resize')

    @expose
    def confirm_resize(self, ctxt, instance):
        self._instance_action(ctxt, instance, 'confirm_resize')

    @expose
    def reset_network(self, ctxt, instance):
        self._instance_action(ctxt, instance, 'reset_network')

    @expose
    def inject_network_info(self, ctxt, instance):
        self._instance_action(ctxt, instance, 'inject_network_info')

    @expose
    def snapshot_instance(self, ctxt, instance, image_id):
        self._instance_action(ctxt, instance, 'snapshot_instance',
                              {'image_id': image_id})

    @expose
    def backup_instance(self, ctxt, instance, image_id, backup_type,
                        rotation):
        self._instance_action(ctxt, instance, 'backup_instance', {
            'image_id': image_id, 'backup_type': backup_type,
            'rotation': rotation})

    @expose
    def rebuild_instance(self, ctxt, instance, image_href, admin_password,
                         files_to_inject, preserve_ephemeral, kwargs):
        self._instance_action(ctxt, instance, 'rebuild_instance', {
            'image_href': image_href, 'admin_password': admin_password,
            'files_to_inject': files_to_inject,
            'preserve_ephemeral': preserve_ephemeral, 'kwargs': kwargs})

    @expose
    def set_admin_password(self, ctxt, instance, new_pass):
        self._instance_action(ctxt, instance, 'set_admin_password',
                              {'new_pass': new_pass})
