"""Operator webhooks with real recharges against the Stripe sandbox: a scripted scenario reaches
the receiver once per event, a receiver that never answers does not delay the next recharge,
and two workers deliver each event once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select, text

from balance_manager.runtime.dispatcher import Dispatcher
from balance_manager.runtime.worker import Worker
from balance_manager.store import outbox
from balance_manager.store.db import create_engine, session_factory
from balance_manager.store.models import OutboxEvent, WebhookAttempt, WebhookDelivery
from balance_manager.usecases.services import Services
from tests.conftest import UserMaker
from tests.recharge.conftest import Engine
from tests.webhooks_out.receiver import HANG, Receiver, counts, until


async def _endpoint(e: Engine, operator: dict[str, str], url: str) -> str:
    response = await e.client.post("/api/webhook-endpoints", json={"url": url}, headers=operator)
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    return secret


async def _outbox(e: Engine) -> list[OutboxEvent]:
    async with e.sessions.begin() as session:
        return list((await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))).all())


async def test_a_scripted_scenario_reaches_the_receiver_once_per_event_signed(
    engine_app: Engine,
    make_user: UserMaker,
    operator: dict[str, str],
    customer_headers: Any,
    receiver: Receiver,
) -> None:
    """Decline ×3 → pause; 3-D Secure; success; and a low-balance alert for a user without
    auto-recharge. Every outbox event reaches the receiver exactly once, correctly signed."""
    e = engine_app
    dispatcher = e.worker.dispatcher
    secret = await _endpoint(e, operator, receiver.url)
    try:
        declining = await make_user(minimum_balance=150, target_balance=600, initial_balance=200)
        await e.give_card(declining, "pm_card_chargeCustomerFail")
        three_ds = await make_user(minimum_balance=150, target_balance=600, initial_balance=200)
        await e.give_card(three_ds, "pm_card_authenticationRequired")
        paying = await make_user(minimum_balance=150, target_balance=600, initial_balance=200)
        await e.give_card(paying, "pm_card_visa")
        manual = await make_user(
            minimum_balance=10, target_balance=100, initial_balance=100, auto_recharge_enabled=False
        )
        alert = await e.client.patch(  # the customer sets their own alert threshold
            f"/api/balance/config/{manual}",
            json={"lowBalanceThreshold": 50},
            headers=customer_headers(manual),
        )
        assert alert.status_code == 200 and alert.json()["lowBalanceThreshold"] == 50

        for user in (declining, three_ds, paying):
            assert (await e.usage(user, 250, "u1", operator)).status_code == 200
        await e.usage(manual, 30, "m1", operator)  # 70: above the threshold
        await e.usage(manual, 25, "m2", operator)  # 45: below it → balance.low
        await e.usage(manual, 5, "m3", operator)  # 40: already below
        assert await e.worker.run_once() == 3
        await dispatcher.run_once()
        for attempt in (2, 3):  # the declining card, after its backoffs
            e.clock.advance(60 * 2 ** (attempt - 2) + 1)
            assert await e.worker.sweep() == 1
            assert await e.worker.run_once() == 1
            await dispatcher.run_once()
        await dispatcher.run_once()
    finally:
        await dispatcher.drain()

    events = await _outbox(e)
    by_user: dict[str | None, list[str]] = {}
    for event in events:
        by_user.setdefault(event.user_id, []).append(event.type)
    assert by_user == {
        declining: [
            "balance.low",
            "recharge.failed",
            "recharge.failed",
            "recharge.failed",
            "auto_recharge.paused",
        ],
        three_ds: ["balance.low", "recharge.requires_action"],
        paying: ["balance.low", "recharge.succeeded"],
        manual: ["balance.low"],
    }
    # Exactly once per event id, nothing else, and every signature verifies.
    assert counts(r.id for r in receiver.got()) == {event.event_id: 1 for event in events}
    payloads = receiver.verified(secret)
    by_id = {r.id: p for r, p in zip(receiver.got(), payloads, strict=True)}
    for event in events:
        assert by_id[event.event_id]["type"] == event.type
        assert by_id[event.event_id]["data"] == event.payload
    (manual_low,) = [p for p in payloads if p["data"].get("userId") == manual]
    assert manual_low["data"]["thresholdMinor"] == 5000
    assert manual_low["data"]["balanceMinor"] == 4500
    (paused,) = [p for p in payloads if p["type"] == "auto_recharge.paused"]
    assert paused["data"]["reason"].startswith("3 consecutive failed recharges")


async def test_a_receiver_that_never_answers_does_not_delay_the_next_recharge(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str], backend: str
) -> None:
    """The worker runs for real (its recharge loop and its dispatcher). The receiver holds
    every request without answering; meanwhile a second recharge is charged and credited, and
    no delivery attempt has finished: recharges do not wait for webhooks, and the POSTs in
    flight hold no database lock."""
    e = engine_app
    # A timeout longer than this test: every POST stays in flight until the receiver answers.
    e.svc.settings = e.svc.settings.model_copy(update={"webhook_timeout_seconds": 60.0})
    worker = Worker(e.svc, sweep_interval=300, poll_interval=0.2)
    first = await make_user(minimum_balance=150, target_balance=600, initial_balance=200)
    await e.give_card(first)
    second = await make_user(minimum_balance=150, target_balance=600, initial_balance=200)
    await e.give_card(second)

    with Receiver(script=[HANG] * 100) as silent:
        await _endpoint(e, operator, silent.url)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        try:
            await e.usage(first, 250, "u1", operator)
            # One POST at a time: an endpoint never delivered to is on probation.
            await until(lambda: len(silent.got()) >= 1, what="the first event's POST")
            assert await _status(e, first) == "succeeded"

            # Events, in order: the POSTs are in flight; the next recharge starts and settles.
            await e.usage(second, 250, "u1", operator)
            await until(lambda: _is(e, second, "succeeded"), what="the second recharge", within=120)
            assert all(r.answer == HANG for r in silent.got())  # nobody was answered yet
            assert await _attempts_finished(e) == 0  # no delivery attempt has ended
            if backend == "postgresql":  # the deliveries in flight hold no row lock
                async with e.svc.engine.connect() as conn:
                    locked = await conn.execute(
                        text("SELECT id FROM webhook_deliveries FOR UPDATE NOWAIT")
                    )
                    assert len(locked.all()) >= 2
                    await conn.rollback()
            assert await e.balance(second) == (60000, 60000)

            silent.release()
            events = await _outbox(e)
            assert len(events) == 4  # balance.low and recharge.succeeded, twice
            await until(lambda: _attempts_finished(e, ok=True), what="every delivery")
        finally:
            stop.set()
            e.svc.wakeup.set()
            await running
    delivered = counts(r.id for r in silent.got())
    assert set(delivered) == {event.event_id for event in events}
    assert set(delivered.values()) == {1}


async def _status(e: Engine, user: str) -> str | None:
    records = await e.records(user)
    return str(records[-1].status) if records else None


async def _is(e: Engine, user: str, status: str) -> bool:
    return await _status(e, user) == status


async def _attempts_finished(e: Engine, *, ok: bool = False) -> int | bool:
    async with e.sessions.begin() as session:
        finished = int(await session.scalar(select(func.count()).select_from(WebhookAttempt)) or 0)
        if not ok:
            return finished
        events = await session.scalar(select(func.count()).select_from(OutboxEvent))
        return finished >= 1 and finished == events


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_workers_deliver_each_event_once(
    engine_app: Engine, operator: dict[str, str]
) -> None:
    """Two dispatchers, each with its own engine (as two worker processes), share 600
    deliveries (300 events × 2 endpoints): every one arrives once and is attempted once.
    PostgreSQL only: SQLite is the single-worker mode."""
    e = engine_app
    with Receiver() as a, Receiver() as b:
        await _endpoint(e, operator, a.url)
        await _endpoint(e, operator, b.url)
        async with e.svc.engine.begin() as conn:
            await outbox.add(
                conn,
                [outbox.Event("balance.low", None, {"n": n}) for n in range(300)],
                now=e.clock(),
            )
        engines = [create_engine(e.svc.settings.database_url) for _ in range(2)]
        dispatchers = [
            Dispatcher(
                Services(
                    settings=e.svc.settings,
                    engine=engine,
                    sessions=session_factory(engine),
                    gateway=None,
                    rules=e.svc.rules,
                    clock=e.clock,
                ),
                concurrency=16,
                poll_interval=0.05,
                timeout=30,
            )
            for engine in engines
        ]
        stop = asyncio.Event()
        running = [asyncio.create_task(d.run(stop)) for d in dispatchers]
        try:
            await until(lambda: len(a.got()) + len(b.got()) >= 600, what="600 deliveries")
        finally:
            stop.set()
            await asyncio.gather(*running)
            for engine in engines:
                await engine.dispose()
        events = await _outbox(e)
        for got in (a, b):
            assert counts(r.id for r in got.got()) == {event.event_id: 1 for event in events}
        assert all(d.delivered > 0 for d in dispatchers), [d.delivered for d in dispatchers]
        assert sum(d.delivered for d in dispatchers) == 600
        async with e.sessions.begin() as session:
            attempts = await session.scalar(select(func.count()).select_from(WebhookAttempt))
            delivered = await session.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.status == "succeeded", WebhookDelivery.attempts == 1)
            )
        assert attempts == 600 and delivered == 600
