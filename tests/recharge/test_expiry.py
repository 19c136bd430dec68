"""A recharge waiting for 3-D Secure expires after RECHARGE_ACTION_EXPIRY_SECONDS: canceled in
the Stripe sandbox, the record says why, an event goes out, and automatic recharges resume."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select

from balance_manager.store.models import OutboxEvent
from tests.conftest import UserMaker
from tests.recharge.conftest import Engine

DAY = 86400


async def _waiting_user(e: Engine, make_user: UserMaker, operator: dict[str, str]) -> str:
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
    await e.give_card(user, "pm_card_authenticationRequired")
    await e.usage(user, 50, "u1", operator)
    await e.worker.run_once()
    assert [r.status for r in await e.records(user)] == ["requires_action"]
    return user


async def _events(e: Engine, kind: str) -> list[dict[str, Any]]:
    async with e.sessions.begin() as session:
        rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.type == kind))
        return [row.payload for row in rows]


async def test_an_expired_requires_action_is_canceled_and_the_next_recharge_opens(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    e = engine_app
    assert e.svc.settings.recharge_action_expiry_seconds == DAY  # the default
    user = await _waiting_user(e, make_user, operator)
    (first,) = await e.records(user)

    e.clock.advance(DAY - 60)
    assert await e.worker.expire() == 0  # not yet
    assert e.stripe.v1.payment_intents.retrieve(str(first.payment_intent_id)).status != "canceled"

    e.clock.advance(120)
    assert await e.worker.expire() == 1
    intent = e.stripe.v1.payment_intents.retrieve(str(first.payment_intent_id))
    assert intent.status == "canceled"  # at Stripe (the sandbox), not only in our table
    (expired,) = await e.records(user)
    assert (expired.status, expired.failure_code) == ("canceled", "action_expired")
    assert "did not authenticate within 24 hours" in str(expired.failure_message)
    assert expired.completed_at is not None
    (event,) = await _events(e, "recharge.canceled")
    assert (event["rechargeId"], event["reason"], event["status"]) == (
        first.id,
        "action_expired",
        "canceled",
    )
    assert await e.worker.expire() == 0  # once

    # No longer in flight: the sweep opens the next automatic recharge, which (same 3-D
    # Secure card) again waits for the customer, on a new PaymentIntent.
    assert await e.worker.sweep() == 1
    await e.worker.run_once()
    old, new = await e.records(user)
    assert old.id == first.id and new.trigger_detail == "sweep"
    assert new.status == "requires_action" and new.payment_intent_id != first.payment_intent_id
    assert await e.balance(user) == (-5000, -5000) and await e.credits(user) == 0


async def test_the_running_worker_expires_and_opens_the_next_recharge(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    e = engine_app
    user = await _waiting_user(e, make_user, operator)
    (first,) = await e.records(user)
    stop = asyncio.Event()
    running = asyncio.create_task(e.worker.run(stop))
    try:
        async with asyncio.timeout(60):
            # Its first sweep is done (the worker offers no event for it; poll its heartbeat).
            while e.worker.heartbeat.last_sweep is None:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            # The next sweep is RECHARGE_CHECK_INTERVAL (300 s) away: only the expiry, which
            # runs every pass and asks for a sweep when it canceled something, opens the
            # next recharge within this test's timeout.
            e.clock.advance(DAY + 1)
            while True:
                records = await e.records(user)
                if len(records) == 2 and records[1].status == "requires_action":
                    break
                e.svc.wakeup.set()
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        e.svc.wakeup.set()
        await running
    assert (records[0].status, records[0].failure_code) == ("canceled", "action_expired")
    assert e.stripe.v1.payment_intents.retrieve(str(first.payment_intent_id)).status == ("canceled")


async def test_a_payment_completed_before_expiry_is_credited_not_canceled(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str], customer_headers: Any
) -> None:
    e = engine_app
    user = await _waiting_user(e, make_user, operator)
    (record,) = await e.records(user)
    action = (
        await e.client.get(
            f"/api/balance/recharge/{user}/{record.id}", headers=customer_headers(user)
        )
    ).json()
    card = record.payment_method_id
    e.stripe.v1.payment_intents.confirm(
        str(record.payment_intent_id),
        params={"payment_method": str(card), "return_url": "http://127.0.0.1/done"},
    )
    async with httpx.AsyncClient(base_url=e.sandbox.base_url) as raw:
        done = await raw.post(
            f"/_sandbox/authenticate/{record.payment_intent_id}",
            data={"client_secret": action["clientSecret"], "outcome": "complete"},
        )
        assert done.status_code < 400, done.text
    # The customer authenticated, but neither the webhook nor a refresh arrived yet.
    assert (await e.records(user))[0].status == "requires_action"

    e.clock.advance(DAY + 1)
    assert await e.worker.expire() == 1
    (settled,) = await e.records(user)
    assert settled.status == "succeeded"
    assert await e.balance(user) == (60000, 60000) and await e.credits(user) == 1
    assert await _events(e, "recharge.canceled") == []
