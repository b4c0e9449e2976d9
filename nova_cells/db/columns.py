"""Values in the Python types of nova's column types, before they are
written.

A nova object's fields do not always have the type of the column they are
stored in: ``Instance.cleaned`` is a boolean in an ``INTEGER`` column,
``access_ip_v4`` an IP address object in a ``VARCHAR``, datetimes arrive
with a time zone.  SQLite takes anything, which hid it; PostgreSQL refused
the boolean, and every build of a real nova ``Instance`` failed there.
nova converted at its own edges (``_handle_objects_related_type_conversions``,
``Instance._from_db_object``); here one function converts for every table
written, by the column's type.
"""

import datetime

from oslo_utils import timeutils
import sqlalchemy as sa

__all__ = ['for_table']

_KINDS = {}


def _kind(column_type):
    generic = column_type.as_generic() if hasattr(
        column_type, 'as_generic') else column_type
    if isinstance(generic, sa.Boolean):
        return 'bool'
    if isinstance(generic, sa.Integer):
        return 'int'
    if isinstance(generic, sa.DateTime):
        return 'datetime'
    if isinstance(generic, sa.String):
        return 'str'
    return None


def _kinds(table):
    """``{column: kind}`` of ``table``, worked out once per table."""
    kinds = _KINDS.get(table.name)
    if kinds is None:
        kinds = {c.name: _kind(c.type) for c in table.columns}
        _KINDS[table.name] = kinds
    return kinds


def _to_int(value):
    return int(value) if isinstance(value, bool) else value


def _to_bool(value):
    return bool(value) if isinstance(value, int) else value


def _to_datetime(value):
    if isinstance(value, str):
        value = timeutils.parse_isotime(value)
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        value = timeutils.normalize_time(value)
    return value


def _to_str(value):
    return value if isinstance(value, str) else str(value)


_CONVERT = {'int': _to_int, 'bool': _to_bool, 'datetime': _to_datetime,
            'str': _to_str}


def for_table(table, values):
    """A copy of ``values`` with only ``table``'s columns, each value in
    the Python type of its column (None stays None).

    :param table: a :class:`sqlalchemy.Table` (a model's ``__table__``).
    """
    kinds = _kinds(table)
    converted = {}
    for name, value in values.items():
        if name not in kinds:
            continue
        kind = kinds[name]
        if value is not None and kind is not None:
            value = _CONVERT[kind](value)
        converted[name] = value
    return converted
