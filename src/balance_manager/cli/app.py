"""The ``balance-manager`` command line.

Commands that create a secret print it alone on the last line of stdout, so scripts can
capture it: ``KEY=$(balance-manager keys create --name ops | tail -n 1)``.

Help is rendered plain (``rich_markup_mode=None``): the rich layout labels every flag,
``--help`` included, with a ``<bool>`` type column.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from balance_manager.domain.report_formats import ReportFormat, ReportKind
from balance_manager.runtime import gc_tuning, logs
from balance_manager.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from balance_manager.store.migrate import Migration

HELP = """Stripe Balance Manager: prepaid balances kept topped up with Stripe.

Commands that create a secret print it alone on the last line of stdout, so scripts can
capture it: KEY=$(balance-manager keys create --name ops | tail -n 1)
"""
app = typer.Typer(no_args_is_help=True, add_completion=False, help=HELP, rich_markup_mode=None)
keys_app = typer.Typer(no_args_is_help=True, help="Operator API keys.", rich_markup_mode=None)
users_app = typer.Typer(no_args_is_help=True, help="Users.", rich_markup_mode=None)
recharges_app = typer.Typer(
    no_args_is_help=True, help="Recharge records of every user.", rich_markup_mode=None
)
webhooks_app = typer.Typer(
    no_args_is_help=True, help="Operator webhook endpoints and deliveries.", rich_markup_mode=None
)
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(recharges_app, name="recharges")
app.add_typer(webhooks_app, name="webhooks")

T = TypeVar("T")


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _with_db(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
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
        _fail(exc.message)
        raise  # unreachable: _fail exits


def _migrate(settings: Settings) -> Migration:
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
        _fail(f"cannot migrate the database at {where}: {reason}")
        raise  # unreachable: _fail exits


@app.command()
def migrate() -> None:
    """Bring the database schema up to date. Safe to run from several processes at once: on
    PostgreSQL an advisory lock lets one migrate while the others wait, then find nothing to do."""
    settings = _settings()
    logs.configure(settings.log_level, settings.log_format)
    migration = _migrate(settings)
    if migration.applied:
        typer.echo(f"migrated from {migration.before or 'an empty database'} to {migration.after}")
    typer.echo(f"database is up to date (revision {migration.after})")


@app.command()
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

    settings = _settings()
    logs.configure(settings.log_level, settings.log_format)
    if workers > 1 and settings.database_url.startswith("sqlite"):
        _fail("--workers above 1 needs PostgreSQL: SQLite has one writer (serve one process)")
    _tracing()
    # Build the app first: it checks the settings only it needs (TOKEN_SIGNING_SECRET), and
    # a bad one must stop start-up before the database is touched.
    try:
        application = create_app(settings)
    except ConfigError as exc:
        _fail(str(exc))
    _migrate(settings)
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


def _tracing() -> None:
    """OpenTelemetry, when the OTEL_* variables ask for it."""
    from balance_manager.telemetry import tracing

    try:
        tracing.configure_from_env()
    except tracing.TracingUnavailable as exc:
        _fail(str(exc))


@app.command()
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

    settings = _settings()
    logs.configure(settings.log_level, settings.log_format)
    if settings.stripe_secret_key is None:
        _fail("STRIPE_SECRET_KEY is not set: the worker has nothing to charge with")
    _tracing()
    _migrate(settings)

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


@app.command()
def status() -> None:
    """A summary of users, the queue and the workers.

    Users, recharges waiting, the queue, the outbox, the last sweep and every worker."""
    from balance_manager.cli.status_tables import render

    settings = _settings()
    try:
        render(settings)
    except Exception as exc:  # the database is unreachable or not migrated
        _fail(f"cannot read the database: {type(exc).__name__}: {exc}")


@app.command()
def reconcile(
    since: Annotated[
        str,
        typer.Option(help="ISO time (UTC unless an offset is given) or a duration: 36h, 7d."),
    ] = "48h",
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON report.")] = False,
    repair: Annotated[
        bool, typer.Option(help="Repair what settling can (--no-repair: only report).")
    ] = True,
) -> None:
    """Compare Stripe with the ledger, repair, report.

    Compare Stripe's PaymentIntents, refunds and disputes since --since with the ledger;
    repair what the normal settle path can, report every other difference. Exit status 1
    when differences remain."""
    import json
    from datetime import UTC, datetime

    from balance_manager.runtime.compose import build_services
    from balance_manager.store import migrate as migrations
    from balance_manager.usecases import reconcile as reconciling

    settings = _settings()
    logs.configure(settings.log_level, settings.log_format)
    if settings.stripe_secret_key is None:
        _fail("STRIPE_SECRET_KEY is not set: there is no Stripe to reconcile with")

    try:
        start = reconciling.parse_since(since, now=datetime.now(UTC))
    except ValueError:
        _fail(f"--since {since!r} is neither an ISO time nor a duration like 36h or 7d")

    async def run() -> reconciling.Report:
        services = build_services(settings)
        try:
            await migrations.upgrade(services.engine)
            return await reconciling.reconcile(services, since=start, repair=repair)
        finally:
            await services.aclose()

    report = asyncio.run(run())
    typer.echo(json.dumps(report.to_json(), indent=2) if as_json else reconciling.table(report))
    if report.differences:
        raise typer.Exit(1)


@app.command()
def sweep() -> None:
    """Run one sweep pass now.

    Opens the recharges that are due, as a worker's periodic sweep does (needs
    STRIPE_SECRET_KEY); prints {"opened", "candidates", "seconds"} as JSON on the last line."""
    import json

    from balance_manager.usecases import sweep as sweeping

    settings = _settings()
    logs.configure(settings.log_level, settings.log_format)
    # The pass's own time (not start-up or migration) is what sweeping.sweep measures.
    swept = _with_services(settings, sweeping.sweep, payments=True)
    typer.echo(
        json.dumps(
            {
                "opened": swept.opened,
                "candidates": swept.candidates,
                "seconds": round(swept.seconds, 6),
            }
        )
    )


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(metavar="NAME", help="What the key is for.")],
) -> None:
    """Create an operator API key.

    The key is printed once, alone on the last line."""
    from balance_manager.auth import api_keys

    created = _with_db(_settings(), lambda s: api_keys.create_key(s, name=name))
    typer.echo(
        f"created API key {created.id} ({created.name}); store it now, it is not shown again:"
    )
    typer.echo(created.secret)


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never their secrets)."""
    from balance_manager.auth import api_keys

    keys = _with_db(_settings(), api_keys.list_keys)
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        typer.echo(f"{key.id}  bmk_{key.prefix}_…  {key.name:<20} {state:<24} last used {used}")
    if not keys:
        typer.echo("no API keys")


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(metavar="KEY", help="Key id or prefix.")],
) -> None:
    """Revoke an API key at once."""
    from balance_manager.auth import api_keys

    revoked = _with_db(_settings(), lambda s: api_keys.revoke_key(s, key_id_or_prefix=key))
    typer.echo(f"revoked {revoked.id} ({revoked.name})")


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(metavar="EMAIL", help="The user's email address.")],
    user_id: Annotated[
        str | None, typer.Option("--id", metavar="ID", help="Your own user id.")
    ] = None,
    currency: Annotated[
        str | None, typer.Option(metavar="CODE", help="e.g. usd (default DEFAULT_CURRENCY).")
    ] = None,
    minimum: Annotated[
        str | None, typer.Option(metavar="AMOUNT", help="Minimum balance, e.g. 150.")
    ] = None,
    target: Annotated[
        str | None, typer.Option(metavar="AMOUNT", help="Target balance, e.g. 600.")
    ] = None,
    balance: Annotated[
        str | None, typer.Option(metavar="AMOUNT", help="Opening balance, e.g. -50.")
    ] = None,
) -> None:
    """Create a user; prints the new user id on the last line."""
    from balance_manager.usecases import accounts

    settings = _settings()

    async def work(session: Any) -> str:
        user, _ = await accounts.create_user_in(
            session,
            settings,
            accounts.NewUser(
                email=email,
                user_id=user_id,
                currency=currency,
                minimum_balance=minimum,
                target_balance=target,
                initial_balance=balance,
            ),
        )
        return user.id

    typer.echo(_with_db(settings, work))


