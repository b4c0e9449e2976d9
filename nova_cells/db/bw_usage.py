"""The ``bw_usage_cache`` table at the top (``bw_usage_update_at_top``), as
nova's ``bw_usage_update`` -- without its ``update_cells`` cast back to
the cells service, which at the top only looped (§10.30)."""

from oslo_utils import timeutils

from nova_cells.db.api import _live
from nova_cells.db import models

__all__ = ['bw_usage_update', 'bw_usage_get']

_U = models.BandwidthUsage


def _as_datetime(value):
    if isinstance(value, str):
        value = timeutils.parse_isotime(value)
    return timeutils.normalize_time(value) if value is not None else None


def bw_usage_update(db, uuid, mac, start_period, bw_in, bw_out, last_ctr_in,
                    last_ctr_out, last_refreshed=None):
    """Update the row of (uuid, mac, start_period), or create it."""
    start_period = _as_datetime(start_period)
    values = {'bw_in': bw_in, 'bw_out': bw_out, 'last_ctr_in': last_ctr_in,
              'last_ctr_out': last_ctr_out,
              'last_refreshed': _as_datetime(last_refreshed) or
              timeutils.utcnow()}
    with db.writer() as session:
        row = session.execute(_live(_U).where(
            _U.uuid == uuid, _U.mac == mac,
            _U.start_period == start_period)).scalars().first()
        if row is None:
            row = _U(uuid=uuid, mac=mac, start_period=start_period,
                     deleted=0)
            session.add(row)
        for key, value in values.items():
            setattr(row, key, value)
        session.flush()
        return row.as_dict()


def bw_usage_get(db, uuid, start_period, mac):
    with db.reader() as session:
        row = session.execute(_live(_U).where(
            _U.uuid == uuid, _U.mac == mac,
            _U.start_period == _as_datetime(start_period))
        ).scalars().first()
        return row.as_dict() if row else None
