"""Report rows stream in batches, each row once, in (created_at, id) order, within the
half-open period — whatever the batch size and however many rows share a timestamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.domain.periods import Period
from balance_manager.domain.report_formats import ReportFormat, ReportKind
from balance_manager.runtime.compose import build_services
from balance_manager.settings import Settings
from balance_manager.store import reports as rows
from balance_manager.store.models import LedgerEntry
from balance_manager.usecases import reports
from tests.conftest import UserMaker

T0 = datetime(2026, 11, 1, tzinfo=UTC)


async def _seed(engine: AsyncEngine, user: str) -> list[int]:
    """Ten entries at each of four instants (the last one at the period's end)."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(LedgerEntry.__table__),  # type: ignore[arg-type]
            [
                {
                    "user_id": user,
                    "kind": "usage",
                    "amount": -(i + 1),
                    "balance_after": 0,
                    "reference": f"r{i}",
                    "created_at": T0 + timedelta(hours=i % 4),
                }
                for i in range(40)
            ],
        )
    return [-(i + 1) for i in range(40) if i % 4 != 3]


async def test_batches_cover_the_period_once_in_order(
    engine: AsyncEngine, make_user: UserMaker
) -> None:
    user = await make_user(initial_balance=0)
    expected = await _seed(engine, user)
    end = T0 + timedelta(hours=3)
    for chunk in (1, 3, 10, 29, 30, 31, 1000):
        batches = [b async for b in rows.stream_ledger(engine, T0, end, chunk=chunk)]
        assert all(0 < len(b) <= chunk for b in batches)
        got = [r for b in batches for r in b]
        assert sorted(r.amount for r in got) == sorted(expected), chunk
        keys = [(r.created_at, r.id) for r in got]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
    query = rows.ledger_query(T0, end)
    assert await rows.count(engine, query) == 30


async def test_the_use_case_reports_progress_per_batch(
    engine: AsyncEngine, settings: Settings, make_user: UserMaker
) -> None:
    user = await make_user(initial_balance=0)
    await _seed(engine, user)
    svc = build_services(settings, engine=engine)
    request = reports.ReportRequest(
        ReportKind.LEDGER, Period(T0, T0 + timedelta(hours=3)), ReportFormat.CSV
    )
    seen: list[int] = []
    text = "".join([p async for p in reports.generate(svc, request, progress=seen.append, chunk=7)])
    assert seen == [7, 7, 7, 7, 2]
    assert await reports.count(svc, request) == 30
    assert text.count("\r\nusd,") == 1  # one totals row
    assert text.splitlines()[-1].startswith("usd,30,30,-")