@users_app.command("show")
def users_show(
    user_id: Annotated[str, typer.Argument(metavar="USER_ID", help="The user's id.")],
) -> None:
    """Show a user's balance and config."""
    from balance_manager.domain import money
    from balance_manager.usecases import accounts

    async def work(session: Any) -> str:
        user, config = await accounts.get_config(session, user_id)
        cur = money.currency(user.currency)
        return "\n".join(
            [
                f"id        {user.id}",
                f"email     {user.email}",
                f"balance   {money.to_major(user.balance, cur)} {cur.code.upper()}",
                f"minimum   {money.to_major(config.minimum_balance, cur)}",
                f"target    {money.to_major(config.target_balance, cur)}",
                f"auto      {'on' if config.auto_recharge_enabled else 'off'}",
            ]
        )

    typer.echo(_with_db(_settings(), work))


def _endpoint_line(endpoint: Any) -> str:
    state = "enabled" if endpoint.enabled else f"disabled ({endpoint.disabled_reason})"
    types = ",".join(endpoint.event_types) if endpoint.event_types else "all events"
    failing = (
        f"  failing since {endpoint.failing_since:%Y-%m-%d %H:%M}" if endpoint.failing_since else ""
    )
    return f"{endpoint.id}  {endpoint.url}  [{types}]  {state}{failing}"


