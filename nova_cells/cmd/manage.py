"""``nova-cells-manage``: the operator CLI (``nova-manage cell`` and ``db``,
plus this project's ``explain``, ``tree``, ``capacities``, ``instances`` and
the cell states ``cell disable|enable|drain``).

Same flags as ``nova-manage cell create`` (``--name --cell_type
--username --password --broker_hosts | --hostname --port --virtual_host
--woffset --wscale``) plus ``--transport-url`` as a direct form.  Fixed
against nova (reference §10.33): the local ``transport_url`` is not used as
a seed, and ``--woffset``/``--wscale`` default to the column defaults.

Errors (duplicate name, unknown cell, malformed URL, bad name) print one
line and exit with status 2, leaving the database as it was.  Passwords are
never printed.
"""

import contextlib
import json
import logging
import signal
import sys
import time
import uuid

from oslo_config import cfg
from oslo_db import exception as db_exc
from oslo_log import log as oslo_logging
import oslo_messaging
from sqlalchemy import exc as sa_exc

from nova_cells.cells import cell_values
from nova_cells.cmd import _common
from nova_cells.cmd import manage_ops
from nova_cells.cmd import manage_views
from nova_cells.cmd import table
from nova_cells.conf import validation
from nova_cells import context as cells_context
from nova_cells.db import api as db_api
from nova_cells.db import flavors as flavor_source
from nova_cells.db import migration
from nova_cells.db import schema
from nova_cells import exception
from nova_cells.scheduler import explain as explain_view
from nova_cells.objects import instance as instance_obj
from nova_cells.transport import signing
from nova_cells.cells import state as cell_state
from nova_cells import transport_url

__all__ = ['main']

LOG = oslo_logging.getLogger(__name__)

_PARENT_TYPES = ('parent', 'api')
_CHILD_TYPES = ('child', 'compute')
_LIST_COLUMNS = ('Id', 'Name', 'Type', 'Username', 'Hostname', 'Port',
                 'VHost', 'State')
_STATE_ACTIONS = {'disable': cell_state.DISABLED,
                  'drain': cell_state.DRAINING,
                  'enable': cell_state.ENABLED}


# NOTE(nova-cells): oslo.config keeps the category in ``name`` and the
# global options in the same namespace, hence the ``dest`` renames below.

# -- argument parsing ---------------------------------------------------------

def _add_url_args(parser):
    parser.add_argument('--username', help='broker user name')
    parser.add_argument('--password', help='broker password')
    parser.add_argument('--broker_hosts',
                        help='comma-separated host:port list ([v6]:port)')
    parser.add_argument('--hostname', help='broker host (with --port)')
    parser.add_argument('--port', type=int, help='broker port')
    parser.add_argument('--virtual_host', help='broker virtual host')
    parser.add_argument('--transport-url', '--transport_url',
                        dest='neighbour_url',
                        help='the whole neighbour URL, instead of the parts')
    parser.add_argument('--woffset', type=float, help='weight offset')
    parser.add_argument('--wscale', type=float, help='weight scale')
    parser.add_argument('--api_url', help='stored and shown only')
    parser.add_argument('--signing_key', '--signing-key', action='append',
                        dest='signing_keys', metavar='KEY',
                        help='HMAC key for this link (see [cells] signing); '
                             'repeat for a rotation: the first signs, any '
                             'verifies. On update, the given keys replace '
                             'the old ones')


def _add_cell_parsers(subparsers):
    cell = subparsers.add_parser('cell', help='neighbour cells')
    actions = cell.add_subparsers(dest='action', metavar='ACTION')
    actions.required = True
    create = actions.add_parser('create', help='register a neighbour cell')
    create.add_argument('--name', dest='new_name', required=True)
    create.add_argument('--cell_type', default='child',
                        choices=_PARENT_TYPES + _CHILD_TYPES)
    _add_url_args(create)
    update = actions.add_parser('update', help='change a neighbour cell')
    update.add_argument('--cell_name', required=True)
    update.add_argument('--name', dest='new_name', help='new name')
    update.add_argument('--cell_type', choices=_PARENT_TYPES + _CHILD_TYPES)
    _add_url_args(update)
    update.add_argument('--clear_signing_keys', '--clear-signing-keys',
                        action='store_true',
                        help='remove the keys: this link is not signed')
    for name, helptext in (('delete', 'remove a neighbour cell'),
                           ('show', 'show a neighbour cell')):
        sub = actions.add_parser(name, help=helptext)
        sub.add_argument('--cell_name', required=True)
        sub.add_argument('--format', choices=('table', 'json'),
                         default='table')
    for name, helptext in (
            ('disable', 'no new builds for this child (run in its parent)'),
            ('drain', 'no new builds, the child is being emptied'),
            ('enable', 'the child takes builds again')):
        sub = actions.add_parser(name, help=helptext)
        sub.add_argument('--cell_name', required=True)
        if name != 'enable':
            sub.add_argument('--reason', default=None,
                             help='shown in tree and explain')
    listing = actions.add_parser('list', help='list neighbour cells')
    listing.add_argument('--format', choices=('table', 'json'),
                         default='table')


