"""A report over 1,000,000 ledger rows streams with bounded memory (PostgreSQL).

The rows are seeded by one INSERT … SELECT over generate_series; the report is generated in
a process of its own whose peak resident set size during the report is measured by the
kernel (VmHWM, reset just before). Holding the rows or the output would take hundreds of
megabytes (the CSV alone is ~100 MB); streaming keeps the growth to a few.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.store.db import create_engine
from balance_manager.store.models import Base
from tests._support import unavailable
from tests.conftest import POSTGRES_ADMIN_URL

ROWS = 1_000_000
# Peak RSS growth while streaming: generous against allocator noise, far below what holding
# the rows (or the ~100 MB of output) would take.
MAX_GROWTH_KB = 32 * 1024

SEED = """
INSERT INTO ledger_entries (user_id, kind, amount, balance_after, reference, description,
                            created_at)
SELECT 'mem-user', 'usage', -1 - (g % 1000), -g, 'ref-' || g, 'usage event ' || g,
       TIMESTAMPTZ '2026-11-01 00:00:00+00' + g * INTERVAL '1 millisecond'
FROM generate_series(1, :rows) AS g
"""


@pytest.fixture
async def pg_engine(postgres_url: str | None) -> AsyncIterator[AsyncEngine]:
    if postgres_url is None:
        unavailable(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}")
    assert postgres_url is not None
    engine = create_engine(postgres_url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield engine
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()


# The generating process: the report use case (what the API route and the CLI stream)
# writing CSV to a file. After a warm-up report over an empty day (imports, connection pool,
# prepared statements), it resets the kernel's peak-RSS mark (/proc/self/clear_refs), makes
# the real report and prints its resident set before and its peak during.
CHILD = """
import asyncio, json, sys
from datetime import datetime
from balance_manager.domain.periods import parse_period
from balance_manager.domain.report_formats import ReportFormat, ReportKind
from balance_manager.settings import load_settings
from balance_manager.usecases import reports
from balance_manager.runtime.compose import build_services
from balance_manager.usecases.services import Services

def kib(field):
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith(field + ":"))
    return int(line.split()[1])

async def main(url, day, out):
    svc = build_services(load_settings(database_url=url, _env_file=None))
    def request(on):
        period = parse_period(start=on, end=on, window=None, now=datetime.now().astimezone())
        return reports.ReportRequest(ReportKind.LEDGER, period, ReportFormat.CSV)
    async for _ in reports.generate(svc, request("2026-10-01")):
        pass
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    before, rows = kib("VmRSS"), []
    with open(out, "w", newline="") as sink:
        async for piece in reports.generate(svc, request(day), progress=rows.append):
            sink.write(piece)
    print(json.dumps({"before": before, "peak": kib("VmHWM"), "rows": sum(rows)}))
    await svc.aclose()

asyncio.run(main(*sys.argv[1:]))
"""


def _generate(url: str, day: str, output: Path) -> tuple[dict[str, int], float]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", CHILD, url, day, str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), time.perf_counter() - started


async def test_a_million_row_report_streams_in_bounded_memory(
    pg_engine: AsyncEngine, postgres_url: str, tmp_path: Path
) -> None:
    async with pg_engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO users (id, email, currency, balance, below_minimum, created_at,"
                " updated_at) VALUES ('mem-user', 'mem@example.com', 'usd', 0, false, now(),"
                " now())"
            )
        )
        # The user exists: skip the foreign-key trigger per row (seeding time, not the test).
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text(SEED), {"rows": ROWS})
        expected_sum = await conn.scalar(text("SELECT sum(amount) FROM ledger_entries"))
    async with pg_engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE ledger_entries"))

    out = tmp_path / "million.csv"
    memory, seconds = await asyncio.to_thread(_generate, postgres_url, "2026-11-01", out)

    assert memory["rows"] == ROWS
    with out.open("rb") as f:
        f.seek(-2048, os.SEEK_END)
        tail = f.read().decode().splitlines()
    totals = dict(zip(tail[-2].split(","), tail[-1].split(","), strict=True))
    assert totals["entries"] == str(ROWS) and totals["usage_count"] == str(ROWS)
    assert totals["net_change"] == f"{expected_sum / 100:.2f}"
    growth = memory["peak"] - memory["before"]
    print(
        f"\n1M-row ledger report: RSS {memory['before'] / 1024:.1f} MiB before, peak "
        f"{memory['peak'] / 1024:.1f} MiB while streaming (+{growth / 1024:.1f} MiB); "
        f"{out.stat().st_size / 1e6:.0f} MB of CSV in {seconds:.1f} s"
    )
    assert growth < MAX_GROWTH_KB
