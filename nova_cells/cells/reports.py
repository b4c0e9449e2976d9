"""The schemas of the reports a child sends up: capacities, capabilities.

A parent sums its children's capacities into its own and weighs cells by
them, so one child's bad report (a string where a number goes) once broke
the parent's own reports, and the parent showed that child UNREACHABLE
(issue 23).  A report is checked against the schema of its method before
anything stores it, and a report that fails is dropped with one log line.

The shapes are nova's (:mod:`nova_cells.cells.capacity`); limits are generous
(far above any real cell) but bound what one message can make us keep.
"""

import math

__all__ = ['capacities_problem', 'capabilities_problem', 'PROBLEMS']

_MAX_KEY = 255
_MAX_ENTRIES = 10000
_MAX_VALUES = 1000


def _number_problem(where, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return '%s is not a number' % where
    if not math.isfinite(value) or value < 0:
        return '%s is not a finite number of 0 or more' % where
    return None


def _key_problem(where, key):
    if not isinstance(key, str) or not key or len(key) > _MAX_KEY:
        return '%s has a key that is not a short string' % where
    return None


def _mapping_problem(where, value, leaf):
    """``value`` is a dict of short string keys whose values ``leaf``
    accepts (``leaf(where, value) -> reason or None``)."""
    if not isinstance(value, dict):
        return '%s is not an object' % where
    if len(value) > _MAX_ENTRIES:
        return '%s has more than %d entries' % (where, _MAX_ENTRIES)
    for key, item in value.items():
        reason = _key_problem(where, key) or leaf('%s.%s' % (where, key),
                                                  item)
        if reason:
            return reason
    return None


def _resource_entry(where, value):
    """``total_mb``: a number; ``units_by_mb``: number by slot size."""
    if isinstance(value, dict):
        return _mapping_problem(where, value, _number_problem)
    return _number_problem(where, value)


def capacities_problem(capacities):
    """Why ``capacities`` is not a capacities report, or None.

    Shape: ``{resource: {name: number | {slot: number}}}``, every number
    finite and not negative.
    """
    return _mapping_problem(
        'capacities', capacities,
        lambda where, resource: _mapping_problem(where, resource,
                                                 _resource_entry))


def _string_list_problem(where, value):
    if not isinstance(value, (list, tuple)):
        return '%s is not a list' % where
    if len(value) > _MAX_VALUES:
        return '%s has more than %d values' % (where, _MAX_VALUES)
    if not all(isinstance(v, str) and len(v) <= _MAX_KEY for v in value):
        return '%s holds something other than short strings' % where
    return None


def capabilities_problem(capabilities):
    """Why ``capabilities`` is not a capabilities report, or None.

    Shape: ``{name: [value, ...]}``, strings only.
    """
    return _mapping_problem('capabilities', capabilities,
                            _string_list_problem)


#: method name -> (argument checked, its schema check)
PROBLEMS = {
    'update_capacities': ('capacities', capacities_problem),
    'update_capabilities': ('capabilities', capabilities_problem),
}
