"""channel_accounts.holds_messages: whether the account has held outbox messages

Every inbound message used to run ``UPDATE outbox … WHERE status = 'held'`` for its account, almost
always matching nothing; with the flag that statement runs only when something is held (it was
about a tenth of a serving worker's CPU in a py-spy profile taken during ``python -m bench load``).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channel_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holds_messages", sa.Boolean(), server_default=sa.false(), nullable=False))
    # accounts with messages held before this revision keep them releasable
    op.execute(
        "UPDATE channel_accounts SET holds_messages = true"
        " WHERE id IN (SELECT account_id FROM outbox WHERE status = 'held')"
    )


def downgrade() -> None:
    with op.batch_alter_table("channel_accounts", schema=None) as batch_op:
        batch_op.drop_column("holds_messages")