def _add_db_parsers(subparsers):
    db = subparsers.add_parser('db', help='database schema')
    actions = db.add_subparsers(dest='action', metavar='ACTION')
    actions.required = True
    sync = actions.add_parser('sync', help='upgrade the schema')
    sync.add_argument('version', nargs='?', default='head')
    actions.add_parser('version', help='print the schema revision')


def _add_explain_parser(subparsers):
    explain = subparsers.add_parser(
        'explain', help='dry-run a build: where would it go, and why')
    explain.add_argument('--flavor', required=True,
                         help='flavor name or flavorid (nova\'s API database '
                              'when [api_database] connection is set, else '
                              'this cell\'s instance_types)')
    explain.add_argument('--image-property', action='append', default=[],
                         metavar='KEY=VALUE', dest='image_properties')
    explain.add_argument('--hint', action='append', default=[],
                         metavar='KEY=VALUE', dest='hints',
                         help='scheduler hint (repeat a key for a list)')
    explain.add_argument('--as-admin', action='store_true',
                         help='ask as an admin (admin-only hints count)')
    explain.add_argument('--project', default='nova-cells-manage',
                         help='the project asking (project_cells pins)')
    explain.add_argument('--count', type=manage_views.at_least(1), default=1,
                         help='instances in the request (split builds)')
    explain.add_argument('--extra-spec', action='append', default=[],
                         metavar='KEY=VALUE', dest='extra_specs',
                         help='flavor extra spec, e.g. cells:az=az1, '
                              'added to the flavor\'s own (a key it has '
                              'is replaced)')
    explain.add_argument('--group-policy',
                         help='server group policy, e.g. cell-anti-affinity')
    explain.add_argument('--group-member', action='append', default=[],
                         metavar='UUID', dest='group_members',
                         help='an instance already in the server group')
    explain.add_argument('--format', choices=('text', 'json'),
                         default='text')
    explain.add_argument('--timeout', type=int, default=60)


def add_command_parsers(subparsers):
    _add_db_parsers(subparsers)
    _add_cell_parsers(subparsers)
    _add_explain_parser(subparsers)
    manage_views.add_view_parsers(subparsers)
    manage_ops.add_ops_parsers(subparsers)


category_opt = cfg.SubCommandOpt('category', title='Command categories',
                                 handler=add_command_parsers)


# -- helpers ------------------------------------------------------------------

def _parse_broker_hosts(text):
    """``h1:5672,[::1]:5673`` -> ``[('h1', 5672), ('::1', 5673)]``."""
    hosts = []
    for item in text.split(','):
        host, sep, port = item.strip().rpartition(':')
        if not sep or not host or not port.isdigit():
            raise exception.InvalidTransportURL(
                url=text, reason='%r is not host:port' % item)
        hosts.append((host.strip('[]'), int(port)))
    return hosts


def _hosts_from_args(args):
    if args.broker_hosts:
        return _parse_broker_hosts(args.broker_hosts)
    if args.hostname:
        return [(args.hostname, args.port)]
    return None


def _new_url(args):
    if args.neighbour_url:
        transport_url.check_messaging_url(args.neighbour_url)
        return args.neighbour_url
    hosts = _hosts_from_args(args)
    if not hosts:
        raise exception.InvalidTransportURL(
            url='', reason='give --transport-url, --broker_hosts or '
                           '--hostname/--port')
    return transport_url.build(hosts, args.username, args.password,
                               args.virtual_host)


def _merged_url(existing, args):
    """The existing URL with the parts given on the command line replaced."""
    if args.neighbour_url:
        return _new_url(args)
    old = transport_url.parse(existing)
    first = old.hosts[0] if old.hosts else None
    hosts = _hosts_from_args(args) or [(h.hostname, h.port)
                                       for h in old.hosts]
    if not (args.username or args.password or args.virtual_host
            or _hosts_from_args(args)):
        return existing
    return transport_url.build(
        hosts,
        args.username if args.username is not None else
        (first.username if first else None),
        args.password if args.password is not None else
        (first.password if first else None),
        args.virtual_host if args.virtual_host is not None else
        old.virtual_host, transport=old.transport)


