"""``nova-cells-manage`` views: ``tree``, ``capacities`` and ``instances``.

``tree`` and ``capacities`` ask the local ``nova-cells`` over its broker
(topic ``cells``), so they show what the daemons know, the subtree from
this cell down; ``instances`` reads this cell's database (run it in the API
cell: its ``instances`` table is the top's copy of the whole tree), so it
works even when the daemon is down.

Tables for people by default, ``--format json`` for scripts.
"""

import argparse
import json
import time

from amqp import exceptions as amqp_exc
from kombu import exceptions as kombu_exc
import oslo_messaging
from oslo_log import log as logging

from nova_cells.cmd import _common
from nova_cells.cmd import table
from nova_cells import context as cells_context
from nova_cells.db import instances as db_instances
from nova_cells.db import stuck as db_stuck
from nova_cells import exception
from nova_cells.transport import rpc
from nova_cells import rpcapi
from nova_cells.cells import treeview
from nova_cells import transport_url

LOG = logging.getLogger(__name__)

# What the broker's refusal (a vhost it does not have, a login it does not
# take) comes out as: oslo.messaging hands it on as it is.
_BROKER_REFUSALS = (amqp_exc.AMQPError, kombu_exc.KombuError)

__all__ = ['add_view_parsers', 'tree', 'capacities', 'instances_list',
           'instances_show', 'instances_fail', 'COMMANDS', 'ask_daemon',
           'at_least', 'daemon_wait', 'add_format']

_INSTANCE_COLUMNS = ('uuid', 'display_name', 'cell_name', 'host',
                     'vm_state', 'task_state', 'created_at')
_SHOWN_FIELDS = ('uuid', 'display_name', 'project_id', 'user_id',
                 'cell_name', 'host', 'node', 'vm_state', 'task_state',
                 'power_state', 'memory_mb', 'vcpus', 'root_gb',
                 'instance_type_id', 'image_ref', 'availability_zone',
                 'created_at', 'updated_at', 'launched_at')


