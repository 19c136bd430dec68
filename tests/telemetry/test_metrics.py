"""``/metrics`` after a scripted scenario: the database gauges equal the scenario's numbers
exactly, and the in-process counters moved by exactly what the scenario did."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import func, select

from balance_manager.store.models import OutboxEvent
from balance_manager.telemetry import metrics as instruments
from balance_manager.usecases import stripe_events
from tests.conftest import TOKEN_SECRET, UserMaker, free_port
from tests.recharge.conftest import Engine
from tests.telemetry.scrape import delta, parse, scrape, series, value


def _event(event_id: str, kind: str, obj: dict[str, Any]) -> Any:
    return stripe.Event.construct_from(
        {"id": event_id, "object": "event", "type": kind, "data": {"object": obj}}, "sk_test"
    )


async def test_a_scrape_after_the_worked_example_and_a_decline(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str], customer_headers: Any
) -> None:
    e = engine_app
    ok = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
    await e.give_card(ok, "pm_card_mastercard")
    bad = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
    await e.give_card(bad, "pm_card_chargeCustomerFail")
    for user in (ok, bad):  # reading the cards through the product learns their brands
        assert (await e.client.get(f"/api/payment/methods/{user}", headers=operator)).is_success

    assert (await e.client.get("/metrics")).status_code == 401
    assert (await e.client.get("/metrics", headers=customer_headers(ok))).status_code == 403
    _, before = await scrape(e.client, operator)

    # The worked example (balance -50, minimum 150, target 600 → 650 + 18.85 = 668.85) and
    # the same for a card that declines.
    assert (await e.usage(ok, 50, "u-ok", operator)).status_code == 200
    assert (await e.usage(bad, 50, "u-bad", operator)).status_code == 200
    assert await e.worker.run_once() == 2
    (credited,) = [r for r in await e.records(ok) if r.status == "succeeded"]
    intent = e.stripe.v1.payment_intents.retrieve(str(credited.payment_intent_id))
    for _ in range(2):  # a late webhook for the credited charge, then Stripe's redelivery
        await stripe_events.handle(e.svc, _event("evt_m1", "payment_intent.succeeded", intent))
    instruments.webhook_delivery("recharge.succeeded", "delivered", 0.05)

    text, after = await scrape(e.client, operator)
    assert ok not in text and bad not in text  # no user id in any label

    # From the database, at scrape time.
    assert value(after, "balance_manager_users") == 2
    assert value(after, "balance_manager_users_below_minimum") == 1
    assert value(after, "balance_manager_users_auto_recharge_paused") == 0
    assert value(after, "balance_manager_users_requires_action") == 0
    assert value(after, "balance_manager_users_with_card") == 2
    assert series(after, "balance_manager_default_card_brands") == {
        frozenset({("brand", "mastercard")}): 1,
        frozenset({("brand", "visa")}): 1,
    }
    records = {
        labels: n for labels, n in series(after, "balance_manager_recharge_records").items() if n
    }
    assert records == {
        frozenset({("status", "succeeded"), ("trigger", "usage")}): 1,
        frozenset({("status", "failed"), ("trigger", "usage")}): 1,
    }
    usd = {"currency": "usd"}
    assert value(after, "balance_manager_recharge_charged_minor_units_total", **usd) == 66885
    assert value(after, "balance_manager_recharge_credited_minor_units_total", **usd) == 65000
    assert value(after, "balance_manager_recharge_fees_minor_units_total", **usd) == 1885
    assert value(after, "balance_manager_recharges_succeeded_total", **usd) == 1
    # Balances 600.00 and -50.00.
    buckets = {
        dict(labels)["le"]: n
        for labels, n in series(after, "balance_manager_balance_bucket").items()
    }
    assert buckets["-100.0"] == 0 and buckets["-10.0"] == 1 and buckets["500.0"] == 1
    assert buckets["1000.0"] == 2 and buckets["+Inf"] == 2
    assert value(after, "balance_manager_balance_users", **usd) == 2
    assert value(after, "balance_manager_balance_sum_major_units", **usd) == 550.0
    assert value(after, "balance_manager_recharge_queue_depth") == 0
    assert value(after, "balance_manager_recharge_queue_oldest_age_seconds") == 0
    # No worker has run a dispatcher pass yet: every event still waits to be fanned out.
    async with e.sessions.begin() as session:
        undispatched = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
        )
    assert undispatched and value(after, "balance_manager_outbox_backlog") == undispatched
    assert value(after, "balance_manager_database_up") == 1

    # In this process, by exactly what the scenario did.
    usage = {"method": "POST", "route": "/api/balance/usage/{userId}", "status": "200"}
    assert delta(before, after, "balance_manager_http_request_duration_seconds_count", **usage) == 2
    create = {"operation": "payment_intents.create"}
    stripe_seconds = "balance_manager_stripe_request_duration_seconds_count"
    assert delta(before, after, stripe_seconds, **create, outcome="ok") == 1
    assert delta(before, after, stripe_seconds, **create, outcome="error") == 1
    assert (
        delta(before, after, "balance_manager_stripe_errors_total", **create, type="card_error")
        == 1
    )
    assert delta(before, after, "balance_manager_recharges_opened_total", trigger="usage") == 2
    assert delta(before, after, "balance_manager_charges_total", outcome="credited") == 1
    assert delta(before, after, "balance_manager_charges_total", outcome="failed") == 1
    succeeded = {"type": "payment_intent.succeeded"}
    events = "balance_manager_stripe_webhook_events_total"
    assert delta(before, after, events, **succeeded, outcome="already_succeeded") == 1
    assert delta(before, after, events, **succeeded, outcome="duplicate") == 1
    deliveries = "balance_manager_webhook_deliveries_total"
    assert delta(before, after, deliveries, type="recharge.succeeded", outcome="delivered") == 1


async def test_unknown_paths_are_one_label_and_metrics_answer_without_the_database(
    engine_app: Engine, operator: dict[str, str]
) -> None:
    e = engine_app
    _, before = await scrape(e.client, operator)
    for i in range(3):
        assert (await e.client.get(f"/no/such/path/{i}")).status_code == 404
    text, after = await scrape(e.client, operator)
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert (
        delta(before, after, "balance_manager_http_request_duration_seconds_count", **unmatched)
        == 3
    )
    assert "/no/such/path" not in text


def _env(database_url: str, sandbox: Any, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "TOKEN_SIGNING_SECRET": TOKEN_SECRET,
        "STRIPE_SECRET_KEY": sandbox.secret_key,
        "STRIPE_API_BASE": sandbox.base_url,
        "LOG_LEVEL": "warning",
        **extra,
    }


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "balance_manager", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _eventually(check: Any, what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
        except httpx.TransportError:
            last = None
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_api_process_reports_a_worker_process_through_the_multiprocess_directory(
    engine_app: Engine,
    make_user: UserMaker,
    operator: dict[str, str],
    database_url: str,
    tmp_path: Path,
) -> None:
    """``serve`` (no embedded worker) and ``worker`` share PROMETHEUS_MULTIPROC_DIR: the API's
    /metrics shows the Stripe call only the worker made; the worker's own listener
    (METRICS_PORT) serves the same, without a key; readiness in the API sees the worker."""
    e = engine_app
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=200)
    await e.give_card(user)
    shared = tmp_path / "prometheus"
    shared.mkdir()
    api_port, worker_metrics = free_port(), free_port()
    env = _env(
        database_url,
        e.sandbox,
        PROMETHEUS_MULTIPROC_DIR=str(shared),
        EMBEDDED_WORKER="false",
    )
    api_proc = _start(["serve", "--port", str(api_port)], env)
    worker_proc = _start(["worker"], {**env, "METRICS_PORT": str(worker_metrics)})
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{api_port}", headers=operator, timeout=30
        ) as api:

            async def ready() -> bool:
                return (await api.get("/health/ready")).status_code == 200

            await _eventually(ready, "the API to see a live worker")
            debit = await api.post(
                f"/api/balance/usage/{user}", json={"amount": 250, "idempotencyKey": "mp"}
            )
            assert debit.status_code == 200 and debit.json()["rechargeId"]

            async def credited() -> bool:
                return [r.status for r in await e.records(user)] == ["succeeded"]

            await _eventually(credited, "the worker to charge")
            samples = parse((await api.get("/metrics")).text)
        async with httpx.AsyncClient(timeout=30) as plain:
            listener = parse((await plain.get(f"http://127.0.0.1:{worker_metrics}/metrics")).text)
    finally:
        _stop(api_proc, worker_proc)

    create = {"operation": "payment_intents.create", "outcome": "ok"}
    for scraped in (samples, listener):
        assert (
            value(scraped, "balance_manager_stripe_request_duration_seconds_count", **create) == 1
        )
        assert value(scraped, "balance_manager_recharges_opened_total", trigger="usage") == 1
        assert value(scraped, "balance_manager_charges_total", outcome="credited") == 1
        assert value(scraped, "balance_manager_workers_alive") == 1
        succeeded = {"status": "succeeded", "trigger": "usage"}
        assert value(scraped, "balance_manager_recharge_records", **succeeded) == 1
        assert (
            value(scraped, "balance_manager_recharge_charged_minor_units_total", currency="usd")
            == 66885
        )
