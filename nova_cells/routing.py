"""Cell paths: ``api!child!gc`` and ``api!child@host`` (reference §4.3).

A :class:`RoutingPath` is an immutable value, like oslo.messaging's
``Target``: ``append`` and ``reversed`` return new paths and never mutate.
On the wire a path is always the plain ``!``-joined string.
"""

import unicodedata

__all__ = ['PATH_CELL_SEP', 'CELL_ITEM_SEP', 'BLOCK_SYNC_FLAG', 'RoutingPath',
           'split_cell_and_item', 'cell_with_item', 'reverse_path',
           'response_cell_name_from_path', 'relative_target',
           'FORBIDDEN_NAME_CHARS', 'check_cell_name']

PATH_CELL_SEP = '!'
CELL_ITEM_SEP = '@'
BLOCK_SYNC_FLAG = '!!'


# Characters that separate cells and items in paths (and the '.' nova's
# transport-level names use): no cell name may hold one.
FORBIDDEN_NAME_CHARS = (PATH_CELL_SEP, '.', CELL_ITEM_SEP)


#: Longest cell name: the ``cells.name`` column is a VARCHAR(255).
MAX_NAME_LENGTH = 255

# Unicode categories no name may hold: control characters (a newline forges
# log and table lines), format characters (bidi overrides such as U+202E
# reorder what an operator reads; zero-width ones hide differences), line
# and paragraph separators, lone surrogates (no database can store them).
_INVISIBLE_CATEGORIES = ('Cc', 'Cf', 'Zl', 'Zp', 'Cs')


def check_cell_name(name):
    """Return why ``name`` cannot be a cell name, or None if it can.

    The one rule for every way a name comes in (``[cells] name``, the
    CLI, the ``cells`` RPC, ``cells_config``, routing pins), so that what
    one path stores every other path can route, show and log.
    """
    if not isinstance(name, str):
        return 'a cell name must be a string'
    if not name:
        return 'a cell name must not be empty'
    if len(name) > MAX_NAME_LENGTH:
        return 'a cell name must not be longer than %d characters' % (
            MAX_NAME_LENGTH)
    bad = [c for c in FORBIDDEN_NAME_CHARS if c in name]
    if bad:
        return ('a cell name must not contain %s (they separate cells and '
                'items in routing paths)' % ' '.join(repr(c) for c in bad))
    invisible = sorted({'U+%04X' % ord(c) for c in name
                        if unicodedata.category(c) in _INVISIBLE_CATEGORIES})
    if invisible:
        return ('a cell name must not contain control, format or '
                'separator characters (%s)' % ', '.join(invisible[:5]))
    if name != name.strip():
        return 'a cell name must not begin or end with white space'
    return None


class RoutingPath(object):
    """A sequence of cell names from an originator, e.g. ``api!child``."""

    __slots__ = ('_cells',)

    def __init__(self, cells=()):
        if isinstance(cells, str):
            cells = cells.split(PATH_CELL_SEP) if cells else ()
        self._cells = tuple(cells)

    @classmethod
    def parse(cls, text):
        """Parse the wire form; empty or None gives the empty path."""
        return cls(text or ())

    @classmethod
    def parse_and_append(cls, text, cell_name):
        """``parse(text).append(cell_name)`` as one new path (every
        message a cell receives or makes builds one)."""
        path = cls.__new__(cls)
        if isinstance(text, str):
            cells = tuple(text.split(PATH_CELL_SEP)) if text else ()
        else:
            cells = tuple(text or ())
        path._cells = cells + (cell_name,)
        return path

    @property
    def cells(self):
        return self._cells

    def __len__(self):
        return len(self._cells)

    def __bool__(self):
        return bool(self._cells)

    def __iter__(self):
        return iter(self._cells)

    def __getitem__(self, index):
        return self._cells[index]

    def __eq__(self, other):
        if isinstance(other, str):
            other = RoutingPath.parse(other)
        return isinstance(other, RoutingPath) and self._cells == other._cells

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self._cells)

    def __str__(self):
        return PATH_CELL_SEP.join(self._cells)

    def __repr__(self):
        return '<RoutingPath %s>' % self

    def append(self, cell_name):
        """Return this path with ``cell_name`` added at the end."""
        return RoutingPath(self._cells + (cell_name,))

    def reversed(self):
        return RoutingPath(tuple(reversed(self._cells)))

    def startswith(self, other):
        return self._cells[:len(other)] == tuple(other)

    def contains(self, cell_name):
        return cell_name in self._cells

    @property
    def last(self):
        return self._cells[-1] if self._cells else None

    @property
    def first(self):
        return self._cells[0] if self._cells else None


def split_cell_and_item(cell_and_item):
    """``'api!c@host'`` -> ``('api!c', 'host')``; no ``@`` -> (None, s)."""
    result = cell_and_item.rsplit(CELL_ITEM_SEP, 1)
    if len(result) == 1:
        return (None, cell_and_item)
    return tuple(result)


def cell_with_item(cell_name, item):
    """``('api!c', 42)`` -> ``'api!c@42'``; no cell -> the item alone."""
    if cell_name is None:
        return item
    return cell_name + CELL_ITEM_SEP + str(item)


def reverse_path(path):
    """``'a!b!c'`` -> ``'c!b!a'``."""
    return str(RoutingPath.parse(path).reversed())


def response_cell_name_from_path(routing_path, neighbor_only=False):
    """The target of a response: the reversed path, or (``neighbor_only``)
    just ``<me>!<previous hop>``.  nova tested the string length, not the
    number of cells (§10.7); this counts cells."""
    path = RoutingPath.parse(routing_path).reversed()
    if neighbor_only and len(path) > 1:
        path = RoutingPath(path.cells[:2])
    return str(path)


def relative_target(target, here, our_name):
    """Turn a full path from the top into one that starts at this cell.

    Messages this cell originates start their routing path with its own
    name, while scheduling speaks in full paths (``api!child1!gc1``); from
    ``here = 'api!child1'`` the message must target ``child1!gc1``.
    """
    target_path = RoutingPath.parse(target)
    here_path = RoutingPath.parse(here)
    if not target_path.startswith(here_path):
        return target
    return str(RoutingPath([our_name]
                           + list(target_path.cells[len(here_path):])))
