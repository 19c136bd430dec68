"""Fixing a declined card recharges at once, whichever way the new card becomes the default:
the API's "make default" (the dashboard's button, the success page's offer), the Customer
Portal's "make default" (``customer.updated``), or removing the declining card. Over HTTP
against the sandbox, on both databases.

The clock the service and its worker read does not move: the recharge cannot be waiting for
the backoff to run out. It opens in the request (or event) that changes the card, trigger
``card``, and the worker's next pass credits it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import stripe
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.runtime.compose import create_app
from balance_manager.runtime.worker import Worker
from balance_manager.settings import Settings
from tests.api.test_payment_api import _save_card
from tests.api.test_stripe_webhooks import SECRET, _event, _post

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
BACKOFF = 300


@dataclass
class Service:
    api: httpx.AsyncClient
    worker: Worker
    sdk: stripe.StripeClient
    sandbox: Any
    headers: dict[str, str]

    async def get(self, path: str) -> Any:
        r = await self.api.get(path, headers=self.headers)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
async def service(
    stripe_settings: Settings, engine: AsyncEngine, stripe_sandbox: Any, operator: dict[str, str]
) -> AsyncIterator[Service]:
    settings = stripe_settings.model_copy(
        update={
            "stripe_webhook_secret": SecretStr(SECRET),
            "recharge_retry_backoff_seconds": BACKOFF,
        }
    )
    app = create_app(settings, engine=engine, embedded_worker=False)
    services = app.state.ctx.services
    services.clock = lambda: NOW
    sdk = stripe.StripeClient(
        stripe_sandbox.secret_key, base_addresses={"api": stripe_sandbox.base_url}
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as api:
        yield Service(api, Worker.from_settings(settings, services), sdk, stripe_sandbox, operator)
    await services.gateway.aclose()


async def _declined(s: Service, make_user: Any) -> tuple[str, str]:
    """A user whose card declined: below the minimum, backing off. → (user, declining card)"""
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=200)
    saved = await _save_card(s.api, s.sandbox, user, s.headers, "pm_card_chargeCustomerFail")
    r = await s.api.post(
        f"/api/balance/usage/{user}",
        json={"amount": "100", "idempotencyKey": "u1"},
        headers=s.headers,
    )
    assert r.status_code == 200 and r.json()["rechargeId"], r.text
    await s.worker.run_once()
    [record] = (await s.get(f"/api/balance/history/{user}"))["records"]
    assert (record["status"], record["failureCode"]) == ("failed", "generic_decline")
    return user, str(saved["paymentMethodId"])


@pytest.mark.parametrize("way", ["make_default", "portal_default", "remove_declined"])
async def test_a_declined_card_fixed_recharges_at_once(
    service: Service, make_user: Any, way: str
) -> None:
    s = service
    user, declining = await _declined(s, make_user)
    status = await s.get(f"/api/balance/status/{user}")
    assert status["canRecharge"] is False
    assert status["rechargeBlockedReason"] == "backing_off_after_failure"
    # The status says until when (the pages show it beside the disabled button).
    until = datetime.fromisoformat(status["rechargeBlockedUntil"].replace("Z", "+00:00"))
    assert until == NOW + timedelta(seconds=BACKOFF)

    # A working card saved beside the declining default: saved, not yet the default.
    saved = await _save_card(s.api, s.sandbox, user, s.headers, "pm_card_visa")
    visa = saved["paymentMethodId"]
    assert saved["defaultPaymentMethodId"] == declining
    assert (await s.get(f"/api/balance/status/{user}"))["pendingRechargeId"] is None

    started = time.monotonic()
    if way == "make_default":
        r = await s.api.post(f"/api/payment/methods/{user}/{visa}/default", headers=s.headers)
        assert r.status_code == 200 and r.json()["defaultPaymentMethodId"] == visa, r.text
    elif way == "portal_default":
        customer = (await s.get(f"/api/payment/methods/{user}"))["customerId"]
        updated = s.sdk.v1.customers.update(
            customer, params={"invoice_settings": {"default_payment_method": visa}}
        )
        event = _event(
            "customer.updated",
            updated.to_dict(),
            {"invoice_settings": {"default_payment_method": declining}},
        )
        r = await _post(s.api, event)
        assert r.status_code == 200 and r.json()["outcome"] == "default_changed", r.text
    else:
        r = await s.api.delete(f"/api/payment/methods/{user}/{declining}", headers=s.headers)
        assert r.status_code == 200 and r.json()["defaultPaymentMethodId"] == visa, r.text

    # Opened by the change itself, not by usage or the sweep, and the wait is over.
    status = await s.get(f"/api/balance/status/{user}")
    assert status["pendingRechargeId"] is not None
    assert status["rechargeBlockedUntil"] is None
    config = await s.get(f"/api/balance/config/{user}")
    assert (config["defaultPaymentMethodId"], config["pausedReason"]) == (visa, None)
    assert await s.worker.run_once() == 1
    print(f"{way}: new default card → credited in {time.monotonic() - started:.2f} s")

    status = await s.get(f"/api/balance/status/{user}")
    assert (status["currentBalance"], status["canRecharge"]) == (600, True)
    records = (await s.get(f"/api/balance/history/{user}"))["records"]
    # (Both opened at the same instant of the fixed clock: the history's order is the id's.)
    assert sorted((r["status"], r["triggerDetail"], r["totalCharge"]) for r in records) == [
        ("failed", "usage", 514.5),
        ("succeeded", "card", 514.5),  # 500 + 14.50 fee
    ]


async def test_paused_after_declines_a_new_card_resumes_and_recharges(
    service: Service, make_user: Any
) -> None:
    """Three declines pause auto-recharge (the design brief: "until the card changes or the
    customer re-enables"); making another card the default lifts it and charges it now."""
    s = service
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=100)
    # The first card opens a recharge at once (below the minimum): it declines.
    await _save_card(s.api, s.sandbox, user, s.headers, "pm_card_chargeCustomerFail")
    assert await s.worker.run_once() == 1
    for attempt in (2, 3):  # the operator overrides the backoff to get there quickly
        r = await s.api.post(
            f"/api/balance/recharge/{user}", json={"overrideHolds": True}, headers=s.headers
        )
        assert r.json().get("status") == "failed", (attempt, r.text)
    config = await s.get(f"/api/balance/config/{user}")
    assert config["pausedReason"] == "3 consecutive failed recharges (last: generic_decline)"

    visa = (await _save_card(s.api, s.sandbox, user, s.headers, "pm_card_visa"))["paymentMethodId"]
    r = await s.api.post(f"/api/payment/methods/{user}/{visa}/default", headers=s.headers)
    assert r.status_code == 200, r.text
    assert (await s.get(f"/api/balance/config/{user}"))["pausedReason"] is None
    assert await s.worker.run_once() == 1
    assert (await s.get(f"/api/balance/status/{user}"))["currentBalance"] == 600
