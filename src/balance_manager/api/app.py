"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from balance_manager import __version__
from balance_manager.api import errors, schemas
from balance_manager.api.context import AppContext
from balance_manager.api.limits import BodySizeLimit
from balance_manager.api.routes import (
    admin,
    balance,
    health,
    metrics,
    payment,
    recharge,
    stripe_webhook,
    users,
    webhook_endpoints,
)
from balance_manager.auth.api_keys import KeyVerifier
from balance_manager.auth.tokens import TokenSigner
from balance_manager.runtime import gc_tuning
from balance_manager.runtime.worker import Worker
from balance_manager.settings import Settings
from balance_manager.telemetry import exposition, tracing
from balance_manager.telemetry.requests import RequestTelemetry, TrustedPeers
from balance_manager.usecases import metrics as gauges
from balance_manager.usecases.services import Services
from balance_manager.web import pages as web_pages

DESCRIPTION = """Prepaid balances kept topped up with off-session Stripe charges.

Authenticate with `Authorization: Bearer <operator API key>` (from `balance-manager keys
create`) or a customer token (from `POST /api/users/{userId}/tokens`). Amounts are decimal
numbers in major units of the user's currency (`18.85`); errors are
`{"error": {"code", "message", "field"?}}`.
"""


def create_app(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    embedded_worker: bool | None = None,
) -> FastAPI:
    """Build the app. The schema must already be migrated (the CLI does it on start-up).

    With Stripe configured and ``EMBEDDED_WORKER`` on (the default), the app runs a recharge
    worker in its own event loop: the single-node mode, and the only mode on SQLite.
    """
    signer = TokenSigner(
        settings.signing_secret(), ttl=timedelta(seconds=settings.customer_token_ttl_seconds)
    )
    owns_engine = engine is None
    services = Services.from_settings(settings, engine=engine)
    worker = Worker.from_settings(settings, services) if services.payments_enabled else None
    run_worker = settings.embedded_worker if embedded_worker is None else embedded_worker

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        gc_tuning.settle_after_startup()
        task = asyncio.create_task(worker.run(stop)) if worker and run_worker else None
        listener = (
            exposition.start_listener(
                settings.metrics_port, settings.host, lambda: gauges.collect(services)
            )
            if settings.metrics_port is not None
            else None
        )
        try:
            yield
        finally:
            if listener is not None:
                listener.close()
            stop.set()
            services.wakeup.set()
            if task is not None:
                await task
            await services.aclose(dispose_engine=owns_engine)

    app = FastAPI(
        title="Stripe Balance Manager",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=schemas.ERROR_RESPONSES,
        # Served by web.pages with local assets instead of FastAPI's CDN-based pages.
        docs_url=None,
        redoc_url=None,
        telemetry=tracing.fastapi_telemetry(),
    )
    app.state.ctx = AppContext(
        services=services,
        tokens=signer,
        keys=KeyVerifier(services.reads, services.sessions),
        worker=worker if run_worker else None,
    )
    errors.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    # Outermost: the request id and the access log see the connecting peer (to trust its
    # X-Request-ID) before the proxy headers replace it with the forwarded client.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    app.add_middleware(
        RequestTelemetry,
        trusted=TrustedPeers(settings.forwarded_allow_ips),
    )
    app.include_router(health.router)
    if settings.metrics_port is None:
        app.include_router(metrics.router)
    app.include_router(users.router)
    app.include_router(balance.router)
    app.include_router(recharge.router)
    app.include_router(payment.router)
    app.include_router(stripe_webhook.router)
    web_pages.install(app, settings)
    app.include_router(webhook_endpoints.router)
    app.include_router(admin.router)
    return app


def create_app_from_env() -> FastAPI:
    """The app from the environment's settings: the factory each process of
    ``balance-manager serve --workers N`` imports (the schema is migrated by the parent)."""
    from balance_manager.runtime import logs
    from balance_manager.runtime.serving import uvicorn_options
    from balance_manager.settings import load_settings
    from balance_manager.telemetry import tracing

    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    tracing.configure_from_env()
    uvicorn_options(settings)  # this process's read deadlines and log filters
    return create_app(settings)
