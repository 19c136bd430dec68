"""Indexes for the operator's reports and statistics: periods in (created_at, id) order.

Revision ID: 0006_admin
Revises: 0005_safety
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0006_admin"
down_revision = "0005_safety"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_ledger_entries_created_at_id", "ledger_entries", ["created_at", "id"], unique=False
    )
    op.create_index(
        "ix_recharge_records_created_at_id",
        "recharge_records",
        ["created_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_recharge_records_created_at_id", table_name="recharge_records")
    op.drop_index("ix_ledger_entries_created_at_id", table_name="ledger_entries")
