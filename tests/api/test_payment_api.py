"""Payment-methods API on both databases, against the sandbox over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.runtime.compose import create_app
from balance_manager.settings import Settings
from balance_manager.store.db import SessionFactory
from balance_manager.store.models import BalanceConfig, User


@pytest.fixture
async def api(stripe_settings: Settings, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The app with Stripe (the sandbox) configured, over ASGI."""
    app = create_app(stripe_settings, engine=engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
    gateway = app.state.ctx.gateway
    if gateway is not None:
        await gateway.aclose()


def _sdk(sandbox: Any) -> stripe.StripeClient:
    return stripe.StripeClient(sandbox.secret_key, base_addresses={"api": sandbox.base_url})


def _browser_confirm(sandbox: Any, setup_intent_id: str, secret: str, test_pm: str) -> None:
    """What the Payment Element does in the browser with the client secret."""
    browser = stripe.StripeClient(sandbox.publishable_key, base_addresses={"api": sandbox.base_url})
    browser.v1.setup_intents.confirm(
        setup_intent_id, params={"payment_method": test_pm, "client_secret": secret}
    )


def _portal_attach(sandbox: Any, customer_id: str, test_pm: str) -> str:
    """A card added behind our back (the Customer Portal)."""
    return _sdk(sandbox).v1.payment_methods.attach(test_pm, params={"customer": customer_id}).id


def _fault(sandbox: Any, spec: dict[str, Any]) -> None:
    httpx.post(f"{sandbox.base_url}/_sandbox/faults", json=spec).raise_for_status()


async def _default(sessions: SessionFactory, user_id: str) -> str | None:
    async with sessions.begin() as session:
        config = await session.get(BalanceConfig, user_id)
        assert config is not None
        return config.default_payment_method_id


async def _save_card(
    api: httpx.AsyncClient,
    sandbox: Any,
    user_id: str,
    headers: dict[str, str],
    test_pm: str = "pm_card_visa",
) -> dict[str, Any]:
    r = await api.post(f"/api/payment/setup-intent/{user_id}", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    _browser_confirm(sandbox, body["setupIntentId"], body["clientSecret"], test_pm)
    r = await api.post(
        f"/api/payment/setup-intent/{user_id}/complete",
        headers=headers,
        json={"setupIntentId": body["setupIntentId"]},
    )
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def test_without_stripe_payment_routes_answer_503(
    client: httpx.AsyncClient, operator: dict[str, str], make_user: Any
) -> None:
    user = await make_user()
    for method, path in [
        ("GET", f"/api/payment/methods/{user}"),
        ("POST", f"/api/payment/setup-intent/{user}"),
        ("POST", f"/api/payment/portal/{user}"),
        ("DELETE", f"/api/payment/methods/{user}/pm_x"),
        ("POST", f"/api/payment/methods/{user}/pm_x/default"),
    ]:
        r = await client.request(method, path, headers=operator)
        assert r.status_code == 503, (path, r.text)
        assert r.json()["error"]["code"] == "payments_not_configured"
    r = await client.post(
        "/api/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1,v1=x"}
    )
    assert r.status_code == 503


async def test_save_card_sets_default_and_lists_it(
    api: httpx.AsyncClient,
    stripe_sandbox: Any,
    make_user: Any,
    customer_headers: Any,
    sessions: SessionFactory,
) -> None:
    user = await make_user(email="ann@example.com")
    headers = customer_headers(user)
    r = await api.get(f"/api/payment/methods/{user}", headers=headers)
    assert r.json() == {"methods": [], "customerId": None, "defaultPaymentMethodId": None}

    done = await _save_card(api, stripe_sandbox, user, headers)
    pm = done["paymentMethodId"]
    assert done["defaultPaymentMethodId"] == pm
    assert await _default(sessions, user) == pm

    r = await api.get(f"/api/payment/methods/{user}", headers=headers)
    body = r.json()
    assert body["customerId"].startswith("cus_")
    (method,) = body["methods"]
    assert method["id"] == pm and method["isDefault"] is True
    assert (method["brand"], method["last4"]) == ("visa", "4242")
    assert isinstance(method["expMonth"], int) and isinstance(method["expYear"], int)

    customer = _sdk(stripe_sandbox).v1.customers.retrieve(body["customerId"])
    assert customer.email == "ann@example.com" and customer.metadata["user_id"] == user
    # A second card does not take over the default.
    second = await _save_card(api, stripe_sandbox, user, headers, "pm_card_mastercard")
    assert second["defaultPaymentMethodId"] == pm


async def test_setup_intent_complete_is_verified(
    api: httpx.AsyncClient,
    stripe_sandbox: Any,
    make_user: Any,
    customer_headers: Any,
    sessions: SessionFactory,
) -> None:
    ann, bob = await make_user(), await make_user()
    r = await api.post(f"/api/payment/setup-intent/{ann}", headers=customer_headers(ann))
    si = r.json()["setupIntentId"]
    # Not yet confirmed → 409; nothing changes.
    r = await api.post(
        f"/api/payment/setup-intent/{ann}/complete",
        headers=customer_headers(ann),
        json={"setupIntentId": si},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "setup_intent_not_succeeded"
    # Someone else's SetupIntent → 404.
    await api.post(f"/api/payment/setup-intent/{bob}", headers=customer_headers(bob))
    r = await api.post(
        f"/api/payment/setup-intent/{bob}/complete",
        headers=customer_headers(bob),
        json={"setupIntentId": si},
    )
    assert r.status_code == 404
    r = await api.post(
        f"/api/payment/setup-intent/{ann}/complete",
        headers=customer_headers(ann),
        json={"setupIntentId": "seti_nope"},
    )
    assert r.status_code == 404
    assert await _default(sessions, ann) is None and await _default(sessions, bob) is None


async def test_read_refreshes_default_after_portal_changes(
    api: httpx.AsyncClient,
    stripe_sandbox: Any,
    make_user: Any,
    operator: dict[str, str],
    sessions: SessionFactory,
) -> None:
    user = await make_user()
    first = (await _save_card(api, stripe_sandbox, user, operator))["paymentMethodId"]
    async with sessions.begin() as session:
        customer = (await session.get(User, user)).stripe_customer_id  # type: ignore[union-attr]
    assert customer is not None
    added = _portal_attach(stripe_sandbox, customer, "pm_card_mastercard")
    _sdk(stripe_sandbox).v1.payment_methods.detach(first)  # removed in the portal
    r = await api.get(f"/api/payment/methods/{user}", headers=operator)
    assert [(m["id"], m["isDefault"]) for m in r.json()["methods"]] == [(added, True)]
    assert await _default(sessions, user) == added
    _sdk(stripe_sandbox).v1.payment_methods.detach(added)
    r = await api.get(f"/api/payment/methods/{user}", headers=operator)
    assert r.json()["methods"] == [] and r.json()["defaultPaymentMethodId"] is None
    assert await _default(sessions, user) is None


async def test_another_customers_card_is_404_and_untouched(
    api: httpx.AsyncClient,
    stripe_sandbox: Any,
    make_user: Any,
    customer_headers: Any,
    sessions: SessionFactory,
) -> None:
    ann, bob = await make_user(), await make_user()
    await _save_card(api, stripe_sandbox, ann, customer_headers(ann))
    bobs = (await _save_card(api, stripe_sandbox, bob, customer_headers(bob)))["paymentMethodId"]
    for method, path in [
        ("DELETE", f"/api/payment/methods/{ann}/{bobs}"),
        ("POST", f"/api/payment/methods/{ann}/{bobs}/default"),
        ("DELETE", f"/api/payment/methods/{ann}/pm_does_not_exist"),
    ]:
        r = await api.request(method, path, headers=customer_headers(ann))
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "payment_method_not_found"
    assert _sdk(stripe_sandbox).v1.payment_methods.retrieve(bobs).customer is not None
    assert await _default(sessions, bob) == bobs
    # And a token for Ann cannot act for Bob at all.
    r = await api.delete(f"/api/payment/methods/{bob}/{bobs}", headers=customer_headers(ann))
    assert r.status_code == 403


async def test_set_default_and_delete_default(
    api: httpx.AsyncClient,
    stripe_sandbox: Any,
    make_user: Any,
    customer_headers: Any,
    sessions: SessionFactory,
) -> None:
    user = await make_user()
    headers = customer_headers(user)
    visa = (await _save_card(api, stripe_sandbox, user, headers))["paymentMethodId"]
    mc = (await _save_card(api, stripe_sandbox, user, headers, "pm_card_mastercard"))[
        "paymentMethodId"
    ]
    r = await api.post(f"/api/payment/methods/{user}/{mc}/default", headers=headers)
    assert r.status_code == 200 and r.json()["defaultPaymentMethodId"] == mc
    assert await _default(sessions, user) == mc
    async with sessions.begin() as session:
        customer_id = (await session.get(User, user)).stripe_customer_id  # type: ignore[union-attr]
    assert customer_id is not None
    stripe_customer = _sdk(stripe_sandbox).v1.customers.retrieve(customer_id)
    assert stripe_customer.invoice_settings.default_payment_method == mc

    # Deleting the default falls back to the remaining card (and tells Stripe).
    r = await api.delete(f"/api/payment/methods/{user}/{mc}", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["defaultPaymentMethodId"] == visa
    assert await _default(sessions, user) == visa
    stripe_customer = _sdk(stripe_sandbox).v1.customers.retrieve(customer_id)
    assert stripe_customer.invoice_settings.default_payment_method == visa
    # Deleting the last card clears it.
    r = await api.delete(f"/api/payment/methods/{user}/{visa}", headers=headers)
    assert r.json()["defaultPaymentMethodId"] is None
    assert await _default(sessions, user) is None
    r = await api.get(f"/api/payment/methods/{user}", headers=headers)
    assert r.json()["methods"] == []


async def test_new_default_resumes_paused_auto_recharge(
    api: httpx.AsyncClient,
    stripe_sandbox: Any,
    make_user: Any,
    operator: dict[str, str],
    sessions: SessionFactory,
) -> None:
    from balance_manager.store.models import utcnow

    user = await make_user()
    await _save_card(api, stripe_sandbox, user, operator)
    other = (await _save_card(api, stripe_sandbox, user, operator, "pm_card_mastercard"))[
        "paymentMethodId"
    ]
    async with sessions.begin() as session:
        config = await session.get(BalanceConfig, user)
        assert config is not None
        config.paused_reason, config.paused_at, config.consecutive_failures = (
            "consecutive_failures",
            utcnow(),
            3,
        )
    r = await api.post(f"/api/payment/methods/{user}/{other}/default", headers=operator)
    assert r.status_code == 200
    async with sessions.begin() as session:
        config = await session.get(BalanceConfig, user)
        assert config is not None
        assert (config.paused_reason, config.consecutive_failures) == (None, 0)


async def test_portal_return_url_is_checked(
    api: httpx.AsyncClient,
    stripe_sandbox: Any,
    make_user: Any,
    customer_headers: Any,
    stripe_settings: Settings,
) -> None:
    user = await make_user()
    headers = customer_headers(user)
    for bad in [
        "https://evil.example.com/x",
        "javascript:alert(1)",
        "//evil.example.com",
        "http://127.0.0.1:3000.evil.com/",
        "not a url",
    ]:
        r = await api.post(f"/api/payment/portal/{user}", headers=headers, json={"returnUrl": bad})
        assert r.status_code == 400, bad
        assert r.json()["error"]["field"] == "returnUrl"
    good = stripe_settings.public_base_url + "/billing?x=1"
    r = await api.post(f"/api/payment/portal/{user}", headers=headers, json={"returnUrl": good})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["portalUrl"].startswith(stripe_sandbox.base_url)
    r = await api.post(f"/api/payment/portal/{user}", headers=headers)  # defaults to ours
    assert r.status_code == 200


async def test_stripe_down_is_502_and_unknown_user_404(
    api: httpx.AsyncClient,
    stripe_sandbox: Any,
    make_user: Any,
    operator: dict[str, str],
) -> None:
    user = await make_user()
    _fault(stripe_sandbox, {"kind": "error", "path": "/v1/customers*", "count": 10})
    r = await api.post(f"/api/payment/setup-intent/{user}", headers=operator)
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "stripe_unavailable"
    r = await api.post("/api/payment/setup-intent/nobody", headers=operator)
    assert r.status_code == 404