@webhooks_app.command("create")
def webhooks_create(
    url: Annotated[str, typer.Option(help="Your receiver, http(s)://….")],
    event: Annotated[
        list[str] | None, typer.Option(help="An event type to send (repeat); default: all.")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
) -> None:
    """Register a webhook endpoint; its signing secret (whsec_…) is printed once, last."""
    from balance_manager.usecases import webhooks

    created = _with_services(
        _settings(),
        lambda svc: webhooks.create_endpoint(
            svc,
            webhooks.NewEndpoint(url=url, event_types=event or None, description=description),
        ),
    )
    typer.echo(f"created webhook endpoint {_endpoint_line(created.endpoint)}")
    typer.echo("its signing secret; store it now, it is not shown again:")
    typer.echo(created.secret)


@webhooks_app.command("list")
def webhooks_list() -> None:
    """List webhook endpoints (never their secrets)."""
    from balance_manager.usecases import webhooks

    found = _with_services(_settings(), lambda svc: webhooks.list_endpoints(svc, limit=100))
    for endpoint in found.items:
        typer.echo(_endpoint_line(endpoint))
    if not found.items:
        typer.echo("no webhook endpoints")


@webhooks_app.command("update")
def webhooks_update(
    endpoint_id: str,
    url: Annotated[str | None, typer.Option(help="A new URL.")] = None,
    event: Annotated[
        list[str] | None, typer.Option(help="Send only these event types (repeat).")
    ] = None,
    all_events: Annotated[bool, typer.Option("--all-events", help="Send every type.")] = False,
    enable: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Resume or stop deliveries.")
    ] = None,
) -> None:
    """Change an endpoint's URL, event filter, or enable/disable it."""
    from balance_manager.usecases import webhooks

    changes = webhooks.EndpointChanges(
        url=url, event_types=event or None, all_event_types=all_events, enabled=enable
    )
    updated = _with_services(
        _settings(), lambda svc: webhooks.update_endpoint(svc, endpoint_id, changes)
    )
    typer.echo(_endpoint_line(updated))


