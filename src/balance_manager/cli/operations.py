"""Looking after a running service: ``status`` (what the database says: users, the queue, the
workers) and ``reconcile`` (Stripe against the ledger)."""

from __future__ import annotations

from typing import Annotated

import typer

from balance_manager.cli._shared import fail, read_settings, require_schema, with_services


def status() -> None:
    """A summary of users, the queue and the workers.

    Users, recharges waiting, the queue, the outbox, the last sweep and every worker."""
    from balance_manager.cli.status_tables import render

    settings = read_settings()
    require_schema(settings)
    try:
        render(settings)
    except Exception as exc:  # the database is unreachable or not migrated
        fail(f"cannot read the database: {type(exc).__name__}: {exc}")


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

    from balance_manager.usecases import reconcile as reconciling

    settings = read_settings()
    if settings.stripe_secret_key is None:
        fail("STRIPE_SECRET_KEY is not set: there is no Stripe to reconcile with")

    try:
        start = reconciling.parse_since(since, now=datetime.now(UTC))
    except ValueError:
        fail(f"--since {since!r} is neither an ISO time nor a duration like 36h or 7d")

    report = with_services(
        settings,
        lambda services: reconciling.reconcile(services, since=start, repair=repair),
        payments=True,
    )
    typer.echo(json.dumps(report.to_json(), indent=2) if as_json else reconciling.table(report))
    if report.differences:
        raise typer.Exit(1)
