"""The operator events' payloads (``domain.events``): one builder per type, the fields the
operator's application reads. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from balance_manager.domain import events
from balance_manager.domain.settlement import Recharge
from balance_manager.domain.states import EventType, RechargeStatus

RECHARGE = Recharge(
    id="rec_1",
    user_id="usr_1",
    status=RechargeStatus.FAILED,
    amount=65000,
    fee=1885,
    total_charge=66885,
    currency="usd",
    payment_intent_id="pi_1",
    updated_at=datetime(2026, 11, 30, tzinfo=UTC),
)
FIELDS = {
    "rechargeId": "rec_1",
    "userId": "usr_1",
    "amountMinor": 65000,
    "feeMinor": 1885,
    "totalChargeMinor": 66885,
    "currency": "usd",
    "status": "failed",
    "paymentIntentId": "pi_1",
}


@pytest.mark.parametrize(
    ("event", "kind", "extra"),
    [
        (
            events.recharge_succeeded(RECHARGE, balance=60000),
            EventType.RECHARGE_SUCCEEDED,
            {"balanceMinor": 60000},
        ),
        (
            events.recharge_failed(RECHARGE, failure_code="card_declined"),
            EventType.RECHARGE_FAILED,
            {"failureCode": "card_declined"},
        ),
        (events.recharge_requires_action(RECHARGE), EventType.RECHARGE_REQUIRES_ACTION, {}),
        (
            events.recharge_canceled(RECHARGE, reason="action_expired"),
            EventType.RECHARGE_CANCELED,
            {"reason": "action_expired"},
        ),
        (
            events.auto_recharge_paused(RECHARGE, reason="dispute dp_1 on recharge rec_1"),
            EventType.AUTO_RECHARGE_PAUSED,
            {"reason": "dispute dp_1 on recharge rec_1"},
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_recharge_events_carry_the_recharge_and_what_they_add(
    event: events.Event, kind: EventType, extra: dict[str, object]
) -> None:
    assert (event.type, event.user_id) == (kind, "usr_1")
    assert event.payload == {**FIELDS, **extra}


def test_balance_low() -> None:
    event = events.balance_low(
        "usr_1", balance=14000, threshold=15000, minimum=None, currency="usd"
    )
    assert (event.type, event.user_id) == (EventType.BALANCE_LOW, "usr_1")
    assert event.payload == {
        "userId": "usr_1",
        "balanceMinor": 14000,
        "thresholdMinor": 15000,
        "minimumBalanceMinor": None,
        "currency": "usd",
    }


@pytest.mark.parametrize("kind", sorted(events.REVERSAL_TYPES))
def test_the_four_reversal_events_share_one_payload(kind: EventType) -> None:
    event = events.recharge_reversal(
        kind,
        RECHARGE,
        stripe_object_id="re_1",
        status="succeeded",
        charge_amount=10000,
        credit=9718,
        balance=50282,
    )
    assert (event.type, event.user_id) == (kind, "usr_1")
    assert event.payload == {
        "rechargeId": "rec_1",
        "userId": "usr_1",
        "stripeObjectId": "re_1",
        "status": "succeeded",
        "chargeAmountMinor": 10000,
        "creditMinor": 9718,
        "balanceMinor": 50282,
        "currency": "usd",
        "paymentIntentId": "pi_1",
    }


def test_a_reversal_builder_is_only_for_reversals() -> None:
    with pytest.raises(AssertionError):
        events.recharge_reversal(
            EventType.RECHARGE_FAILED,
            RECHARGE,
            stripe_object_id="re_1",
            status="succeeded",
            charge_amount=1,
            credit=1,
            balance=None,
        )


def test_payment_anomaly_and_an_endpoint_disabled() -> None:
    anomaly = events.payment_anomaly(
        kind="payment_mismatch",
        stripe_object_id="pi_a",
        user_id=None,
        recharge_id="rec_1",
        customer_id="cus_a",
        amount=50,
        currency="usd",
        detail="its customer does not match",
    )
    assert (anomaly.type, anomaly.user_id) == (EventType.PAYMENT_ANOMALY, None)
    assert anomaly.payload == {
        "kind": "payment_mismatch",
        "stripeObjectId": "pi_a",
        "userId": None,
        "rechargeId": "rec_1",
        "customerId": "cus_a",
        "amountMinor": 50,
        "currency": "usd",
        "detail": "its customer does not match",
    }
    paris = timezone(timedelta(hours=1))
    disabled = events.webhook_endpoint_disabled(
        "we_1",
        url="https://app.example/hooks",
        reason="every delivery failed",
        failing_since=datetime(2026, 11, 29, 13, 0, tzinfo=paris),
        disabled_at=datetime(2026, 11, 30, 12, 0, 0, 500, tzinfo=UTC),
    )
    assert (disabled.type, disabled.user_id) == (EventType.WEBHOOK_ENDPOINT_DISABLED, None)
    assert disabled.payload == {
        "endpointId": "we_1",
        "url": "https://app.example/hooks",
        "reason": "every delivery failed",
        "failingSince": "2026-11-29T12:00:00Z",
        "disabledAt": "2026-11-30T12:00:00.000500Z",
    }
