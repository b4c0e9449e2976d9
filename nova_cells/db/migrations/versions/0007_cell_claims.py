"""``cell_claims``: the received messages being applied, and by whom.

The inbox (0004) remembers a message once it is applied; a copy that
arrived while the first was still being applied (a build held by the
scheduler's retries, say) was applied a second time.  A claim, written
before a message is applied and renewed while it is, makes such a copy
wait; a claim no longer renewed (its daemon died) is taken over.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'cell_claims',
        sa.Column('message_uuid', sa.String(36), primary_key=True),
        sa.Column('claimed_by', sa.String(64), nullable=False),
        sa.Column('claimed_at', sa.DateTime, nullable=False),
        sa.Index('cell_claims_claimed_at_idx', 'claimed_at'),
        mysql_engine='InnoDB', mysql_charset='utf8')


def downgrade():
    op.drop_table('cell_claims')
