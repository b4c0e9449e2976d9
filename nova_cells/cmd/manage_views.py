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

from nova_cells.cmd import _common
from nova_cells.cmd import table
from nova_cells import context as cells_context
from nova_cells.db import instances as db_instances
from nova_cells import exception
from nova_cells.transport import rpc
from nova_cells import rpcapi
from nova_cells.cells import treeview

__all__ = ['add_view_parsers', 'tree', 'capacities', 'instances_list',
           'instances_show', 'COMMANDS', 'ask_daemon']

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


def _add_format(parser, default='table'):
    parser.add_argument('--format', choices=(default, 'json'),
                        default=default)


def add_view_parsers(subparsers):
    tree_parser = subparsers.add_parser(
        'tree', help='the cell tree from this cell down, as the daemons '
                     'see it (a broadcast)')
    _add_format(tree_parser, 'text')
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
    _add_format(caps)
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
    _add_format(listing)
    show = actions.add_parser('show', help='one instance and its faults')
    show.add_argument('uuid')
    _add_format(show)


# -- asking the daemon ----------------------------------------------------

def ask_daemon(conf, call, timeout, ctxt=None):
    """Run ``call(CellsAPI, ctxt, timeout)`` against the local daemon,
    returning within about ``timeout`` seconds whatever the broker does.

    :param ctxt: who asks (default: an admin context).
    :raises nova_cells.cmd._common.NoAnswer: nothing came back in time.
    """
    timeout = timeout or conf.cells.call_timeout + 10
    transport = rpc.get_transport(conf)
    ctxt = ctxt or cells_context.get_admin_context()
    gave_up = False
    try:
        # Bounded whatever the broker does (see _common.bounded).
        return _common.bounded(
            lambda: call(rpcapi.CellsAPI(conf, transport), ctxt, timeout),
            timeout)
    except _common.NoAnswer:
        gave_up = True      # still reconnecting: it goes with the process
        raise
    finally:
        if not gave_up:
            transport.cleanup()


def tree(db, args, conf):
    """The whole subtree of this cell: a ``get_cell_status`` broadcast."""
    status = ask_daemon(conf, lambda api, ctxt, timeout:
                        api.get_cell_status(ctxt, timeout=timeout),
                        args.timeout)
    if args.format == 'json':
        print(json.dumps({'tree': treeview.to_plain(status),
                          'failures': status.get('failures', [])},
                         indent=2, sort_keys=True))
        return
    print(treeview.render_text(status))


def _capacity_rows(capacities):
    rows = []
    for resource in sorted(capacities):
        entry = capacities[resource] or {}
        units = entry.get('units_by_mb') or {}
        for slot in sorted(units, key=lambda s: int(s)):
            rows.append((resource, slot, units[slot],
                         entry.get('total_mb')))
    return rows


def capacities(db, args, conf):
    """nova's ``get_capacities``: free units per flavor size."""
    found = ask_daemon(conf, lambda api, ctxt, timeout:
                       api.get_capacities(ctxt, args.cell_name,
                                          timeout=timeout),
                       args.timeout)
    if args.format == 'json':
        print(json.dumps(found, indent=2, sort_keys=True))
        return
    table.print_table(('Resource', 'Size MB', 'Free units', 'Free MB'),
                      _capacity_rows(found or {}))


# -- reading the database -------------------------------------------------

def _in_cell(row, path):
    name = row.get('cell_name') or ''
    return name == path or name.startswith(path + '!')


def _select_instances(db, args):
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
}
