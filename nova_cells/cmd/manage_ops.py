"""``nova-cells-manage`` for operating a tree: ``trace``, ``flavor``,
``boot`` and ``metrics``.

* ``trace REQUEST_ID``: what each cell's scheduler decided for the builds
  of one request (``get_build_trace``, a broadcast from this cell down);
* ``flavor list|create``: the flavors where this cell reads them (nova's
  API database when ``[api_database] connection`` is set, else the cell's
  ``instance_types``), and a new one there;
* ``boot --flavor F``: in the API cell, what nova-api does for a server
  create (the rows, then ``build_instances`` to this cell's nova-cells),
  an operator's smoke test of the whole tree without nova-api;
* ``metrics``: this daemon's Prometheus figures (``[cells]
  metrics_port``), as a table.
"""

import collections
import json
import time
import urllib.error
import urllib.request

from prometheus_client import parser as prom_parser

from nova_cells.cmd import manage_views
from nova_cells.cmd import table
from nova_cells import context as cells_context
from nova_cells.db import flavors as flavor_source
from nova_cells.db import instances as db_instances
from nova_cells import exception
from nova_cells.top import boot as boot_requests

__all__ = ['add_ops_parsers', 'COMMANDS', 'NEEDS_CONF']

at_least = manage_views.at_least
add_format = manage_views.add_format


def _add_trace_parser(subparsers):
    trace = subparsers.add_parser(
        'trace', help='what each cell decided for the builds of a request '
                      '(a broadcast from this cell down)')
    trace.add_argument('request_id', metavar='REQUEST_ID')
    trace.add_argument('--timeout', type=at_least(1), default=None)
    add_format(trace, 'text')


def _add_flavor_parsers(subparsers):
    flavor = subparsers.add_parser(
        'flavor', help='flavors where this cell reads them')
    actions = flavor.add_subparsers(dest='action', metavar='ACTION')
    actions.required = True
    add_format(actions.add_parser('list', help='list the flavors'))
    create = actions.add_parser('create', help='create a flavor')
    # Not ``name``: the command's category is read from there.
    create.add_argument('--name', dest='flavor_name', required=True)
    create.add_argument('--ram', type=at_least(1), required=True,
                        metavar='MB')
    create.add_argument('--vcpus', type=at_least(1), required=True)
    create.add_argument('--disk', type=at_least(0), required=True,
                        metavar='GB')
    create.add_argument('--ephemeral', type=at_least(0), default=0,
                        metavar='GB')
    create.add_argument('--swap', type=at_least(0), default=0, metavar='MB')
    create.add_argument('--id', dest='flavorid', default=None,
                        help='flavorid (default: the name)')


def _add_boot_parser(subparsers):
    boot = subparsers.add_parser(
        'boot', help='(API cell) build instances as nova-api would')
    boot.add_argument('--flavor', required=True, help='a name or flavorid')
    boot.add_argument('--count', type=at_least(1), default=1)
    boot.add_argument('--name', dest='name_prefix', default='smoke',
                      help='name prefix')
    boot.add_argument('--hint', action='append', default=[],
                      metavar='KEY=VALUE', help='a scheduler hint')
    boot.add_argument('--wait', type=at_least(0), default=0,
                      metavar='SECONDS',
                      help='wait until none is building (0: do not wait)')
    add_format(boot)


def add_ops_parsers(subparsers):
    _add_trace_parser(subparsers)
    _add_flavor_parsers(subparsers)
    _add_boot_parser(subparsers)
    metrics = subparsers.add_parser(
        'metrics', help='this daemon\'s metrics ([cells] metrics_port)')
    metrics.add_argument('--timeout', type=at_least(1), default=5)
    add_format(metrics)


# -- trace ----------------------------------------------------------------

