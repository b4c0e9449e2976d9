"""Parsing and matching of the cell lists in the pinning options.

``project_cells``, ``flavor_cells``, ``image_property_cells`` (``key:
path;path`` pairs), ``reserved_cells`` (paths) and ``fallback_cell_groups``
(``path;path`` items) all name cells by full routing path.  They are parsed
once, when the filter is built (``from_conf``): a value that names no cell
or a malformed path fails there with the option and the value, instead of
silently matching nothing on every build.

Pure (no configuration object): the daemon's start-up check and SIGHUP
both reach these rules by building the filters; a cell name follows the
rule of ``[cells] name`` (``scheduling.check_cell_name``).
"""

from nova_cells import scheduling

__all__ = ['parse_paths', 'parse_pin_table', 'parse_path_list',
           'parse_groups', 'leads_to_any', 'describe']

_SHOWN = 3


def _problem(option, value, reason):
    return ValueError('[cells] %s = %r: %s' % (option, value, reason))


def _check_path(option, value, path):
    for name in path.split('!'):
        if not name.strip():
            raise _problem(option, value, 'cell path %r has an empty cell '
                           'name' % path)
        if name != name.strip() or scheduling.check_cell_name(name):
            raise _problem(option, value, 'cell path %r has a cell name a '
                           'cell cannot have (%r)' % (path, name))
    return path


def parse_paths(option, text, value=None, what='the value'):
    """``'path;path'`` -> a tuple of full paths (empty items skipped).

    :param value: what to show in the error (the whole option value);
        ``text`` when not given.
    :param what: which part of the value ``text`` is, for the error.
    :raises ValueError: naming the option when no path is given or one is
        malformed.
    """
    shown = text if value is None else value
    paths = tuple(_check_path(option, shown, item.strip())
                  for item in (text or '').split(';') if item.strip())
    if not paths:
        raise _problem(option, shown, '%s names no cell path (expected '
                       'path;path, e.g. api!c1;api!c2!gc3)' % what)
    return paths


def parse_pin_table(option, table):
    """``{key: 'path;path'}`` -> ``{key: (path, ...)}``."""
    pins = {}
    for key, text in (table or {}).items():
        if not key:
            raise _problem(option, table, 'an entry has an empty key')
        pins[key] = parse_paths(option, text, table, 'entry %r' % key)
    return pins


def parse_path_list(option, values):
    """A ListOpt of full paths -> a tuple of them."""
    return tuple(_check_path(option, values, item.strip())
                 for item in (values or ()) if item.strip())


def parse_groups(option, items):
    """A ListOpt of ``'path;path'`` items -> a tuple of path tuples."""
    return tuple(parse_paths(option, item, items, 'item %r' % item)
                 for item in (items or ()))


def leads_to_any(candidate, paths):
    """True when a build given to ``candidate`` can end in one of
    ``paths``' subtrees."""
    for path in paths:
        if scheduling.leads_to(candidate, path):
            return True
    return False


def describe(paths, joiner=', '):
    """Paths for a reason: sorted, at most a few (``and N more``)."""
    paths = sorted(paths)
    shown = joiner.join(paths[:_SHOWN])
    if len(paths) > _SHOWN:
        shown += ' and %d more' % (len(paths) - _SHOWN)
    return shown
