"""Loading filters, weighers and drivers by name, entry point or alias.

Names resolve in this order: an alias from nova's configuration values
(one declared table, like kombu's TRANSPORT_ALIASES), a stevedore entry
point of the family's namespace, a dotted class path.  An unknown name
fails at start-up: ``No such filter 'X'. Did you mean 'Y'?``.
"""

import difflib

from oslo_utils import importutils
import stevedore

from nova_cells import exception
from nova_cells.filters import ALL_FILTERS
from nova_cells.weights import ALL_WEIGHERS

__all__ = ['FAMILIES', 'ALIASES', 'resolve_names', 'load_class',
           'load_plugins', 'UnknownPlugin']


class UnknownPlugin(exception.NovaCellsException):
    msg_fmt = 'No such %(kind)s %(name)r.%(hint)s'


# family -> (entry point namespace, human kind)
FAMILIES = {
    'filters': ('nova_cells.filters', 'filter'),
    'weighers': ('nova_cells.weighers', 'weigher'),
    'scheduler_drivers': ('nova_cells.scheduler_drivers', 'scheduler'),
    'handoff_drivers': ('nova_cells.handoff_drivers', 'hand-off driver'),
}

_NOVA = 'nova.cells.'
ALIASES = {
    _NOVA + 'filters.all_filters': ALL_FILTERS,
    _NOVA + 'filters.target_cell.TargetCellFilter': ('TargetCellFilter',),
    _NOVA + 'filters.different_cell.DifferentCellFilter':
        ('DifferentCellFilter',),
    _NOVA + 'filters.image_properties.ImagePropertiesFilter':
        ('ImagePropertiesFilter',),
    _NOVA + 'weights.all_weighers': ALL_WEIGHERS,
    _NOVA + 'weights.mute_child.MuteChildWeigher': ('MuteChildWeigher',),
    _NOVA + 'weights.ram_by_instance_type.RamByInstanceTypeWeigher':
        ('RamByInstanceTypeWeigher',),
    _NOVA + 'weights.weight_offset.WeightOffsetWeigher':
        ('WeightOffsetWeigher',),
    _NOVA + 'scheduler.CellsScheduler': ('CellsScheduler',),
}


def resolve_names(names):
    """Expand aliases; keep the order, drop duplicates."""
    seen, result = set(), []
    for name in names:
        for item in ALIASES.get(name.strip(), (name.strip(),)):
            if item and item not in seen:
                seen.add(item)
                result.append(item)
    return result


def _entry_point_names(namespace):
    return sorted(ep.name for ep in
                  stevedore.ExtensionManager(namespace).extensions)


def load_class(family, name):
    """Return the class for ``name`` in ``family``.

    :raises UnknownPlugin: with the closest known names.
    """
    namespace, kind = FAMILIES[family]
    try:
        return stevedore.DriverManager(namespace, name,
                                       invoke_on_load=False).driver
    except Exception:  # noqa - fall back to a dotted path
        pass
    if '.' in name:
        try:
            return importutils.import_class(name)
        except (ImportError, ValueError, AttributeError):
            pass
    known = _entry_point_names(namespace)
    close = difflib.get_close_matches(name, known + list(ALIASES), n=1)
    hint = " Did you mean %r?" % close[0] if close else \
        ' Known: %s.' % ', '.join(known)
    raise UnknownPlugin(kind=kind, name=name, hint=hint)


def load_plugins(family, names, conf):
    """Instantiate every plug-in ``names`` selects, in order.

    Each class builds itself from ``conf`` (``from_conf``), once, at load:
    plug-ins never read configuration per request.
    """
    plugins = []
    for name in resolve_names(names):
        cls = load_class(family, name)
        factory = getattr(cls, 'from_conf', None)
        plugins.append(factory(conf) if factory else cls())
    return plugins
