"""Initial schema: users, balance configs, ledger, recharge records, API keys, Stripe events,
outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 14:59:32.222386
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "outbox_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_events_event_id")),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_events_pending", ["delivered_at", "next_attempt_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_events_user_id"), ["user_id"], unique=False)

    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("stripe_customer_id", name=op.f("uq_users_stripe_customer_id")),
    )
    op.create_table(
        "balance_configs",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("minimum_balance", sa.BigInteger(), nullable=False),
        sa.Column("target_balance", sa.BigInteger(), nullable=False),
        sa.Column("auto_recharge_enabled", sa.Boolean(), nullable=False),
        sa.Column("default_payment_method_id", sa.String(length=255), nullable=True),
        sa.Column("max_daily_recharges", sa.Integer(), nullable=False),
        sa.Column("max_recharge_amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_floor", sa.BigInteger(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("paused_reason", sa.String(length=255), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "max_daily_recharges BETWEEN 1 AND 100",
            name=op.f("ck_balance_configs_daily_recharges_range"),
        ),
        sa.CheckConstraint(
            "max_recharge_amount > 0", name=op.f("ck_balance_configs_max_recharge_positive")
        ),
        sa.CheckConstraint(
            "minimum_balance >= 0", name=op.f("ck_balance_configs_minimum_not_negative")
        ),
        sa.CheckConstraint(
            "target_balance > minimum_balance", name=op.f("ck_balance_configs_target_above_minimum")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_balance_configs_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_balance_configs")),
    )
    op.create_table(
        "ledger_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('usage', 'recharge', 'adjustment', 'refund')",
            name=op.f("ck_ledger_entries_kind_known"),
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_entries_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_ledger_entries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint(
            "user_id", "kind", "reference", name=op.f("uq_ledger_entries_user_id_kind_reference")
        ),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_user_id_id", ["user_id", "id"], unique=False)
        batch_op.create_index(
            "uq_ledger_entries_stripe_reference",
            ["kind", "reference"],
            unique=True,
            sqlite_where=sa.text("kind IN ('recharge', 'refund')"),
            postgresql_where=sa.text("kind IN ('recharge', 'refund')"),
        )

    op.create_table(
        "recharge_records",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("total_charge", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("triggered_by", sa.String(length=10), nullable=False),
        sa.Column("trigger_detail", sa.String(length=32), nullable=True),
        sa.Column("capped", sa.Boolean(), nullable=False),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("payment_method_id", sa.String(length=255), nullable=True),
        sa.Column("failure_code", sa.String(length=64), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'succeeded', 'failed', "
            "'requires_action', 'canceled')",
            name=op.f("ck_recharge_records_status_known"),
        ),
        sa.CheckConstraint(
            "triggered_by IN ('auto', 'manual')",
            name=op.f("ck_recharge_records_triggered_by_known"),
        ),
        sa.CheckConstraint(
            "amount > 0 AND fee >= 0 AND total_charge = amount + fee",
            name=op.f("ck_recharge_records_sums"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_recharge_records_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recharge_records")),
        sa.UniqueConstraint(
            "payment_intent_id", name=op.f("uq_recharge_records_payment_intent_id")
        ),
    )
    with op.batch_alter_table("recharge_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recharge_records_status_next_attempt_at",
            ["status", "next_attempt_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_recharge_records_user_id_created_at", ["user_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "uq_recharge_records_one_in_flight",
            ["user_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('pending', 'processing', 'requires_action')"),
            postgresql_where=sa.text("status IN ('pending', 'processing', 'requires_action')"),
        )


def downgrade() -> None:

    with op.batch_alter_table("recharge_records", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_recharge_records_one_in_flight",
            sqlite_where=sa.text("status IN ('pending', 'processing', 'requires_action')"),
            postgresql_where=sa.text("status IN ('pending', 'processing', 'requires_action')"),
        )
        batch_op.drop_index("ix_recharge_records_user_id_created_at")
        batch_op.drop_index("ix_recharge_records_status_next_attempt_at")

    op.drop_table("recharge_records")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_ledger_entries_stripe_reference",
            sqlite_where=sa.text("kind IN ('recharge', 'refund')"),
            postgresql_where=sa.text("kind IN ('recharge', 'refund')"),
        )
        batch_op.drop_index("ix_ledger_entries_user_id_id")

    op.drop_table("ledger_entries")
    op.drop_table("balance_configs")
    op.drop_table("users")
    op.drop_table("stripe_events")
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_events_user_id"))
        batch_op.drop_index("ix_outbox_events_pending")

    op.drop_table("outbox_events")
    op.drop_table("api_keys")
