"""Fixtures for the gateway: the sandbox over real HTTP, no database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from balance_manager.payments.gateway import StripeGateway
from balance_manager.settings import load_settings


@pytest.fixture
async def gateway(stripe_sandbox: Any) -> AsyncIterator[StripeGateway]:
    """The gateway as the service builds it, pointed at the sandbox, with fast retries."""
    settings = load_settings(
        stripe_secret_key=stripe_sandbox.secret_key,
        stripe_api_base=stripe_sandbox.base_url,
        stripe_max_retries=2,
        stripe_timeout_seconds=5,
        _env_file=None,
    )
    gw = StripeGateway.from_settings(settings, retry_base_delay=0.01)
    yield gw
    await gw.aclose()


@pytest.fixture
def control(stripe_sandbox: Any) -> Iterator[httpx.Client]:
    """Plain HTTP to the sandbox: ``/_sandbox/`` fault routes and the request log."""
    with httpx.Client(base_url=stripe_sandbox.base_url, timeout=10) as client:
        yield client
