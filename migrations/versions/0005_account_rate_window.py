"""channel_accounts.rate_window_start / rate_window_count: the villager rate limit as a counter

Storing a message used to lock the account's row, count its messages of the last minute and
write ``last_inbound_at``: three statements. One UPDATE … RETURNING now does all of it; its row
lock puts two messages of one account one after the other, so each reads the other's count.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channel_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rate_window_start", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("rate_window_count", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("channel_accounts", schema=None) as batch_op:
        batch_op.drop_column("rate_window_count")
        batch_op.drop_column("rate_window_start")
