"""The sweep's candidate index (users.below_minimum) and trigger_detail as a known state.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("below_minimum", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.execute(
        "UPDATE users SET below_minimum = (balance < ("
        "SELECT c.minimum_balance FROM balance_configs c WHERE c.user_id = users.id))"
        " WHERE EXISTS (SELECT 1 FROM balance_configs c WHERE c.user_id = users.id)"
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(
            "ix_users_below_minimum",
            ["id"],
            unique=False,
            sqlite_where=sa.text("below_minimum"),
            postgresql_where=sa.text("below_minimum"),
        )

    op.execute(
        "UPDATE recharge_records SET trigger_detail = triggered_by WHERE trigger_detail IS NULL"
    )
    op.execute("UPDATE recharge_records SET trigger_detail = 'usage' WHERE trigger_detail = 'auto'")
    with op.batch_alter_table("recharge_records", schema=None) as batch_op:
        batch_op.alter_column("trigger_detail", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_check_constraint(
            op.f("ck_recharge_records_trigger_detail_known"),
            "trigger_detail IN ('usage', 'sweep', 'card', 'manual')",
        )


def downgrade() -> None:
    with op.batch_alter_table("recharge_records", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_recharge_records_trigger_detail_known"), type_="check")
        batch_op.alter_column("trigger_detail", existing_type=sa.String(length=32), nullable=True)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_users_below_minimum",
            sqlite_where=sa.text("below_minimum"),
            postgresql_where=sa.text("below_minimum"),
        )
        batch_op.drop_column("below_minimum")