def _check_name(name):
    reason = validation.check_cell_name(name)
    if reason:
        shown = name if len(name) <= 64 else name[:64] + '...'
        raise exception.InvalidCellName(name=shown, reason=reason)


def _public_row(row):
    """A cell row fit for printing: masked URL, type spelled out, the
    state a row without one has.  The one JSON form of a cell: ``cell
    show`` prints it, ``cell list`` a list of them."""
    info = dict(row)
    info['transport_url'] = transport_url.mask(row['transport_url'])
    info['type'] = 'parent' if row['is_parent'] else 'child'
    info['state'] = row.get('state') or cell_state.ENABLED
    info['signing_keys'] = _masked_keys(row.get('signing_keys'))
    for key in ('created_at', 'updated_at', 'deleted_at'):
        if info.get(key) is not None:
            info[key] = info[key].isoformat()
    return info


def _masked_keys(value):
    """How many signing keys a row holds; never the keys themselves."""
    if not value:
        return None
    try:
        keys = signing.parse_keys(value)
    except ValueError:
        return '(invalid)'
    return '%d key%s (hidden)' % (len(keys), '' if len(keys) == 1 else 's')


def _keys_value(keys):
    """The ``signing_keys`` column for the keys given on the command
    line: JSON text; a usage error (never echoing a key) when invalid."""
    reason = signing.check_keys(keys)
    if reason:
        raise exception.NovaCellsException(reason)
    return json.dumps(keys)


def _list_row(row):
    try:
        host = transport_url.first_host_info(row['transport_url'])
    except exception.InvalidTransportURL:
        host = dict(username='?', rpc_host='?', rpc_port='?',
                    virtual_host='?')
    return (row['id'], row['name'],
            'parent' if row['is_parent'] else 'child', host['username'],
            host['rpc_host'], host['rpc_port'], host['virtual_host'],
            row.get('state') or cell_state.ENABLED)


# -- commands -----------------------------------------------------------------

def _cell_values(args, is_create):
    values = {}
    if is_create or args.cell_type:
        values['is_parent'] = args.cell_type in _PARENT_TYPES
    if is_create or args.woffset is not None:
        values['weight_offset'] = args.woffset if args.woffset is not None \
            else 0.0
    if is_create or args.wscale is not None:
        values['weight_scale'] = args.wscale if args.wscale is not None \
            else 1.0
    if args.api_url is not None:
        values['api_url'] = args.api_url
    if getattr(args, 'clear_signing_keys', False):
        if args.signing_keys:
            raise exception.NovaCellsException(
                'give --signing_key or --clear_signing_keys, not both')
        values['signing_keys'] = None
    elif args.signing_keys:
        values['signing_keys'] = _keys_value(args.signing_keys)
    return values


def cell_create(db, args):
    _check_name(args.new_name)
    values = _cell_values(args, is_create=True)
    values.update(name=args.new_name, transport_url=_new_url(args))
    cell_values.validate(values, creating=True)
    row = db_api.cell_create(db, values)
    print('Created cell %s (id %s, %s)' % (row['name'], row['id'],
                                           _public_row(row)['type']))


def cell_update(db, args):
    existing = db_api.cell_get(db, args.cell_name)
    values = _cell_values(args, is_create=False)
    if args.new_name:
        _check_name(args.new_name)
        values['name'] = args.new_name
    url = _merged_url(existing['transport_url'], args)
    if url != existing['transport_url']:
        values['transport_url'] = url
    cell_values.validate(values)
    row = db_api.cell_update(db, args.cell_name, values)
    print('Updated cell %s' % row['name'])


def cell_delete(db, args):
    if not db_api.cell_delete(db, args.cell_name):
        raise exception.CellNotFound(cell_name=args.cell_name)
    print('Deleted cell %s' % args.cell_name)


