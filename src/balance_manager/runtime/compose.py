"""The composition root: settings → the use cases' services → the processes that run them.

Every entry point builds what it runs here: ``serve`` the API with (by default) a recharge
worker beside it, ``worker`` the worker alone, the CLI's commands the services. The layers
below never build each other: the API does not import the worker, the use cases do not
read the environment.
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.api.app import build_app
from balance_manager.payments.gateway import StripeGateway
from balance_manager.runtime import gc_tuning
from balance_manager.runtime.worker import Worker
from balance_manager.settings import Settings
from balance_manager.store.db import create_engine, session_factory
from balance_manager.usecases.services import Services


def build_services(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    gateway: StripeGateway | None = None,
) -> Services:
    """The database (``engine``, or a new one from ``DATABASE_URL``), Stripe (when
    ``STRIPE_SECRET_KEY`` is set) and the engine's rules."""
    db = engine or create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    if gateway is None and settings.stripe_secret_key is not None:
        gateway = StripeGateway.from_settings(settings)
    return Services(
        settings=settings,
        engine=db,
        sessions=session_factory(db),
        gateway=gateway,
        rules=settings.recharge_rules,
    )


def create_app(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    embedded_worker: bool | None = None,
) -> FastAPI:
    """The API of one process. With Stripe configured and ``EMBEDDED_WORKER`` on (the
    default), a recharge worker runs in the same event loop: the single-node mode, and the
    only mode on SQLite. ``engine`` (tests) is the caller's: the app does not dispose of it."""
    services = build_services(settings, engine=engine)
    run_worker = settings.embedded_worker if embedded_worker is None else embedded_worker
    worker = (
        Worker.from_settings(settings, services)
        if services.payments_enabled and run_worker
        else None
    )
    return build_app(
        settings,
        services,
        background=worker,
        dispose_engine=engine is None,
        on_started=gc_tuning.settle_after_startup,
    )


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
