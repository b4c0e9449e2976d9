"""Migrations that adopt a database nova already created.

An operator moving from nova cells v1 points nova-cells at the cell's nova
database, whose ``cells``, ``instances``, ``services``... tables exist
(made by nova's sqlalchemy-migrate, without an ``alembic_version``).  The
initial revisions therefore create only the tables that are missing and
leave nova's tables and rows as they are; later revisions then add what
nova-cells needs on top (``cells.state``, revision 0003).
"""

from alembic import op
import sqlalchemy as sa

__all__ = ['create_table']


def create_table(name, *columns, **kwargs):
    """``op.create_table`` unless a table called ``name`` exists."""
    if sa.inspect(op.get_bind()).has_table(name):
        return None
    return op.create_table(name, *columns, **kwargs)
