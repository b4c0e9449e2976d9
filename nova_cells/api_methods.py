"""Every method of the cells RPC API (topic ``cells``), declared once.

A :class:`Method` says what nova-api and the cell's services see (its
name, the versions a client sends, cast or call) and what the daemon does
with it (the intercell messages its endpoint sends, and whether they are
durable).  The rest is made from or checked against this table:

* the client (:mod:`nova_cells.client`, :class:`nova_cells.rpcapi.CellsAPI`)
  sends each method with :func:`send`, which takes the version and cast or
  call from here;
* the server exposes a method with :func:`expose`, which refuses a name not
  declared here, and serves :data:`SERVER_VERSION`, the newest declared;
* :data:`DURABLE_METHODS` (the intercell methods
  :mod:`nova_cells.messaging.delivery` forwards durably) comes from here;
* ``tests/unit/test_api_methods.py`` checks that every declared method has
  its client methods and its endpoint, and that every intercell message it
  sends has a handler of its type.

Versions and cast/call are nova Stein's (reference section 5.3), plus this
project's additions (1.39 to 1.42; ``doc/rpc-api.rst``).
"""

import collections

from oslo_messaging.rpc import server as rpc_server

__all__ = ['CAST', 'CALL', 'EITHER', 'Method', 'METHODS', 'SERVER_VERSION',
           'DURABLE_METHODS', 'declared', 'expose', 'newest_sendable',
           'send']

CAST, CALL, EITHER = 'cast', 'call', 'cast or call'

_TARGETED, _BROADCAST = 'targeted', 'broadcast'


class Method(collections.namedtuple(
        'Method', 'name versions kind sends durable clients')):
    """One method of the cells RPC API.

    ``versions``: what a client sends, newest first (the others are the
    fallbacks of a client capped below it).  ``kind``: :data:`CAST`,
    :data:`CALL` or :data:`EITHER` (the caller says).  ``sends``: the
    intercell messages its endpoint may send, as ``(message type, method)``
    (empty: answered by this cell alone).  ``durable``: those messages are
    forwarded durably (an instance is wrong for good when one is lost).
    ``clients``: the :class:`~nova_cells.rpcapi.CellsAPI` methods that
    send it.
    """

    __slots__ = ()


def _method(name, versions, kind, sends=(), durable=False, clients=None):
    if isinstance(versions, str):
        versions = (versions,)
    return Method(name, tuple(versions), kind, tuple(sends), durable,
                  tuple(clients or (name,)))


def _to_instance(name, versions, durable=False, call=False):
    """A lifecycle action: one targeted message to the instance's cell,
    same name."""
    return _method(name, versions, EITHER if call else CAST,
                   [(_TARGETED, name)], durable)


def _up(name, versions, durable, clients=None):
    """A cast from a compute cell's services to the top: a broadcast
    up, same name."""
    return _method(name, versions, CAST, [(_BROADCAST, name)], durable,
                   clients)


def _query(name, version, *message_types):
    """A call answered by the cells below (same name)."""
    return _method(name, version, CALL,
                   [(t, name) for t in message_types or (_BROADCAST,)])