def at_least(lowest):
    """An argparse type: an integer not below ``lowest`` (a negative
    ``--limit`` would silently drop rows, a negative timeout fail late)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError('%r is not an integer' % text)
        if value < lowest:
            raise argparse.ArgumentTypeError('must be %d or more' % lowest)
        return value
    return parse


def add_format(parser, default='table'):
    parser.add_argument('--format', choices=(default, 'json'),
                        default=default)


def add_view_parsers(subparsers):
    tree_parser = subparsers.add_parser(
        'tree', help='the cell tree from this cell down, as the daemons '
                     'see it (a broadcast)')
    add_format(tree_parser, 'text')
    tree_parser.add_argument(
        '--timeout', type=at_least(1), default=None,
        help='seconds to wait for the answer (default: [cells] '
             'call_timeout + 10)')
    caps = subparsers.add_parser(
        'capacities', help='free units per flavor size, as this cell\'s '
                           'daemon knows them')
    caps.add_argument('--cell_name', default=None,
                      help='a neighbour (default: this cell and below)')
    caps.add_argument('--timeout', type=at_least(1), default=None)
    add_format(caps)
    instances = subparsers.add_parser(
        'instances', help='instances in this cell\'s database (the API '
                          'cell: the whole tree)')
    actions = instances.add_subparsers(dest='action', metavar='ACTION')
    actions.required = True
    listing = actions.add_parser('list', help='list instances')
    listing.add_argument('--cell', default=None, metavar='PATH',
                         help='only this cell path and below')
    listing.add_argument('--state', default=None, metavar='VM_STATE')
    listing.add_argument('--limit', type=at_least(0), default=100,
                         help='at most this many (default 100, 0: all)')
    _add_stuck_args(listing, 'only instances still in building, created '
                    'more than --older-than seconds ago (oldest first)')
    add_format(listing)
    fail = actions.add_parser(
        'fail', help='set instances stuck in building to ERROR with a '
                     'fault (in this cell\'s database)')
    fail.add_argument('uuids', nargs='*', metavar='UUID')
    _add_stuck_args(fail, 'every instance --stuck would list')
    fail.add_argument('--limit', type=at_least(0), default=100)
    fail.add_argument('--reason', default='stuck, ended by an operator',
                      help='said in the fault')
    add_format(fail)
    show = actions.add_parser('show', help='one instance and its faults')
    show.add_argument('uuid')
    add_format(show)


def _add_stuck_args(parser, helptext):
    parser.add_argument('--stuck', action='store_true', help=helptext)
    parser.add_argument('--older-than', dest='older_than',
                        type=at_least(0), default=600, metavar='SECONDS',
                        help='with --stuck (default 600)')


# -- asking the daemon ----------------------------------------------------

def ask_daemon(conf, call, timeout, ctxt=None):
    """Run ``call(CellsAPI, ctxt, timeout)`` against the local daemon,
    returning within ``timeout`` seconds whatever the broker does.

    :param ctxt: who asks (default: an admin context).
    :raises nova_cells.cmd._common.NoAnswer: nothing came back in time.
    :raises oslo_messaging.MessagingTimeout: the same, as oslo.messaging
        says it.
    :raises nova_cells.cmd._common.BrokerRefused: the broker refused the
        connection (no such vhost, a login it does not take).
    """
    timeout = timeout or conf.cells.call_timeout + 10
    LOG.debug('Asking nova-cells (topic cells on %s), waiting at most %d s',
              transport_url.mask(conf.transport_url or ''), timeout)
    began = time.monotonic()
    transport = rpc.get_transport(conf)
    ctxt = ctxt or cells_context.get_admin_context()
    gave_up = False
    try:
        # Bounded whatever the broker does (see _common.bounded).
        answer = _common.bounded(
            lambda: call(rpcapi.CellsAPI(conf, transport), ctxt, timeout),
            timeout)
    except (_common.NoAnswer, oslo_messaging.MessagingTimeout):
        # Still reconnecting or waiting for a reply: closing the transport
        # would take seconds more; it goes with the process.
        gave_up = True
        LOG.debug('No answer after %.2f s', time.monotonic() - began)
        raise
    except _BROKER_REFUSALS as exc:
        gave_up = True
        raise _common.BrokerRefused(
            'the broker in [DEFAULT] transport_url (%s) refused: %s' % (
                transport_url.mask(conf.transport_url or ''),
                _common.first_line(exc)))
    finally:
        if not gave_up:
            transport.cleanup()
    LOG.debug('Answered in %.2f s', time.monotonic() - began)
    return answer


# Of ``tree --timeout``, what is kept for the answer to come back from the
# daemon; the rest is the daemon's wait for the cells below it.
_ANSWER_MARGIN = 1.0


def daemon_wait(timeout):
    """The seconds the daemon may wait for the cells below, so that its
    answer (with the cells that did not answer marked) is back within
    ``timeout``."""
    return max(timeout - min(_ANSWER_MARGIN, timeout / 4.0), 0.1)


def _is_unsupported_version(exc):
    return (isinstance(exc, oslo_messaging.UnsupportedVersion) or
            getattr(exc, 'exc_type', None) == 'UnsupportedVersion')


def _cell_status(api, ctxt, timeout):
    """``get_cell_status`` with the daemon's wait (1.41); a daemon older
    than that (not restarted since an upgrade) is asked without it, and
    then waits its own call_timeout for the cells below."""
    began = time.monotonic()
    try:
        return api.get_cell_status(ctxt, timeout=timeout,
                                   wait=daemon_wait(timeout))
    except oslo_messaging.MessagingException as exc:
        if not _is_unsupported_version(exc):
            raise
    LOG.warning('This cell\'s nova-cells does not take RPC 1.41: it waits '
                'its [cells] call_timeout for the cells below, whatever '
                '--timeout says (restart it to use its new version)')
    left = max(timeout - (time.monotonic() - began), 1)
    return api.get_cell_status(ctxt, timeout=left)


def tree(db, args, conf):
    """The whole subtree of this cell: a ``get_cell_status`` broadcast,
    told to wait no longer than the command (RPC 1.41)."""
    timeout = args.timeout or conf.cells.call_timeout + 10
    status = ask_daemon(conf, _cell_status, timeout)
    if args.format == 'json':
        print(json.dumps({'tree': treeview.to_plain(status),
                          'failures': status.get('failures', [])},
                         indent=2, sort_keys=True))
        return
    print(treeview.render_text(status))


_CAPACITY_COLUMNS = ('Resource', 'Size', 'Unit', 'Free units',
                     'Free in all')
# The unit of a capacity's ``units_by_<unit>`` sizes, and of its total.
_UNITS = {'mb': 'MB', 'vcpus': 'vcpus'}


def _capacity_parts(entry):
    """(unit name, sizes -> free units, free in all) of one capacity:
    ``{'total_mb': N, 'units_by_mb': {...}}`` (RAM and disk, nova's) or
    ``{'total': N, 'units_by_vcpus': {...}}`` (vcpus, ours), or any other
    of that shape a cell reports."""
    unit, units, total = '', {}, None
    for key, value in sorted(entry.items()):
        if key.startswith('units_by_') and isinstance(value, dict):
            unit = key[len('units_by_'):]
            units = value
        elif key == 'total' or key.startswith('total_'):
            total = value
    return _UNITS.get(unit, unit), units, total


def _size_key(size):
    try:
        return 0, float(size), ''
    except (TypeError, ValueError):
        return 1, 0.0, str(size)


def _capacity_rows(capacities):
    """One row per capacity and size, every capacity the cell reports
    (``ram_free``, ``disk_free``, ``vcpu_free``...); one without sizes
    still shows its total."""
    rows = []
    for resource in sorted(capacities):
        entry = capacities[resource]
        if not isinstance(entry, dict):
            rows.append((resource, None, None, None, entry))
            continue
        unit, units, total = _capacity_parts(entry)
        if not units:
            rows.append((resource, None, unit, None, total))
        for size in sorted(units, key=_size_key):
            rows.append((resource, size, unit, units[size], total))
    return rows


def capacities(db, args, conf):
    """nova's ``get_capacities``: free units per flavor size."""
    try:
        found = ask_daemon(conf, lambda api, ctxt, timeout:
                           api.get_capacities(ctxt, args.cell_name,
                                              timeout=timeout),
                           args.timeout)
    except Exception as exc:
        if args.cell_name and _is_cell_not_found(exc):
            raise exception.NovaCellsException(
                _not_a_neighbour(conf, args.cell_name, args.timeout))
        raise
    if args.format == 'json':
        print(json.dumps(found, indent=2, sort_keys=True))
        return
    table.print_table(_CAPACITY_COLUMNS, _capacity_rows(found or {}))


def _is_cell_not_found(exc):
    """The daemon's CellNotFound, as oslo.messaging hands it back (a
    RemoteError naming it, or the exception itself when rebuilt)."""
    return (isinstance(exc, exception.CellNotFound) or
            getattr(exc, 'exc_type', None) == 'CellNotFound')


def _not_a_neighbour(conf, name, timeout):
    """One line for ``capacities --cell_name NAME`` when the daemon has no
    such child: which cells it has (asked of the daemon: the cells table
    or the ``cells_config`` file, as it reads them)."""
    me = conf.cells.name
    try:
        cells = ask_daemon(conf, lambda api, ctxt, _timeout:
                           api.get_cell_info_for_neighbors(ctxt), timeout)
    except Exception:  # noqa - the first refusal is the answer
        cells = None
    if cells is None:
        return '%s is not a neighbour of %s' % (name, me)
    children = sorted(c['name'] for c in cells if not c.get('is_parent'))
    parents = sorted(c['name'] for c in cells if c.get('is_parent'))
    listed = ', '.join(children) or 'none'
    if name in parents:
        return ('%s is a parent of %s: capacities are shown for %s and its '
                'children only (children: %s)' % (name, me, me, listed))
    described = [', '.join(children)] if children else []
    if parents:
        described.append('parent%s %s' % ('s' if len(parents) > 1 else '',
                                          ', '.join(parents)))
    return '%s is not a neighbour of %s; neighbours: %s' % (
        name, me, '; '.join(described) or 'none')


# -- reading the database -------------------------------------------------

def _in_cell(row, path):
    name = row.get('cell_name') or ''
    return name == path or name.startswith(path + '!')


def _select_instances(db, args):
    if args.stuck:
        rows = db_stuck.stuck_instances(db, args.older_than,
                                        limit=args.limit or None)
        return [r for r in rows if not args.cell or _in_cell(r, args.cell)]
    filters = {'vm_state': args.state} if args.state else None
    rows = db_instances.instance_get_all(db, filters=filters)
    if args.cell:
        rows = [r for r in rows if _in_cell(r, args.cell)]
    return rows[:args.limit] if args.limit else rows


def _plain(value):
    return value.isoformat() if hasattr(value, 'isoformat') else value


def instances_list(db, args, conf=None):
    rows = [{c: _plain(r.get(c)) for c in _INSTANCE_COLUMNS}
            for r in _select_instances(db, args)]
    if args.format == 'json':
        print(json.dumps(rows, indent=2, sort_keys=True))
        return
    table.print_table([c.replace('_', ' ').capitalize()
                       for c in _INSTANCE_COLUMNS],
                      [[r[c] for c in _INSTANCE_COLUMNS] for r in rows])


def instances_fail(db, args, conf=None):
    """ERROR with a fault for each instance named (or ``--stuck``) that is
    still in building (:func:`nova_cells.db.stuck.fail_stuck`)."""
    if bool(args.uuids) == bool(args.stuck):
        raise exception.NovaCellsException(
            'name instances (UUID ...) or give --stuck, not both')
    uuids = args.uuids or [r['uuid'] for r in db_stuck.stuck_instances(
        db, args.older_than, limit=args.limit or None)]
    failed = db_stuck.fail_stuck(db, uuids, args.reason)
    left = [u for u in uuids if u not in failed]
    if args.format == 'json':
        print(json.dumps({'failed': failed, 'not_building': left},
                         indent=2, sort_keys=True))
        return
    table.print_table(('Uuid', 'Result'),
                      [(u, 'set to ERROR with a fault') for u in failed] +
                      [(u, 'not in building here: left alone')
                       for u in left])


def instances_show(db, args, conf=None):
    try:
        row = db_instances.instance_get(db, args.uuid)
    except exception.InstanceNotFound:
        raise exception.NovaCellsException(
            'Instance %s not found in this cell\'s database' % args.uuid)
    shown = {f: _plain(row.get(f)) for f in _SHOWN_FIELDS}
    faults = [{'code': f['code'], 'message': f['message'],
               'created_at': _plain(f['created_at'])}
              for f in db_instances.instance_fault_get_by_instance(
                  db, args.uuid)]
    if args.format == 'json':
        print(json.dumps(dict(shown, faults=faults), indent=2,
                         sort_keys=True))
        return
    table.print_table(('Field', 'Value'), list(shown.items()) + [
        ('fault', '%s %s: %s' % (f['created_at'], f['code'], f['message']))
        for f in faults])


COMMANDS = {
    ('tree', None): tree,
    ('capacities', None): capacities,
    ('instances', 'list'): instances_list,
    ('instances', 'show'): instances_show,
    ('instances', 'fail'): instances_fail,
}
