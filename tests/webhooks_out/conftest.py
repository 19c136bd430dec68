"""Fixtures for operator webhooks: the app with a movable clock and a dispatcher on the same
database, a real receiver, and (for scenarios with recharges) the engine fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.api.context import AppContext
from balance_manager.runtime.compose import create_app
from balance_manager.runtime.dispatcher import Dispatcher
from balance_manager.settings import Settings
from balance_manager.store.models import (
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from balance_manager.usecases.services import Services
from tests.recharge.conftest import Clock, engine_app  # noqa: F401  (a fixture)
from tests.webhooks_out.receiver import Receiver


@dataclass
class Hooks:
    client: httpx.AsyncClient
    svc: Services
    clock: Clock
    dispatcher: Dispatcher
    operator: dict[str, str]

    async def endpoint(self, url: str, event_types: list[str] | None = None) -> tuple[str, str]:
        """Register an endpoint through the API: (id, secret)."""
        body: dict[str, Any] = {"url": url}
        if event_types is not None:
            body["eventTypes"] = event_types
        response = await self.client.post(
            "/api/webhook-endpoints", json=body, headers=self.operator
        )
        assert response.status_code == 201, response.text
        return response.json()["id"], response.json()["secret"]

    async def usage(self, user_id: str, amount: object, key: str) -> httpx.Response:
        response = await self.client.post(
            f"/api/balance/usage/{user_id}",
            json={"amount": amount, "idempotencyKey": key},
            headers=self.operator,
        )
        assert response.status_code == 200, response.text
        return response

    async def events(self, kind: str | None = None) -> list[OutboxEvent]:
        async with self.svc.sessions.begin() as session:
            query = select(OutboxEvent).order_by(OutboxEvent.id)
            if kind is not None:
                query = query.where(OutboxEvent.type == kind)
            return list((await session.scalars(query)).all())

    async def deliveries(self, endpoint_id: str) -> list[WebhookDelivery]:
        async with self.svc.sessions.begin() as session:
            rows = await session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.endpoint_id == endpoint_id)
                .order_by(WebhookDelivery.id)
            )
            return list(rows.all())

    async def attempts(self, delivery_id: int) -> list[WebhookAttempt]:
        async with self.svc.sessions.begin() as session:
            rows = await session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery_id)
                .order_by(WebhookAttempt.id)
            )
            return list(rows.all())

    async def endpoint_row(self, endpoint_id: str) -> WebhookEndpoint:
        async with self.svc.sessions.begin() as session:
            found = await session.get(WebhookEndpoint, endpoint_id)
            assert found is not None
            return found


@pytest.fixture
async def hooks(
    settings: Settings, engine: AsyncEngine, operator: dict[str, str]
) -> AsyncIterator[Hooks]:
    app = create_app(settings, engine=engine, embedded_worker=False)
    ctx: AppContext = app.state.ctx
    clock = Clock()
    ctx.services.clock = clock
    dispatcher = Dispatcher.from_services(ctx.services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield Hooks(client, ctx.services, clock, dispatcher, operator)
    await dispatcher.drain()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running
