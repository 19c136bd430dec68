"""The recharge engine against the Stripe sandbox over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx

from balance_manager.store.models import User
from balance_manager.usecases import stripe_events
from tests.conftest import UserMaker
from tests.recharge.conftest import Engine


async def test_worked_example_end_to_end(
    engine_app: Engine, worked_example_user: str, operator: dict[str, str]
) -> None:
    e, user = engine_app, worked_example_user
    debit = await e.usage(user, 50, "u1", operator)
    assert debit.json()["balance"] == -50
    # Trigger (1): the debit opened the recharge in its own transaction.
    (pending,) = await e.records(user)
    assert (pending.status, pending.amount, pending.fee, pending.total_charge) == (
        "pending",
        65000,
        1885,
        66885,
    )
    assert pending.triggered_by == "auto" and pending.trigger_detail == "usage"

    assert await e.worker.run_once() == 1
    assert await e.balance(user) == (60000, 60000)
    history = (await e.client.get(f"/api/balance/history/{user}", headers=operator)).json()
    (row,) = history["records"]
    assert (row["amount"], row["fee"], row["totalCharge"], row["status"], row["triggeredBy"]) == (
        650,
        18.85,
        668.85,
        "succeeded",
        "auto",
    )
    async with e.sessions.begin() as session:
        customer = (await session.get(User, user)).stripe_customer_id  # type: ignore[union-attr]
    (intent,) = e.payment_intents(str(customer))
    assert intent.amount == 66885 and intent.status == "succeeded"
    assert intent.metadata["recharge_id"] == row["id"] and intent.metadata["user_id"] == user
    assert row["paymentIntentId"] == intent.id
    status = (await e.client.get(f"/api/balance/status/{user}", headers=operator)).json()
    assert (
        status["currentBalance"] == 600
        and status["needsRecharge"] is False
        and status["canRecharge"] is True
    )


async def test_manual_recharge_returns_the_original_shape(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    e = engine_app
    user = await make_user(
        minimum_balance=150, target_balance=600, initial_balance=200, auto_recharge_enabled=False
    )
    await e.give_card(user)
    response = await e.client.post(f"/api/balance/recharge/{user}", headers=operator)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {
        k: body[k] for k in ("success", "amount", "fee", "totalCharge", "newBalance", "status")
    } == {
        "success": True,
        "amount": 400,
        "fee": 11.6,
        "totalCharge": 411.6,
        "newBalance": 600,
        "status": "succeeded",
    }
    assert body["paymentIntentId"].startswith("pi_")
    explicit = await e.client.post(
        f"/api/balance/recharge/{user}", json={"amount": 25.5}, headers=operator
    )
    assert explicit.json()["newBalance"] == 625.5 and explicit.json()["fee"] == 0.74
    assert await e.balance(user) == (62550, 62550)
    too_much = await e.client.post(
        f"/api/balance/recharge/{user}", json={"amount": 20000}, headers=operator
    )
    assert too_much.status_code == 400 and too_much.json()["error"]["field"] == "amount"


async def test_manual_recharge_without_a_card_is_refused(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=-50)
    response = await engine_app.client.post(f"/api/balance/recharge/{user}", headers=operator)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "no_payment_method"
    assert await engine_app.records(user) == []


async def test_declines_back_off_pause_after_three_and_resume_with_a_new_card(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    e = engine_app
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
    await e.give_card(user, "pm_card_chargeCustomerFail")
    await e.usage(user, 50, "u1", operator)
    await e.worker.run_once()
    (failed,) = await e.records(user)
    assert failed.status == "failed" and failed.failure_code == "generic_decline"
    assert await e.balance(user) == (-5000, -5000) and await e.credits(user) == 0

    # Backoff: neither a sweep nor more usage opens a new charge yet, and status says why.
    status = (await e.client.get(f"/api/balance/status/{user}", headers=operator)).json()
    assert status["canRecharge"] is False
    assert status["rechargeBlockedReason"] == "backing_off_after_failure"
    assert await e.worker.sweep() == 0
    await e.usage(user, 1, "u2", operator)
    assert len(await e.records(user)) == 1

    for attempt in (2, 3):
        e.clock.advance(60 * 2 ** (attempt - 2) + 1)  # 60 s, then 120 s
        assert await e.worker.sweep() == 1
        await e.worker.run_once()
        assert len(await e.records(user)) == attempt
    config = (await e.client.get(f"/api/balance/config/{user}", headers=operator)).json()
    assert config["pausedReason"] == "3 consecutive failed recharges (last: generic_decline)"
    status = (await e.client.get(f"/api/balance/status/{user}", headers=operator)).json()
    assert (
        status["canRecharge"] is False and status["rechargeBlockedReason"] == "auto_recharge_paused"
    )
    e.clock.advance(3600)
    assert await e.worker.sweep() == 0  # paused, not just backing off

    # A new default card resumes, and (still below the minimum) opens the recharge at once.
    await e.give_card(user, "pm_card_visa", react=True)
    assert [(r.status, r.trigger_detail) for r in await e.records(user)][-1] == (
        "pending",
        "card",
    )
    assert await e.worker.sweep() == 0
    await e.worker.run_once()
    assert await e.balance(user) == (60000, 60000)
    assert [r.status for r in await e.records(user)] == ["failed", "failed", "failed", "succeeded"]


async def test_authentication_required_then_completed_on_session_credits_once(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str], customer_headers: Any
) -> None:
    e = engine_app
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
    card = await e.give_card(user, "pm_card_authenticationRequired")
    await e.usage(user, 50, "u1", operator)
    await e.worker.run_once()
    (record,) = await e.records(user)
    assert record.status == "requires_action" and record.failure_code == "authentication_required"
    assert await e.worker.sweep() == 0  # in flight: nothing else opens

    headers = customer_headers(user)
    action = (
        await e.client.get(f"/api/balance/recharge/{user}/{record.id}", headers=headers)
    ).json()
    assert action["requiresAction"] is True and action["clientSecret"].startswith(
        record.payment_intent_id
    )
    assert action["publishableKey"] == e.sandbox.publishable_key

    # The customer, on-session: confirm with the card, pass the 3-D Secure challenge.
    confirmed = e.stripe.v1.payment_intents.confirm(
        str(record.payment_intent_id),
        params={"payment_method": card, "return_url": "http://127.0.0.1/done"},
    )
    assert confirmed.status == "requires_action"
    async with httpx.AsyncClient(base_url=e.sandbox.base_url) as raw:
        done = await raw.post(
            f"/_sandbox/authenticate/{record.payment_intent_id}",
            data={"client_secret": action["clientSecret"], "outcome": "complete"},
        )
        assert done.status_code < 400, done.text

    refreshed = (
        await e.client.post(f"/api/balance/recharge/{user}/{record.id}/refresh", headers=headers)
    ).json()
    assert refreshed["recharge"]["status"] == "succeeded"
    # The webhook arriving later, twice, changes nothing.
    intent = e.stripe.v1.payment_intents.retrieve(str(record.payment_intent_id))
    event = {"type": "payment_intent.succeeded", "data": {"object": intent.to_dict()}}
    for _ in range(2):
        async with e.sessions.begin() as session:
            assert (
                await stripe_events.settle_payment_intent(e.svc, session, event, {})
                == "already_succeeded"
            )
    await e.client.post(f"/api/balance/recharge/{user}/{record.id}/refresh", headers=headers)
    assert await e.credits(user) == 1
    assert await e.balance(user) == (60000, 60000)


async def test_out_of_order_webhooks_never_undo_a_credit(
    engine_app: Engine, worked_example_user: str, operator: dict[str, str]
) -> None:
    e, user = engine_app, worked_example_user
    await e.usage(user, 50, "u1", operator)
    (record,) = await e.records(user)
    async with e.sessions.begin() as session:
        customer = (await session.get(User, user)).stripe_customer_id  # type: ignore[union-attr]
    # The success webhook beats the worker's own settle (e.g. a lost response): the intent
    # as Stripe sends it, for this record's customer, amount and currency.
    fake_intent = {
        "id": "pi_from_webhook_first",
        "object": "payment_intent",
        "status": "succeeded",
        "customer": customer,
        "amount": 66885,
        "currency": "usd",
        "metadata": {"recharge_id": record.id, "user_id": user},
    }
    failed_intent = {
        **fake_intent,
        "status": "requires_payment_method",
        "last_payment_error": {"code": "card_declined", "message": "late and stale"},
    }
    async with e.sessions.begin() as session:
        assert (
            await stripe_events.settle_payment_intent(
                e.svc, session, {"data": {"object": fake_intent}}, stripe_events.Prefetched()
            )
            == "credited"
        )
    async with e.sessions.begin() as session:
        assert await stripe_events.settle_payment_intent(
            e.svc, session, {"data": {"object": failed_intent}}, stripe_events.Prefetched()
        ) == ("ignored_terminal")
    assert await e.credits(user) == 1
    assert (await e.records(user))[0].status == "succeeded"
    assert await e.balance(user) == (60000, 60000)


async def test_a_recharge_waiting_for_the_customer_can_be_canceled(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str], customer_headers: Any
) -> None:
    e = engine_app
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
    await e.give_card(user, "pm_card_authenticationRequired")
    await e.usage(user, 50, "u1", operator)
    await e.worker.run_once()
    (record,) = await e.records(user)
    assert record.status == "requires_action"
    headers = customer_headers(user)
    canceled = await e.client.post(
        f"/api/balance/recharge/{user}/{record.id}/cancel", headers=headers
    )
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["recharge"]["status"] == "canceled"
    intent = e.stripe.v1.payment_intents.retrieve(str(record.payment_intent_id))
    assert intent.status == "canceled"
    again = await e.client.post(f"/api/balance/recharge/{user}/{record.id}/cancel", headers=headers)
    assert again.status_code == 409
    assert await e.credits(user) == 0
    # No longer in flight: the next automatic recharge may start (and will need the customer).
    assert await e.worker.sweep() == 1
