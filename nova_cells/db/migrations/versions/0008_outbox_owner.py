"""``cell_outbox.owner``: the daemon (its host) that sends a row.

Several daemons of one cell share its database (active/active).  Each
sends only its own rows; the rows of a daemon whose heartbeat stopped are
taken over by another (they waited for its restart before, and a daemon
that never came back left them unsent).  NULL: a row of before 0008, sent
by whoever starts next.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cell_outbox') as batch:
        batch.add_column(sa.Column('owner', sa.String(255), nullable=True))
        batch.create_index('cell_outbox_owner_idx', ['owner'])


def downgrade():
    with op.batch_alter_table('cell_outbox') as batch:
        batch.drop_index('cell_outbox_owner_idx')
        batch.drop_column('owner')