@webhooks_app.command("delete")
def webhooks_delete(endpoint_id: str) -> None:
    """Delete an endpoint with its deliveries and their log."""
    from balance_manager.usecases import webhooks

    _with_services(_settings(), lambda svc: webhooks.delete_endpoint(svc, endpoint_id))
    typer.echo(f"deleted {endpoint_id}")


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    endpoint_id: str,
    status: Annotated[
        str | None, typer.Option(help="Only pending, succeeded or failed ones.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """An endpoint's recent deliveries: event, status, attempts, last status code or error."""
    from balance_manager.domain.states import DeliveryStatus
    from balance_manager.usecases import webhooks

    try:
        wanted = None if status is None else DeliveryStatus(status)
    except ValueError:
        _fail("--status must be pending, succeeded or failed")
    found = _with_services(
        _settings(),
        lambda svc: webhooks.deliveries(svc, endpoint_id, status=wanted, limit=limit),
    )
    for delivery, event_type in found.items:
        outcome = delivery.last_status_code or delivery.last_error or "-"
        typer.echo(
            f"{delivery.id}  {delivery.event_id}  {event_type:<26} {delivery.status!s:<10}"
            f" attempts {delivery.attempts}  last {outcome}"
        )
    if not found.items:
        typer.echo("no deliveries")


@webhooks_app.command("resend")
def webhooks_resend(
    event_id: str,
    endpoint: Annotated[
        str | None, typer.Option(help="Only to this endpoint (default: every one that had it).")
    ] = None,
) -> None:
    """Send an event again, with the same webhook-id; the worker delivers it."""
    from balance_manager.usecases import webhooks

    targets = _with_services(
        _settings(), lambda svc: webhooks.resend(svc, event_id, endpoint_id=endpoint)
    )
    typer.echo(f"queued {event_id} for {', '.join(targets)}")


@webhooks_app.command("recover")
def webhooks_recover(
    endpoint_id: str,
    since: Annotated[str, typer.Option(help="ISO 8601 time with zone, e.g. 2026-11-30T00:00Z.")],
) -> None:
    """Send again everything since SINCE that the endpoint did not get."""
    from datetime import datetime

    from balance_manager.usecases import webhooks

    try:
        start = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"--since {since!r} is not an ISO 8601 time")
    queued = _with_services(
        _settings(), lambda svc: webhooks.recover(svc, endpoint_id, since=start)
    )
    typer.echo(f"queued {queued} deliveries for {endpoint_id}")


def _token_ttl(seconds: int | None) -> int | None:
    from balance_manager.auth.tokens import ttl_problem

    problem = None if seconds is None else ttl_problem(seconds)
    if problem is not None:
        raise typer.BadParameter(problem)  # the API's ttlSeconds says the same
    return seconds


@app.command()
def token(
    user_id: Annotated[str, typer.Argument(metavar="USER_ID", help="The user's id.")],
    ttl: Annotated[
        int | None,
        typer.Option(
            metavar="SECONDS",
            callback=_token_ttl,
            help="Lifetime, 60 s to 30 days (default CUSTOMER_TOKEN_TTL_SECONDS).",
        ),
    ] = None,
) -> None:
    """Mint a customer token for USER_ID.

    The token is printed alone on the last line."""
    from datetime import timedelta

    from balance_manager.auth.tokens import TokenSigner
    from balance_manager.usecases import accounts
    from balance_manager.web import links

    settings = _settings()
    try:
        signer = TokenSigner(
            settings.signing_secret(), ttl=timedelta(seconds=settings.customer_token_ttl_seconds)
        )
    except ConfigError as exc:
        _fail(str(exc))

    async def work(session: Any) -> None:
        await accounts.get_user(session, user_id)

    _with_db(settings, work)
    minted = signer.mint(user_id, ttl=timedelta(seconds=ttl) if ttl else None)
    typer.echo(f"dashboard link: {links.dashboard_url(settings.public_base_url, minted.token)}")
    typer.echo(f"customer token for {user_id}, expires {minted.expires_at.isoformat()}:")
    typer.echo(minted.token)


@app.command()
def demo(
    port: Annotated[int, typer.Option(metavar="PORT", help="Port for the service.")] = 3000,
    data_dir: Annotated[
        Path, typer.Option(metavar="DIR", help="Where the demo's SQLite file lives.")
    ] = Path(".demo"),
) -> None:
    """Run the offline demo.

    The service on a fresh SQLite file, the Stripe sandbox, and the original's test user."""
    from balance_manager.cli.demo import run_demo

    run_demo(port=port, data_dir=data_dir)


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(metavar="HOST", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.")] = 12111,
    state_file: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Keep state across restarts.")
    ] = None,
) -> None:
    """Run the offline Stripe sandbox.

    It emulates the subset of the Stripe API this service uses."""
    from stripe_sandbox.server import run

    run(host=host, port=port, state_file=state_file)


def _with_services(
    settings: Settings, work: Callable[[Any], Awaitable[T]], *, payments: bool = False
) -> T:
    """Run ``work(services)`` on a migrated database (the use cases' own transactions)."""
    from balance_manager.domain.errors import ServiceError
    from balance_manager.payments.gateway import GatewayError
    from balance_manager.runtime.compose import build_services
    from balance_manager.store import migrate as migrations

    if payments and settings.stripe_secret_key is None:
        _fail("STRIPE_SECRET_KEY is not set: this command needs Stripe")

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
        _fail(exc.message)
    except GatewayError as exc:
        _fail(f"Stripe: {exc.message}")
    raise AssertionError("unreachable")


def _recharge_lines(record: Any) -> list[str]:
    from balance_manager.domain import money

    cur = money.currency(record.currency)
    major = f"{money.to_major(record.amount, cur)} + fee {money.to_major(record.fee, cur)}"
    return [
        f"id            {record.id}",
        f"user          {record.user_id}",
        f"status        {record.status}",
        f"amount        {major} = {money.to_major(record.total_charge, cur)} {cur.code.upper()}",
        f"triggered by  {record.triggered_by} ({record.trigger_detail})"
        + (", capped at maxRechargeAmount" if record.capped else ""),
        f"intent        {record.payment_intent_id or '-'}",
        f"failure       {record.failure_code or '-'}"
        + (f": {record.failure_message}" if record.failure_message else ""),
        f"created       {record.created_at.isoformat()}",
        f"completed     {record.completed_at.isoformat() if record.completed_at else '-'}",
    ]


