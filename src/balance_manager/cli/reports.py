"""``balance-manager report``: a period's recharges or ledger entries as CSV or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from balance_manager.cli._shared import read_settings, with_services
from balance_manager.domain.report_formats import ReportFormat, ReportKind


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

    settings = read_settings()
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

    rows = with_services(settings, work)
    where = f" to {output}" if output else ""
    typer.echo(f"{rows} {request.kind} rows{where}", err=True)
