"""Cell states beyond the original: ``cells.state`` and
``cells.state_reason``.

A parent's row for a child may say ``enabled`` (nova's only behaviour, the
default for existing rows), ``disabled`` or ``draining``; both of the
latter keep new builds away from the child.  Nullable on purpose: an
original nova-cells writing into the same table never sets them, and NULL
reads as ``enabled``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cells') as batch:
        batch.add_column(sa.Column('state', sa.String(16), nullable=True,
                                   server_default='enabled'))
        batch.add_column(sa.Column('state_reason', sa.String(255),
                                   nullable=True))


def downgrade():
    with op.batch_alter_table('cells') as batch:
        batch.drop_column('state_reason')
        batch.drop_column('state')
