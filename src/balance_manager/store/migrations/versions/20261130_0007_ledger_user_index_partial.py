"""The per-user ledger index becomes partial (``id > 0``, true of every row), so that only
queries that ask for it can use it.

With stale statistics PostgreSQL took ``ix_ledger_entries_user_id_id`` for the idempotency
probe (``user_id = … AND kind = … AND reference = …``) and walked each user's entries: 0.28 ms
a key at 390 entries a user, a batch of 1,000 events 300 ms under its users' row locks. The
probe now has only the unique (user_id, kind, reference) index to use. Rebuilding the index
takes a lock on ``ledger_entries`` for its duration: run it in a quiet moment on a large ledger.

Revision ID: 0007_ledger_index
Revises: 0006_admin
Create Date: 2026-11-30 08:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_ledger_index"
down_revision = "0006_admin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_ledger_entries_user_id_id", table_name="ledger_entries")
    op.create_index(
        "ix_ledger_entries_user_id_id",
        "ledger_entries",
        ["user_id", "id"],
        unique=False,
        postgresql_where=sa.text("id > 0"),
        sqlite_where=sa.text("id > 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_user_id_id", table_name="ledger_entries")
    op.create_index("ix_ledger_entries_user_id_id", "ledger_entries", ["user_id", "id"])
