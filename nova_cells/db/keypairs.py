"""Queries on the ``key_pairs`` table (the API cell's, for
``get_keypair_at_top``)."""

from nova_cells.db.api import _live
from nova_cells.db import models

__all__ = ['key_pair_create', 'key_pair_get']

_K = models.KeyPair


def key_pair_create(db, values):
    with db.writer() as session:
        row = _K(**values)
        session.add(row)
        session.flush()
        return row.as_dict()


def key_pair_get(db, user_id, name):
    """The user's keypair of that name, or None."""
    with db.reader() as session:
        row = session.execute(_live(_K).where(
            _K.user_id == user_id, _K.name == name)).scalars().first()
        return row.as_dict() if row else None
