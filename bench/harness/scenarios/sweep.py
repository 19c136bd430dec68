"""Target 4: the sweep over 1,000,000 users.

A database of its own, migrated by ``balance-manager migrate``; the users, their configs
(a card, auto-recharge on, balance 10.00 above a 5.00 minimum: nobody due) and their opening
ledger entries are inserted by SQL, then ``ANALYZE``. Then:

1. ``balance-manager sweep`` passes that find nobody (the command times the pass itself);
2. the statements one such pass runs, captured in-process (SQLAlchemy's
   ``before_cursor_execute`` on the same CLI command) and shown with ``EXPLAIN (ANALYZE,
   BUFFERS)`` inside a rolled-back transaction;
3. every (users / due)-th user debited below the minimum by SQL (a usage ledger entry and the
   balance, as the service would; no ANALYZE, as when usage just happened), then passes until
   one opens nothing (at most ``sweep_max_passes``): what the first pass opens and how long
   it takes, and how long opening all of them takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import time
from typing import Any

import asyncpg

from harness import db
from harness.stack import Stack
from harness.stats import spread

PREFIX = "bs"
BALANCE, MINIMUM, TARGET, DEBIT = 1000, 500, 5000, 600


def _pass(stack: Stack, url: str) -> dict[str, Any]:
    out = stack.cli(url, "sweep")
    return dict(json.loads(out.strip().splitlines()[-1]))


def _capture(stack: Stack, url: str) -> list[tuple[str, Any]]:
    """The SQL statements of one sweep pass, run in this process through the CLI command."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from typer.main import get_command

    from balance_manager.cli.app import app

    captured: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        captured.append((statement, params))

    saved = dict(os.environ)
    os.environ.update(stack.env(url))
    event.listen(Engine, "before_cursor_execute", record)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            get_command(app).main(["sweep"], standalone_mode=False)
    finally:
        event.remove(Engine, "before_cursor_execute", record)
        os.environ.clear()
        os.environ.update(saved)
    # The pass's own queries: not the migration check (alembic_version, pg_catalog).
    return [
        (sql, params)
        for sql, params in captured
        if any(t in sql for t in ("balance_configs", "recharge_records"))
        and "alembic_version" not in sql
    ]


async def _explain(url: str, statements: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(url)
    plans = []
    try:
        for sql, params in statements:
            args = list(params or ())
            tr = conn.transaction()
            await tr.start()
            try:
                rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
            finally:
                await tr.rollback()  # EXPLAIN ANALYZE runs the statement: leave nothing behind
            plans.append({"sql": " ".join(sql.split()), "plan": [r[0] for r in rows]})
    finally:
        await conn.close()
    return plans


def _make_due(url: str, users: int, due: int) -> None:
    step = max(1, users // due)

    async def work(conn: Any) -> None:
        async with conn.transaction():
            await conn.execute(
                """
                WITH due AS (
                    SELECT $1::text || (g * $2::int) AS id FROM generate_series(1, $3::int) AS g
                ), moved AS (
                    UPDATE users SET balance = balance - $4::bigint, updated_at = now(),
                        below_minimum = true  -- 400 < 500, as the service's debit sets it
                    FROM due WHERE users.id = due.id
                    RETURNING users.id, users.balance
                )
                INSERT INTO ledger_entries (user_id, kind, amount, balance_after, reference,
                    description, created_at)
                SELECT id, 'usage', -$4::bigint, balance, 'bench-make-due', 'bench: usage', now()
                FROM moved
                """,
                PREFIX,
                step,
                due,
                DEBIT,
            )

    db.with_conn(url, work)


def run(stack: Stack) -> dict[str, Any]:
    cfg = stack.config
    url = db.create_database(cfg.admin_url, "sweep")
    try:
        stack.cli(url, "migrate")
        started = time.monotonic()
        db.with_conn(
            url,
            lambda c: db.seed_users(
                c, prefix=PREFIX, count=cfg.sweep_users, balance=BALANCE, minimum=MINIMUM,
                target=TARGET, card="pm_bench_sweep_placeholder",
            ),
        )  # fmt: skip
        seed_seconds = time.monotonic() - started
        empty = [_pass(stack, url) for _ in range(cfg.sweep_empty_passes)]
        if any(p["opened"] for p in empty):
            raise RuntimeError(f"a sweep over nobody due opened recharges: {empty}")
        plans = asyncio.run(_explain(url, _capture(stack, url)))
        _make_due(url, cfg.sweep_users, cfg.sweep_due)
        passes = []
        for _ in range(cfg.sweep_max_passes):
            passes.append(_pass(stack, url))
            if passes[-1]["opened"] == 0:
                break
        opened = int(
            db.fetchval(url, "SELECT count(*) FROM recharge_records WHERE status = 'pending'")
        )
    finally:
        db.drop(url)
    working = [p for p in passes if p["opened"]]
    return {
        "users": cfg.sweep_users,
        "seed_seconds": round(seed_seconds, 1),
        "empty_pass_ms": spread([1000 * p["seconds"] for p in empty], 1),
        "candidate_plans": plans,
        "due": cfg.sweep_due,
        "first_due_pass": {
            "opened": passes[0]["opened"],
            "ms": round(1000 * passes[0]["seconds"], 1),
        },
        "passes_until_none_due": len(working),
        "all_opened": opened == cfg.sweep_due,
        "opened_total": opened,
        "ms_to_open_all": round(1000 * sum(p["seconds"] for p in working), 1)
        if opened == cfg.sweep_due
        else None,
        "passes": passes,
    }
