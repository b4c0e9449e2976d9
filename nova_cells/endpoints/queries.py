"""Queries and administration across cells (services, compute nodes, task
logs, actions, migrations, keypairs, consoles, BDM and bandwidth updates at
the top).

Endpoint of topic ``cells``; see :mod:`nova_cells.endpoints`.

Differences from nova, on purpose:

* a broadcast query (``service_get_all``, ``compute_node_get_all``,
  ``compute_node_stats``) whose answer lacks some cells (a dead daemon, a
  timeout, an error there) still returns what the other cells answered,
  in the shape nova-api expects (a list, or the dict of sums); each
  missing cell is named in a WARNING log line with the reason
  (``get_cell_status`` shows the same to an operator).  Only when *no*
  cell answered does the call raise the first failure.  nova raised as
  soon as any one cell failed.
* ``service_delete`` re-raises the target cell's error (e.g.
  ``ServiceNotFound``) instead of swallowing it (§10.32).
* ``compute_node_get`` wraps the node with the path of the cell that
  answered, not the path asked for (§10.32).
* ``get_migrations`` with ``filters['cell_name']`` reaches any cell below
  (``child`` or ``child!gc``, or a full path from here), not only the
  immediate children (§10.34); a routing error still gives no migrations.
* ``get_keypair_at_top`` ignores cells that failed (nova could return the
  failure itself as "the keypair").
* ``proxy_rpc_to_manager`` takes ``timeout`` as optional (Pike+ clients
  do not send it) and the target cell addresses the bare host, not
  ``<path>@<host>`` (§10.31); a cast (``call=False``) returns None.
* a ``path@item`` without the ``@`` raises ``CellRoutingInconsistency``
  (which nova-api's cells HostAPI turns into ``HostNotFound`` /
  ``ComputeHostNotFound``) instead of failing deep in the runner.
"""

from oslo_log import log as logging
import oslo_messaging

from nova_cells import exception
from nova_cells.db import instances as db_instances
from nova_cells.endpoints import _base
from nova_cells import manager as cells_manager
from nova_cells.objects import base as objects_base
from nova_cells.objects import migration as migration_obj
from nova_cells.client import proxies
from nova_cells import routing

__all__ = ['QueryEndpoint', 'gather']

LOG = logging.getLogger(__name__)

expose = cells_manager.expose
_routing_is_expected = oslo_messaging.expected_exceptions(
    exception.CellRoutingInconsistency)


def gather(method, responses):
    """``[(cell path, value)]`` of the cells that answered.

    Each failure is logged (WARNING, naming the cell and why); if no cell
    answered at all, the first failure is raised.
    """
    answered = [(r.cell_name, r.value) for r in responses if not r.failure]
    failed = [r for r in responses if r.failure]
    for response in failed:
        LOG.warning('%s: no answer from cell %s (%s: %s); returning the '
                    'answers of the other cells', method, response.cell_name,
                    type(response.value).__name__, response.value)
    if failed and not answered:
        failed[0].value_or_raise()
    return answered


def _split(cell_and_item):
    cell_name, item = routing.split_cell_and_item(cell_and_item)
    if not cell_name:
        raise exception.CellRoutingInconsistency(
            reason="%r does not name a cell ('<cell path>@<item>')"
            % (cell_and_item,))
    return cell_name, item


