"""Money moving outside the flow: refund and dispute ledger kinds, charge reversals, payment
anomalies, reconciliation runs; refunded and disputed amounts on recharge records.

Revision ID: 0005_safety
Revises: 0004_observe
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_safety"
down_revision = "0004_observe"
branch_labels = None
depends_on = None

_KINDS_BEFORE = "kind IN ('usage', 'recharge', 'adjustment', 'refund')"
_KINDS_AFTER = (
    "kind IN ('adjustment', 'dispute', 'dispute_reversal', 'recharge', 'refund', "
    "'refund_reversal', 'usage')"
)
_STRIPE_BEFORE = "kind IN ('recharge', 'refund')"
_STRIPE_AFTER = "kind IN ('dispute', 'dispute_reversal', 'recharge', 'refund', 'refund_reversal')"


def _ledger_kinds(kinds: str, stripe_kinds: str, old_stripe_kinds: str) -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_ledger_entries_kind_known"), type_="check")
        batch_op.create_check_constraint(op.f("ck_ledger_entries_kind_known"), kinds)
        batch_op.drop_index(
            "uq_ledger_entries_stripe_reference",
            sqlite_where=sa.text(old_stripe_kinds),
            postgresql_where=sa.text(old_stripe_kinds),
        )
        batch_op.create_index(
            "uq_ledger_entries_stripe_reference",
            ["kind", "reference"],
            unique=True,
            sqlite_where=sa.text(stripe_kinds),
            postgresql_where=sa.text(stripe_kinds),
        )


def upgrade() -> None:
    _ledger_kinds(_KINDS_AFTER, _STRIPE_AFTER, _STRIPE_BEFORE)

    with op.batch_alter_table("recharge_records", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("amount_refunded", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("amount_disputed", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("dispute_status", sa.String(length=32), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_recharge_records_reversed_not_negative"),
            "amount_refunded >= 0 AND amount_disputed >= 0",
        )

    op.create_table(
        "charge_reversals",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("recharge_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("effect", sa.String(length=16), nullable=False),
        sa.Column("credit_amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('dispute', 'refund')", name=op.f("ck_charge_reversals_kind_known")
        ),
        sa.CheckConstraint(
            "effect IN ('applied', 'none', 'released')",
            name=op.f("ck_charge_reversals_effect_known"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_charge_reversals_amount_positive")),
        sa.ForeignKeyConstraint(
            ["recharge_id"],
            ["recharge_records.id"],
            name=op.f("fk_charge_reversals_recharge_id_recharge_records"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_charge_reversals_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_reversals")),
    )
    with op.batch_alter_table("charge_reversals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_charge_reversals_recharge_id"), ["recharge_id"], unique=False
        )

    op.create_table(
        "payment_anomalies",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("recharge_id", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('credit_without_payment', 'payment_mismatch', 'uncredited_payment', "
            "'unmatched_payment', 'unmatched_reversal')",
            name=op.f("ck_payment_anomalies_kind_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_anomalies")),
        sa.UniqueConstraint("kind", "reference", name=op.f("uq_payment_anomalies_kind_reference")),
    )
    with op.batch_alter_table("payment_anomalies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_anomalies_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_payment_anomalies_user_id"), ["user_id"], unique=False)

    op.create_table(
        "reconciliation_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("repaired", sa.Integer(), nullable=False),
        sa.Column("differences", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_runs")),
    )
    with op.batch_alter_table("reconciliation_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reconciliation_runs_started_at"), ["started_at"], unique=False
        )


def downgrade() -> None:
    # Entries of the new kinds cannot survive the old constraint, and deleting them would
    # break balance == sum(entries): refuse instead.
    left = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT COUNT(*) FROM ledger_entries WHERE kind IN "
                "('refund_reversal', 'dispute', 'dispute_reversal')"
            )
        )
        .scalar()
    )
    if left:
        raise RuntimeError(
            f"cannot downgrade below 0005_safety: {left} dispute or refund-reversal ledger "
            "entries exist"
        )
    op.drop_table("reconciliation_runs")
    op.drop_table("payment_anomalies")
    op.drop_table("charge_reversals")
    with op.batch_alter_table("recharge_records", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_recharge_records_reversed_not_negative"), type_="check")
        batch_op.drop_column("dispute_status")
        batch_op.drop_column("amount_disputed")
        batch_op.drop_column("amount_refunded")
    _ledger_kinds(_KINDS_BEFORE, _STRIPE_BEFORE, _STRIPE_AFTER)
