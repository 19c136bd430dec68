"""Fixtures for the recharge engine: the app wired to the Stripe sandbox, a worker on the same
database, and users with a saved card."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.api.context import AppContext
from balance_manager.runtime.compose import create_app
from balance_manager.runtime.worker import Worker
from balance_manager.settings import Settings
from balance_manager.store.db import SessionFactory
from balance_manager.store.ledger import entries_sum
from balance_manager.store.models import BalanceConfig, LedgerEntry, RechargeRecord, User, utcnow
from balance_manager.usecases import cards
from balance_manager.usecases.services import Services
from tests.conftest import UserMaker


class Clock:
    """A clock the test moves; the worker and the engine read it."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Engine:
    client: httpx.AsyncClient
    ctx: AppContext
    worker: Worker
    clock: Clock
    sandbox: Any
    stripe: stripe.StripeClient
    sessions: SessionFactory

    @property
    def svc(self) -> Services:
        return self.ctx.services

    def second_worker(self, **options: Any) -> Worker:
        """Another worker on the same database and Stripe, as a second process would be
        (its own wake-up signal unless given one)."""
        from balance_manager.store.wakeups import Wakeup

        svc = self.svc
        other = Services(
            settings=svc.settings,
            engine=svc.engine,
            sessions=svc.sessions,
            gateway=svc.gateway,
            rules=svc.rules,
            wakeup=options.pop("wakeup", None) or Wakeup(),
            clock=svc.clock,
        )
        options.setdefault("sweep_interval", 300)
        return Worker(other, **options)

    async def give_card(
        self, user_id: str, card: str = "pm_card_visa", *, react: bool = False
    ) -> str:
        """A Stripe customer for the user with ``card`` attached and set as default.

        ``react=False`` seeds the card as set-up state (nothing else happens); ``react=True``
        sets it through the product's own path, which resumes a paused auto-recharge and,
        below the minimum, opens the recharge at once."""
        async with self.sessions.begin() as session:
            user = await session.get(User, user_id)
            assert user is not None
            email = user.email
        assert self.ctx.gateway is not None
        customer = await self.ctx.gateway.ensure_customer(user_id=user_id, email=email)
        pm = self.stripe.v1.payment_methods.attach(card, params={"customer": customer})
        async with self.sessions.begin() as session:
            user = await session.get(User, user_id)
            assert user is not None
            user.stripe_customer_id = customer
            await session.flush()
            if react:
                await cards.set_default_in(self.svc, session, user_id, pm.id)
            else:
                config = await session.get(BalanceConfig, user_id)
                assert config is not None
                config.default_payment_method_id = pm.id
        return pm.id

    async def usage(
        self, user_id: str, amount: object, key: str, headers: dict[str, str]
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/balance/usage/{user_id}",
            json={"amount": amount, "idempotencyKey": key},
            headers=headers,
        )

    async def balance(self, user_id: str) -> tuple[int, int]:
        """(cached balance, sum of entries): always equal."""
        async with self.sessions.begin() as session:
            user = await session.get(User, user_id)
            assert user is not None
            return user.balance, await entries_sum(session, user_id)

    async def records(self, user_id: str) -> list[RechargeRecord]:
        async with self.sessions.begin() as session:
            rows = await session.scalars(
                select(RechargeRecord)
                .where(RechargeRecord.user_id == user_id)
                .order_by(RechargeRecord.created_at)
            )
            return list(rows.all())

    async def credits(self, user_id: str) -> int:
        async with self.sessions.begin() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(LedgerEntry)
                .where(LedgerEntry.user_id == user_id, LedgerEntry.kind == "recharge")
            )
            return int(count or 0)

    def payment_intents(self, customer: str) -> list[Any]:
        return list(
            self.stripe.v1.payment_intents.list(params={"customer": customer, "limit": 100}).data
        )


@pytest.fixture
async def engine_app(
    stripe_settings: Settings, engine: AsyncEngine, stripe_sandbox: Any, sessions: SessionFactory
) -> AsyncIterator[Engine]:
    settings = stripe_settings.model_copy(update={"recharge_retry_backoff_seconds": 60})
    app = create_app(settings, engine=engine, embedded_worker=False)
    ctx: AppContext = app.state.ctx
    worker = Worker.from_settings(settings, ctx.services)
    clock = Clock()
    ctx.services.clock = clock
    sdk = stripe.StripeClient(
        stripe_sandbox.secret_key, base_addresses={"api": stripe_sandbox.base_url}
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield Engine(client, ctx, worker, clock, stripe_sandbox, sdk, sessions)


@pytest.fixture
async def worked_example_user(make_user: UserMaker, engine_app: Engine) -> str:
    """The original's user before the usage that takes it to -50."""
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
    await engine_app.give_card(user)
    return user
