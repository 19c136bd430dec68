"""The tables. Money columns are BIGINT minor units; every invariant that can live in the
database does (unique keys, checks, the one-in-flight-recharge partial index)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from balance_manager.domain.states import (
    STRIPE_REFERENCED,
    AnomalyKind,
    DeliveryStatus,
    LedgerKind,
    RechargeStatus,
    ReversalEffect,
    ReversalKind,
    TriggeredBy,
    TriggerSource,
)

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012  (SQLAlchemy reads it)


def _enum(cls: type[StrEnum], length: int) -> Enum:
    """A column holding one of ``cls``'s values (the CHECK constraints list them too)."""
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


_IN_FLIGHT_SQL = "status IN ('pending', 'processing', 'requires_action')"


def _in(values: frozenset[str] | type[StrEnum]) -> str:
    """``'a', 'b'`` for an SQL ``IN`` list, sorted so the schema text is stable."""
    return ", ".join(f"'{v}'" for v in sorted(str(v) for v in values))


_STRIPE_REFERENCED_SQL = f"kind IN ({_in(STRIPE_REFERENCED)})"


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    # balance < balance_configs.minimum_balance, kept by every write of either: the sweep
    # finds its candidates through a partial index on it instead of scanning every user.
    below_minimum: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index(
            "ix_users_below_minimum",
            "id",
            sqlite_where=text("below_minimum"),
            postgresql_where=text("below_minimum"),
        ),
    )


