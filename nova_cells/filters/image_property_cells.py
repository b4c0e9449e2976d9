"""ImagePropertyCellsFilter: images with a given property go to set cells.

``[cells] image_property_cells`` (``property=value:path;path``): when the
image's property has that value (compared as strings), a candidate passes
only if a build given to it can end in one of the listed cells' subtrees.
Every entry that matches the image applies: a candidate must satisfy all
of them (``os_distro=windows`` and ``hw_arch=aarch64`` both pinned means
a cell on both lists).

Why: licensing and hardware follow the image (Windows hosts, ARM hosts),
and nova cells v1 had no way to say so above the cells.  Nothing is
configured by default, and then the filter looks at no cell.
"""

from nova_cells.filters import _pins
from nova_cells import scheduling

__all__ = ['ImagePropertyCellsFilter']

OPTION = 'image_property_cells'


def parse(table):
    """``{'prop=value': 'path;path'}`` -> ``((prop, value, paths), ...)``.

    :raises ValueError: naming the option when a key is not
        ``property=value`` or a value names no cell.
    """
    entries = []
    for key, text in sorted((table or {}).items()):
        prop, sep, value = key.partition('=')
        if not sep or not prop.strip():
            raise ValueError('[cells] %s = %r: key %r is not property=value'
                             % (OPTION, table, key))
        entries.append((prop.strip(), value.strip(), _pins.parse_paths(
            OPTION, text, table, 'entry %r' % key)))
    return tuple(entries)


class ImagePropertyCellsFilter(scheduling.BaseCellFilter):
    name = 'ImagePropertyCellsFilter'

    def __init__(self, entries=()):
        self.entries = tuple(entries)

    @classmethod
    def from_conf(cls, conf):
        return cls(parse(conf.cells.image_property_cells))

    def _matching(self, request):
        """The entries matching the image, once per request."""
        cache = getattr(request, '_image_property_cells', None)
        if cache is None:
            cache = ()
            if self.entries:
                properties = request.image_properties
                cache = tuple(
                    (prop, value, paths)
                    for prop, value, paths in self.entries
                    if prop in properties and
                    str(properties[prop]) == value)
            request._image_property_cells = cache
        return cache

    def is_applicable(self, request):
        return bool(self._matching(request))

    def filter_cell(self, candidate, request):
        reasons = ['image %s=%s is pinned to %s' % (
            prop, value, _pins.describe(paths, ' or '))
            for prop, value, paths in self._matching(request)
            if not _pins.leads_to_any(candidate, paths)]
        if reasons:
            return scheduling.Verdict.reject(*reasons)
        return scheduling.Verdict.ok()