def trace(db, args, conf):
    timeout = args.timeout or conf.cells.call_timeout + 10
    answer = manage_views.ask_daemon(
        conf, lambda api, ctxt, t: api.get_build_trace(
            ctxt, args.request_id, timeout=t,
            wait=manage_views.daemon_wait(t)), timeout)
    if args.format == 'json':
        print(json.dumps(answer, indent=2, sort_keys=True))
        return
    print('\n'.join(_trace_lines(args.request_id, answer)))


def _trace_lines(request_id, answer):
    entries = sorted(((e['arrived_at'], c['cell_name'], e)
                      for c in answer.get('cells', [])
                      for e in c['value'] or []), key=lambda x: x[:2])
    lines = ['Request %s: %d build(s) seen in %d cell(s)' % (
        request_id, len(entries), len({c for _a, c, _e in entries}))]
    for arrived, cell, entry in entries:
        lines.append('%s  %s (hop %s): %s, %s in %.3f s' % (
            arrived, cell, entry['hop'], ', '.join(entry['instances']),
            entry['outcome'] or 'in progress', entry['seconds'] or 0.0))
        lines.extend('    %s' % step for step in entry['steps'])
    for failure in answer.get('failures', []):
        lines.append('%s: no answer (%s: %s)' % (
            failure['cell_name'], failure['class'], failure['message']))
    return lines


# -- flavors --------------------------------------------------------------

_FLAVOR_COLUMNS = ('flavorid', 'name', 'memory_mb', 'vcpus', 'root_gb',
                   'ephemeral_gb', 'swap', 'is_public', 'disabled')


def _reader(conf, db):
    return flavor_source.from_conf(conf, db)


def flavor_list(db, args, conf):
    reader = _reader(conf, db)
    try:
        flavors = reader.get_all()
    finally:
        reader.dispose()
    rows = [{c: f.get(c) for c in _FLAVOR_COLUMNS} for f in flavors]
    if args.format == 'json':
        print(json.dumps(rows, indent=2, sort_keys=True, default=str))
        return
    table.print_table([c.replace('_', ' ').capitalize()
                       for c in _FLAVOR_COLUMNS],
                      [[r[c] for c in _FLAVOR_COLUMNS] for r in rows])


def flavor_create(db, args, conf):
    reader = _reader(conf, db)
    try:
        reader.create(flavor_source.new_flavor(
            args.flavor_name, args.ram, args.vcpus, args.disk,
            ephemeral_gb=args.ephemeral, swap=args.swap,
            flavorid=args.flavorid))
    finally:
        reader.dispose()
    print('Flavor %s created in %s' % (args.flavor_name, reader.where))


def find_flavor(reader, name):
    """The flavor named ``name`` (or with that flavorid) where ``reader``
    (:mod:`nova_cells.db.flavors`) reads them, as a Flavor object with its
    extra specs: what nova-api would send.

    :raises NovaCellsException: none, saying where it looked and what
        there is.
    """
    flavors = reader.get_all()
    for flavor in flavors:
        if name in (flavor['name'], str(flavor['flavorid'])):
            return boot_requests.flavor_object(flavor)
    raise exception.NovaCellsException(
        'Flavor %s not found in %s (flavors there: %s; nova-cells-manage '
        'flavor create makes one)' % (
            name, reader.where,
            ', '.join(sorted(f['name'] for f in flavors)) or 'none'))


# -- boot -----------------------------------------------------------------

def _hints(items):
    hints = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise exception.NovaCellsException(
                '--hint %r is not KEY=VALUE' % item)
        hints.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in hints.items()}


