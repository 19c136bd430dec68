"""Fixtures: one sandbox server per session on a real port, reset before every test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe

from stripe_sandbox import RunningSandbox, start_background
from stripe_sandbox.webhooks import WebhookConfig

from .receiver import Receiver

FAST_WEBHOOKS = {
    "retry_base_seconds": 0.05,
    "max_attempts": 4,
    "timeout_seconds": 5.0,
    "delay_seconds": 0.0,
    "duplicate": False,
    "reorder_window": 0,
}


@pytest.fixture(scope="session")
def _sandbox_server() -> Iterator[RunningSandbox]:
    with start_background() as running:
        yield running


@pytest.fixture
def sandbox(_sandbox_server: RunningSandbox) -> Iterator[RunningSandbox]:
    """A running sandbox with empty state and fast webhook retries."""
    _sandbox_server.reset()
    _sandbox_server.webhooks.config = WebhookConfig(**FAST_WEBHOOKS)  # type: ignore[arg-type]
    yield _sandbox_server
    _sandbox_server.state.faults.clear()


def _addresses(sandbox: RunningSandbox) -> Any:
    return {"api": sandbox.base_url, "files": sandbox.base_url, "connect": sandbox.base_url}


@pytest.fixture
def stripe_client(sandbox: RunningSandbox) -> stripe.StripeClient:
    """The official SDK pointed at the sandbox (no automatic retries)."""
    return stripe.StripeClient(sandbox.secret_key, base_addresses=_addresses(sandbox))


@pytest.fixture
def retrying_client(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> stripe.StripeClient:
    """The SDK with its network retries on (and its backoff shortened for speed)."""
    monkeypatch.setattr(stripe.HTTPClient, "_sleep_time_seconds", lambda self, n: 0.01)
    return stripe.StripeClient(
        sandbox.secret_key, base_addresses=_addresses(sandbox), max_network_retries=3
    )


@pytest.fixture
def async_client(sandbox: RunningSandbox) -> stripe.StripeClient:
    return stripe.StripeClient(
        sandbox.secret_key, base_addresses=_addresses(sandbox), http_client=stripe.HTTPXClient()
    )


@pytest.fixture
def control(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    """Plain HTTP to the sandbox (control routes, raw wire checks)."""
    with httpx.Client(base_url=sandbox.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r
