"""Settlement credits a record only with its own PaymentIntent; money taken that matches no
record becomes a payment anomaly (table, outbox event, count, reconciliation report)."""

from __future__ import annotations

from typing import Any

import stripe
from sqlalchemy import func, select

from balance_manager.store.models import LedgerEntry, OutboxEvent, User
from balance_manager.usecases import charging, stripe_events
from tests.conftest import UserMaker
from tests.recharge.conftest import Engine


def _event(kind: str, obj: dict[str, Any], event_id: str) -> Any:
    return stripe.Event.construct_from(
        {"id": event_id, "object": "event", "type": kind, "data": {"object": obj}}, "sk_test"
    )


async def _customer(e: Engine, user: str) -> str:
    async with e.sessions.begin() as session:
        found = await session.get(User, user)
        assert found is not None
        assert found.stripe_customer_id is not None
        return found.stripe_customer_id


async def test_a_foreign_payment_intent_naming_a_recharge_is_an_anomaly_not_a_credit(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    """The issue's repro: a PaymentIntent for customer A (0.50) carrying B's recharge id in
    its metadata used to credit B with B's full amount; B's real charge then settled as a
    mismatch and was never credited; A was charged and not credited. Now: B is credited
    exactly once, for B's real charge; A's 0.50 is an anomaly; nobody is credited for it."""
    e = engine_app
    b = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
    a = await make_user(minimum_balance=1, target_balance=100, initial_balance=5000)
    await e.give_card(b)
    a_card = await e.give_card(a)
    await e.usage(b, 50, "u1", operator)
    (job,) = await charging.claim(e.svc)  # B's charge is in flight...
    foreign = e.stripe.v1.payment_intents.create(
        params={
            "amount": 50,
            "currency": "usd",
            "customer": await _customer(e, a),
            "payment_method": a_card,
            "confirm": True,
            "off_session": True,
            "metadata": {"recharge_id": job.record_id, "user_id": b},
        }
    )
    assert foreign.status == "succeeded"
    # ...when the foreign PaymentIntent's success arrives (twice, as Stripe may send it).
    for event_id in ("evt_foreign_1", "evt_foreign_2"):
        handled = await stripe_events.handle(
            e.svc, _event("payment_intent.succeeded", foreign.to_dict(), event_id)
        )
        assert handled.outcome == "anomaly_recorded"
    assert await e.credits(b) == 0
    assert await e.balance(b) == (-5000, -5000)

    assert await charging.execute(e.svc, job) is charging.Settled.CREDITED
    (record,) = await e.records(b)
    assert record.status == "succeeded"
    assert record.payment_intent_id not in (None, foreign.id)
    assert await e.credits(b) == 1
    assert await e.balance(b) == (60000, 60000)
    assert await e.credits(a) == 0
    assert await e.balance(a) == (500000, 500000)
    async with e.sessions.begin() as session:
        credited = await session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.reference == foreign.id)
        )
    assert credited == 0

    from balance_manager.store.models import PaymentAnomaly
    from balance_manager.usecases import anomalies

    async with e.sessions.begin() as session:
        (anomaly,) = (await session.scalars(select(PaymentAnomaly))).all()
        events = (
            await session.scalars(
                select(OutboxEvent.payload).where(OutboxEvent.type == "payment.anomaly")
            )
        ).all()
    assert (anomaly.kind, anomaly.reference, anomaly.user_id, anomaly.recharge_id) == (
        "payment_mismatch",
        foreign.id,
        a,
        job.record_id,
    )
    assert (anomaly.amount, anomaly.currency) == (50, "usd")
    assert [p["stripeObjectId"] for p in events] == [foreign.id]  # once, not per delivery
    assert await anomalies.counts(e.svc) == {"payment_mismatch": 1}


async def test_a_payment_intent_of_another_amount_or_currency_does_not_settle(
    engine_app: Engine, worked_example_user: str, operator: dict[str, str]
) -> None:
    """The same customer, but not the recharge's amount (or currency): no credit, no status
    change; a failed one changes nothing either."""
    e, user = engine_app, worked_example_user
    await e.usage(user, 50, "u1", operator)
    (record,) = await e.records(user)
    customer = await _customer(e, user)
    base = {
        "object": "payment_intent",
        "customer": customer,
        "currency": "usd",
        "metadata": {"recharge_id": record.id},
    }
    wrong_amount = {**base, "id": "pi_wrong_amount", "status": "succeeded", "amount": 100}
    wrong_currency = {**base, "id": "pi_wrong_cur", "status": "succeeded", "amount": 66885}
    wrong_currency["currency"] = "eur"
    declined = {
        **base,
        "id": "pi_declined_other",
        "status": "requires_payment_method",
        "amount": 66885,
        "customer": "cus_someone_else",
        "last_payment_error": {"code": "card_declined"},
    }
    outcomes = [
        (
            await stripe_events.handle(e.svc, _event("payment_intent.succeeded", obj, f"evt_{i}"))
        ).outcome
        for i, obj in enumerate([wrong_amount, wrong_currency, declined])
    ]
    assert outcomes == ["anomaly_recorded", "anomaly_recorded", "payment_intent_mismatch"]
    (record,) = await e.records(user)
    assert (record.status, record.payment_intent_id) == ("pending", None)
    assert await e.credits(user) == 0


async def test_a_payment_of_our_customer_naming_no_recharge_is_an_anomaly(
    engine_app: Engine, make_user: UserMaker
) -> None:
    e = engine_app
    user = await make_user(initial_balance=100)
    card = await e.give_card(user)
    stray = e.stripe.v1.payment_intents.create(
        params={
            "amount": 1234,
            "currency": "usd",
            "customer": await _customer(e, user),
            "payment_method": card,
            "confirm": True,
            "off_session": True,
        }
    )
    handled = await stripe_events.handle(
        e.svc, _event("payment_intent.succeeded", stray.to_dict(), "evt_stray")
    )
    assert handled.outcome == "anomaly_recorded"
    stranger = {**stray.to_dict(), "id": "pi_stranger", "customer": "cus_not_ours"}
    handled = await stripe_events.handle(
        e.svc, _event("payment_intent.succeeded", stranger, "evt_stranger")
    )
    assert handled.outcome == "not_a_recharge"
    from balance_manager.usecases import anomalies

    assert await anomalies.counts(e.svc) == {"unmatched_payment": 1}
    assert await e.balance(user) == (10000, 10000)
