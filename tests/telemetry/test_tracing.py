"""Traces with the SDK's in-memory exporter: a usage debit that opens a recharge and the
worker's charge of it are two traces, the charge linked to the debit; the database and the
Stripe requests are spans inside them. With tracing off, no SDK module is even imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.runtime.compose import create_app
from balance_manager.runtime.worker import Worker
from balance_manager.settings import Settings
from balance_manager.telemetry import tracing
from balance_manager.usecases import cards
from tests.conftest import UserMaker
from tests.recharge.conftest import Clock


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.uninstall()
        provider.shutdown()


def _named(finished: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    found = [s for s in finished if s.name == name]
    assert len(found) == 1, [s.name for s in finished]
    return found[0]


def _trace(finished: tuple[ReadableSpan, ...], root: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in finished if s.context.trace_id == root.context.trace_id]


async def test_the_charge_is_linked_to_the_debit_that_opened_it(
    spans: InMemorySpanExporter,
    stripe_settings: Settings,
    engine: AsyncEngine,
    make_user: UserMaker,
    operator: dict[str, str],
    stripe_sandbox: Any,
) -> None:
    import stripe

    app = create_app(stripe_settings, engine=engine, embedded_worker=False)  # after install
    svc = app.state.ctx.services
    svc.clock = Clock()
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=200)
    customer = await cards.ensure_customer_id(svc, user)
    sdk = stripe.StripeClient(
        stripe_sandbox.secret_key, base_addresses={"api": stripe_sandbox.base_url}
    )
    sdk.v1.payment_methods.attach("pm_card_visa", params={"customer": customer})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        assert (await client.get(f"/api/payment/methods/{user}", headers=operator)).is_success
        spans.clear()
        debit = await client.post(
            f"/api/balance/usage/{user}",
            json={"amount": 250, "idempotencyKey": "traced"},
            headers=operator,
        )
    assert debit.status_code == 200 and debit.json()["rechargeId"]
    assert await Worker(svc, sweep_interval=300).run_once() == 1

    finished = spans.get_finished_spans()
    server = _named(finished, "POST /api/balance/usage/{userId}")
    usage = _named(finished, "usage.record_usage")
    charge = _named(finished, "recharge.charge")

    # The debit: HTTP server span → use case → database statements, one trace.
    debit_trace = _trace(finished, server)
    assert usage in debit_trace and usage.parent is not None
    assert usage.parent.span_id == server.context.span_id
    database = [s for s in debit_trace if s.attributes and "db.system" in str(s.attributes)]
    assert database, [s.name for s in debit_trace]

    # The charge: a trace of its own, linked to the debit's use-case span.
    assert charge.context.trace_id != server.context.trace_id
    assert [(link.context.trace_id, link.context.span_id) for link in charge.links] == [
        (usage.context.trace_id, usage.context.span_id)
    ]
    charge_trace = _trace(finished, charge)
    stripe_call = _named(tuple(charge_trace), "stripe payment_intents.create")
    assert stripe_call.attributes is not None
    assert stripe_call.attributes["stripe.operation"] == "payment_intents.create"
    assert charge.attributes is not None and charge.attributes["recharge.outcome"] == "credited"
    assert str(debit.json()["rechargeId"]) == charge.attributes["recharge.id"]


def test_with_tracing_off_no_sdk_or_instrumentation_is_imported(tmp_path: Path) -> None:
    """The whole service, built and asked for its health, imports none of the optional
    extra (FastAPI itself imports the OpenTelemetry *API*)."""
    script = """
import asyncio, json, sys
import httpx
from balance_manager.runtime.compose import create_app
from balance_manager.settings import load_settings
from balance_manager.telemetry import tracing
from balance_manager.usecases import cards
settings = load_settings(database_url=sys.argv[1], token_signing_secret="x" * 40, _env_file=None)
assert tracing.configure_from_env() is None
app = create_app(settings)
async def main():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/health")).status_code == 200
asyncio.run(main())
print(json.dumps(sorted(m for m in sys.modules if m.startswith("opentelemetry"))))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", script, f"sqlite:///{tmp_path / 'off.db'}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    assert imported, "FastAPI is expected to import the OpenTelemetry API"
    optional = [
        m
        for m in imported
        if m.startswith(
            ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.instrumentation")
        )
    ]
    assert optional == []


def test_the_otel_variables_turn_tracing_on() -> None:
    assert not tracing.requested({})
    assert tracing.requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.requested({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing.requested({"OTEL_TRACES_EXPORTER": "none"})
    assert not tracing.requested(
        {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    )
