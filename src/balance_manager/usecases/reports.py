"""Reports of recharge records and ledger entries for a period, streamed as CSV or JSON with
totals per currency (what they contain: ``report_formats``).

The rows come from the store in batches (a server-side cursor on PostgreSQL, keyset chunks
on SQLite) and leave as text as soon as each batch is encoded; the totals are added up from
the same rows on the way, so they always agree with the rows above them. Memory stays that
of one batch whatever the period holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row

from balance_manager.domain.periods import Period
from balance_manager.domain.report_formats import (
    Heading,
    LedgerLine,
    Line,
    RechargeLine,
    ReportFormat,
    ReportKind,
    Totals,
    writer,
)
from balance_manager.store import reports as rows
from balance_manager.usecases.services import Services

CHUNK = 2000


@dataclass(frozen=True, slots=True)
class ReportRequest:
    kind: ReportKind
    period: Period
    format: ReportFormat

    @property
    def filename(self) -> str:
        span = f"{self.period.start:%Y%m%dT%H%M%SZ}-{self.period.end:%Y%m%dT%H%M%SZ}"
        return f"{self.kind}-{span}.{self.format}"


async def count(svc: Services, request: ReportRequest) -> int:
    """How many rows the report will have (for a progress bar; rows may arrive meanwhile)."""
    start, end = request.period.start, request.period.end
    query = (
        rows.recharges_query(start, end)
        if request.kind is ReportKind.RECHARGES
        else rows.ledger_query(start, end)
    )
    return await rows.count(svc.engine, query)


async def generate(
    svc: Services,
    request: ReportRequest,
    *,
    progress: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
) -> AsyncIterator[str]:
    """The report as text pieces; ``progress(n)`` after each batch of ``n`` rows."""
    out = writer(request.kind, request.format)
    totals = Totals(request.kind)
    start, end = request.period.start, request.period.end
    yield out.begin(Heading(request.kind, start, end, svc.clock()))
    if request.kind is ReportKind.RECHARGES:
        batches = rows.stream_recharges(svc.engine, start, end, chunk=chunk)
        line: Callable[[Row[Any]], Line] = _recharge_line
    else:
        batches = rows.stream_ledger(svc.engine, start, end, chunk=chunk)
        line = _ledger_line
    async for batch in batches:
        lines: Sequence[Line] = [line(r) for r in batch]
        totals.add(lines)
        yield out.rows(lines)
        if progress is not None:
            progress(len(lines))
    yield out.end(totals)


def _recharge_line(r: Row[Any]) -> Line:
    return RechargeLine._make(r)  # the query's columns are the line's fields, in order


def _ledger_line(r: Row[Any]) -> Line:
    return LedgerLine._make(r)