class BalanceConfig(Base):
    __tablename__ = "balance_configs"
    __table_args__ = (
        CheckConstraint("minimum_balance >= 0", name="minimum_not_negative"),
        CheckConstraint("target_balance > minimum_balance", name="target_above_minimum"),
        CheckConstraint("max_daily_recharges BETWEEN 1 AND 100", name="daily_recharges_range"),
        CheckConstraint("max_recharge_amount > 0", name="max_recharge_positive"),
    )

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    minimum_balance: Mapped[int] = mapped_column(BigInteger)
    target_balance: Mapped[int] = mapped_column(BigInteger)
    auto_recharge_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    default_payment_method_id: Mapped[str | None] = mapped_column(String(255))
    # The default card's brand (visa, mastercard, …) as Stripe reported it, for the
    # "brands in use" statistics; None when the card was set without being read.
    default_card_brand: Mapped[str | None] = mapped_column(String(32))
    max_daily_recharges: Mapped[int] = mapped_column(Integer, default=5)
    max_recharge_amount: Mapped[int] = mapped_column(BigInteger)
    # Usage that would take the balance below this is refused; NULL means no floor.
    balance_floor: Mapped[int | None] = mapped_column(BigInteger)
    # A debit that takes the balance below this writes a balance.low event; NULL: the minimum.
    low_balance_threshold: Mapped[int | None] = mapped_column(BigInteger)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    paused_reason: Mapped[str | None] = mapped_column(String(255))
    paused_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LedgerEntry(Base):
    """Append-only. ``reference`` is the idempotency key (usage, adjustment) or the Stripe
    object id (recharge: PaymentIntent, refund: Refund)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("user_id", "kind", "reference"),
        Index(
            "uq_ledger_entries_stripe_reference",
            "kind",
            "reference",
            unique=True,
            sqlite_where=text(_STRIPE_REFERENCED_SQL),
            postgresql_where=text(_STRIPE_REFERENCED_SQL),
        ),
        # A user's entries in id order (ledger pages). Partial on ``id > 0`` (every id is) so
        # that only queries that say so can use it: the idempotency probe (user_id, kind,
        # reference) must go through the unique index, never walk a user's entries here
        # because stale statistics made this index look as cheap (migration 0007).
        Index(
            "ix_ledger_entries_user_id_id",
            "user_id",
            "id",
            postgresql_where=text("id > 0"),
            sqlite_where=text("id > 0"),
        ),
        # Reports walk a period in (created_at, id) order.
        Index("ix_ledger_entries_created_at_id", "created_at", "id"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        CheckConstraint(f"kind IN ({_in(LedgerKind)})", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[LedgerKind] = mapped_column(_enum(LedgerKind, 16))
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RechargeRecord(Base):
    """A charge we intend to make, made, or failed to make; also the job queue.

    Its id is the Stripe idempotency key. Amount and fee are fixed before Stripe is called.
    """

    __tablename__ = "recharge_records"
    __table_args__ = (
        Index(
            "uq_recharge_records_one_in_flight",
            "user_id",
            unique=True,
            sqlite_where=text(_IN_FLIGHT_SQL),
            postgresql_where=text(_IN_FLIGHT_SQL),
        ),
        Index("ix_recharge_records_user_id_created_at", "user_id", "created_at"),
        Index("ix_recharge_records_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_recharge_records_created_at_id", "created_at", "id"),
        CheckConstraint(
            "status IN ('pending', 'processing', 'succeeded', 'failed', "
            "'requires_action', 'canceled')",
            name="status_known",
        ),
        CheckConstraint("triggered_by IN ('auto', 'manual')", name="triggered_by_known"),
        CheckConstraint(
            "trigger_detail IN ('usage', 'sweep', 'card', 'manual')", name="trigger_detail_known"
        ),
        CheckConstraint("amount > 0 AND fee >= 0 AND total_charge = amount + fee", name="sums"),
        CheckConstraint(
            "amount_refunded >= 0 AND amount_disputed >= 0", name="reversed_not_negative"
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    total_charge: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[RechargeStatus] = mapped_column(
        _enum(RechargeStatus, 20), default=RechargeStatus.PENDING
    )
    triggered_by: Mapped[TriggeredBy] = mapped_column(_enum(TriggeredBy, 10))
    trigger_detail: Mapped[TriggerSource] = mapped_column(_enum(TriggerSource, 32))
    capped: Mapped[bool] = mapped_column(Boolean, default=False)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    payment_method_id: Mapped[str | None] = mapped_column(String(255))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(Text)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column()
    # W3C traceparent of the span that opened the record (only with tracing on): the
    # worker's charge links to it, so a trace shows which debit caused which charge.
    trace_parent: Mapped[str | None] = mapped_column(String(64))
    # What refunds and disputes currently hold back of the charge (minor units of the total
    # charge, fee included): the credit they took back is ``reversals.credit_share`` of the
    # sum. ``dispute_status`` is Stripe's status of the charge's dispute, if any.
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    amount_disputed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    dispute_status: Mapped[str | None] = mapped_column(String(32))


class ChargeReversal(Base):
    """A refund or dispute of a credited recharge's charge, as last seen from Stripe, and how
    far it has moved the balance (``effect`` only moves forward, so each of its ledger
    entries — keyed by this id — is written once)."""

    __tablename__ = "charge_reversals"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_in(ReversalKind)})", name="kind_known"),
        CheckConstraint(f"effect IN ({_in(ReversalEffect)})", name="effect_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # re_… / du_…
    kind: Mapped[ReversalKind] = mapped_column(_enum(ReversalKind, 16))
    recharge_id: Mapped[str] = mapped_column(
        ForeignKey("recharge_records.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    amount: Mapped[int] = mapped_column(BigInteger)  # of the charge, minor units
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(32))  # Stripe's
    reason: Mapped[str | None] = mapped_column(String(64))
    effect: Mapped[ReversalEffect] = mapped_column(_enum(ReversalEffect, 16))
    credit_amount: Mapped[int] = mapped_column(BigInteger, default=0)  # net, signed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PaymentAnomaly(Base):
    """Money Stripe moved that matches none of our records: for the operator to look at.
    One row per (kind, Stripe object)."""

    __tablename__ = "payment_anomalies"
    __table_args__ = (
        UniqueConstraint("kind", "reference"),
        CheckConstraint(f"kind IN ({_in(AnomalyKind)})", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[AnomalyKind] = mapped_column(_enum(AnomalyKind, 32))
    reference: Mapped[str] = mapped_column(String(255))  # the Stripe object's id
    user_id: Mapped[str | None] = mapped_column(String(64), index=True)
    recharge_id: Mapped[str | None] = mapped_column(String(64))  # the record it claimed
    customer_id: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ReconciliationRun(Base):
    """Each comparison of Stripe with the ledger, and its report (JSON) for the operator."""

    __tablename__ = "reconciliation_runs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None] = mapped_column()
    since: Mapped[datetime] = mapped_column()
    repaired: Mapped[int] = mapped_column(Integer, default=0)
    differences: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ApiKey(Base):
    """Operator API keys. Only a SHA-256 of the secret is kept; the prefix finds the row."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()


