"""What every command needs: the settings (a bad one is a one-line error, exit 2; the root's
``--env-file`` names a file to read them from), a one-line failure (exit 1), and running a
coroutine on a migrated database — with one session in one transaction (``with_db``) or with
the services, whose use cases own their transactions (``with_services``).

Only ``migrate``, ``serve``, ``worker`` and ``demo`` create or change a schema; every other
command first checks the database's (:func:`require_schema`) and otherwise says to run
``balance-manager migrate`` — on SQLite without creating the file it did not find.

A command's own output is stdout; its log lines go to stderr (``read_settings`` sets that up),
so ``--json`` and the secrets printed last can be piped. ``serve`` and ``worker`` log to stdout,
as a service's log stream.

Light at import: the database, the services and Stripe are imported inside the functions,
so that ``--help`` stays fast.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from balance_manager.runtime import logs
from balance_manager.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from balance_manager.payments.gateway import StripeGateway
    from balance_manager.store.migrate import Migration

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RootOptions:
    """The options given before the command (``balance-manager --env-file F status``)."""

    env_file: Path | None = None


# Set by the root's callback before the command runs; one command runs per process.
_root_options = RootOptions()


def set_root_options(options: RootOptions) -> None:
    global _root_options
    _root_options = options


def root_options() -> RootOptions:
    return _root_options


def read_settings(**overrides: Any) -> Settings:
    """The settings from the environment (and ``--env-file``); a bad one stops the command
    with exit status 2. The command's log lines go to stderr from here on."""
    try:
        settings = load_settings(env_file=root_options().env_file, **overrides)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    logs.configure(settings.log_level, settings.log_format, stream=sys.stderr)
    return settings


def fail(message: str) -> NoReturn:
    """Stop with ``error: message`` as one line on stderr (exit status 1)."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(1)


def _where(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def require_schema(settings: Settings) -> None:
    """Stop with one line unless the database exists and has this version's schema."""
    from sqlalchemy.exc import SQLAlchemyError

    from balance_manager.store import migrate
    from balance_manager.store.db import create_engine, database_file

    where = _where(settings)
    path = database_file(settings.database_url)
    if path is not None and not path.is_file():
        given = "database_url" in settings.model_fields_set
        which = "DATABASE_URL" if given else "the default DATABASE_URL"
        fail(
            f"no database at {path} ({which}): run `balance-manager migrate` to create one, or "
            "point DATABASE_URL (or --env-file, e.g. the demo's .demo/env) at yours"
        )

    async def read() -> migrate.Schema:
        engine = create_engine(settings.database_url)
        try:
            return await migrate.schema(engine)
        finally:
            await engine.dispose()

    try:
        found = asyncio.run(read())
    except (OSError, SQLAlchemyError) as exc:
        fail(f"cannot reach the database at {where}: {_reason(exc)}")
    if found.current is None:
        fail(f"the database at {where} has no schema: run `balance-manager migrate`")
    if not found.known:
        fail(
            f"the database at {where} is at revision {found.current}, which this version of "
            "balance-manager does not know (a newer version migrated it)"
        )
    if not found.up_to_date:
        fail(
            f"the database at {where} is at revision {found.current} and this version needs "
            f"{found.head}: run `balance-manager migrate`"
        )


def with_db(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(session)`` in one transaction on a migrated database."""
    from balance_manager.domain.errors import ServiceError
    from balance_manager.store.db import create_engine, session_factory

    require_schema(settings)

    async def run() -> T:
        engine = create_engine(settings.database_url)
        try:
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

    if payments and settings.stripe_secret_key is None:
        fail("STRIPE_SECRET_KEY is not set: this command needs Stripe")
    require_schema(settings)

    async def run() -> T:
        services = build_services(settings, engine=None)
        try:
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


def with_gateway(settings: Settings, work: Callable[[StripeGateway], Awaitable[T]]) -> T:
    """Run ``work(gateway)`` against Stripe alone (no database)."""
    from balance_manager.payments.gateway import GatewayError, StripeGateway

    if settings.stripe_secret_key is None:
        fail("STRIPE_SECRET_KEY is not set: this command needs Stripe")
    gateway = StripeGateway.from_settings(settings)

    async def run() -> T:
        try:
            return await work(gateway)
        finally:
            await gateway.aclose()

    try:
        return asyncio.run(run())
    except GatewayError as exc:
        fail(f"Stripe: {exc.message}")


def migrate_database(settings: Settings) -> Migration:
    """Bring the schema up to date. Callers validate every setting they need first, so a bad
    setting stops a command before anything touches the database."""
    from sqlalchemy.exc import SQLAlchemyError

    from balance_manager.store.migrate import upgrade_database

    try:
        return asyncio.run(upgrade_database(settings.database_url))
    except (OSError, SQLAlchemyError) as exc:
        fail(f"cannot migrate the database at {_where(settings)}: {_reason(exc)}")


def configure_tracing() -> None:
    """OpenTelemetry, when the OTEL_* variables ask for it."""
    from balance_manager.telemetry import tracing

    try:
        tracing.configure_from_env()
    except tracing.TracingUnavailable as exc:
        fail(str(exc))
