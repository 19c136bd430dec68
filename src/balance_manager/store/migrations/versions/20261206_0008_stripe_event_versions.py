"""Stripe events keep the API version they were rendered in, so ``/health/ready`` can warn when
Stripe sends events in another version than the one the service is written against (a webhook
endpoint made in the Dashboard without a version gets the account's default). The index on
``received_at`` lets readiness read the newest event without scanning the table.

Revision ID: 0008_event_versions
Revises: 0007_ledger_index
Create Date: 2026-12-06 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_event_versions"
down_revision = "0007_ledger_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stripe_events") as batch:
        batch.add_column(sa.Column("api_version", sa.String(length=64), nullable=True))
    op.create_index("ix_stripe_events_received_at", "stripe_events", ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_stripe_events_received_at", table_name="stripe_events")
    with op.batch_alter_table("stripe_events") as batch:
        batch.drop_column("api_version")