def cell_set_state(db, args):
    """``cell disable|drain|enable``: the state of a child, kept in this
    (its parent's) cells table; the daemon applies it within
    ``db_check_interval`` seconds, or at once on SIGHUP."""
    row = db_api.cell_get(db, args.cell_name)
    if row['is_parent']:
        raise exception.NovaCellsException(
            'Cell %s is a parent of this cell: a cell is disabled, drained '
            'or enabled in its parent' % args.cell_name)
    new_state = _STATE_ACTIONS[args.action]
    reason = getattr(args, 'reason', None)
    values = {'state': new_state,
              'state_reason': reason if new_state != cell_state.ENABLED
              else None}
    cell_values.validate(values)
    db_api.cell_update(db, args.cell_name, values)
    print('Cell %s is %s%s' % (args.cell_name, new_state,
                               ': %s' % reason if reason else ''))


def cell_show(db, args):
    row = _public_row(db_api.cell_get(db, args.cell_name))
    if args.format == 'json':
        print(json.dumps(row, indent=2, sort_keys=True))
        return
    table.print_table(('Field', 'Value'), sorted(row.items()))


def cell_list(db, args):
    rows = db_api.cell_get_all(db)
    if args.format == 'json':
        print(json.dumps([_public_row(r) for r in rows], indent=2,
                         sort_keys=True))
        return
    table.print_table(_LIST_COLUMNS, [_list_row(r) for r in rows])


def db_sync(db, args):
    migration.db_sync(db, args.version)
    print('Database at revision %s' % migration.db_version(db))


def db_version(db, args):
    """The revision; ``None`` (and why, on stderr) for an empty
    database."""
    version = migration.db_version(db)
    print(version or 'None')
    if version is None:
        problem = schema.problem(db)
        if problem:
            sys.stderr.write('nova-cells-manage: %s\n' % problem)


def _pairs(items):
    result = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep:
            raise exception.NovaCellsException('%r is not KEY=VALUE' % item)
        if key in result:
            previous = result[key]
            result[key] = (previous if isinstance(previous, list)
                           else [previous]) + [value]
        else:
            result[key] = value
    return result


def explain(db, args, conf=None):
    """Ask the local nova-cells for a dry run of a one-instance build."""
    flavors = flavor_source.from_conf(conf, db)
    try:
        # From where the daemon reads them too, with the flavor's own
        # extra specs: the dry run carries what nova-api would send.
        flavor = manage_ops.find_flavor(flavors, args.flavor)
    finally:
        flavors.dispose()
    flavor.extra_specs.update(_pairs(args.extra_specs))
    instances = [_dry_run_instance(flavor, args.project)
                 for _ in range(args.count)]
    ctxt = cells_context.RequestContext(
        user_id='nova-cells-manage', project_id=args.project,
        is_admin=args.as_admin, roles=['admin'] if args.as_admin else [])
    kwargs = explain_view.request_kwargs(
        instances[0], flavor, _pairs(args.image_properties),
        _pairs(args.hints))
    kwargs['instances'] = instances
    if args.group_policy:
        kwargs['filter_properties']['instance_group'] = {
            'uuid': str(uuid.uuid4()), 'policy': args.group_policy,
            'members': list(args.group_members)}
    result = manage_views.ask_daemon(
        conf, lambda api, ctxt, timeout: api.explain_build(
            ctxt, timeout=timeout, **kwargs), args.timeout, ctxt)
    if args.format == 'json':
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(explain_view.render_text(result))


def _dry_run_instance(flavor, project_id):
    return instance_obj.Instance(uuid=str(uuid.uuid4()), flavor=flavor,
                                 project_id=project_id,
                                 vm_state='building', metadata={},
                                 system_metadata={})


_COMMANDS = {
    ('cell', 'create'): cell_create,
    ('cell', 'update'): cell_update,
    ('cell', 'delete'): cell_delete,
    ('cell', 'show'): cell_show,
    ('cell', 'list'): cell_list,
    ('cell', 'disable'): cell_set_state,
    ('cell', 'drain'): cell_set_state,
    ('cell', 'enable'): cell_set_state,
    ('db', 'sync'): db_sync,
    ('db', 'version'): db_version,
    ('explain', None): explain,
}
_COMMANDS.update(manage_views.COMMANDS)
_COMMANDS.update(manage_ops.COMMANDS)
# Commands that write the cells table: with [cells] cells_config set the
# daemon reads its neighbours from that file and never this table.
_WRITES_CELLS = (cell_create, cell_update, cell_delete, cell_set_state)
# Commands that talk to the local daemon and need the configuration.
_NEEDS_CONF = (explain, manage_views.tree, manage_views.capacities) + \
    manage_ops.NEEDS_CONF

