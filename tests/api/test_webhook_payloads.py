"""Signed but malformed Stripe webhook payloads, on both databases: answered 200 (Stripe retries
any other answer for days, and the payload would be just as malformed each time), recorded in
``stripe_events`` as ``malformed:<reason>``, and nothing else changes."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.runtime.compose import create_app
from balance_manager.settings import Settings
from balance_manager.store.db import SessionFactory
from balance_manager.store.models import LedgerEntry, RechargeRecord, StripeEvent
from stripe_sandbox.webhooks import sign
from tests.conftest import UserMaker

SECRET = "whsec_" + "m" * 32


@pytest.fixture
async def api(stripe_settings: Settings, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    settings = stripe_settings.model_copy(update={"stripe_webhook_secret": SecretStr(SECRET)})
    app = create_app(settings, engine=engine, embedded_worker=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
    await app.state.ctx.gateway.aclose()


async def _post(api: httpx.AsyncClient, payload: bytes, secret: str = SECRET) -> httpx.Response:
    return await api.post(
        "/api/webhooks/stripe",
        content=payload,
        headers={
            "Stripe-Signature": sign(payload.decode("utf-8", "surrogatepass"), secret),
            "Content-Type": "application/json",
        },
    )


def _event(obj: Any, *, type_: Any = "payment_intent.succeeded", **top: Any) -> dict[str, Any]:
    return {
        "id": "evt_" + secrets.token_hex(8),
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "data": {"object": obj},
        "type": type_,
        **top,
    }


def _intent(**fields: Any) -> dict[str, Any]:
    return {
        "id": "pi_" + secrets.token_hex(8),
        "object": "payment_intent",
        "amount": 66885,
        "currency": "usd",
        "status": "succeeded",
        "customer": "cus_x",
        "metadata": {"recharge_id": "r1", "user_id": "u1"},
        **fields,
    }


MALFORMED: list[tuple[str, Any, str]] = [
    ("array_body", [], "not_an_object"),
    ("string_body", "evt", "not_an_object"),
    ("not_json", b"{not json", "invalid_json"),
    ("deeply_nested", b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
    ("null_id", _event(_intent(), id=None), "invalid_id"),
    ("integer_id", _event(_intent(), id=42), "invalid_id"),
    ("long_id", _event(_intent(), id="evt_" + "x" * 300), "invalid_id"),
    ("null_type", _event(_intent(), type_=None), "invalid_type"),
    ("long_type", _event(_intent(), type_="payment_intent." + "x" * 100), "invalid_type"),
    ("array_data", {**_event(_intent()), "data": []}, "invalid_data"),
    ("array_object", _event([1, 2]), "invalid_data"),
    ("null_object_id", _event(_intent(id=None)), "invalid_object_id"),
    ("long_object_id", _event(_intent(id="pi_" + "x" * 300)), "invalid_object_id"),
    ("integer_recharge_id", _event(_intent(metadata={"recharge_id": 5})), "invalid_metadata"),
    ("array_metadata", _event(_intent(metadata=["r1"])), "invalid_metadata"),
    ("long_customer", _event(_intent(customer="cus_" + "x" * 300)), "invalid_reference:customer"),
    ("integer_customer", _event(_intent(customer=7)), "invalid_reference:customer"),
    ("string_amount", _event(_intent(amount="66885")), "invalid_amount:amount"),
    ("huge_amount", _event(_intent(amount=2**64)), "invalid_amount:amount"),
    (
        "long_decline_code",
        _event(
            _intent(status="requires_payment_method", last_payment_error={"code": "x" * 65}),
            type_="payment_intent.payment_failed",
        ),
        "invalid_last_payment_error:code",
    ),
    (
        "nul_in_message",
        _event(
            _intent(
                status="requires_payment_method",
                last_payment_error={"code": "card_declined", "message": "de\x00clined"},
            ),
            type_="payment_intent.payment_failed",
        ),
        "unstorable_text",
    ),
    ("lone_surrogate", _event(_intent(description="\ud800")), "unstorable_text"),
    (
        "detached_long_previous_customer",
        {
            **_event({"id": "pm_1", "object": "payment_method"}, type_="payment_method.detached"),
            "data": {
                "object": {"id": "pm_1", "object": "payment_method", "customer": None},
                "previous_attributes": {"customer": "cus_" + "y" * 300},
            },
        },
        "invalid_previous_attributes:customer",
    ),
    (
        "customer_deleted_without_id",
        _event({"object": "customer"}, type_="customer.deleted"),
        "invalid_object_id",
    ),
]


def _payload(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    return json.dumps(body).encode("utf-8", "surrogatepass")


async def _counts(sessions: SessionFactory) -> tuple[int, int]:
    async with sessions.begin() as session:
        records = await session.scalar(select(func.count()).select_from(RechargeRecord))
        entries = await session.scalar(select(func.count()).select_from(LedgerEntry))
        return int(records or 0), int(entries or 0)


@pytest.mark.parametrize(
    ("body", "reason"), [(b, r) for _, b, r in MALFORMED], ids=[n for n, _, _ in MALFORMED]
)
async def test_signed_malformed_payloads_are_recorded_and_answered_200(
    api: httpx.AsyncClient,
    sessions: SessionFactory,
    make_user: UserMaker,
    body: Any,
    reason: str,
) -> None:
    await make_user()
    before = await _counts(sessions)
    payload = _payload(body)
    response = await _post(api, payload)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["received"] is True
    assert answer["outcome"] == f"malformed:{reason}"
    key = answer["eventId"]
    assert key.startswith("malformed_")
    async with sessions.begin() as session:
        row = await session.get(StripeEvent, key)
        assert row is not None and row.outcome == f"malformed:{reason}"
        assert row.type in {
            "unknown",
            "payment_intent.succeeded",
            "payment_intent.payment_failed",
            "payment_method.detached",
            "customer.deleted",
        }
    assert await _counts(sessions) == before

    # Stripe's redelivery of the same payload: recognised, still 200, recorded once.
    again = await _post(api, payload)
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate" and again.json()["eventId"] == key
    async with sessions.begin() as session:
        assert await session.scalar(select(func.count()).select_from(StripeEvent)) == 1


async def test_a_malformed_payload_does_not_shadow_the_real_event_with_its_id(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    real = _event(_intent(metadata={"recharge_id": "nope"}))
    bad = {**real, "data": {"object": {**real["data"]["object"], "metadata": {"recharge_id": 1}}}}
    assert (await _post(api, _payload(bad))).json()["outcome"] == "malformed:invalid_metadata"
    answer = (await _post(api, _payload(real))).json()
    assert answer["eventId"] == real["id"]
    assert answer["outcome"] not in {"duplicate"} and not answer["outcome"].startswith("malformed")


async def test_an_unsigned_malformed_payload_is_still_refused(api: httpx.AsyncClient) -> None:
    response = await _post(api, b"[]", secret="whsec_" + "z" * 32)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
