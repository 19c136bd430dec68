"""Running the service: ``migrate``, ``serve`` (the API, with its embedded worker), ``worker``
and one ``sweep`` pass."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from balance_manager.cli._shared import (
    configure_tracing,
    fail,
    migrate_database,
    read_settings,
    seal_webhook_secrets,
    with_services,
)
from balance_manager.runtime import gc_tuning, logs
from balance_manager.settings import ConfigError


def migrate() -> None:
    """Bring the database schema up to date. Safe to run from several processes at once: on
    PostgreSQL an advisory lock lets one migrate while the others wait, then find nothing to do."""
    settings = read_settings()
    migration = migrate_database(settings)
    if migration.applied:
        typer.echo(f"migrated from {migration.before or 'an empty database'} to {migration.after}")
    typer.echo(f"database is up to date (revision {migration.after})")


def serve(
    host: Annotated[
        str | None, typer.Option(metavar="HOST", help="Interface to bind (default HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(metavar="PORT", help="Port (default PORT, 3000).")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            envvar="WEB_CONCURRENCY",
            metavar="N",
            help="API processes (PostgreSQL only above 1; the recharge worker then runs as one "
            "more process, not inside each).",
        ),
    ] = 1,
) -> None:
    """Serve the HTTP API (and the recharge worker), after migrating.

    Unless EMBEDDED_WORKER=false, the recharge worker runs too: inside the one process, or as
    one more process beside --workers N."""
    import uvicorn

    from balance_manager.runtime.compose import create_app
    from balance_manager.runtime.serving import uvicorn_options

    settings = read_settings()
    logs.configure(settings.log_level, settings.log_format)
    if workers > 1 and settings.database_url.startswith("sqlite"):
        fail("--workers above 1 needs PostgreSQL: SQLite has one writer (serve one process)")
    configure_tracing()
    # Build the app first: it checks the settings only it needs (TOKEN_SIGNING_SECRET), and
    # a bad one must stop start-up before the database is touched.
    try:
        application = create_app(settings)
    except ConfigError as exc:
        fail(str(exc))
    migrate_database(settings)
    seal_webhook_secrets(settings)
    options: dict[str, Any] = {
        "host": host or settings.host,
        "port": port or settings.port,
        **uvicorn_options(settings),
    }
    if workers == 1:
        uvicorn.run(application, **options)
        return
    # Several API processes: the recharge worker must run in exactly one process, so it gets
    # its own (as `balance-manager worker` would) and the API processes run none.
    import os
    import subprocess
    import sys

    os.environ["EMBEDDED_WORKER"] = "false"
    recharge_worker = (
        subprocess.Popen([sys.executable, "-m", "balance_manager", "worker"])
        if settings.embedded_worker and settings.stripe_secret_key is not None
        else None
    )
    try:
        uvicorn.run(
            "balance_manager.runtime.compose:create_app_from_env",
            factory=True,
            workers=workers,
            **options,
        )
    finally:
        if recharge_worker is not None:
            recharge_worker.terminate()
            recharge_worker.wait(timeout=30)


def worker() -> None:
    """Run a recharge worker.

    It claims, charges and settles recharges, sweeps every RECHARGE_CHECK_INTERVAL and gives
    up on recharges waiting for authentication past RECHARGE_ACTION_EXPIRY_SECONDS. Several
    workers can share one PostgreSQL database."""
    import signal

    from balance_manager.runtime.compose import build_services
    from balance_manager.runtime.worker import Worker
    from balance_manager.telemetry import exposition, tracing
    from balance_manager.usecases import metrics

    settings = read_settings()
    logs.configure(settings.log_level, settings.log_format)
    if settings.stripe_secret_key is None:
        fail("STRIPE_SECRET_KEY is not set: the worker has nothing to charge with")
    configure_tracing()
    migrate_database(settings)
    seal_webhook_secrets(settings)

    async def run() -> None:
        services = build_services(settings)
        stop = asyncio.Event()
        recharge_worker = Worker.from_settings(settings, services)
        listener = (
            exposition.start_listener(
                settings.metrics_port, settings.host, lambda: metrics.collect(services)
            )
            if settings.metrics_port is not None
            else None
        )

        def shutdown() -> None:
            # Stop after the current pass, without waiting out the poll interval.
            stop.set()
            recharge_worker.wakeup.set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, shutdown)
        gc_tuning.settle_after_startup()
        typer.echo("worker started", err=True)
        try:
            await recharge_worker.run(stop)
        finally:
            if listener is not None:
                listener.close()
            await services.aclose()
            tracing.shutdown()

    asyncio.run(run())


def sweep() -> None:
    """Run one sweep pass now.

    Opens the recharges that are due, as a worker's periodic sweep does (needs
    STRIPE_SECRET_KEY); prints {"opened", "candidates", "seconds"} as JSON on the last line."""
    import json

    from balance_manager.usecases import sweep as sweeping

    settings = read_settings()
    # The pass's own time (not start-up or migration) is what sweeping.sweep measures.
    swept = with_services(settings, sweeping.sweep, payments=True)
    typer.echo(
        json.dumps(
            {
                "opened": swept.opened,
                "candidates": swept.candidates,
                "seconds": round(swept.seconds, 6),
            }
        )
    )
