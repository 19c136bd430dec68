"""Logs: the service's own lines (JSON in production) carry a request id, which the response
returns in ``X-Request-ID``; a full scenario run by a real ``serve`` process leaves no card
number, token, key, secret or full email in them."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
import structlog

from balance_manager.runtime import logs
from balance_manager.runtime.compose import create_app
from balance_manager.settings import Settings
from balance_manager.telemetry import redact
from tests.conftest import TOKEN_SECRET, free_port


def test_the_redactor_masks_every_kind_of_secret() -> None:
    cases = {
        "key bmk_0123456789ab_Zx-9_secretpart here": "key bmk_0123456789ab_*** here",
        "sk_test_51Habc123 and rk_live_99xyz": "sk_test_*** and rk_live_***",
        "whsec_abcDEF123/+=": "whsec_***",
        "pi_3Nabc_secret_XyZ123 seti_1Qq_secret_abc": "pi_3Nabc_secret_*** seti_1Qq_secret_***",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.sig-nature_x": (
            "Authorization: Bearer ***"
        ),
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.sig": "token [jwt]",
        "card 4242 4242 4242 4242 / 4000-0000-0000-0002 / 378282246310005": (
            "card [card] / [card] / [card]"
        ),
        "mail alice.smith+x@example.co.uk please": "mail a***@example.co.uk please",
        # Not secrets: ids, amounts, dates, a number that fails the Luhn check.
        "user cmd19la3k0000d3bvxl8nch31 paid 668.85 on 2026-11-30": (
            "user cmd19la3k0000d3bvxl8nch31 paid 668.85 on 2026-11-30"
        ),
        "order 4242424242424241": "order 4242424242424241",
    }
    for raw, masked in cases.items():
        assert redact.text(raw) == masked
    event = redact.processor(
        None,
        "info",
        {"event": "x", "api_key": "anything", "headers": {"Authorization": "Basic abc"}, "n": 5},
    )
    assert event == {"event": "x", "api_key": "***", "headers": {"Authorization": "***"}, "n": 5}


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The production log set-up (JSON) writing to a buffer; the previous set-up after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    config = structlog.get_config()
    stream = io.StringIO()
    logs.configure("info", "json", stream=stream)
    try:
        yield stream
    finally:
        structlog.configure(**config)
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_request_ids_from_trusted_proxies_only(
    captured: io.StringIO, settings: Settings, engine: Any
) -> None:
    trusted = create_app(settings, engine=engine)  # FORWARDED_ALLOW_IPS=127.0.0.1 (default)
    untrusted = create_app(settings.model_copy(update={"forwarded_allow_ips": "10.9.9.9"}))
    # httpx's ASGI transport connects from 127.0.0.1.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=trusted), base_url="http://t"
    ) as c:
        kept = await c.get("/health", headers={"X-Request-ID": "lb-7f3a.01"})
        fresh = await c.get("/health")
        garbage = await c.get("/health", headers={"X-Request-ID": "bad id\nwith newline"})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=untrusted), base_url="http://t"
    ) as c:
        ignored = await c.get("/health", headers={"X-Request-ID": "lb-7f3a.02"})
    assert kept.headers["x-request-id"] == "lb-7f3a.01"
    assert len(fresh.headers["x-request-id"]) == 32
    assert garbage.headers["x-request-id"] != "bad id\nwith newline"
    assert ignored.headers["x-request-id"] != "lb-7f3a.02"
    logged = [line["request_id"] for line in _lines(captured) if line["event"] == "http_request"]
    assert logged == [r.headers["x-request-id"] for r in (kept, fresh, garbage, ignored)]


def _sdk(sandbox: Any) -> stripe.StripeClient:
    return stripe.StripeClient(sandbox.secret_key, base_addresses={"api": sandbox.base_url})


def _serve(port: int, env: dict[str, str], out: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "balance_manager", "serve", "--port", str(port)],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


async def _until(check: Any, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_a_full_scenario_logs_no_secret(
    database_url: str, operator_key: str, stripe_sandbox: Any, tmp_path: Path
) -> None:
    port = free_port()
    sdk = _sdk(stripe_sandbox)
    endpoint = sdk.v1.webhook_endpoints.create(
        params={"url": f"http://127.0.0.1:{port}/api/webhooks/stripe", "enabled_events": ["*"]}
    )
    webhook_secret = str(endpoint.secret)
    log_file = tmp_path / "serve.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TOKEN_SIGNING_SECRET": TOKEN_SECRET,
        "STRIPE_SECRET_KEY": stripe_sandbox.secret_key,
        "STRIPE_API_BASE": stripe_sandbox.base_url,
        "STRIPE_WEBHOOK_SECRET": webhook_secret,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "debug",
        "RECHARGE_CHECK_INTERVAL": "3600",
    }
    secrets_seen: list[str] = [operator_key, stripe_sandbox.secret_key, webhook_secret]
    emails = ["alice.smith@example.com", "bob.3ds@example.com"]
    with log_file.open("wb") as out:
        proc = _serve(port, env, out)
        try:
            secrets_seen += await _scenario(port, operator_key, sdk, emails)
            assert stripe_sandbox.wait_for_webhooks(timeout=30)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)

    text = log_file.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # all JSON
    requests = [line for line in lines if line["event"] == "http_request"]
    assert len(requests) >= 15 and all(line.get("request_id") for line in requests)
    assert any(line["event"] == "recharge_settled" for line in lines)
    assert any(line["event"] == "stripe_event" for line in lines)
    assert any(line.get("job_id") and line.get("worker_id") for line in lines)
    # What the scenario put where a careless log would print it, masked:
    assert "a***@example.com" in text and "[jwt]" in text
    for secret in [*secrets_seen, *emails, "4242424242424242", "4000002760003184"]:
        assert secret not in text, f"{secret[:12]}… leaked into the logs"
    for fragment in ("_secret_", "sk_test_", "whsec_", "bmk_", "eyJ"):
        leaked = [s for s in text.split() if fragment in s and "***" not in s and "[jwt]" not in s]
        assert leaked == [], leaked


async def _scenario(
    port: int, operator_key: str, sdk: stripe.StripeClient, emails: list[str]
) -> list[str]:
    """Everything a day brings, through the API; returns the secrets it handled."""
    handled: list[str] = []
    op = {"Authorization": f"Bearer {operator_key}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as api:

        async def up() -> bool:
            try:
                return (await api.get("/health")).status_code == 200
            except httpx.TransportError:
                return False

        await _until(up, "the service")
        users = []
        for email, card in zip(
            emails, ["pm_card_visa", "pm_card_authenticationRequired"], strict=True
        ):
            created = await api.post(
                "/api/users",
                json={
                    "email": email,
                    "minimumBalance": 150,
                    "targetBalance": 600,
                    "initialBalance": 200,
                },
                headers=op,
            )
            assert created.status_code in (200, 201), created.text
            user = created.json()["id"]
            users.append(user)
            token = (await api.post(f"/api/users/{user}/tokens", json={}, headers=op)).json()[
                "token"
            ]
            handled.append(token)
            me = {"Authorization": f"Bearer {token}"}
            assert (await api.get(f"/api/balance/status/{user}", headers=me)).status_code == 200
            # A token in a query string and secrets in a path: never logged as they are.
            await api.get(
                f"/api/balance/config/{user}?token={token}&key={operator_key}", headers=me
            )
            await api.get(f"/api/users/{email}", headers=op)
            await api.get(f"/api/balance/status/{token}", headers=me)
            setup = await api.post(f"/api/payment/setup-intent/{user}", headers=me)
            assert setup.status_code == 200, setup.text
            handled.append(setup.json()["clientSecret"])
            customer = (await api.get(f"/api/payment/methods/{user}", headers=me)).json()[
                "customerId"
            ]
            method = sdk.v1.payment_methods.attach(card, params={"customer": customer})
            chosen = await api.post(f"/api/payment/methods/{user}/{method.id}/default", headers=me)
            assert chosen.status_code == 200, chosen.text
            debit = await api.post(
                f"/api/balance/usage/{user}",
                json={"amount": 250, "idempotencyKey": f"day-{user}"},
                headers={**op, "X-Request-ID": f"scenario-{user}"},
            )
            assert debit.headers["x-request-id"] == f"scenario-{user}"
        assert (
            await api.get("/api/balance/status/x", headers={"Authorization": "Bearer bmk_0_nope"})
        ).status_code == 401
        ok, three_ds = users

        async def settled() -> bool:
            history = (await api.get(f"/api/balance/history/{ok}", headers=op)).json()
            waiting = (await api.get(f"/api/balance/history/{three_ds}", headers=op)).json()
            return _status(history) == "succeeded" and _status(waiting) == "requires_action"

        await _until(settled, "the charges")
        waiting = (await api.get(f"/api/balance/history/{three_ds}", headers=op)).json()
        record = _records(waiting)[0]["id"]
        shown = await api.get(f"/api/balance/recharge/{three_ds}/{record}", headers=op)
        assert shown.status_code == 200
        handled.append(shown.json()["clientSecret"])
        assert (await api.get("/metrics", headers=op)).status_code == 200
    return [h for h in handled if h]


def _records(history: dict[str, Any]) -> list[dict[str, Any]]:
    return list(history["records"])


def _status(history: dict[str, Any]) -> str | None:
    records = _records(history)
    return records[0]["status"] if records else None
