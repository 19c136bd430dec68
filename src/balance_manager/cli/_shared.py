"""What every command needs: the settings (a bad one is a one-line error, exit 2), a one-line
failure (exit 1), and running a coroutine on a migrated database — with one session in one
transaction (``with_db``) or with the services, whose use cases own their transactions
(``with_services``).

Light at import: the database, the services and Stripe are imported inside the functions,
so that ``--help`` stays fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from balance_manager.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from balance_manager.store.migrate import Migration

T = TypeVar("T")


def read_settings(**overrides: Any) -> Settings:
    """The settings from the environment; a bad one stops the command with exit status 2."""
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def with_db(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(session)`` in one transaction on a migrated database."""
    from balance_manager.domain.errors import ServiceError
    from balance_manager.store import migrate
    from balance_manager.store.db import create_engine, session_factory

    async def run() -> T:
        engine = create_engine(settings.database_url)
        try:
            await migrate.upgrade(engine)
            async with session_factory(engine).begin() as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except ServiceError as exc:
        fail(exc.message)


def with_services(
    settings: Settings, work: Callable[[Any], Awaitable[T]], *, payments: bool = False
) -> T:
    """Run ``work(services)`` on a migrated database (the use cases' own transactions)."""
    from balance_manager.domain.errors import ServiceError
    from balance_manager.payments.gateway import GatewayError
    from balance_manager.runtime.compose import build_services
    from balance_manager.store import migrate as migrations

    if payments and settings.stripe_secret_key is None:
        fail("STRIPE_SECRET_KEY is not set: this command needs Stripe")

    async def run() -> T:
        services = build_services(settings, engine=None)
        try:
            await migrations.upgrade(services.engine)
            return await work(services)
        finally:
            await services.aclose()

    try:
        return asyncio.run(run())
    except ServiceError as exc:
        fail(exc.message)
    except GatewayError as exc:
        fail(f"Stripe: {exc.message}")
    except ConfigError as exc:  # a setting the database shows is needed (SECRETS_KEY)
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def seal_webhook_secrets(settings: Settings) -> None:
    """Start-up (``serve``, ``worker``): the operator webhook secrets encrypted under the
    first SECRETS_KEY; stops with one line naming SECRETS_KEY when secrets exist and it is
    missing or cannot decrypt them."""
    from balance_manager.usecases import webhooks

    with_services(settings, webhooks.seal_secrets)


def migrate_database(settings: Settings) -> Migration:
    """Bring the schema up to date. Callers validate every setting they need first, so a bad
    setting stops a command before anything touches the database."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from balance_manager.store.migrate import upgrade_database

    try:
        return asyncio.run(upgrade_database(settings.database_url))
    except (OSError, SQLAlchemyError) as exc:
        where = make_url(settings.database_url).render_as_string(hide_password=True)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"cannot migrate the database at {where}: {reason}")


def configure_tracing() -> None:
    """OpenTelemetry, when the OTEL_* variables ask for it."""
    from balance_manager.telemetry import tracing

    try:
        tracing.configure_from_env()
    except tracing.TracingUnavailable as exc:
        fail(str(exc))
