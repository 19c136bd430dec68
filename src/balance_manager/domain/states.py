"""The named states of the domain, shared by the pure rules, the models and the schema.

Every value here is also written into the database (CHECK constraints keep the columns to
these values), so renaming one is a migration.
"""

from __future__ import annotations

from enum import StrEnum


class LedgerKind(StrEnum):
    USAGE = "usage"
    RECHARGE = "recharge"
    ADJUSTMENT = "adjustment"
    # Money moving back out of a recharge, each keyed by its Stripe object id (see
    # ``reversals``): a refund, a refund the bank returned, a dispute's withdrawal and its
    # reinstatement when the dispute is won.
    REFUND = "refund"
    REFUND_REVERSAL = "refund_reversal"
    DISPUTE = "dispute"
    DISPUTE_REVERSAL = "dispute_reversal"


# Kinds whose reference is a Stripe object id, unique across users (a partial unique index).
STRIPE_REFERENCED = frozenset(
    {
        LedgerKind.RECHARGE,
        LedgerKind.REFUND,
        LedgerKind.REFUND_REVERSAL,
        LedgerKind.DISPUTE,
        LedgerKind.DISPUTE_REVERSAL,
    }
)


class RechargeStatus(StrEnum):
    """``pending → processing → succeeded | failed | requires_action | canceled``;
    ``requires_action → succeeded | failed | canceled``."""

    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REQUIRES_ACTION = "requires_action"
    CANCELED = "canceled"

    @property
    def in_flight(self) -> bool:
        return self in IN_FLIGHT

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


IN_FLIGHT = frozenset(
    {RechargeStatus.PENDING, RechargeStatus.PROCESSING, RechargeStatus.REQUIRES_ACTION}
)
TERMINAL = frozenset({RechargeStatus.SUCCEEDED, RechargeStatus.FAILED, RechargeStatus.CANCELED})


class TriggeredBy(StrEnum):
    """Who asked for a recharge: the engine, or a person (customer or operator)."""

    AUTO = "auto"
    MANUAL = "manual"


class TriggerSource(StrEnum):
    """What noticed the need (``trigger_detail`` in the schema)."""

    USAGE = "usage"  # a debit left the balance below the minimum
    SWEEP = "sweep"  # the periodic safety net
    CARD = "card"  # a new default card arrived while the balance was below the minimum
    MANUAL = "manual"  # POST /api/balance/recharge/{userId}


class EventType(StrEnum):
    """The operator's webhook events (``outbox_events.type``); endpoints filter on these."""

    BALANCE_LOW = "balance.low"
    RECHARGE_SUCCEEDED = "recharge.succeeded"
    RECHARGE_FAILED = "recharge.failed"
    RECHARGE_REQUIRES_ACTION = "recharge.requires_action"
    RECHARGE_CANCELED = "recharge.canceled"
    RECHARGE_REFUNDED = "recharge.refunded"
    RECHARGE_REFUND_REVERSED = "recharge.refund_reversed"
    RECHARGE_DISPUTED = "recharge.disputed"
    RECHARGE_DISPUTE_REVERSED = "recharge.dispute_reversed"
    AUTO_RECHARGE_PAUSED = "auto_recharge.paused"
    PAYMENT_ANOMALY = "payment.anomaly"
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"


class DeliveryStatus(StrEnum):
    """A webhook delivery (one event to one endpoint): ``pending`` (due at
    ``next_attempt_at``, or being sent) → ``succeeded`` | ``failed`` (retries exhausted or the
    endpoint disabled); a manual resend makes it ``pending`` again."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ReversalKind(StrEnum):
    """Money a charge gives back after it succeeded: a refund, or a dispute (chargeback)."""

    REFUND = "refund"
    DISPUTE = "dispute"


class ReversalEffect(StrEnum):
    """Where a refund or dispute stands against the balance; it only moves forward
    (``none → applied → released``, or ``none → released``), so each ledger entry it causes is
    written once."""

    NONE = "none"  # seen, no money moved yet (a dispute inquiry, a refund not yet made)
    APPLIED = "applied"  # the money left: the credit it bought was taken back
    RELEASED = "released"  # the money came back (refund failed, dispute won) or never left


class AnomalyKind(StrEnum):
    """Money movements the service could not match to its own records: for the operator."""

    # A succeeded PaymentIntent names a recharge it does not belong to (customer, amount,
    # currency or PaymentIntent differ): the money was taken, nothing was credited.
    PAYMENT_MISMATCH = "payment_mismatch"
    # A succeeded PaymentIntent of one of our customers that matches no recharge.
    UNMATCHED_PAYMENT = "unmatched_payment"
    # A recharge credited (or marked succeeded) whose PaymentIntent Stripe does not show as
    # succeeded.
    CREDIT_WITHOUT_PAYMENT = "credit_without_payment"
    # A refund or dispute of one of our customers' payments that matches no credited recharge.
    UNMATCHED_REVERSAL = "unmatched_reversal"
    # A recharge's own succeeded PaymentIntent that settling could not credit (the record
    # says succeeded, the ledger has no credit).
    UNCREDITED_PAYMENT = "uncredited_payment"
