"""Helpers for the operator webhook integration tests: the use cases' services on the test's
database, outbox events, a resolver the test answers for, reads of what was recorded."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.runtime.compose import build_services
from balance_manager.settings import Settings
from balance_manager.store import outbox
from balance_manager.store.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from balance_manager.usecases import webhooks
from balance_manager.usecases.services import Services


@pytest.fixture
async def svc(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Services]:
    """The use cases' services on the test's database (no Stripe)."""
    services = build_services(
        settings.model_copy(update={"stripe_secret_key": None}), engine=engine
    )
    yield services
    await services.aclose(dispose_engine=False)


def with_settings(svc: Services, **changes: Any) -> Services:
    """The same services, other settings (e.g. ``webhook_allowed_networks=""``)."""
    svc.settings = svc.settings.model_copy(update=changes)
    return svc


async def endpoint(svc: Services, url: str) -> tuple[str, str]:
    """Register an endpoint through the use case: (id, secret)."""
    created = await webhooks.create_endpoint(svc, webhooks.NewEndpoint(url=url))
    return created.endpoint.id, created.secret


async def add_events(svc: Services, count: int = 1, *, at: datetime | None = None) -> None:
    async with svc.engine.begin() as conn:
        await outbox.add(
            conn,
            [outbox.Event("balance.low", None, {"n": n}) for n in range(count)],
            now=at or svc.clock(),
        )


async def deliveries(svc: Services, endpoint_id: str) -> list[WebhookDelivery]:
    async with svc.sessions.begin() as session:
        rows = await session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.id)
        )
        return list(rows.all())


async def attempts(svc: Services, delivery_id: int) -> list[WebhookAttempt]:
    async with svc.sessions.begin() as session:
        rows = await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.id)
        )
        return list(rows.all())


async def endpoint_row(svc: Services, endpoint_id: str) -> WebhookEndpoint:
    async with svc.sessions.begin() as session:
        found = await session.get(WebhookEndpoint, endpoint_id)
        assert found is not None
        return found


class FakeDNS:
    """The sender's resolver seam: answers from ``answers`` (host → addresses), records what
    it was asked; an unknown name does not resolve."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]
