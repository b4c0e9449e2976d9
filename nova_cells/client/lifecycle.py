"""Client methods of the cells RPC API: lifecycle (see nova_cells.rpcapi).

Names, signatures, versions and wire arguments are nova's (reference §5.3);
the arguments nova's client accepted but never sent (``block_device_info``,
``bdms``, ``reservations``, ``migration``, ``host``, ``request_spec``, ...)
are accepted and dropped the same way.
"""

from oslo_serialization import jsonutils

from nova_cells.client import _base

__all__ = ['LifecycleClient']


def _flavor_primitive(flavor):
    """nova's ``jsonutils.to_primitive(flavor)`` for a Flavor object or a
    dict."""
    if hasattr(flavor, 'obj_attr_is_set'):
        flavor = {name: getattr(flavor, name) for name in flavor.fields
                  if flavor.obj_attr_is_set(name)}
    return jsonutils.to_primitive(flavor, convert_instances=True)


class LifecycleClient(_base.ClientBase):
    """Mixed into :class:`nova_cells.rpcapi.CellsAPI`; versions and cast or
    call are declared in :mod:`nova_cells.api_methods`."""

    def cast_compute_api_method(self, ctxt, cell_name, method, *args,
                                **kwargs):
        """Run compute API ``method`` in ``cell_name``; the first argument
        is the instance uuid."""
        method_info = {'method': method, 'method_args': args,
                       'method_kwargs': kwargs}
        self._cast(ctxt, 'run_compute_api_method', cell_name=cell_name,
                   method_info=method_info, call=False)

    def call_compute_api_method(self, ctxt, cell_name, method, *args,
                                **kwargs):
        method_info = {'method': method, 'method_args': args,
                       'method_kwargs': kwargs}
        return self._call(ctxt, 'run_compute_api_method',
                          cell_name=cell_name, method_info=method_info,
                          call=True)

    def instance_update_from_api(self, ctxt, instance, expected_vm_state,
                                 expected_task_state, admin_state_reset):
        self._cast(ctxt, 'instance_update_from_api', instance=instance,
                   expected_vm_state=expected_vm_state,
                   expected_task_state=expected_task_state,
                   admin_state_reset=admin_state_reset)

    def start_instance(self, ctxt, instance):
        self._cast(ctxt, 'start_instance', instance=instance)

    def stop_instance(self, ctxt, instance, do_cast=True,
                      clean_shutdown=True):
        msg_args = {'instance': instance, 'do_cast': do_cast}
        version = self._newest('stop_instance')
        if version == '1.31':
            msg_args['clean_shutdown'] = clean_shutdown
        send = self._cast if do_cast else self._call
        return send(ctxt, 'stop_instance', version=version, **msg_args)

    def reboot_instance(self, ctxt, instance, block_device_info,
                        reboot_type):
        self._cast(ctxt, 'reboot_instance', instance=instance,
                   reboot_type=reboot_type)

    def pause_instance(self, ctxt, instance):
        self._cast(ctxt, 'pause_instance', instance=instance)

    def unpause_instance(self, ctxt, instance):
        self._cast(ctxt, 'unpause_instance', instance=instance)

    def suspend_instance(self, ctxt, instance):
        self._cast(ctxt, 'suspend_instance', instance=instance)

    def resume_instance(self, ctxt, instance):
        self._cast(ctxt, 'resume_instance', instance=instance)

    def terminate_instance(self, ctxt, instance, bdms, reservations=None,
                           delete_type='delete'):
        if not self.enabled:
            return
        msg_kwargs = {'instance': instance}
        version = self._newest('terminate_instance')
        if version == '1.36':
            msg_kwargs['delete_type'] = delete_type
        self._cast(ctxt, 'terminate_instance', version=version, **msg_kwargs)

    def soft_delete_instance(self, ctxt, instance, reservations=None):
        if not self.enabled:
            return
        self._cast(ctxt, 'soft_delete_instance', instance=instance)

    def resize_instance(self, ctxt, instance, extra_instance_updates,
                        scheduler_hint, flavor, reservations=None,
                        clean_shutdown=True, request_spec=None):
        msg_args = {'instance': instance,
                    'flavor': _flavor_primitive(flavor),
                    'extra_instance_updates': extra_instance_updates}
        version = self._newest('resize_instance')
        if version == '1.33':
            msg_args['clean_shutdown'] = clean_shutdown
        self._cast(ctxt, 'resize_instance', version=version, **msg_args)

    def live_migrate_instance(self, ctxt, instance, host_name,
                              block_migration, disk_over_commit,
                              request_spec=None):
        self._cast(ctxt, 'live_migrate_instance', instance=instance,
                   block_migration=block_migration,
                   disk_over_commit=disk_over_commit, host_name=host_name)

    def revert_resize(self, ctxt, instance, migration, host,
                      reservations=None):
        if not self.enabled:
            return
        self._cast(ctxt, 'revert_resize', instance=instance)

    def confirm_resize(self, ctxt, instance, migration, host,
                       reservations=None, cast=True):
        # As nova: only used in the API cell, where it always casts.
        if not self.enabled:
            return
        self._cast(ctxt, 'confirm_resize', instance=instance)

    def reset_network(self, ctxt, instance):
        self._cast(ctxt, 'reset_network', instance=instance)

    def inject_network_info(self, ctxt, instance):
        self._cast(ctxt, 'inject_network_info', instance=instance)

    def snapshot_instance(self, ctxt, instance, image_id):
        self._cast(ctxt, 'snapshot_instance', instance=instance,
                   image_id=image_id)

    def backup_instance(self, ctxt, instance, image_id, backup_type,
                        rotation):
        self._cast(ctxt, 'backup_instance', instance=instance,
                   image_id=image_id, backup_type=backup_type,
                   rotation=rotation)

    def rebuild_instance(self, ctxt, instance, new_pass, injected_files,
                         image_ref, orig_image_ref, orig_sys_metadata, bdms,
                         recreate=False, on_shared_storage=False, host=None,
                         preserve_ephemeral=False, request_spec=None,
                         kwargs=None):
        if not self.enabled:
            return
        self._cast(ctxt, 'rebuild_instance', instance=instance,
                   image_href=image_ref, admin_password=new_pass,
                   files_to_inject=injected_files,
                   preserve_ephemeral=preserve_ephemeral, kwargs=kwargs)

    def set_admin_password(self, ctxt, instance, new_pass):
        self._cast(ctxt, 'set_admin_password', instance=instance,
                   new_pass=new_pass)
