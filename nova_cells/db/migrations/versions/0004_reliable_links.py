"""Reliable and signed links beyond the original: ``cells.signing_keys``,
``cell_outbox`` and ``cell_inbox``.

* ``cells.signing_keys``: a JSON list of HMAC keys for the neighbour (the
  first signs, any verifies); NULL means the link is not signed.
* ``cell_outbox``: messages sent to a neighbour and not yet confirmed
  (``[cells] durable_forwarding``); resent until confirmed.
* ``cell_inbox``: uuids of messages this cell has applied, so that a
  resent message is confirmed again but not applied twice.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql')


def upgrade():
    with op.batch_alter_table('cells') as batch:
        batch.add_column(sa.Column('signing_keys', sa.Text(), nullable=True))
    op.create_table(
        'cell_outbox',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('message_uuid', sa.String(36), nullable=False),
        sa.Column('neighbour', sa.String(255), nullable=False),
        sa.Column('direction', sa.String(4), nullable=False),
        sa.Column('message', _LONG_TEXT, nullable=False),
        sa.Column('attempts', sa.Integer, nullable=False, server_default='0'),
        sa.Column('created_at', sa.DateTime, nullable=False),
        sa.Column('next_attempt_at', sa.DateTime, nullable=False),
        sa.UniqueConstraint('message_uuid', name='uniq_cell_outbox0uuid'),
        sa.Index('cell_outbox_next_attempt_idx', 'next_attempt_at'),
        mysql_engine='InnoDB', mysql_charset='utf8')
    op.create_table(
        'cell_inbox',
        sa.Column('message_uuid', sa.String(36), primary_key=True),
        sa.Column('created_at', sa.DateTime, nullable=False),
        sa.Index('cell_inbox_created_at_idx', 'created_at'),
        mysql_engine='InnoDB', mysql_charset='utf8')


def downgrade():
    op.drop_table('cell_inbox')
    op.drop_table('cell_outbox')
    with op.batch_alter_table('cells') as batch:
        batch.drop_column('signing_keys')
