"""Each Stripe event's API version is recorded, and ``/health/ready`` warns when events arrive in
another version than the service's pinned one. The endpoint comes from the same use case as
``balance-manager stripe webhook-setup``, on an account whose default version is older: its
events still arrive in the pinned version; one in the account's version raises the warning."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import httpx
import stripe
from pydantic import SecretStr
from sqlalchemy import select

from balance_manager.payments.gateway import PINNED_API_VERSION, StripeGateway
from balance_manager.runtime.compose import create_app
from balance_manager.settings import Settings
from balance_manager.store.db import SessionFactory
from balance_manager.store.models import StripeEvent
from balance_manager.usecases import stripe_endpoint
from stripe_sandbox.webhooks import sign
from tests.conftest import LiveServer, free_port

OLDER = "2026-07-29.dahlia"


async def _recorded(sessions: SessionFactory, kind: str, seconds: float = 30) -> StripeEvent:
    deadline = time.monotonic() + seconds
    while True:
        async with sessions.begin() as session:
            found = await session.scalar(select(StripeEvent).where(StripeEvent.type == kind))
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"no {kind} event recorded"
        await asyncio.sleep(0.1)


def _signed_event(kind: str, version: str) -> bytes:
    return json.dumps(
        {
            "id": "evt_" + secrets.token_hex(8),
            "object": "event",
            "api_version": version,
            "created": int(time.time()),
            "data": {"object": {"id": "cus_" + secrets.token_hex(6), "object": "customer"}},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
    ).encode()


async def test_ready_warns_when_events_come_in_another_version(
    stripe_settings: Settings,
    sessions: SessionFactory,
    stripe_sandbox: Any,
) -> None:
    async with httpx.AsyncClient(base_url=stripe_sandbox.base_url) as control:
        await control.post("/_sandbox/account", json={"api_version": OLDER})
    port = free_port()
    gateway = StripeGateway.from_settings(stripe_settings)
    try:
        made = await stripe_endpoint.set_up(
            gateway, url=f"http://127.0.0.1:{port}/api/webhooks/stripe"
        )
    finally:
        await gateway.aclose()
    assert made.secret is not None
    settings = stripe_settings.model_copy(update={"stripe_webhook_secret": SecretStr(made.secret)})
    # Its own engine: the server runs in a thread with an event loop of its own.
    with LiveServer(create_app(settings, embedded_worker=False), port) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            before = (await client.get("/health/ready")).json()
            assert before["stripeEvents"] == {
                "ok": True,
                "expectedApiVersion": PINNED_API_VERSION,
                "lastApiVersion": None,
                "lastReceivedAgeSeconds": None,
            }

            # A real event, delivered by the sandbox to the endpoint set up above.
            sdk = stripe.StripeClient(
                stripe_sandbox.secret_key, base_addresses={"api": stripe_sandbox.base_url}
            )
            customer = sdk.v1.customers.create(params={"email": "v@example.com"})
            sdk.v1.customers.update(customer.id, params={"metadata": {"k": "v"}})
            event = await _recorded(sessions, "customer.updated")
            assert event.api_version == PINNED_API_VERSION  # not the account's OLDER
            ready = (await client.get("/health/ready")).json()
            assert "stripe_event_api_version" not in ready["warnings"]
            assert ready["stripeEvents"]["ok"] is True
            assert ready["stripeEvents"]["lastApiVersion"] == PINNED_API_VERSION

            # What an endpoint made without a version (the Dashboard's) would send.
            payload = _signed_event("customer.updated", OLDER)
            answer = await client.post(
                "/api/webhooks/stripe",
                content=payload,
                headers={"Stripe-Signature": sign(payload.decode(), made.secret)},
            )
            assert answer.status_code == 200, answer.text
            ready = (await client.get("/health/ready")).json()
            assert "stripe_event_api_version" in ready["warnings"]
            assert ready["stripeEvents"]["ok"] is False
            assert ready["stripeEvents"]["lastApiVersion"] == OLDER
            assert ready["stripeEvents"]["expectedApiVersion"] == PINNED_API_VERSION
