"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager import __version__
from balance_manager.api import errors
from balance_manager.api.context import AppContext
from balance_manager.api.limits import BodySizeLimit
from balance_manager.api.routes import balance, health, users
from balance_manager.auth.tokens import TokenSigner
from balance_manager.settings import Settings
from balance_manager.store.db import create_engine, session_factory

DESCRIPTION = """Prepaid balances kept topped up with off-session Stripe charges.

Authenticate with `Authorization: Bearer <operator API key>` (from `balance-manager keys
create`) or a customer token (from `POST /api/users/{userId}/tokens`). Amounts are decimal
numbers in major units of the user's currency (`18.85`); errors are
`{"error": {"code", "message", "field"?}}`.
"""


def create_app(settings: Settings, *, engine: AsyncEngine | None = None) -> FastAPI:
    """Build the app. The schema must already be migrated (the CLI does it on start-up)."""
    signer = TokenSigner(
        settings.signing_secret(), ttl=timedelta(seconds=settings.customer_token_ttl_seconds)
    )
    owns_engine = engine is None
    db = engine or create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_engine:
            await db.dispose()

    app = FastAPI(
        title="Stripe Balance Manager",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.ctx = AppContext(
        settings=settings, engine=db, sessions=session_factory(db), tokens=signer
    )
    errors.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.include_router(health.router)
    app.include_router(users.router)
    app.include_router(balance.router)
    return app
