"""What tree ``nova-cells-demo`` builds: cells, hosts per leaf, host sizes.

A topology comes from a JSON file (``--topology``) or is the default
(api -> 2 children -> 2 grandchildren).  The file either spells the tree
out::

    {"layout": {"api": {"child1": {"gc1": {}}, "child2": {}}}}

or asks for a generated one, ``depth`` levels below the API cell with
``fanout`` children per cell, named after their position (``api``, ``c1``,
``c1-2``, ``c1-2-3``...)::

    {"depth": 3, "fanout": 4, "hosts_per_leaf": 5,
     "host_sizes": [[65536, 32, 800], [131072, 64, 1600]],
     "instances": 1000}

Everything is checked before anything is built, and every problem is one
line naming the key (:class:`TopologyError`): a demo that fails half way
through creating vhosts and databases is much worse than one that refuses
to start.  Cell names become vhost, database and file names, so they are
held to letters, digits, ``-`` and ``_`` (which also keeps out the ``!``
and ``.`` a cell name must never contain).
"""

import dataclasses
import json
import re
import typing

__all__ = ['TopologyError', 'Topology', 'DEFAULT_LAYOUT',
           'DEFAULT_HOST_SIZES', 'DEFAULT_HOSTS_PER_LEAF', 'default',
           'generate_layout', 'check_name', 'from_dict', 'load', 'walk']

DEFAULT_LAYOUT = {'api': {'child1': {'gc1': {}, 'gc2': {}},
                          'child2': {'gc3': {}, 'gc4': {}}}}

# (memory_mb, vcpus, local_gb) of the hosts of each leaf, varied on purpose,
# host i of a leaf taking size i modulo their number.
DEFAULT_HOST_SIZES = ((65536, 32, 800), (131072, 64, 1600), (32768, 16, 400))
DEFAULT_HOSTS_PER_LEAF = 3

# The smallest host that can take the demo's smallest flavor (m1.small):
# a topology whose hosts cannot hold anything is a mistake, not a demo.
MIN_HOST = (2048, 1, 20)

# Sanity limits: a typo (fanout 40, depth 4) must not start building
# millions of databases.
MAX_CELLS = 2000
MAX_NAME = 40
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_-]*$')
_KEYS = {'layout', 'depth', 'fanout', 'hosts_per_leaf', 'host_sizes',
         'instances', 'top'}


class TopologyError(ValueError):
    """A topology that cannot be built; ``str()`` is one line."""


@dataclasses.dataclass
class Topology(object):
    """A validated tree and what its leaves hold.

    :param layout: nested mapping, the single top-level key is the API
        cell (the shape :mod:`nova_cells.testing.inprocess` takes).
    :param instances: how many to build, when the file says (the command
        line wins).
    """

    layout: dict
    hosts_per_leaf: int = DEFAULT_HOSTS_PER_LEAF
    host_sizes: tuple = DEFAULT_HOST_SIZES
    instances: typing.Optional[int] = None

    @property
    def top(self):
        return next(iter(self.layout))

    def cells(self):
        """``[(name, parent, full path)]``, parents before children."""
        return list(walk(self.layout))

    def paths(self):
        """``{name: full path}`` (``api!child1!gc1``)."""
        return {name: path for name, _parent, path in walk(self.layout)}

    def leaves(self):
        parents = {parent for _name, parent, _path in walk(self.layout)}
        return [name for name, _parent, _path in walk(self.layout)
                if name not in parents]

    def levels(self):
        """Cell names grouped by depth, the top first: the order daemons
        start in (a child's first report needs its parent listening)."""
        levels = []
        for name, _parent, path in walk(self.layout):
            depth = path.count('!')
            while len(levels) <= depth:
                levels.append([])
            levels[depth].append(name)
        return levels

    def hosts(self, leaf):
        """``[(host, memory_mb, vcpus, local_gb)]`` of one leaf."""
        sizes = self.host_sizes
        return [('%s-host%d' % (leaf, index + 1),) + tuple(
            sizes[index % len(sizes)]) for index in range(self.hosts_per_leaf)]

    def total_ram_mb(self):
        """What the top's aggregated free RAM is once every leaf reported
        (nothing built yet): how the demo knows capacities arrived."""
        return sum(host[1] for leaf in self.leaves()
                   for host in self.hosts(leaf))

    def __len__(self):
        return sum(1 for _item in walk(self.layout))


def walk(layout, parent=None, path=()):
    """Yield ``(name, parent, full path)`` top-down, a level at a time."""
    level = [(name, children, parent, path)
             for name, children in layout.items()]
    while level:
        following = []
        for name, children, parent_name, parent_path in level:
            here = parent_path + (name,)
            yield name, parent_name, '!'.join(here)
            following.extend((child, grand, name, here)
                             for child, grand in (children or {}).items())
        level = following


def default():
    return Topology(layout=_copy(DEFAULT_LAYOUT))


def _copy(layout):
    return {name: _copy(children or {}) for name, children in layout.items()}


def generate_layout(depth, fanout, top='api'):
    """``depth`` levels below ``top``, ``fanout`` children per cell.

    Names say where a cell is: ``c2-3`` is the third child of ``c2``; the
    ``c`` keeps them from being all digits.
    """
    def children(prefix, level):
        if level == depth:
            return {}
        return {name: children(name + '-', level + 1)
                for name in ('%s%d' % (prefix, index + 1)
                             for index in range(fanout))}
    return {top: children('c', 0)}


