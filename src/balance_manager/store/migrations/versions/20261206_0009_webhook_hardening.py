"""Operator webhooks hardened: secrets encrypted at rest, fair delivery.

- ``webhook_endpoints.secret`` widens to hold a Fernet token, and ``secret_form`` says which
  form each value is in. Existing rows are ``clear``: a migration cannot read SECRETS_KEY
  safely (it may run where the key is not, e.g. a pre-deploy step), so the service encrypts
  them at start-up, where the key is (``usecases.webhooks.seal_secrets``).
- ``first_delivered_at``: an endpoint never delivered to is on probation (one delivery in
  flight, within a shared share of the slots); existing endpoints that delivered are not.
- Each endpoint's due deliveries by time, for the claim that serves endpoints in turn.

Revision ID: 0009_webhook_hardening
Revises: 0008_event_versions
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_webhook_hardening"
down_revision = "0008_event_versions"
branch_labels = None
depends_on = None

_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.alter_column(
            "secret", existing_type=sa.String(length=128), type_=sa.String(length=512)
        )
        batch_op.add_column(
            sa.Column("secret_form", sa.String(length=16), server_default="clear", nullable=False)
        )
        batch_op.add_column(
            sa.Column("first_delivered_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_check_constraint(
            op.f("ck_webhook_endpoints_secret_form"), "secret_form IN ('clear', 'fernet')"
        )
    op.execute(
        "UPDATE webhook_endpoints SET first_delivered_at = ("
        " SELECT MIN(d.delivered_at) FROM webhook_deliveries d"
        " WHERE d.endpoint_id = webhook_endpoints.id AND d.status = 'succeeded')"
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_endpoint_due",
            ["endpoint_id", "next_attempt_at", "id"],
            unique=False,
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        )


def downgrade() -> None:
    # Encrypted secrets cannot be decrypted here (no key) nor fit the old column: refuse
    # rather than lose endpoints.
    sealed = op.get_bind().scalar(
        sa.text("SELECT COUNT(*) FROM webhook_endpoints WHERE secret_form <> 'clear'")
    )
    if sealed:
        raise RuntimeError(
            f"{sealed} webhook endpoint secret(s) are encrypted: delete those endpoints "
            "before downgrading below 0008 (and create them again after)"
        )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_webhook_deliveries_endpoint_due",
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        )
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_webhook_endpoints_secret_form"), type_="check")
        batch_op.drop_column("first_delivered_at")
        batch_op.drop_column("secret_form")
        batch_op.alter_column(
            "secret", existing_type=sa.String(length=512), type_=sa.String(length=128)
        )
