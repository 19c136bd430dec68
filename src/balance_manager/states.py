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
    REFUND = "refund"


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
    AUTO_RECHARGE_PAUSED = "auto_recharge.paused"
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"


class DeliveryStatus(StrEnum):
    """A webhook delivery (one event to one endpoint): ``pending`` (due at
    ``next_attempt_at``, or being sent) → ``succeeded`` | ``failed`` (retries exhausted or the
    endpoint disabled); a manual resend makes it ``pending`` again."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
