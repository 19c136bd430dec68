"""The idempotency probes find an entry by its unique key through the unique index, whatever
the statistics say. PostgreSQL here has statistics taken when the ledger was nearly empty
(as on a server whose autovacuum lags), then a user with thousands of entries."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.store import ledger
from balance_manager.store.models import LedgerEntry
from tests.conftest import UserMaker

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

UNIQUE = "uq_ledger_entries_user_id_kind_reference"
PER_USER = "ix_ledger_entries_user_id_id"


async def _plan(engine: AsyncEngine, statement: str, params: dict[str, object]) -> str:
    async with engine.connect() as conn:
        rows = await conn.execute(text("EXPLAIN (ANALYZE, COSTS OFF) " + statement), params)
        return "\n".join(r[0] for r in rows)


async def test_probes_use_the_unique_index_with_stale_statistics(
    engine: AsyncEngine, make_user: UserMaker
) -> None:
    users = [await make_user(initial_balance=100) for _ in range(20)]
    heavy = users[0]
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE ledger_entries"))  # one entry a user: stale from now
        await conn.execute(
            text(
                "INSERT INTO ledger_entries (user_id, kind, amount, balance_after, reference,"
                " created_at) SELECT :u, 'usage', -1, 0, 'k' || g, now()"
                " FROM generate_series(1, 5000) AS g"
            ),
            {"u": heavy},
        )

    probe = await _plan(
        engine,
        str(ledger.FIND_ENTRIES_PG),
        {"user_ids": [heavy, heavy], "kinds": ["usage", "usage"], "refs": ["k17", "new"]},
    )
    assert UNIQUE in probe and PER_USER not in probe, probe
    assert "Rows Removed by Filter" not in probe, probe  # no walk through the user's entries

    debit = await _plan(
        engine,
        ledger._DEBIT_ONE.replace("$1", ":u")
        .replace("$2", "-1")
        .replace("$3", "'fresh'")
        .replace("$4", "NULL")
        .replace("$5", "NULL")
        .replace("$6", "now()")
        .replace("$7", "1000000000000")
        .replace("$8", "false"),
        {"u": heavy},
    )
    assert UNIQUE in debit and PER_USER not in debit, debit

    # The ledger page, newest first, does use the per-user index.
    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql

    page = (
        select(LedgerEntry.id)
        .where(LedgerEntry.user_id == heavy, LedgerEntry.id > 0)
        .order_by(LedgerEntry.id.desc())
        .limit(20)
    )
    compiled = page.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    assert PER_USER in await _plan(engine, str(compiled), {})
