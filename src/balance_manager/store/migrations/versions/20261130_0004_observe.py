"""Observability: worker heartbeats, the default card's brand, a recharge's trace context.

Revision ID: 0004_observe
Revises: 0003_webhooks_out
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_observe"
down_revision = "0003_webhooks_out"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_heartbeats",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sweep_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("passes", sa.BigInteger(), nullable=False),
        sa.Column("charged", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_heartbeats")),
    )
    with op.batch_alter_table("balance_configs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("default_card_brand", sa.String(length=32), nullable=True))
    with op.batch_alter_table("recharge_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trace_parent", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recharge_records", schema=None) as batch_op:
        batch_op.drop_column("trace_parent")
    with op.batch_alter_table("balance_configs", schema=None) as batch_op:
        batch_op.drop_column("default_card_brand")
    op.drop_table("worker_heartbeats")
