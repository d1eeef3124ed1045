"""tickets.last_event_at: the auto-close scan as one index range

The scan looked for answered tickets with no event since the cutoff by probing each answered
ticket's events: p95 12 ms at 200,000 tickets on a fast day, 20-22 ms on a slow one (``python -m
bench scale``). The time of a ticket's latest event, kept on the ticket by ``tickets.log`` and
indexed with the status, makes the scan read only the silent tickets: 5 ms.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_event_at", sa.DateTime(), nullable=True))
    op.execute(
        "UPDATE tickets SET last_event_at = "
        "(SELECT max(ticket_events.at) FROM ticket_events WHERE ticket_events.ticket_id = tickets.id)"
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index("ix_tickets_silent", ["status", "last_event_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_silent")
        batch_op.drop_column("last_event_at")
