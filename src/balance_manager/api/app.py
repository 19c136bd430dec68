"""The FastAPI application: routes, middleware, error format and the pages, over the use
cases' :class:`Services`. The process that serves it is wired by ``runtime.compose`` (which
also decides whether a recharge worker runs beside it): the API never imports the worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from balance_manager import __version__
from balance_manager.api import errors, schemas
from balance_manager.api.context import AppContext, Background
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
`{"error": {"code", "message", "field"?, "params"?}}`.
"""


def build_app(
    settings: Settings,
    services: Services,
    *,
    background: Background | None = None,
    dispose_engine: bool = True,
    on_started: Callable[[], None] | None = None,
) -> FastAPI:
    """The app over ``services`` (closed with the app). The schema must already be migrated.

    ``background`` runs beside the API for the app's lifetime (the embedded recharge worker);
    ``on_started`` runs once start-up is done (the process's garbage-collector settings).
    """
    signer = TokenSigner(
        settings.signing_secret(), ttl=timedelta(seconds=settings.customer_token_ttl_seconds)
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        if on_started is not None:
            on_started()
        task = asyncio.create_task(background.run(stop)) if background is not None else None
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
            await services.aclose(dispose_engine=dispose_engine)

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
        background=background,
    )
    errors.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    # Outermost: the request id and the access log see the connecting peer (to trust its
    # X-Request-ID) before the proxy headers replace it with the forwarded client.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    app.add_middleware(
        RequestTelemetry,
        trusted=TrustedPeers(settings.forwarded_allow_ips),
        access_log=settings.access_log,
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
