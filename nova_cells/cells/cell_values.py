"""What a neighbour entry may hold: the one check of every way in.

A neighbour's name, transport URL, weights and other columns come from
``nova-cells-manage cell create/update``, from the ``cells`` RPC
(``cell_create``/``cell_update``, nova-api's os-cells extension) and from
the ``cells_config`` JSON file.  All three call :func:`check_values`, so
that nothing one of them stores is refused, mis-shown or crashes another:
a name that forges a log line, a URL that is not a messaging URL, a NaN
weight that breaks every later pick (issue 23).

Pure functions: no I/O, no configuration.
"""

import math

from nova_cells import exception
from nova_cells import routing
from nova_cells.transport import signing
from nova_cells import transport_url

__all__ = ['WRITABLE_COLUMNS', 'LINK_COLUMNS', 'MAX_WEIGHT',
           'InvalidCellValues', 'check_values', 'validate', 'check_weight',
           'check_url', 'masked_row', 'check_admin_state', 'ADMIN_STATES']

#: Columns of the ``cells`` table a caller may set (``id``, timestamps and
#: ``deleted`` belong to the database layer).
WRITABLE_COLUMNS = ('name', 'transport_url', 'api_url', 'weight_offset',
                    'weight_scale', 'is_parent', 'state', 'state_reason',
                    'signing_keys')

#: Columns that say what a link is and how it is trusted: who it is, where
#: its broker is, which side of us it sits and its keys.  With signing on,
#: only the local operator changes these (see :mod:`nova_cells.manager`).
LINK_COLUMNS = ('name', 'transport_url', 'is_parent', 'signing_keys')

#: Largest weight offset or scale: nova's documentation uses 999999999999999
#: to make a cell the default; much larger values overflow to infinity once
#: added or scaled, and infinity minus infinity is NaN.
MAX_WEIGHT = 1e18

# A neighbour's administrative state (the ``cells.state`` column, beyond
# nova): see :mod:`nova_cells.cells.state`.
ENABLED = 'enabled'
DISABLED = 'disabled'
DRAINING = 'draining'
ADMIN_STATES = (ENABLED, DISABLED, DRAINING)

# VARCHAR(255) columns of free text.
_MAX_TEXT = 255


InvalidCellValues = exception.InvalidCellValues


def check_weight(name, value):
    """Why ``value`` cannot be the ``name`` weight, or None.

    Finite numbers only: a NaN compares false with everything, so a NaN
    weight made the best-weight pick empty (IndexError on every build).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return '%s must be a number' % name
    if not math.isfinite(value):
        return '%s must be a finite number, not %r' % (name, value)
    if abs(value) > MAX_WEIGHT:
        return '%s must be between %g and %g' % (name, -MAX_WEIGHT,
                                                 MAX_WEIGHT)
    return None


def check_url(url):
    """Why ``url`` cannot be a neighbour's transport URL, or None."""
    if not isinstance(url, str) or not url:
        return 'transport_url must be a non-empty string'
    try:
        transport_url.check_messaging_url(url)
    except exception.InvalidTransportURL as exc:
        return exc.format_message()
    return None


def _check_text(name, value):
    if value is None:
        return None
    if not isinstance(value, str):
        return '%s must be a string' % name
    if len(value) > _MAX_TEXT:
        return '%s must not be longer than %d characters' % (name, _MAX_TEXT)
    if any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 for c in value):
        return '%s must not contain control characters' % name
    return None


def check_admin_state(value):
    """Return why ``value`` is not a cell state, or None when it is (None
    itself is: rows written by the original read as enabled)."""
    if value is None or value in ADMIN_STATES:
        return None
    return 'state %r is not one of %s' % (value, ', '.join(ADMIN_STATES))


def _check_keys(value):
    try:
        signing.parse_keys(value)
    except ValueError as exc:
        return str(exc)
    return None


_CHECKS = {
    'name': routing.check_cell_name,
    'transport_url': check_url,
    'api_url': lambda v: _check_text('api_url', v),
    'weight_offset': lambda v: check_weight('weight_offset', v),
    'weight_scale': lambda v: check_weight('weight_scale', v),
    'is_parent': lambda v: None if isinstance(v, bool) or v in (0, 1)
    else 'is_parent must be true or false',
    'state': check_admin_state,
    'state_reason': lambda v: _check_text('state_reason', v),
    'signing_keys': _check_keys,
}


def check_values(values, creating=False):
    """Every reason ``values`` (column -> value) cannot be written.

    :param creating: a new entry also needs a name and a URL.
    :returns: a list of one-line reasons, empty when the values are good.
    """
    if not isinstance(values, dict):
        return ['cell values must be a mapping of column to value']
    problems = ['unknown column %r' % (key if len(str(key)) < 64
                                       else str(key)[:64] + '...')
                for key in values if key not in _CHECKS]
    for key in WRITABLE_COLUMNS:
        if key in values:
            reason = _CHECKS[key](values[key])
            if reason:
                problems.append(reason)
    if creating:
        problems += ['%s is required' % key
                     for key in ('name', 'transport_url')
                     if key not in values]
    return problems


def validate(values, creating=False):
    """:func:`check_values`, raising :class:`InvalidCellValues` (one line,
    every reason) when anything is wrong."""
    problems = check_values(values, creating)
    if problems:
        raise InvalidCellValues(reason='; '.join(problems))


def masked_row(row):
    """A neighbour row fit to leave the daemon: the URL's passwords
    masked in every form, no signing keys."""
    out = dict(row)
    if out.get('transport_url'):
        out['transport_url'] = transport_url.mask(out['transport_url'])
    out.pop('signing_keys', None)
    out.pop('signing_keys_error', None)
    return out
