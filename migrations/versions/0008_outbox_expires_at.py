"""outbox.expires_at: a message not to be sent after a moment

A duty reminder says 今天 or 明日 ("the lawyer comes today"). Since transient delivery failures
are retried for about a day (a messenger's outage must delay a lawyer's answer, not lose it), a
reminder could arrive on the wrong day; the scheduler now gives each reminder the moment after
which it would mislead, and the outbox cancels it then instead of sending it.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
