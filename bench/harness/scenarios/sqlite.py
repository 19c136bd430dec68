"""Target 1, SQLite: single usage debits through one ``serve`` process on a SQLite file.

The same wrk script and user count as on PostgreSQL; the file is migrated by
``balance-manager migrate`` and seeded by SQL (users, configs, opening ledger entries).
"""

from __future__ import annotations

import secrets
import sqlite3
from datetime import UTC, datetime
from typing import Any

from harness.scenarios.usage import measure, summarize
from harness.stack import USAGE_PREFIX, Stack

BALANCE = 10**11


def _seed(path: str, users: int) -> None:
    # SQLAlchemy's SQLite DateTime storage format (UTC, no offset).
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    ids = [f"{USAGE_PREFIX}{n}" for n in range(1, users + 1)]
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO users (id, email, currency, balance, created_at, updated_at) "
            "VALUES (?, ?, 'usd', ?, ?, ?)",
            [(i, f"{i}@bench.invalid", BALANCE, now, now) for i in ids],
        )
        conn.executemany(
            "INSERT INTO balance_configs (user_id, minimum_balance, target_balance, "
            "auto_recharge_enabled, max_daily_recharges, max_recharge_amount, "
            "consecutive_failures, created_at, updated_at) "
            "VALUES (?, 1000, 10000, 1, 5, 100000, 0, ?, ?)",
            [(i, now, now) for i in ids],
        )
        conn.executemany(
            "INSERT INTO ledger_entries (user_id, kind, amount, balance_after, reference, "
            "description, created_at) VALUES (?, 'adjustment', ?, ?, 'bench-opening-balance', "
            "'bench: opening balance', ?)",
            [(i, BALANCE, BALANCE, now) for i in ids],
        )
        conn.execute("ANALYZE")


def run(stack: Stack) -> dict[str, Any]:
    cfg = stack.config
    path = stack.work / "bench.sqlite"
    url = f"sqlite:///{path}"
    stack.cli(url, "migrate")
    _seed(str(path), cfg.users)
    token = stack.cli(url, "keys", "create", "--name", "bench").strip().splitlines()[-1]
    base = stack.serve("sqlite", url, processes=1)
    proc = stack.serve_proc("sqlite")
    route = f"/api/balance/usage/{USAGE_PREFIX}"
    tag = secrets.token_hex(3)
    try:
        measure(stack, base, route, proc, f"sqlwarm{tag}", cfg.warmup, token=token)
        runs = [
            measure(stack, base, route, proc, f"sql{tag}-{r}", cfg.seconds, token=token)
            for r in range(cfg.sqlite_rounds)
        ]
    finally:
        stack.stop_serve("sqlite")
    result = {"service": summarize(runs)}
    result["setup"] = {
        "wrk": f"-t{cfg.threads} -c{cfg.connections} -d{cfg.seconds:g}s",
        "users": cfg.users,
        "rounds": cfg.sqlite_rounds,
        "server_processes": 1,
    }
    return result
