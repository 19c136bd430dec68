"""The operator's events and their payloads: one builder per event type. Pure.

Whoever causes an event (settlement, a debit, a refund, reconciliation, the webhook
dispatcher) builds it here and the store writes it to the outbox in the same transaction
(``store.outbox``); the dispatcher delivers it as ``data`` of a signed webhook. The
PostgreSQL one-statement debit repeats :func:`balance_low` in SQL, and a test holds the two
to the same payload (``tests/integration/test_sql_rules_agree.py``).

Amounts are integer minor units; times are ISO 8601 in UTC with a ``Z``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from balance_manager.domain.states import EventType


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    user_id: str | None
    payload: dict[str, Any]


class RechargeFields(Protocol):
    """What a recharge event reports of its record (the stored record, or settlement's view
    of it after the transition)."""

    @property
    def id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def fee(self) -> int: ...
    @property
    def total_charge(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def payment_intent_id(self) -> str | None: ...


def balance_low(
    user_id: str, *, balance: int, threshold: int, minimum: int | None, currency: str
) -> Event:
    """A debit took the balance below the user's low-balance threshold (see
    ``posting.low_balance_threshold``)."""
    return Event(
        EventType.BALANCE_LOW,
        user_id,
        {
            "userId": user_id,
            "balanceMinor": balance,
            "thresholdMinor": threshold,
            "minimumBalanceMinor": minimum,
            "currency": currency,
        },
    )


def _recharge(kind: EventType, recharge: RechargeFields, **extra: object) -> Event:
    """The recharge's fields, as they are after the change, and what the event adds."""
    return Event(
        kind,
        recharge.user_id,
        {
            "rechargeId": recharge.id,
            "userId": recharge.user_id,
            "amountMinor": recharge.amount,
            "feeMinor": recharge.fee,
            "totalChargeMinor": recharge.total_charge,
            "currency": recharge.currency,
            "status": str(recharge.status),
            "paymentIntentId": recharge.payment_intent_id,
            **extra,
        },
    )


def recharge_succeeded(recharge: RechargeFields, *, balance: int | None) -> Event:
    """The recharge was credited; ``balance`` is the balance right after the credit."""
    return _recharge(EventType.RECHARGE_SUCCEEDED, recharge, balanceMinor=balance)


def recharge_failed(recharge: RechargeFields, *, failure_code: str) -> Event:
    return _recharge(EventType.RECHARGE_FAILED, recharge, failureCode=failure_code)


def recharge_requires_action(recharge: RechargeFields) -> Event:
    return _recharge(EventType.RECHARGE_REQUIRES_ACTION, recharge)


def recharge_canceled(recharge: RechargeFields, *, reason: str) -> Event:
    return _recharge(EventType.RECHARGE_CANCELED, recharge, reason=reason)


def auto_recharge_paused(recharge: RechargeFields, *, reason: str) -> Event:
    """Auto-recharge was paused because of ``recharge`` (declines in a row, a dispute)."""
    return _recharge(EventType.AUTO_RECHARGE_PAUSED, recharge, reason=reason)


REVERSAL_TYPES = frozenset(
    {
        EventType.RECHARGE_REFUNDED,
        EventType.RECHARGE_REFUND_REVERSED,
        EventType.RECHARGE_DISPUTED,
        EventType.RECHARGE_DISPUTE_REVERSED,
    }
)


def recharge_reversal(
    kind: EventType,
    recharge: RechargeFields,
    *,
    stripe_object_id: str,
    status: str,
    charge_amount: int,
    credit: int,
    balance: int | None,
) -> Event:
    """A refund or dispute of a credited recharge moved (one of :data:`REVERSAL_TYPES`, which
    share this payload): ``status`` is the refund's or dispute's, ``credit`` what the ledger
    took back (negative: gave back), ``balance`` the balance after it (None: nothing
    posted)."""
    assert kind in REVERSAL_TYPES, kind
    return Event(
        kind,
        recharge.user_id,
        {
            "rechargeId": recharge.id,
            "userId": recharge.user_id,
            "stripeObjectId": stripe_object_id,
            "status": status,
            "chargeAmountMinor": charge_amount,
            "creditMinor": credit,
            "balanceMinor": balance,
            "currency": recharge.currency,
            "paymentIntentId": recharge.payment_intent_id,
        },
    )


def payment_anomaly(
    *,
    kind: str,
    stripe_object_id: str,
    user_id: str | None,
    recharge_id: str | None,
    customer_id: str | None,
    amount: int | None,
    currency: str | None,
    detail: str,
) -> Event:
    """Money moved at Stripe that matches no recharge (``states.AnomalyKind``)."""
    return Event(
        EventType.PAYMENT_ANOMALY,
        user_id,
        {
            "kind": kind,
            "stripeObjectId": stripe_object_id,
            "userId": user_id,
            "rechargeId": recharge_id,
            "customerId": customer_id,
            "amountMinor": amount,
            "currency": currency,
            "detail": detail,
        },
    )


def webhook_endpoint_disabled(
    endpoint_id: str, *, url: str, reason: str, failing_since: datetime, disabled_at: datetime
) -> Event:
    return Event(
        EventType.WEBHOOK_ENDPOINT_DISABLED,
        None,
        {
            "endpointId": endpoint_id,
            "url": url,
            "reason": reason,
            "failingSince": _iso(failing_since),
            "disabledAt": _iso(disabled_at),
        },
    )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