def _count(depth, fanout):
    return sum(fanout ** level for level in range(depth + 1))


# -- validation -----------------------------------------------------------


def _int(data, key, low, high=None, default=None):
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TopologyError('"%s" must be an integer, not %s'
                            % (key, json.dumps(value)))
    if value < low or (high is not None and value > high):
        raise TopologyError('"%s" must be between %d and %s, not %d'
                            % (key, low, high if high is not None
                               else 'any', value))
    return value


def check_name(name, where):
    """A cell name usable as a routing path element and in vhost,
    database and file names."""
    if not isinstance(name, str) or not _NAME.match(name) or \
            len(name) > MAX_NAME:
        raise TopologyError(
            'cell name %s %s: use 1-%d letters, digits, "-" or "_" '
            '(no "!", "." or spaces)' % (json.dumps(name), where, MAX_NAME))


def _check_layout(layout):
    if not isinstance(layout, dict) or len(layout) != 1:
        raise TopologyError('"layout" must be an object with exactly one '
                            'key, the API cell')
    seen = set()
    stack = [(layout, 'at the top')]
    while stack:
        level, where = stack.pop()
        for name, children in level.items():
            check_name(name, where)
            if name in seen:
                raise TopologyError('cell name "%s" appears twice: every '
                                    'cell needs its own name' % name)
            seen.add(name)
            if children is None:
                continue
            if not isinstance(children, dict):
                raise TopologyError('the children of "%s" must be an '
                                    'object ({} for a leaf), not %s'
                                    % (name, json.dumps(children)))
            stack.append((children, 'under "%s"' % name))
    if len(seen) > MAX_CELLS:
        raise TopologyError('%d cells: at most %d' % (len(seen), MAX_CELLS))
    return _copy(layout)


def _check_host_sizes(sizes):
    if not isinstance(sizes, list) or not sizes:
        raise TopologyError('"host_sizes" must be a non-empty list of '
                            '[memory_mb, vcpus, local_gb]')
    checked = []
    for size in sizes:
        if not isinstance(size, list) or len(size) != 3 or any(
                isinstance(v, bool) or not isinstance(v, int)
                for v in size):
            raise TopologyError('"host_sizes": %s is not [memory_mb, vcpus, '
                                'local_gb] (three integers)'
                                % json.dumps(size))
        if any(v < low for v, low in zip(size, MIN_HOST)):
            raise TopologyError('"host_sizes": %s cannot hold the smallest '
                                'flavor (%d MB, %d vCPU, %d GB)'
                                % ((json.dumps(size),) + MIN_HOST))
        checked.append(tuple(size))
    return tuple(checked)


def _layout_of(data):
    if 'layout' in data:
        if 'depth' in data or 'fanout' in data:
            raise TopologyError('give either "layout" or "depth"/"fanout", '
                                'not both')
        return _check_layout(data['layout'])
    if 'depth' not in data or 'fanout' not in data:
        raise TopologyError('give "layout", or both "depth" and "fanout"')
    depth = _int(data, 'depth', 0, 8)
    fanout = _int(data, 'fanout', 1, 50)
    if _count(depth, fanout) > MAX_CELLS:
        raise TopologyError('depth %d and fanout %d make %d cells: at most '
                            '%d' % (depth, fanout, _count(depth, fanout),
                                    MAX_CELLS))
    top = data.get('top', 'api')
    check_name(top, 'at the top')
    return generate_layout(depth, fanout, top)


def from_dict(data):
    """Check a decoded topology file and return the :class:`Topology`.

    :raises TopologyError: naming the first problem found.
    """
    if not isinstance(data, dict):
        raise TopologyError('a topology is a JSON object, not %s'
                            % type(data).__name__)
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise TopologyError('unknown key%s %s (known: %s)' % (
            's' if len(unknown) > 1 else '',
            ', '.join('"%s"' % k for k in unknown),
            ', '.join(sorted(_KEYS))))
    if 'top' in data and 'layout' in data:
        raise TopologyError('"top" only goes with "depth"/"fanout"')
    layout = _layout_of(data)
    instances = None
    if 'instances' in data:
        instances = _int(data, 'instances', 0, 100000)
    return Topology(
        layout=layout,
        hosts_per_leaf=_int(data, 'hosts_per_leaf', 1, 1000,
                            default=DEFAULT_HOSTS_PER_LEAF),
        host_sizes=(_check_host_sizes(data['host_sizes'])
                    if 'host_sizes' in data else DEFAULT_HOST_SIZES),
        instances=instances)


def load(path):
    """Read and check a topology file.

    :raises TopologyError: ``<path>: <problem>``, one line.
    """
    try:
        with open(path) as stream:
            data = json.load(stream)
    except OSError as exc:
        raise TopologyError('%s: %s' % (path, exc.strerror or exc))
    except ValueError as exc:
        raise TopologyError('%s: not JSON: %s' % (path, exc))
    try:
        return from_dict(data)
    except TopologyError as exc:
        raise TopologyError('%s: %s' % (path, exc))
