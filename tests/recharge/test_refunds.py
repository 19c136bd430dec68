"""Refunds and disputes move the ledger once per Stripe object, by the documented rule (the
credit's share of the money given back), whichever of the refund API's answer and Stripe's
(duplicated) events gets there first."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from balance_manager.store.models import BalanceConfig, LedgerEntry, OutboxEvent
from balance_manager.usecases import stripe_events
from tests.conftest import UserMaker
from tests.recharge.conftest import Engine
from tests.recharge.control import sandbox_post


async def _charged(e: Engine, make_user: UserMaker, operator: dict[str, str], card: str) -> str:
    """The worked example, charged and credited: balance 600 after 650 + 18.85."""
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
    await e.give_card(user, card)
    await e.usage(user, 50, "u1", operator)
    await e.worker.run_once()
    (record,) = await e.records(user)
    assert record.status == "succeeded"
    assert await e.balance(user) == (60000, 60000)
    return user


async def _entries(e: Engine, user: str, *kinds: str) -> list[tuple[str, int, str]]:
    async with e.sessions.begin() as session:
        rows = await session.execute(
            select(LedgerEntry.kind, LedgerEntry.amount, LedgerEntry.reference)
            .where(LedgerEntry.user_id == user, LedgerEntry.kind.in_(kinds))
            .order_by(LedgerEntry.id)
        )
        return [(str(k), a, r) for k, a, r in rows]


async def _replay_events(e: Engine, *types: str) -> list[str]:
    """Every event of these types the sandbox emitted, handed to the service twice each (the
    second is a duplicate delivery; a different event about the same object is not)."""
    outcomes = []
    for kind in types:
        for event in reversed(e.stripe.v1.events.list(params={"type": kind, "limit": 100}).data):
            for _ in range(2):
                outcomes.append((await stripe_events.handle(e.svc, event)).outcome)
    return outcomes


async def test_a_partial_and_a_full_refund_move_the_ledger_once_each(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str], customer_headers: Any
) -> None:
    e = engine_app
    user = await _charged(e, make_user, operator, "pm_card_visa")
    (record,) = await e.records(user)
    url = f"/api/balance/recharge/{user}/{record.id}/refund"

    forbidden = await e.client.post(url, json={"amount": 100}, headers=customer_headers(user))
    assert forbidden.status_code == 403
    too_much = await e.client.post(url, json={"amount": 668.86}, headers=operator)
    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "above_refundable_amount"

    # 100.00 of the 668.85 charge: the credit's share, round_half_up(10000 × 65000 / 66885).
    partial = await e.client.post(
        url, json={"amount": 100, "reason": "requested_by_customer"}, headers=operator
    )
    assert partial.status_code == 200, partial.text
    body = partial.json()
    assert (body["amount"], body["balanceDebited"], body["balance"]) == (100, 97.18, 502.82)
    again = await e.client.post(
        url, json={"amount": 100, "reason": "requested_by_customer"}, headers=operator
    )
    assert again.json()["refundId"] == body["refundId"]  # the same request: the same refund

    # The rest: 568.85 takes back 650 − 97.18, so the two add up to exactly the credit.
    full = await e.client.post(url, headers=operator)
    assert full.status_code == 200, full.text
    assert (full.json()["amount"], full.json()["balanceDebited"]) == (568.85, 552.82)
    assert full.json()["recharge"]["amountRefunded"] == 668.85
    assert full.json()["recharge"]["creditReversed"] == 650

    # Stripe's events for both refunds, each delivered twice: nothing moves again.
    outcomes = await _replay_events(e, "refund.created", "charge.refunded")
    assert set(outcomes) == {"unchanged", "duplicate"}
    assert await _entries(e, user, "refund", "refund_reversal") == [
        ("refund", -9718, body["refundId"]),
        ("refund", -55282, full.json()["refundId"]),
    ]
    assert await e.balance(user) == (-5000, -5000)
    history = await e.client.get(f"/api/balance/history/{user}", headers=operator)
    (shown,) = history.json()["records"]
    assert (shown["amountRefunded"], shown["creditReversed"]) == (668.85, 650)

    nothing_left = await e.client.post(url, json={"amount": 1}, headers=operator)
    assert nothing_left.status_code == 400  # nothing left to refund


async def test_a_refund_made_in_stripe_and_one_that_fails(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    """A refund made in Stripe's dashboard arrives by webhook; the bank returning it
    (``refund.failed``) gives the credit back, once."""
    e = engine_app
    user = await _charged(e, make_user, operator, "pm_card_visa")
    (record,) = await e.records(user)
    refund = e.stripe.v1.refunds.create(
        params={"payment_intent": str(record.payment_intent_id), "amount": 33443}
    )
    assert (await _replay_events(e, "refund.created", "charge.refunded")).count("applied") == 1
    assert await e.balance(user) == (60000 - 32500, 60000 - 32500)  # 33443 × 65000/66885
    await sandbox_post(
        e.sandbox, f"refunds/{refund.id}/fail", {"failure_reason": "expired_or_canceled_card"}
    )
    outcomes = await _replay_events(e, "refund.failed", "refund.updated")
    assert outcomes.count("applied") == 1
    assert await _entries(e, user, "refund", "refund_reversal") == [
        ("refund", -32500, refund.id),
        ("refund_reversal", 32500, refund.id),
    ]
    assert await e.balance(user) == (60000, 60000)
    (record,) = await e.records(user)
    assert record.amount_refunded == 0


async def _dispute(e: Engine, user: str, outcome: str) -> tuple[str, list[str]]:
    (record,) = await e.records(user)
    opened = await sandbox_post(e.sandbox, "disputes", {"payment_intent": record.payment_intent_id})
    dispute = str(opened["id"])
    first = await _replay_events(e, "charge.dispute.created", "charge.dispute.funds_withdrawn")
    await sandbox_post(e.sandbox, f"disputes/{dispute}/{outcome}")
    return dispute, first


async def test_a_lost_dispute_takes_the_credit_back_once_and_pauses(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    e = engine_app
    user = await _charged(e, make_user, operator, "pm_card_visa")
    dispute, opened = await _dispute(e, user, "lose")
    assert opened.count("applied") == 1
    await _replay_events(e, "charge.dispute.closed")
    assert await _entries(e, user, "dispute", "dispute_reversal") == [("dispute", -65000, dispute)]
    assert await e.balance(user) == (-5000, -5000)
    (record,) = await e.records(user)
    assert (record.amount_disputed, record.dispute_status) == (66885, "lost")
    async with e.sessions.begin() as session:
        config = await session.get(BalanceConfig, user)
        assert config is not None
        assert config.paused_reason == f"dispute {dispute} on recharge {record.id}"
        kinds = (await session.scalars(select(OutboxEvent.type))).all()
    assert "recharge.disputed" in kinds
    assert "auto_recharge.paused" in kinds
    status = await e.client.get(f"/api/balance/status/{user}", headers=operator)
    assert status.json()["rechargeBlockedReason"] == "auto_recharge_paused"
    assert await e.worker.sweep() == 0  # below the minimum, but the card is disputed


async def test_a_won_dispute_gives_the_credit_back_once(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    e = engine_app
    user = await _charged(e, make_user, operator, "pm_card_createDispute")
    # The test card opens a dispute right after its charge succeeds.
    opened = await _replay_events(e, "charge.dispute.created", "charge.dispute.funds_withdrawn")
    assert opened.count("applied") == 1
    assert await e.balance(user) == (-5000, -5000)
    (dispute,) = e.stripe.v1.disputes.list().data
    await sandbox_post(e.sandbox, f"disputes/{dispute.id}/win")
    closed = await _replay_events(e, "charge.dispute.closed", "charge.dispute.funds_reinstated")
    assert closed.count("applied") == 1
    assert await _entries(e, user, "dispute", "dispute_reversal") == [
        ("dispute", -65000, dispute.id),
        ("dispute_reversal", 65000, dispute.id),
    ]
    assert await e.balance(user) == (60000, 60000)
    (record,) = await e.records(user)
    assert (record.amount_disputed, record.dispute_status) == (0, "won")


async def test_a_refund_event_before_the_credit_settles_the_charge_first(
    engine_app: Engine, worked_example_user: str, operator: dict[str, str]
) -> None:
    """The charge's answer and its webhook lost, then a refund's event: the credit lands, then
    the refund takes its share back — never a debit of credit that was never given."""
    from balance_manager.usecases import charging

    e, user = engine_app, worked_example_user
    await e.usage(user, 50, "u1", operator)
    (job,) = await charging.claim(e.svc)
    assert e.ctx.gateway is not None
    result = await charging.charge(e.ctx.gateway, job, now=e.clock())  # never settled
    e.stripe.v1.refunds.create(params={"payment_intent": str(result.payment_intent_id)})
    outcomes = await _replay_events(e, "charge.refunded")
    assert outcomes == ["applied", "duplicate"]
    assert [k for k, _, _ in await _entries(e, user, "recharge", "refund")] == [
        "recharge",
        "refund",
    ]
    assert await e.balance(user) == (-5000, -5000)
    assert await charging.settle(e.svc, job.record_id, result) is charging.Settled.ALREADY_SUCCEEDED


async def test_live_webhooks_delivered_twice_and_the_api_answer_move_the_ledger_once(
    stripe_settings: Any,
    stripe_sandbox: Any,
    engine_app: Engine,
    make_user: UserMaker,
    operator: dict[str, str],
) -> None:
    """The real thing: the sandbox delivers every event twice (and out of order) to the
    service on a real port while the refund API settles its own answer; a partial and a
    full refund, a dispute lost and one won each move the ledger exactly once."""
    import asyncio
    import time

    from pydantic import SecretStr

    from balance_manager.runtime.compose import create_app
    from tests.conftest import LiveServer, free_port

    e = engine_app
    port = free_port()
    endpoint = e.stripe.v1.webhook_endpoints.create(
        params={"url": f"http://127.0.0.1:{port}/api/webhooks/stripe", "enabled_events": ["*"]}
    )
    stripe_sandbox.webhooks.config.duplicate = True
    stripe_sandbox.webhooks.config.reorder_window = 3
    settings = stripe_settings.model_copy(
        update={
            "stripe_webhook_secret": SecretStr(str(endpoint.secret)),
            "recharge_check_interval": 3600,
        }
    )
    users = {}
    for name, card in (
        ("refunded", "pm_card_visa"),
        ("lost", "pm_card_visa"),
        ("won", "pm_card_createDispute"),
    ):
        users[name] = await make_user(minimum_balance=150, target_balance=600, initial_balance=200)
        await e.give_card(users[name], card)

    async def until(check: Any, what: str) -> None:
        deadline = time.monotonic() + 30
        while not await check():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.1)

    async def entries(user: str) -> list[tuple[str, int, str]]:
        return await _entries(e, user, "recharge", "refund", "dispute", "dispute_reversal")

    with LiveServer(create_app(settings), port=port) as live:
        async with httpx.AsyncClient(base_url=live.base_url, headers=operator) as api:
            for user in users.values():
                debit = await api.post(
                    f"/api/balance/usage/{user}", json={"amount": 250, "idempotencyKey": "u1"}
                )
                assert debit.status_code == 200
            for user in users.values():
                await until(lambda u=user: _credited(e, u), "every charge credited")

            (record,) = await e.records(users["refunded"])
            url = f"/api/balance/recharge/{users['refunded']}/{record.id}/refund"
            partial = (await api.post(url, json={"amount": 100})).json()
            full = (await api.post(url)).json()

            (lost,) = await e.records(users["lost"])
            opened = await sandbox_post(
                e.sandbox, "disputes", {"payment_intent": lost.payment_intent_id}
            )
            await sandbox_post(e.sandbox, f"disputes/{opened['id']}/lose")
            (won,) = e.stripe.v1.disputes.list(params={"limit": 100}).data[-1:]
            assert won.id != opened["id"]
            await sandbox_post(e.sandbox, f"disputes/{won.id}/win")

            assert stripe_sandbox.wait_for_webhooks(timeout=30)
            await until(
                lambda: _has(e, users["won"], "dispute_reversal"), "the won dispute reversed"
            )
            await until(lambda: _has(e, users["lost"], "dispute"), "the lost dispute applied")

    refunded = await entries(users["refunded"])
    assert [(k, a) for k, a, _ in refunded] == [
        ("recharge", 65000),
        ("refund", -9718),
        ("refund", -55282),
    ]
    assert [r for _, _, r in refunded[1:]] == [partial["refundId"], full["refundId"]]
    assert [(k, a) for k, a, _ in await entries(users["lost"])] == [
        ("recharge", 65000),
        ("dispute", -65000),
    ]
    assert [(k, a) for k, a, _ in await entries(users["won"])] == [
        ("recharge", 65000),
        ("dispute", -65000),
        ("dispute_reversal", 65000),
    ]
    for user in users.values():
        balance, total = await e.balance(user)
        assert balance == total
    async with httpx.AsyncClient(base_url=stripe_sandbox.base_url) as control:
        deliveries = (await control.get("/_sandbox/webhooks/deliveries")).json()["data"]
    ours = [
        d
        for d in deliveries
        if d.get("endpoint") == endpoint.id
        and d["event_type"].startswith(("refund.", "charge.refunded", "charge.dispute."))
    ]
    assert ours and all(200 <= int(d.get("status") or 0) < 300 for d in ours), ours
    for event in {d["event"] for d in ours}:  # every one delivered (and accepted) twice
        assert sum(d["event"] == event for d in ours) >= 2


async def _credited(e: Engine, user: str) -> bool:
    return [r.status for r in await e.records(user)] == ["succeeded"]


async def _has(e: Engine, user: str, kind: str) -> bool:
    return bool(await _entries(e, user, kind))
