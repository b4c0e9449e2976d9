"""The cell tree as an operator reads it, from one ``get_cell_status``.

``get_cell_status`` (a broadcast down from one cell) answers with each
reachable cell's own view and one failure per cell that did not answer.
:func:`assemble` turns the flat answers into a tree by routing path and
joins, for each child, what its *parent* knows of it (state, mute, last
seen, weights) to what the child says of itself (capacities, instances);
:func:`render_text` draws it for ``nova-cells-manage tree`` and the demo,
:func:`to_plain` gives the same for ``--format json``.

A cell its parent lists but that is in neither list (the broadcast stopped
at the hop limit, or an original nova-cells ignored the method) is shown as
"not reached", never silently left out.
"""

import datetime

from oslo_utils import timeutils
import prettytable

__all__ = ['Node', 'assemble', 'render_text', 'to_plain']

_SEP = '!'


class Node(object):
    """One cell of the tree.

    :ivar path: full routing path (``api!child1``).
    :ivar value: the cell's own ``cell_status`` answer, or None.
    :ivar failure: ``{'class', 'message'}`` when it did not answer.
    :ivar link: the parent's entry for this cell (state, mute, last_seen,
        weight_offset, weight_scale), or None for the root.
    """

    def __init__(self, path, value=None, failure=None, link=None):
        self.path = path
        self.value = value
        self.failure = failure
        self.link = link
        self.children = []

    @property
    def name(self):
        return self.path.rsplit(_SEP, 1)[-1]

    @property
    def depth(self):
        return self.path.count(_SEP)

    @property
    def reachable(self):
        return self.value is not None

    @property
    def status(self):
        """ok, mute, UNREACHABLE or not reached: the health column."""
        if self.failure is not None:
            return 'UNREACHABLE'
        if self.value is None:
            return 'not reached'
        if self.link and self.link.get('mute'):
            return 'mute'
        return 'ok'

    @property
    def state(self):
        return (self.link or {}).get('state') or 'enabled'

    @property
    def instances(self):
        counts = (self.value or {}).get('instances') or {}
        return sum(counts.values()) if self.value is not None else None

    def free_mb(self, resource):
        """Free MB of ``ram_free``/``disk_free`` in this cell's subtree."""
        capacities = (self.value or {}).get('aggregated_capacities') or {}
        return (capacities.get(resource) or {}).get('total_mb')


def _status_entries(status):
    for answer in status.get('cells') or []:
        yield answer['cell_name'], answer.get('value'), None
    for failure in status.get('failures') or []:
        yield failure['cell_name'], None, {
            'class': failure.get('class'), 'message': failure.get('message')}


def _child_links(value):
    return {c['name']: c for c in (value or {}).get('children') or []}


def assemble(status):
    """Return the root nodes (normally one) of ``status``'s tree."""
    nodes = {}
    for path, value, failure in _status_entries(status):
        nodes[path] = Node(path, value=value, failure=failure)
    # Children the parents know of but nobody answered for.
    for path, node in list(nodes.items()):
        for name in _child_links(node.value):
            nodes.setdefault('%s%s%s' % (path, _SEP, name),
                             Node('%s%s%s' % (path, _SEP, name)))
    roots = []
    for path in sorted(nodes, key=lambda p: (p.count(_SEP), p)):
        node = nodes[path]
        parent = nodes.get(path.rsplit(_SEP, 1)[0]) if _SEP in path \
            else None
        if parent is None:
            roots.append(node)
            continue
        node.link = _child_links(parent.value).get(node.name)
        parent.children.append(node)
    return roots


def _walk(node, prefix='', last=True, top=True):
    """``(indent, node)`` depth first, with ASCII tree guides."""
    yield ('' if top else prefix + ('`- ' if last else '|- ')), node
    below = '' if top else prefix + ('   ' if last else '|  ')
    for index, child in enumerate(node.children):
        for item in _walk(child, below, index == len(node.children) - 1,
                          False):
            yield item


def _ago(stamp, now):
    if not stamp:
        return 'never'
    try:
        seen = timeutils.parse_isotime(stamp).replace(tzinfo=None)
    except ValueError:
        return '?'
    seconds = max(0, int((now - seen).total_seconds()))
    return '%ds ago' % seconds if seconds < 120 else \
        '%dm ago' % (seconds // 60)


def _gb(mb):
    return '-' if mb is None else '%.0f' % (mb / 1024.0)


def _weights(node):
    link = node.link or {}
    if link.get('weight_offset') is None:
        return '-'
    return '%g/%g' % (link['weight_offset'], link.get('weight_scale', 1.0))


def _capabilities(node):
    caps = (node.value or {}).get('capabilities') or {}
    return ','.join('%s=%s' % (k, ';'.join(v)) for k, v in
                    sorted(caps.items())) or '-'


_COLUMNS = ('CELL', 'HEALTH', 'STATE', 'INSTANCES', 'FREE RAM GB',
            'FREE DISK GB', 'LAST SEEN', 'WEIGHT', 'CAPABILITIES')


def _row(indent, node, now):
    instances = node.instances
    return (indent + node.name, node.status,
            node.state if node.link is not None else '-',
            '-' if instances is None else str(instances),
            _gb(node.free_mb('ram_free')), _gb(node.free_mb('disk_free')),
            _ago((node.link or {}).get('last_seen'), now)
            if node.link is not None else '-',
            _weights(node), _capabilities(node))


def _problems(roots):
    lines = []
    for root in roots:
        for _indent, node in _walk(root):
            if node.failure is not None:
                lines.append('%s UNREACHABLE: %s: %s' % (
                    node.path, node.failure['class'],
                    node.failure['message']))
            elif node.link and node.link.get('state_reason'):
                lines.append('%s %s: %s' % (node.path, node.state,
                                            node.link['state_reason']))
    return lines


def render_text(status, title=None, now=None):
    """The tree as an aligned table, problems and state reasons below."""
    now = now or timeutils.utcnow()
    if isinstance(now, datetime.datetime):
        now = now.replace(tzinfo=None)
    roots = assemble(status)
    table = prettytable.PrettyTable(list(_COLUMNS))
    # Aligned columns two spaces apart, no box (the tree is drawn in the
    # first column).
    table.border = False
    table.align = 'l'
    table.left_padding_width = 0
    table.right_padding_width = 2
    for root in roots:
        for indent, node in _walk(root):
            table.add_row(list(_row(indent, node, now)))
    lines = [title] if title else []
    # (Without rows and without a box prettytable prints nothing at all.)
    text = table.get_string() if table.rows else '  '.join(_COLUMNS)
    lines.extend(line.rstrip() for line in text.splitlines())
    lines.extend(_problems(roots))
    return '\n'.join(lines)


def to_plain(status):
    """The assembled tree as nested plain data (``--format json``)."""
    def plain(node):
        return {'path': node.path, 'name': node.name,
                'health': node.status, 'state': node.state,
                'state_reason': (node.link or {}).get('state_reason'),
                'instances': node.instances,
                'instances_by_state': (node.value or {}).get('instances'),
                'free_ram_mb': node.free_mb('ram_free'),
                'free_disk_mb': node.free_mb('disk_free'),
                'last_seen': (node.link or {}).get('last_seen'),
                'mute': bool((node.link or {}).get('mute')),
                'weight_offset': (node.link or {}).get('weight_offset'),
                'weight_scale': (node.link or {}).get('weight_scale'),
                'capabilities': (node.value or {}).get('capabilities'),
                'capacities': (node.value or {}).get('capacities'),
                'failure': node.failure,
                'children': [plain(c) for c in node.children]}
    return [plain(root) for root in assemble(status)]
