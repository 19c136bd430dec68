"""What every use case works with, built once per process by the API, the worker and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cachetools import LRUCache
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from balance_manager.domain import money, policy
from balance_manager.domain.errors import NotConfigured, NotFound
from balance_manager.payments.gateway import StripeGateway
from balance_manager.settings import Settings
from balance_manager.store.db import (
    SessionFactory,
    reader,
    session_factory,
)
from balance_manager.store.db import (
    retry_on_disconnect as retry_on_disconnect,  # re-exported: it lived here first
)
from balance_manager.store.models import User, utcnow
from balance_manager.store.sqlite_writer import SqliteWriter
from balance_manager.store.wakeups import Wakeup
from balance_manager.telemetry import tracing


class Currencies:
    """Each user's currency, cached: it never changes once the user exists, and every amount
    must be parsed in it before the use case's transaction starts."""

    def __init__(self, engine: AsyncEngine, size: int = 100_000) -> None:
        self._engine = engine
        self._cache: LRUCache[str, money.Currency] = LRUCache(maxsize=size)

    def cached(self, user_id: str) -> money.Currency | None:
        return self._cache.get(user_id)

    def remember(self, user_id: str, code: str) -> money.Currency:
        cur = self._cache[user_id] = money.currency(code)
        return cur

    async def of(self, user_id: str, conn: AsyncConnection | None = None) -> money.Currency:
        """The user's currency; on a miss read it (on ``conn`` when the caller has one open,
        saving a connection checkout and a transaction)."""
        found = self._cache.get(user_id)
        if found is None:
            await self.load([user_id], conn)
            found = self._cache.get(user_id)
            if found is None:
                raise NotFound(f"user {user_id} not found", code="user_not_found", field="userId")
        return found

    async def known(self, user_ids: set[str]) -> dict[str, money.Currency]:
        """The currencies of those of ``user_ids`` that exist."""
        missing = [u for u in user_ids if u not in self._cache]
        if missing:
            await self.load(missing)
        return {u: c for u in user_ids if (c := self._cache.get(u)) is not None}

    async def load(self, user_ids: list[str], conn: AsyncConnection | None = None) -> None:
        query = select(User.id, User.currency).where(User.id.in_(user_ids))
        if conn is not None:
            rows = list(await conn.execute(query))
        else:
            async with self._engine.connect() as own:
                rows = list(await own.execute(query))
        for user_id, code in rows:
            self._cache[user_id] = money.currency(code)


@dataclass
class Services:
    """The database, Stripe and the rules, for the use cases. ``gateway`` is None when no
    STRIPE_SECRET_KEY is configured: nothing is charged then."""

    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    gateway: StripeGateway | None
    rules: policy.RechargeRules
    wakeup: Wakeup = field(default_factory=Wakeup)
    clock: Callable[[], datetime] = utcnow
    currencies: Currencies = field(init=False)
    reads: SessionFactory = field(init=False)  # never takes SQLite's write lock
    # SQLite files: the usage debit's own connection and thread (``store.sqlite_writer``).
    sqlite_writer: SqliteWriter | None = field(init=False)

    def __post_init__(self) -> None:
        # A read: on SQLite it must not take the write lock the usage writer needs.
        self.currencies = Currencies(reader(self.engine))
        self.reads = session_factory(reader(self.engine))
        database = self.engine.url.database
        on_file = self.engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")
        self.sqlite_writer = SqliteWriter(database) if on_file and database else None
        tracing.instrument_engine(self.engine)  # database spans, when tracing is on

    @property
    def payments_enabled(self) -> bool:
        return self.gateway is not None

    def wake_after_commit(self, session: AsyncSession) -> None:
        """Nudge the in-process worker once ``session``'s transaction has committed (a
        recharge it opened is only claimable then)."""
        event.listen(session.sync_session, "after_commit", lambda _s: self.wakeup.set(), once=True)

    async def aclose(self, *, dispose_engine: bool = True) -> None:
        if self.sqlite_writer is not None:
            self.sqlite_writer.close()
        if self.gateway is not None:
            await self.gateway.aclose()
        if dispose_engine:
            await self.engine.dispose()


def require_gateway(svc: Services) -> StripeGateway:
    """The gateway, or the error a payment route answers without Stripe configured."""
    if svc.gateway is None:
        raise NotConfigured(
            "payments are not configured (STRIPE_SECRET_KEY)", code="payments_not_configured"
        )
    return svc.gateway
