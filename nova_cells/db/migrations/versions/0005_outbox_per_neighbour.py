"""One ``cell_outbox`` row per message *and neighbour*.

A durable broadcast goes to every child (``instance_delete_everywhere``)
with one message uuid.  With ``message_uuid`` unique, only the first
child's copy was recorded: the others were sent from memory, and when the
first child confirmed, the row went, so a restart before the others
confirmed lost their copies.  The uniqueness is now per neighbour.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cell_outbox') as batch:
        batch.drop_constraint('uniq_cell_outbox0uuid', type_='unique')
        batch.create_unique_constraint('uniq_cell_outbox0uuid0neighbour',
                                       ['message_uuid', 'neighbour'])


def downgrade():
    with op.batch_alter_table('cell_outbox') as batch:
        batch.drop_constraint('uniq_cell_outbox0uuid0neighbour',
                              type_='unique')
        batch.create_unique_constraint('uniq_cell_outbox0uuid',
                                       ['message_uuid'])
