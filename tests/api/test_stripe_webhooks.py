"""``POST /api/webhooks/stripe`` on both databases: signature first, each event once, card and
customer events keep our default card right whatever their order."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import stripe
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.runtime.compose import create_app
from balance_manager.settings import Settings
from balance_manager.store.db import SessionFactory
from balance_manager.store.models import BalanceConfig, StripeEvent, User
from stripe_sandbox.webhooks import sign
from tests.conftest import LiveServer

SECRET = "whsec_" + "t" * 32


@pytest.fixture
def hook_settings(stripe_settings: Settings) -> Settings:
    return stripe_settings.model_copy(update={"stripe_webhook_secret": SecretStr(SECRET)})


@pytest.fixture
async def api(hook_settings: Settings, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(hook_settings, engine=engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
    await app.state.ctx.gateway.aclose()


def _sdk(sandbox: Any) -> stripe.StripeClient:
    return stripe.StripeClient(sandbox.secret_key, base_addresses={"api": sandbox.base_url})


def _event(
    type_: str,
    obj: dict[str, Any],
    previous: dict[str, Any] | None = None,
    event_id: str | None = None,
) -> bytes:
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return json.dumps(
        {
            "id": event_id or "evt_" + secrets.token_hex(8),
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
        }
    ).encode()


async def _post(api: httpx.AsyncClient, payload: bytes, secret: str = SECRET) -> httpx.Response:
    return await api.post(
        "/api/webhooks/stripe",
        content=payload,
        headers={
            "Stripe-Signature": sign(payload.decode(), secret),
            "Content-Type": "application/json",
        },
    )


async def _user_with_customer(
    make_user: Any, sessions: SessionFactory, sandbox: Any, cards: tuple[str, ...] = ()
) -> tuple[str, str, list[str]]:
    user = await make_user()
    customer = _sdk(sandbox).v1.customers.create(params={"metadata": {"user_id": user}}).id
    pms = [
        _sdk(sandbox).v1.payment_methods.attach(c, params={"customer": customer}).id for c in cards
    ]
    async with sessions.begin() as session:
        row = await session.get(User, user)
        assert row is not None
        row.stripe_customer_id = customer
    return user, customer, pms


async def _state(sessions: SessionFactory, user: str) -> tuple[str | None, str | None]:
    async with sessions.begin() as session:
        row = await session.get(User, user)
        config = await session.get(BalanceConfig, user)
        assert row is not None and config is not None
        return row.stripe_customer_id, config.default_payment_method_id


async def _events(sessions: SessionFactory) -> list[tuple[str, str | None]]:
    async with sessions.begin() as session:
        rows = await session.scalars(select(StripeEvent).order_by(StripeEvent.received_at))
        return [(r.id, r.outcome) for r in rows]


async def test_bad_or_missing_signature_is_400_and_changes_nothing(
    api: httpx.AsyncClient, make_user: Any, sessions: SessionFactory, stripe_sandbox: Any
) -> None:
    user, customer, _ = await _user_with_customer(make_user, sessions, stripe_sandbox)
    payload = _event("customer.deleted", {"id": customer, "object": "customer"})
    for headers in [
        {},
        {"Stripe-Signature": "garbage"},
        {"Stripe-Signature": sign(payload.decode(), "whsec_wrong")},
        {"Stripe-Signature": sign(payload.decode(), SECRET, int(time.time()) - 3600)},
    ]:
        r = await api.post("/api/webhooks/stripe", content=payload, headers=headers)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "invalid_signature"
    tampered = payload.replace(b"customer.deleted", b"customer.deleteD")
    r = await api.post(
        "/api/webhooks/stripe",
        content=tampered,
        headers={"Stripe-Signature": sign(payload.decode(), SECRET)},
    )
    assert r.status_code == 400
    assert await _state(sessions, user) == (customer, None)
    assert await _events(sessions) == []


async def test_no_webhook_secret_is_503(stripe_settings: Settings, engine: AsyncEngine) -> None:
    app = create_app(stripe_settings, engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post(
            "/api/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1,v1=a"}
        )
    await app.state.ctx.gateway.aclose()
    assert r.status_code == 503 and r.json()["error"]["code"] == "webhooks_not_configured"


async def test_customer_deleted_once_and_duplicates_are_harmless(
    api: httpx.AsyncClient, make_user: Any, sessions: SessionFactory, stripe_sandbox: Any
) -> None:
    user, customer, (pm,) = await _user_with_customer(
        make_user, sessions, stripe_sandbox, ("pm_card_visa",)
    )
    async with sessions.begin() as session:
        config = await session.get(BalanceConfig, user)
        assert config is not None
        config.default_payment_method_id = pm
    payload = _event(
        "customer.deleted", {"id": customer, "object": "customer"}, event_id="evt_del1"
    )
    r = await _post(api, payload)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "received": True,
        "eventId": "evt_del1",
        "type": "customer.deleted",
        "outcome": "customer_forgotten",
    }
    assert await _state(sessions, user) == (None, None)
    for _ in range(2):
        r = await _post(api, payload)
        assert r.status_code == 200 and r.json()["outcome"] == "duplicate"
    assert await _events(sessions) == [("evt_del1", "customer_forgotten")]


async def test_unknown_types_and_strangers_are_ignored(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    r = await _post(api, _event("invoice.paid", {"id": "in_1", "object": "invoice"}))
    assert r.json()["outcome"] == "ignored"
    r = await _post(
        api,
        _event(
            "payment_method.detached",
            {"id": "pm_never_seen", "object": "payment_method", "customer": None},
            {"customer": "cus_never_seen"},
        ),
    )
    assert r.status_code == 200 and r.json()["outcome"] == "unknown_payment_method"
    r = await _post(
        api,
        _event(
            "setup_intent.succeeded",
            {
                "id": "seti_1",
                "object": "setup_intent",
                "customer": "cus_x",
                "payment_method": "pm_x",
                "status": "succeeded",
            },
        ),
    )
    assert r.json()["outcome"] == "unknown_customer"
    r = await _post(api, _event("customer.deleted", {"id": "cus_gone", "object": "customer"}))
    assert r.json()["outcome"] == "unknown_customer"
    assert len(await _events(sessions)) == 4


async def test_out_of_order_card_events_follow_stripe_not_the_event(
    api: httpx.AsyncClient, make_user: Any, sessions: SessionFactory, stripe_sandbox: Any
) -> None:
    user, customer, (visa, mc) = await _user_with_customer(
        make_user, sessions, stripe_sandbox, ("pm_card_visa", "pm_card_mastercard")
    )
    _sdk(stripe_sandbox).v1.payment_methods.detach(visa)
    # The stale "attached" for the card already removed arrives after the detach: the user
    # gets a card they still have, not the detached one.
    r = await _post(
        api,
        _event(
            "payment_method.attached",
            {"id": visa, "object": "payment_method", "customer": customer},
        ),
    )
    assert r.json()["outcome"] == "default_changed"
    assert (await _state(sessions, user))[1] == mc
    r = await _post(
        api,
        _event(
            "payment_method.detached",
            {"id": visa, "object": "payment_method", "customer": None},
            {"customer": customer},
        ),
    )
    assert r.json()["outcome"] == "default_unchanged"
    assert (await _state(sessions, user))[1] == mc


async def test_handler_failure_leaves_no_trace_so_stripe_retries(
    api: httpx.AsyncClient, make_user: Any, sessions: SessionFactory, stripe_sandbox: Any
) -> None:
    user, customer, (pm,) = await _user_with_customer(
        make_user, sessions, stripe_sandbox, ("pm_card_visa",)
    )
    _control(stripe_sandbox, "POST", {"kind": "error", "path": "/v1/customers*", "count": 10})
    payload = _event(
        "payment_method.attached",
        {"id": pm, "object": "payment_method", "customer": customer},
        event_id="evt_retry",
    )
    r = await _post(api, payload)
    assert r.status_code == 502
    assert await _events(sessions) == []
    _control(stripe_sandbox, "DELETE")
    r = await _post(api, payload)
    assert r.json()["outcome"] == "default_changed"
    assert (await _state(sessions, user))[1] == pm


def _control(sandbox: Any, method: str, spec: dict[str, Any] | None = None) -> None:
    httpx.request(method, f"{sandbox.base_url}/_sandbox/faults", json=spec).raise_for_status()


def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


def test_sandbox_delivers_card_events_end_to_end(
    hook_settings: Settings, stripe_sandbox: Any, database_url: str, engine: AsyncEngine
) -> None:
    """The sandbox signs and delivers real events to the service on a real port: a card
    saved through a SetupIntent becomes the default; removing it in the 'portal' clears it;
    a duplicate delivery is processed once."""
    import asyncio

    from balance_manager.store.db import create_engine, session_factory
    from balance_manager.usecases import accounts

    sdk = _sdk(stripe_sandbox)
    endpoint = sdk.v1.webhook_endpoints.create(
        params={"url": "http://placeholder/", "enabled_events": ["*"]}
    )

    async def run(coro: Any) -> Any:
        db = create_engine(database_url)
        try:
            return await coro(session_factory(db))
        finally:
            await db.dispose()

    async def setup(sessions: SessionFactory) -> str:
        async with sessions.begin() as session:
            user, _ = await accounts.create_user_in(
                session,
                hook_settings,
                accounts.NewUser(email=f"hook-{secrets.token_hex(3)}@example.com"),
            )
            return user.id

    user_id = asyncio.run(run(setup))
    settings = hook_settings.model_copy(
        update={"stripe_webhook_secret": SecretStr(endpoint.secret or ""), "embedded_worker": False}
    )

    def state() -> tuple[str | None, str | None]:
        async def read(sessions: SessionFactory) -> tuple[str | None, str | None]:
            return await _state(sessions, user_id)

        result: tuple[str | None, str | None] = asyncio.run(run(read))
        return result

    def outcomes(event_id: str) -> list[str | None]:
        async def read(sessions: SessionFactory) -> list[str | None]:
            async with sessions.begin() as session:
                rows = await session.scalars(
                    select(StripeEvent.outcome).where(StripeEvent.id == event_id)
                )
                return list(rows)

        result: list[str | None] = asyncio.run(run(read))
        return result

    with LiveServer(create_app(settings, embedded_worker=False)) as live:
        sdk.v1.webhook_endpoints.update(
            endpoint.id, params={"url": f"{live.base_url}/api/webhooks/stripe"}
        )
        with httpx.Client(base_url=live.base_url) as http:
            signer_headers = {"Authorization": f"Bearer {_token(settings, user_id)}"}
            r = http.post(f"/api/payment/setup-intent/{user_id}", headers=signer_headers)
            assert r.status_code == 200, r.text
            si = r.json()["setupIntentId"]
            browser = stripe.StripeClient(
                stripe_sandbox.publishable_key, base_addresses={"api": stripe_sandbox.base_url}
            )
            browser.v1.setup_intents.confirm(
                si,
                params={
                    "payment_method": "pm_card_visa",
                    "client_secret": r.json()["clientSecret"],
                },
            )
            pm = sdk.v1.setup_intents.retrieve(si).payment_method
            _wait_for(lambda: state()[1] == pm)
            customer = state()[0]
            assert customer is not None

            stripe_sandbox.webhooks.config.duplicate = True
            sdk.v1.payment_methods.detach(str(pm))
            assert stripe_sandbox.wait_for_webhooks(10)
            _wait_for(lambda: state()[1] is None)
            assert state() == (customer, None)
            log = httpx.get(f"{stripe_sandbox.base_url}/_sandbox/webhooks/deliveries").json()
            detached = [d for d in log["data"] if d["event_type"] == "payment_method.detached"]
            assert len({d["event"] for d in detached}) == 1
            assert sum(d["succeeded"] for d in detached) >= 2  # delivered twice, both accepted
            (event_id,) = {d["event"] for d in detached}
            assert outcomes(event_id) == ["default_changed"] or outcomes(event_id) == [
                "default_unchanged"  # the concurrent twin committed the change first
            ]


def _token(settings: Settings, user_id: str) -> str:
    from datetime import timedelta

    from balance_manager.auth.tokens import TokenSigner

    return TokenSigner(settings.signing_secret(), ttl=timedelta(minutes=5)).mint(user_id).token


async def test_event_count_matches_distinct_ids(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    import asyncio

    payload = _event("invoice.paid", {"id": "in_1", "object": "invoice"}, event_id="evt_race")
    results = await asyncio.gather(*[_post(api, payload) for _ in range(5)])
    outcomes = sorted(r.json()["outcome"] for r in results)
    assert outcomes == ["duplicate"] * 4 + ["ignored"]
    async with sessions.begin() as session:
        assert await session.scalar(select(func.count()).select_from(StripeEvent)) == 1


async def test_a_default_chosen_in_the_portal_becomes_ours(
    api: httpx.AsyncClient, make_user: Any, sessions: SessionFactory, stripe_sandbox: Any
) -> None:
    """``customer.updated`` with a new ``invoice_settings.default_payment_method`` (the
    Customer Portal's "make default"): our default follows; a customer.updated that did not
    touch the default changes nothing."""
    user, customer, (first, second) = await _user_with_customer(
        make_user, sessions, stripe_sandbox, ("pm_card_visa", "pm_card_mastercard")
    )
    async with sessions.begin() as session:
        config = await session.get(BalanceConfig, user)
        assert config is not None
        config.default_payment_method_id = first
    sdk = _sdk(stripe_sandbox)
    updated = sdk.v1.customers.update(
        customer, params={"invoice_settings": {"default_payment_method": second}}
    )
    unrelated = _event("customer.updated", updated.to_dict(), {"metadata": {}})
    r = await _post(api, unrelated)
    assert r.json()["outcome"] == "default_not_changed_in_stripe"
    assert await _state(sessions, user) == (customer, first)

    chosen = _event(
        "customer.updated",
        updated.to_dict(),
        {"invoice_settings": {"default_payment_method": first}},
    )
    r = await _post(api, chosen)
    assert r.status_code == 200 and r.json()["outcome"] == "default_changed", r.text
    assert await _state(sessions, user) == (customer, second)


async def test_a_first_card_below_the_minimum_opens_the_recharge_at_once(
    api: httpx.AsyncClient, make_user: Any, sessions: SessionFactory, stripe_sandbox: Any
) -> None:
    """``payment_method.attached`` for a user at -50 with no card: the card becomes the
    default and, in the same transaction, a recharge opens (trigger ``card``), no usage and
    no sweep needed."""
    from balance_manager.store.models import RechargeRecord

    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=-50)
    sdk = _sdk(stripe_sandbox)
    customer = sdk.v1.customers.create(params={"metadata": {"user_id": user}}).id
    async with sessions.begin() as session:
        row = await session.get(User, user)
        assert row is not None
        row.stripe_customer_id = customer
    card = sdk.v1.payment_methods.attach("pm_card_visa", params={"customer": customer})
    r = await _post(api, _event("payment_method.attached", card.to_dict()))
    assert r.json()["outcome"] == "default_changed"
    async with sessions.begin() as session:
        records = list(
            await session.scalars(select(RechargeRecord).where(RechargeRecord.user_id == user))
        )
    assert [(str(x.status), str(x.trigger_detail), x.amount, x.fee) for x in records] == [
        ("pending", "card", 65000, 1885)
    ]