class QueryEndpoint(_base.BaseEndpoint):
    """Part of the cells RPC API (server side)."""

    def _broadcast(self, ctxt, method, kwargs):
        responses = self.runner.broadcast(ctxt, method, kwargs,
                                          direction='down',
                                          need_response=True,
                                          run_locally=True)
        return gather(method, responses)

    def _targeted(self, ctxt, cell_name, method, kwargs):
        """The answering Response; its failure re-raised."""
        response = self.runner.targeted(ctxt, cell_name, method, kwargs,
                                        need_response=True)
        response.value_or_raise()
        return response

    # -- services (1.2, 1.7, 1.17, 1.26) --------------------------------------

    @expose
    def service_get_all(self, ctxt, filters=None):
        """Every cell's services as ServiceProxy (``<path>@<id|host>``)."""
        answered = self._broadcast(ctxt, 'service_get_all',
                                   {'filters': filters})
        return [proxies.ServiceProxy(service, cell_name)
                for cell_name, services in answered
                for service in services]

    @expose
    @_routing_is_expected
    def service_get_by_compute_host(self, ctxt, host_name):
        cell_name, host = _split(host_name)
        response = self._targeted(ctxt, cell_name,
                                  'service_get_by_compute_host',
                                  {'host_name': host})
        return proxies.ServiceProxy(response.value, response.cell_name)

    @expose
    def get_host_uptime(self, ctxt, host_name):
        cell_name, host = _split(host_name)
        return self._targeted(ctxt, cell_name, 'get_host_uptime',
                              {'host_name': host}).value

    @expose
    def service_update(self, ctxt, host_name, binary, params_to_update):
        cell_name, host = _split(host_name)
        response = self._targeted(
            ctxt, cell_name, 'service_update',
            {'host_name': host, 'binary': binary,
             'params_to_update': params_to_update})
        return proxies.ServiceProxy(response.value, response.cell_name)

    @expose
    def service_delete(self, ctxt, cell_service_id):
        """Delete a service in its cell; its errors are re-raised."""
        cell_name, service_id = _split(cell_service_id)
        self._targeted(ctxt, cell_name, 'service_delete',
                       {'service_id': service_id})

    # -- compute nodes (1.4, 1.38) --------------------------------------------

    @expose
    @_routing_is_expected
    def compute_node_get(self, ctxt, compute_id):
        """By ``<path>@<id>`` or ``<path>@<uuid>``."""
        cell_name, compute_id = _split(compute_id)
        response = self._targeted(ctxt, cell_name, 'compute_node_get',
                                  {'compute_id': compute_id})
        return proxies.ComputeNodeProxy(response.value, response.cell_name)

    @expose
    def compute_node_get_all(self, ctxt, hypervisor_match=None):
        answered = self._broadcast(ctxt, 'compute_node_get_all',
                                   {'hypervisor_match': hypervisor_match})
        return [proxies.ComputeNodeProxy(node, cell_name)
                for cell_name, nodes in answered for node in nodes]

    @expose
    def compute_node_stats(self, ctxt):
        """Per-key integer sums over the cells that answered."""
        totals = {}
        for _cell, stats in self._broadcast(ctxt, 'compute_node_stats', {}):
            for key, value in stats.items():
                totals[key] = totals.get(key, 0) + value
        return totals

    # -- task logs (1.3) ------------------------------------------------------

    @expose
    def task_log_get_all(self, ctxt, task_name, period_beginning,
                         period_ending, host=None, state=None):
        """Task logs of every cell (``host`` None), of one cell
        (``host='<path>'``) or of one host (``host='<path>@<host>'``);
        each entry's ``id`` and ``host`` read ``<path>@<value>``."""
        kwargs = {'task_name': task_name,
                  'period_beginning': period_beginning,
                  'period_ending': period_ending, 'state': state}
        if host is None:
            answered = self._broadcast(ctxt, 'task_log_get_all',
                                       dict(kwargs, host=None))
        else:
            cell_name, host = routing.split_cell_and_item(host)
            if cell_name is None:
                cell_name, host = host, None
            response = self._targeted(ctxt, cell_name, 'task_log_get_all',
                                      dict(kwargs, host=host))
            answered = [(response.cell_name, response.value)]
        task_logs = []
        for cell_name, entries in answered:
            for entry in entries:
                entry['id'] = routing.cell_with_item(cell_name, entry['id'])
                entry['host'] = routing.cell_with_item(cell_name,
                                                       entry['host'])
                task_logs.append(entry)
        return task_logs

    # -- instance actions (1.5) -----------------------------------------------

    @expose
    def actions_get(self, ctxt, cell_name, instance_uuid):
        return self._targeted(ctxt, cell_name, 'actions_get',
                              {'instance_uuid': instance_uuid}).value

    @expose
    def action_get_by_request_id(self, ctxt, cell_name, instance_uuid,
                                 request_id):
        return self._targeted(ctxt, cell_name, 'action_get_by_request_id',
                              {'instance_uuid': instance_uuid,
                               'request_id': request_id}).value

    @expose
    def action_events_get(self, ctxt, cell_name, action_id):
        return self._targeted(ctxt, cell_name, 'action_events_get',
                              {'action_id': action_id}).value

    # -- migrations (1.11) ----------------------------------------------------

    def _migrations_target(self, cell_name):
        our_name = self.runner.our_name
        if cell_name == our_name or \
                cell_name.startswith(our_name + routing.PATH_CELL_SEP):
            return cell_name
        return our_name + routing.PATH_CELL_SEP + cell_name

    @expose
    def get_migrations(self, ctxt, filters):
        """A MigrationList: of the cell ``filters['cell_name']`` names, or
        of every cell below (this one excluded, as nova did)."""
        filters = filters or {}
        kwargs = {'filters': filters}
        if filters.get('cell_name'):
            response = self.runner.targeted(
                ctxt, self._migrations_target(filters['cell_name']),
                'get_migrations', kwargs, need_response=True)
            if response.failure and isinstance(
                    response.value, exception.CellRoutingInconsistency):
                answered = []
            else:
                answered = [(response.cell_name, response.value_or_raise())]
        else:
            responses = self.runner.broadcast(ctxt, 'get_migrations', kwargs,
                                              direction='down',
                                              need_response=True,
                                              run_locally=False)
            answered = gather('get_migrations', responses) if responses \
                else []
        return migration_obj.MigrationList(objects=[
            migration for _cell, migrations in answered
            for migration in migrations])

    # -- keypairs (1.37) ------------------------------------------------------

    @expose
    def get_keypair_at_top(self, ctxt, user_id, name):
        """The keypair as the top cell has it, or None."""
        responses = self.runner.broadcast(
            ctxt, 'get_keypair_at_top', {'user_id': user_id, 'name': name},
            direction='up', need_response=True, run_locally=False)
        found = [r for r in responses
                 if not r.failure and r.value is not None]
        for response in responses:
            if response.failure:
                LOG.warning('get_keypair_at_top: no answer from cell %s '
                            '(%s)', response.cell_name, response.value)
        if not found:
            return None
        if len(found) > 1:
            LOG.warning("The same keypair name '%(name)s' exists in the "
                        "following cells: %(cells)s. The keypair value from "
                        "the first cell is returned.",
                        {'name': name,
                         'cells': ', '.join(r.cell_name for r in found)})
        return found[0].value

    # -- at the top: casts from below (1.0, 1.6, 1.10, 1.28) ------------------

    def _up(self, ctxt, method, kwargs):
        self.runner.broadcast(ctxt, method, kwargs, direction='up',
                              need_response=False, run_locally=False)

    @expose
    def bdm_update_or_create_at_top(self, ctxt, bdm, create=None):
        """A BDM changed here: tell the top (a plain dict on the wire)."""
        if isinstance(bdm, objects_base.NovaObject):
            bdm = objects_base.obj_to_primitive(bdm)
        bdm = {k: v for k, v in dict(bdm).items() if k != 'instance'}
        self._up(ctxt, 'bdm_update_or_create_at_top',
                 {'bdm': bdm, 'create': create})

    @expose
    def bdm_destroy_at_top(self, ctxt, instance_uuid, device_name=None,
                           volume_id=None):
        self._up(ctxt, 'bdm_destroy_at_top',
                 {'instance_uuid': instance_uuid, 'device_name': device_name,
                  'volume_id': volume_id})

    @expose
    def bw_usage_update_at_top(self, ctxt, bw_update_info):
        self._up(ctxt, 'bw_usage_update_at_top',
                 {'bw_update_info': bw_update_info})

    @expose
    def consoleauth_delete_tokens(self, ctxt, instance_uuid):
        """The top's nova-consoleauth forgets the instance's tokens."""
        self._up(ctxt, 'consoleauth_delete_tokens',
                 {'instance_uuid': instance_uuid})

    # -- consoles and host managers (1.2, 1.6) --------------------------------

    @expose
    def validate_console_port(self, ctxt, instance_uuid, console_port,
                              console_type):
        """Ask the instance's compute host, found via this (API) cell's
        own copy of the instance (its ``cell_name``).

        :raises InstanceUnknownCell: when the instance has no cell yet.
        """
        row = db_instances.instance_get(self.runner.services.db,
                                        instance_uuid)
        if not row.get('cell_name'):
            raise exception.InstanceUnknownCell(instance_uuid=instance_uuid)
        return self._targeted(ctxt, row['cell_name'],
                              'validate_console_port',
                              {'instance_uuid': instance_uuid,
                               'console_port': console_port,
                               'console_type': console_type}).value

    @expose
    @_routing_is_expected
    def proxy_rpc_to_manager(self, ctxt, topic, rpc_message, call,
                             timeout=None):
        """Send ``rpc_message`` to the service ``topic`` names
        (``compute.<path>@<host>``), in the host's cell."""
        _topic, _sep, cell_and_host = topic.partition('.')
        cell_name, host_name = _split(cell_and_host)
        response = self.runner.targeted(
            ctxt, cell_name, 'proxy_rpc_to_manager',
            {'host_name': host_name, 'topic': topic,
             'rpc_message': rpc_message, 'timeout': timeout},
            need_response=bool(call))
        return response.value_or_raise() if response is not None else None
