"""Real webhook deliveries from the sandbox to the service on a real port: duplicated and
reordered events, and a lost API response, still credit exactly once."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from balance_manager.runtime.compose import create_app
from balance_manager.settings import Settings
from balance_manager.store.models import StripeEvent, User
from tests.conftest import LiveServer, UserMaker, free_port
from tests.recharge.conftest import Engine


async def test_duplicated_reordered_webhooks_and_a_lost_response_credit_once(
    stripe_settings: Settings,
    stripe_sandbox: Any,
    engine_app: Engine,
    make_user: UserMaker,
    operator: dict[str, str],
) -> None:
    e = engine_app
    # The card is saved before the endpoint exists: its events would otherwise race the live
    # server's start (a refused first attempt, then a retry that gets through).
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=200)
    await e.give_card(user)
    port = free_port()
    endpoint = e.stripe.v1.webhook_endpoints.create(
        params={"url": f"http://127.0.0.1:{port}/api/webhooks/stripe", "enabled_events": ["*"]}
    )
    stripe_sandbox.webhooks.config.duplicate = True
    stripe_sandbox.webhooks.config.reorder_window = 3
    # The first charge request is performed but its answer lost: the retry with the same key
    # gets the replay, and the webhook may get there first.
    stripe_sandbox.state.faults.add(
        {"kind": "lost_response", "method": "POST", "path": "/v1/payment_intents"}
    )
    settings = stripe_settings.model_copy(
        update={
            "stripe_webhook_secret": SecretStr(str(endpoint.secret)),
            "recharge_check_interval": 3600,
        }
    )
    with LiveServer(create_app(settings), port=port) as live:  # its own engine and embedded worker
        async with httpx.AsyncClient(base_url=live.base_url, headers=operator) as api:
            debit = await api.post(
                f"/api/balance/usage/{user}", json={"amount": 250, "idempotencyKey": "u1"}
            )
            assert debit.status_code == 200
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                records = await e.records(user)
                if records and records[0].status == "succeeded":
                    break
                await asyncio.sleep(0.1)
            assert stripe_sandbox.wait_for_webhooks(timeout=15)

    assert [r.status for r in await e.records(user)] == ["succeeded"]
    assert await e.credits(user) == 1
    assert await e.balance(user) == (60000, 60000)
    async with e.sessions.begin() as session:
        customer = (await session.get(User, user)).stripe_customer_id  # type: ignore[union-attr]
        processed = (await session.scalars(select(StripeEvent))).all()
    (intent,) = e.payment_intents(str(customer))
    succeeded_events = [ev for ev in processed if ev.type == "payment_intent.succeeded"]
    assert len(succeeded_events) == 1  # recorded once although delivered twice
    async with httpx.AsyncClient(base_url=stripe_sandbox.base_url) as control:
        deliveries = (await control.get("/_sandbox/webhooks/deliveries")).json()["data"]
    ours = [d for d in deliveries if d.get("endpoint") == endpoint.id]
    assert ours and all(200 <= int(d.get("status") or 0) < 300 for d in ours), ours
    assert intent.status == "succeeded"


async def test_bad_signature_changes_nothing(
    stripe_settings: Settings,
    engine_app: Engine,
    worked_example_user: str,
    operator: dict[str, str],
) -> None:
    e, user = engine_app, worked_example_user
    settings = stripe_settings.model_copy(
        update={"stripe_webhook_secret": SecretStr("whsec_test_secret")}
    )
    app = create_app(settings, engine=e.ctx.engine, embedded_worker=False)
    await e.usage(user, 50, "u1", operator)
    (record,) = await e.records(user)
    forged = json.dumps(
        {
            "id": "evt_forged",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": "pi_forged",
                    "object": "payment_intent",
                    "status": "succeeded",
                    "amount": 66885,
                    "currency": "usd",
                    "metadata": {"recharge_id": record.id},
                }
            },
        }
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        for signature in ("t=1,v1=deadbeef", ""):
            response = await client.post(
                "/api/webhooks/stripe",
                content=forged,
                headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
            )
            assert response.status_code == 400
    assert [r.status for r in await e.records(user)] == ["pending"]
    assert await e.credits(user) == 0