_DECLARED = (
    # -- builds, neighbours, capacities, cell administration ---------------
    _method('build_instances', ('1.34', '1.32', '1.30', '1.8'), CAST,
            [(_TARGETED, 'build_instances')], durable=True),
    _method('get_cell_info_for_neighbors', '1.1', CALL),
    _method('get_capacities', '1.9', CALL),
    _method('cell_create', '1.13', CALL),
    _method('cell_update', '1.13', CALL),
    _method('cell_delete', '1.13', CALL),
    _method('cell_get', '1.13', CALL),
    _method('get_cell_status', ('1.41', '1.39'), CALL,
            [(_BROADCAST, 'cell_status')]),
    _method('explain_build', '1.40', CALL, [(_TARGETED, 'explain_build')]),
    _method('get_build_trace', '1.42', CALL, [(_BROADCAST, 'build_trace')]),
    # -- queries ---------------------------------------------------------
    _query('service_get_all', '1.2'),
    _query('service_get_by_compute_host', '1.2', _TARGETED),
    _query('get_host_uptime', '1.17', _TARGETED),
    _query('service_update', '1.7', _TARGETED),
    _method('service_delete', '1.26', CALL, [(_TARGETED, 'service_delete')]),
    _query('compute_node_get', ('1.38', '1.4'), _TARGETED),
    _query('compute_node_get_all', '1.4'),
    _query('compute_node_stats', '1.4'),
    _query('task_log_get_all', '1.3', _BROADCAST, _TARGETED),
    _query('actions_get', '1.5', _TARGETED),
    _query('action_get_by_request_id', '1.5', _TARGETED),
    _query('action_events_get', '1.5', _TARGETED),
    _query('get_migrations', '1.11', _BROADCAST, _TARGETED),
    _method('get_keypair_at_top', '1.37', CALL,
            [(_BROADCAST, 'get_keypair_at_top')]),
    _query('validate_console_port', '1.6', _TARGETED),
    _method('proxy_rpc_to_manager', '1.2', CALL,
            [(_TARGETED, 'proxy_rpc_to_manager')]),
    # -- up to the top -----------------------------------------------------
    _up('instance_update_at_top', ('1.35', '1.34'), True,
        clients=('instance_update_at_top',
                 'instance_info_cache_update_at_top')),
    _up('instance_destroy_at_top', ('1.35', '1.34'), True),
    _up('instance_fault_create_at_top', '1.0', True),
    _up('bdm_update_or_create_at_top', ('1.28', '1.10'), True),
    _up('bdm_destroy_at_top', '1.10', True),
    _up('bw_usage_update_at_top', '1.0', False),
    _up('consoleauth_delete_tokens', '1.6', False),
    # -- down to every cell ------------------------------------------------
    _method('sync_instances', '1.1', CAST, [(_BROADCAST, 'sync_instances')]),
    _method('instance_delete_everywhere', ('1.27', '1.0'), CAST,
            [(_BROADCAST, 'instance_delete_everywhere')], durable=True),
    # -- to the instance's cell --------------------------------------------
    _method('run_compute_api_method', '1.0', EITHER,
            [(_TARGETED, 'run_compute_api_method')],
            clients=('cast_compute_api_method', 'call_compute_api_method')),
    _to_instance('instance_update_from_api', '1.16', durable=True),
    _to_instance('start_instance', '1.12'),
    _to_instance('stop_instance', ('1.31', '1.12'), call=True),
    _to_instance('reboot_instance', '1.14'),
    _to_instance('suspend_instance', '1.15'),
    _to_instance('resume_instance', '1.15'),
    _to_instance('pause_instance', '1.19'),
    _to_instance('unpause_instance', '1.19'),
    _to_instance('terminate_instance', ('1.36', '1.18'), durable=True),
    _to_instance('soft_delete_instance', '1.18', durable=True),
    _to_instance('resize_instance', ('1.33', '1.20')),
    _to_instance('live_migrate_instance', '1.20'),
    _to_instance('revert_resize', '1.21'),
    _to_instance('confirm_resize', '1.21'),
    _to_instance('reset_network', '1.22'),
    _to_instance('inject_network_info', '1.23'),
    _to_instance('snapshot_instance', '1.24'),
    _to_instance('backup_instance', '1.24'),
    _to_instance('rebuild_instance', '1.25'),
    _to_instance('set_admin_password', '1.29'),
)

#: name -> :class:`Method`.
METHODS = {method.name: method for method in _DECLARED}


def _version_key(version):
    major, minor = version.split('.')
    return int(major), int(minor)


#: The version the server's target announces: the newest declared.
SERVER_VERSION = max((v for m in _DECLARED for v in m.versions),
                     key=_version_key)

#: The intercell methods whose loss leaves an instance wrong for good
#: (builds going down, instance state going up, deletes).
DURABLE_METHODS = frozenset(
    sent for m in _DECLARED if m.durable for _type, sent in m.sends)


def declared(name):
    """The :class:`Method` called ``name``.

    :raises KeyError: not a method of the cells RPC API.
    """
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError('%r is not declared in nova_cells.api_methods'
                       % (name,)) from None


class _Exposed(object):
    """What :func:`expose` puts in the class body: when the class is made,
    checks the name it is given (that of the attribute, which
    oslo.messaging dispatches on; a decorator below may have renamed the
    function) and leaves the exposed function in its place."""

    def __init__(self, func):
        self.func = rpc_server.expose(func)

    def __set_name__(self, owner, name):
        declared(name)
        setattr(owner, name, self.func)


def expose(func):
    """oslo.messaging's ``expose`` for a method of an endpoint class,
    refused when the class is made (at import) unless the method is
    declared here."""
    return _Exposed(func)


def newest_sendable(client, name):
    """The newest declared version of ``name`` that ``client`` (an
    oslo.messaging RPC client, capped by ``[upgrade_levels] cells``) may
    send; the oldest when none may (the server then refuses, as nova's
    client did)."""
    versions = declared(name).versions
    return next((v for v in versions if client.can_send_version(v)),
                versions[-1])


#: ``timeout`` not given to :func:`send` (None is a timeout: none).
NO_TIMEOUT_GIVEN = object()


def send(client, ctxt, name, kwargs, call, version=None,
         timeout=NO_TIMEOUT_GIVEN):
    """Send method ``name`` with the wire arguments ``kwargs`` through
    ``client``: a call (its answer returned) when ``call``, else a cast,
    which must be what the method is declared as; at ``version``, one of
    its declared versions (the newest by default).  ``timeout``, when
    given, goes to ``prepare``."""
    method = declared(name)
    version = version or method.versions[0]
    if version not in method.versions:
        raise ValueError('%s is not sent at version %s (declared: %s)'
                         % (name, version, ', '.join(method.versions)))
    if method.kind != EITHER and call != (method.kind == CALL):
        raise ValueError('%s is declared a %s' % (name, method.kind))
    prepared = {'version': version}
    if timeout is not NO_TIMEOUT_GIVEN:
        prepared['timeout'] = timeout
    cctxt = client.prepare(**prepared)
    return (cctxt.call if call else cctxt.cast)(ctxt, name, **kwargs)