@recharges_app.command("list")
def recharges_list(
    user: Annotated[
        str | None, typer.Option(metavar="USER_ID", help="Only this user's records.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(metavar="STATUS", help="pending, processing, requires_action, …"),
    ] = None,
    limit: Annotated[int, typer.Option(metavar="N", min=1, max=100, help="Records per page.")] = 20,
    page: Annotated[int, typer.Option(metavar="PAGE", min=1, help="Page, from 1.")] = 1,
) -> None:
    """List recharge records, newest first."""
    from balance_manager.domain import money
    from balance_manager.usecases import admin

    async def work(svc: Any) -> Any:
        return await admin.list_recharges(
            svc, user_id=user, status=admin.parse_status(status), page=page, limit=limit
        )

    found = _with_services(_settings(), work)
    for r in found.items:
        cur = money.currency(r.currency)
        total = f"{money.to_major(r.total_charge, cur)} {cur.code.upper()}"
        typer.echo(
            f"{r.id}  {r.user_id:<20} {r.status!s:<16} {total:>16}  "
            f"{r.created_at:%Y-%m-%d %H:%M:%S}  {r.failure_code or ''}".rstrip()
        )
    typer.echo(f"page {found.page} of {found.total_pages or 1}, {found.total} records", err=True)


@recharges_app.command("show")
def recharges_show(
    recharge_id: Annotated[str, typer.Argument(metavar="RECHARGE_ID", help="The recharge's id.")],
) -> None:
    """Show one recharge record."""
    from balance_manager.usecases import admin

    record = _with_services(_settings(), lambda svc: admin.recharge(svc, recharge_id))
    typer.echo("\n".join(_recharge_lines(record)))


@recharges_app.command("cancel")
def recharges_cancel(
    recharge_id: Annotated[str, typer.Argument(metavar="RECHARGE_ID", help="The recharge's id.")],
) -> None:
    """Cancel a recharge waiting for authentication.

    Its PaymentIntent is canceled at Stripe, as POST
    /api/balance/recharge/{userId}/{rechargeId}/cancel does."""
    from balance_manager.usecases import admin

    view = _with_services(
        _settings(), lambda svc: admin.cancel_recharge(svc, recharge_id), payments=True
    )
    typer.echo("\n".join(_recharge_lines(view.record)))


@app.command()
def report(
    start: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="WHEN",
            help="First day (2026-11-01, UTC) or an ISO datetime, inclusive.",
        ),
    ],
    end: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="WHEN",
            help="Last day (included) or an ISO datetime (exclusive).",
        ),
    ],
    fmt: Annotated[
        ReportFormat, typer.Option("--format", metavar="csv|json", help="Output format.")
    ] = ReportFormat.CSV,
    kind: Annotated[
        ReportKind,
        typer.Option("--kind", metavar="recharges|ledger", help="What to report."),
    ] = ReportKind.RECHARGES,
    output: Annotated[
        Path | None,
        typer.Option("--output", metavar="FILE", help="Write here instead of stdout."),
    ] = None,
) -> None:
    """Write a report of recharges or ledger entries.

    The rows of the period, then totals per currency; money as exact decimals in major
    units. A progress bar goes to stderr."""
    import sys

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from balance_manager.domain.errors import InvalidInput
    from balance_manager.domain.periods import parse_period
    from balance_manager.store.models import utcnow
    from balance_manager.usecases import reports

    settings = _settings()
    try:
        period = parse_period(start=start, end=end, window=None, now=utcnow())
    except InvalidInput as exc:
        raise typer.BadParameter(exc.message, param_hint=f"--{exc.field}") from None
    request = reports.ReportRequest(kind, period, fmt)

    async def work(svc: Any) -> int:
        total = await reports.count(svc, request)
        progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        sink = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
        rows = 0
        try:
            with progress:
                task = progress.add_task(f"{request.kind} report", total=total)

                def advance(n: int) -> None:
                    nonlocal rows
                    rows += n
                    progress.advance(task, n)

                async for piece in reports.generate(svc, request, progress=advance):
                    sink.write(piece)
        finally:
            if output:
                sink.close()
            else:
                sink.flush()
        return rows

    rows = _with_services(settings, work)
    where = f" to {output}" if output else ""
    typer.echo(f"{rows} {request.kind} rows{where}", err=True)


def main() -> None:
    app()
