"""villagers (village_id, id) and channel_accounts (villager_id, id): an area's accounts from the indexes alone

The console's 知识库缺口 page finds a county's poorly answered messages from its villages' villagers
through their accounts (9,091 of each for a county at a million villagers). With the ids of both
in the indexes those two steps are index-only scans and read no table pages: the page's statement
went 244–363 → 156 ms (``python -m bench console``, docs/PERFORMANCE.md). The new indexes replace
the single-column ones, which they cover, so a villager or an account written costs no more.

Revision ID: 0007
Revises: 0006
"""

from alembic import op


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("villagers", schema=None) as batch_op:
        batch_op.create_index("ix_villagers_village_people", ["village_id", "id"], unique=False)
        batch_op.drop_index("ix_villagers_village_id")
    with op.batch_alter_table("channel_accounts", schema=None) as batch_op:
        batch_op.create_index("ix_channel_accounts_villager_accounts", ["villager_id", "id"], unique=False)
        batch_op.drop_index("ix_channel_accounts_villager_id")


def downgrade() -> None:
    with op.batch_alter_table("channel_accounts", schema=None) as batch_op:
        batch_op.create_index("ix_channel_accounts_villager_id", ["villager_id"], unique=False)
        batch_op.drop_index("ix_channel_accounts_villager_accounts")
    with op.batch_alter_table("villagers", schema=None) as batch_op:
        batch_op.create_index("ix_villagers_village_id", ["village_id"], unique=False)
        batch_op.drop_index("ix_villagers_village_people")