def boot(db, args, conf):
    if conf.cells.cell_type != 'api':
        raise exception.NovaCellsException(
            'boot runs in the API cell (this is a %s cell): nova-api '
            'casts its builds there' % conf.cells.cell_type)
    hints = _hints(args.hint)
    reader = _reader(conf, db)
    try:
        flavor = find_flavor(reader, args.flavor)
    finally:
        reader.dispose()
    # An admin's request: the cell scheduler takes a target_cell hint
    # from an admin only (nova's cells_scheduler_filter policy).
    ctxt = cells_context.RequestContext(
        user_id='nova-cells-manage', project_id='nova-cells-manage',
        is_admin=True, roles=['admin'])
    names = ['%s-%d' % (args.name_prefix, i + 1)
             for i in range(args.count)]
    instances = boot_requests.request_instances(
        db, [flavor] * args.count, names, ctxt.project_id, ctxt.user_id)

    def cast(api, _ctxt, _timeout):
        for instance in instances:
            api.build_instances(ctxt, **boot_requests.build_kwargs(
                instance, flavor, hints))
    manage_views.ask_daemon(conf, cast, conf.cells.call_timeout + 10)
    uuids = [i.uuid for i in instances]
    rows = _wait_built(db, uuids, args.wait) if args.wait else \
        _rows(db, uuids)
    _print_boot(args, ctxt.request_id, rows)
    if any(r['vm_state'] == 'error' for r in rows):
        raise SystemExit(1)


def _rows(db, uuids):
    rows = []
    for uuid in uuids:
        row = db_instances.instance_get(db, uuid)
        faults = db_instances.instance_fault_get_by_instance(db, uuid) \
            if row['vm_state'] == 'error' else []
        rows.append({'uuid': uuid, 'name': row['display_name'],
                     'vm_state': row['vm_state'],
                     'cell': row['cell_name'], 'host': row['host'],
                     'fault': faults[0]['message'] if faults else None})
    return rows


def _wait_built(db, uuids, seconds):
    deadline = time.monotonic() + seconds
    while True:
        rows = _rows(db, uuids)
        if all(r['vm_state'] != 'building' for r in rows) or \
                time.monotonic() >= deadline:
            return rows
        time.sleep(0.5)


def _print_boot(args, request_id, rows):
    if args.format == 'json':
        print(json.dumps({'request_id': request_id, 'instances': rows},
                         indent=2, sort_keys=True))
        return
    columns = ('uuid', 'name', 'vm_state', 'cell', 'host', 'fault')
    table.print_table([c.replace('_', ' ').capitalize() for c in columns],
                      [[r[c] for c in columns] for r in rows])
    print('Request %s (nova-cells-manage trace %s follows it)'
          % (request_id, request_id))
    counts = collections.Counter(r['vm_state'] for r in rows)
    print(', '.join('%d %s' % (n, state)
                    for state, n in sorted(counts.items())))


# -- metrics --------------------------------------------------------------

def metrics(db, args, conf):
    port = conf.cells.metrics_port
    if not port:
        raise exception.NovaCellsException(
            'metrics are off in this cell: set [cells] metrics_port (and '
            'restart its nova-cells)')
    host = conf.cells.metrics_host
    host = '127.0.0.1' if host in ('0.0.0.0', '::') else host
    url = 'http://%s:%d/metrics' % (host, port)
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as answer:
            text = answer.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        raise exception.NovaCellsException(
            'no metrics at %s (is this cell\'s nova-cells running?): %s'
            % (url, getattr(exc, 'reason', exc)))
    samples = [(s.name, ','.join('%s=%s' % kv for kv in
                                 sorted(s.labels.items())), s.value)
               for family in prom_parser.text_string_to_metric_families(text)
               if family.name.startswith('nova_cells_')
               for s in family.samples if not s.name.endswith('_created')]
    if args.format == 'json':
        print(json.dumps([{'name': n, 'labels': labels, 'value': v}
                          for n, labels, v in samples], indent=2))
        return
    table.print_table(('Metric', 'Labels', 'Value'), samples)


COMMANDS = {
    ('trace', None): trace,
    ('flavor', 'list'): flavor_list,
    ('flavor', 'create'): flavor_create,
    ('boot', None): boot,
    ('metrics', None): metrics,
}
# Every command here reads the configuration.
NEEDS_CONF = tuple(COMMANDS.values())