_USER_ERRORS = (exception.NovaCellsException, db_exc.DBError,
                sa_exc.SQLAlchemyError, oslo_messaging.MessagingException,
                _common.NoAnswer)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    # ``nova-cells-manage tree | head`` ends quietly, as any Unix tool
    # (given back on return: a caller in-process keeps its own).
    previous = signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        _main(argv)
    finally:
        signal.signal(signal.SIGPIPE, previous)


def _main(argv):
    conf = _common.load_config(argv, 'nova-cells-manage', [category_opt],
                               setup_logging=False)
    with _common.command_logging(conf, 'nova-cells-manage', argv):
        _run(conf)


def _run(conf):
    action = getattr(conf.category, 'action', None)
    command = _COMMANDS[(conf.category.name, action)]
    _refuse_table_writes_with_file(command, conf)
    LOG.debug('%s %s, cell %s, database %s', conf.category.name,
              action or '', conf.cells.name,
              transport_url.mask(conf.database.connection))
    db = db_api.Database.from_conf(conf)
    try:
        with _quiet_reconnects(command in _NEEDS_CONF and not conf.debug):
            _run_retrying_locked(command, db, conf)
    except (_common.NoAnswer, oslo_messaging.MessagingTimeout,
            _common.BrokerRefused) as exc:
        db.dispose()
        # A transport still reconnecting would hold the exit: leave now.
        _common.die('nova-cells-manage: error: %s' % _describe(exc, conf),
                    now=True)
    except _USER_ERRORS as exc:
        _common.die('nova-cells-manage: error: %s' % _describe(exc, conf,
                                                               db))
    finally:
        db.dispose()


@contextlib.contextmanager
def _quiet_reconnects(quiet=True):
    """oslo.messaging's "Connection failed ... retrying" lines, silenced
    while the command runs: its own one-line error says the broker did
    not answer (with ``--debug`` they are shown).  The levels are put back
    afterwards."""
    loggers = [logging.getLogger(name) for name in
               ('oslo_messaging', 'oslo.messaging')] if quiet else []
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _refuse_table_writes_with_file(command, conf):
    """With ``[cells] cells_config`` set, a write to the cells table would
    report success and change nothing the daemon uses: refuse it."""
    if command in _WRITES_CELLS and conf.cells.cells_config:
        _common.die('nova-cells-manage: error: [cells] cells_config is set '
                    '(%s): the daemon reads its neighbours from that file, '
                    'not the cells table; edit the file and send SIGHUP'
                    % conf.cells.cells_config)


def _run_retrying_locked(command, db, conf, attempts=5):
    """Run ``command``; a SQLite file busy with a running daemon is retried
    (a failed transaction rolled back, so running it again is safe)."""
    for attempt in range(attempts):
        try:
            if command in _NEEDS_CONF:
                return command(db, conf.category, conf)
            return command(db, conf.category)
        except (db_exc.DBError, sa_exc.OperationalError) as exc:
            if 'database is locked' not in str(exc) or \
                    attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def _schema_problem(db):
    """Why the database cannot be used (empty, not synced), or None."""
    if db is None:
        return None
    try:
        return schema.problem(db)
    except (db_exc.DBError, sa_exc.SQLAlchemyError):
        return None


def _describe(exc, conf=None, db=None):
    if isinstance(exc, exception.NovaCellsException):
        return exc.format_message()
    if isinstance(exc, _common.BrokerRefused):
        return str(exc)
    if isinstance(exc, (db_exc.DBError, sa_exc.SQLAlchemyError)):
        # A table missing: say so when the schema is the cause.
        return 'database in [database] connection (%s): %s' % (
            transport_url.mask(conf.database.connection),
            _schema_problem(db) or _common.first_line(exc))
    if isinstance(exc, oslo_messaging.RemoteError):
        return '%s from this cell\'s nova-cells: %s' % (
            exc.exc_type,
            _common.first_line(exc.value) if exc.value else 'no details')
    if isinstance(exc, _common.NoAnswer) and conf is not None:
        return ('%s from this cell\'s nova-cells (topic cells on %s): is '
                'its broker up, and the daemon running?' % (
                    exc, transport_url.mask(conf.transport_url or '')))
    if isinstance(exc, oslo_messaging.MessagingTimeout) and conf is not None:
        return ('no answer from this cell\'s nova-cells (topic cells on %s) '
                'in time: is the daemon running? (%s)' % (
                    transport_url.mask(conf.transport_url or ''),
                    _common.first_line(exc)))
    return '%s: %s' % (type(exc).__name__, str(exc).splitlines()[0])