class StripeEvent(Base):
    """Stripe webhook events already processed (deduplication) and what came of them."""

    __tablename__ = "stripe_events"
    # /health/ready reads the newest event's version.
    __table_args__ = (Index("ix_stripe_events_received_at", "received_at"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String(255))
    # The Stripe API version the event was rendered in (None: malformed, or received before
    # this was recorded).
    api_version: Mapped[str | None] = mapped_column(String(64))


class OutboxEvent(Base):
    """Domain events for the operator, written in the transaction that caused them, then fanned
    out by the dispatcher into one ``webhook_deliveries`` row per matching endpoint."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index(
            "ix_outbox_events_undispatched",
            "id",
            sqlite_where=text("dispatched_at IS NULL"),
            postgresql_where=text("dispatched_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)  # the webhook-id
    type: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the dispatcher fanned it out to the endpoints (NULL: not yet).
    dispatched_at: Mapped[datetime | None] = mapped_column()


class WebhookEndpoint(Base):
    """Where the operator receives events. The secret signs deliveries, so it is kept (it
    cannot be a one-way hash), encrypted under SECRETS_KEY (``auth.secret_box``), and shown
    only when created."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (CheckConstraint("secret_form IN ('clear', 'fernet')", name="secret_form"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(255))
    # The secret as stored, in the form ``secret_form`` says: ``fernet`` (encrypted), or
    # ``clear`` for rows written before encryption, which start-up encrypts.
    secret: Mapped[str] = mapped_column(String(512))
    secret_form: Mapped[str] = mapped_column(String(16), server_default="clear")
    # The event types it wants; NULL: every type.
    event_types: Mapped[list[str] | None] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Since when every attempt failed (NULL after a success): disabled once this is too old.
    failing_since: Mapped[datetime | None] = mapped_column()
    # When a delivery to its URL first succeeded; NULL: never (the endpoint is on probation).
    first_delivered_at: Mapped[datetime | None] = mapped_column()
    disabled_at: Mapped[datetime | None] = mapped_column()
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint: at most one row per pair, whatever the workers do. Also the
    dispatcher's queue (``pending`` rows due at ``next_attempt_at``)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
        # Each endpoint's oldest due deliveries: the fair claim's per-endpoint look-up.
        Index(
            "ix_webhook_deliveries_endpoint_due",
            "endpoint_id",
            "next_attempt_at",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("outbox_events.event_id", ondelete="CASCADE"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus, 16), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    last_attempt_at: Mapped[datetime | None] = mapped_column()
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookAttempt(Base):
    """The delivery log: one row per POST, whatever came of it."""

    __tablename__ = "webhook_delivery_attempts"
    __table_args__ = (Index("ix_webhook_delivery_attempts_delivery_id_id", "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column()
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)


class WorkerHeartbeat(Base):
    """One row per worker process: what readiness and ``status`` know of workers anywhere."""

    __tablename__ = "worker_heartbeats"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column()
    beat_at: Mapped[datetime] = mapped_column()  # the end of its last pass
    sweep_at: Mapped[datetime | None] = mapped_column()  # its last sweep
    stopped_at: Mapped[datetime | None] = mapped_column()  # a clean shutdown
    passes: Mapped[int] = mapped_column(BigInteger, default=0)
    charged: Mapped[int] = mapped_column(BigInteger, default=0)
