"""Target 5: recharge throughput end to end against the sandbox with two workers.

K users (each a sandbox customer with a Visa card; balance above the 5.00 minimum) are taken
below it by batched usage through the API (``POST /api/balance/usage``, 1,000 events a
request), which opens K recharges; two ``balance-manager worker`` processes charge them in
the sandbox and credit the ledger. Per round:

- end to end: K / (last ``completed_at`` − the moment the first batch was sent);
- drain: K / (last ``completed_at`` − first recharge ``created_at``), the workers' rate.

Each round starts from the balances the last one left (the target, 50.00), debits each user
down to 4.00 again; ``max_daily_recharges`` is 100 so the daily limit never interferes.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from harness import db
from harness.stack import Stack
from harness.stats import spread

PREFIX = "bt"
BALANCE, MINIMUM, TARGET, AFTER_DEBIT = 1000, 500, 5000, 400


def _round(stack: Stack, base: str, count: int) -> dict[str, Any]:
    pg = stack.postgres()
    rows = db.fetch(
        pg,
        "SELECT id, balance FROM users WHERE id LIKE $1 ORDER BY id",
        f"{PREFIX}%",
    )
    run = secrets.token_hex(3)
    events = [
        {
            "userId": r["id"],
            "amount": f"{(r['balance'] - AFTER_DEBIT) / 100:.2f}",
            "idempotencyKey": f"tp{run}-{r['id']}",
        }
        for r in rows
        if r["balance"] > AFTER_DEBIT
    ]
    started_wall = datetime.now(UTC)
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        for i in range(0, len(events), 1000):
            response = client.post("/api/balance/usage", json={"events": events[i : i + 1000]})
            response.raise_for_status()
            if response.json()["applied"] != len(events[i : i + 1000]):
                raise RuntimeError(f"batch not fully applied: {response.text[:500]}")
    deadline = time.monotonic() + 120 + count / 5
    while True:
        row = db.fetch(
            pg,
            """
            SELECT count(*) AS opened,
                   count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
                   count(*) FILTER (WHERE status NOT IN ('pending', 'processing')) AS settled,
                   min(created_at) AS first_created, max(completed_at) AS last_completed
            FROM recharge_records WHERE user_id LIKE $1 AND created_at >= $2
            """,
            f"{PREFIX}%",
            started_wall,
        )[0]
        if row["opened"] >= len(events) and row["settled"] == row["opened"]:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"recharges did not settle: {dict(row)}")
        time.sleep(0.2)
    last = row["last_completed"]
    return {
        "recharges": row["opened"],
        "succeeded": row["succeeded"],
        "end_to_end_per_second": round(row["opened"] / (last - started_wall).total_seconds(), 1),
        "drain_per_second": round(row["opened"] / (last - row["first_created"]).total_seconds(), 1),
        "seconds": round((last - started_wall).total_seconds(), 2),
    }


def run(stack: Stack) -> dict[str, Any]:
    cfg = stack.config
    k = cfg.throughput_recharges
    pg = stack.postgres()
    base = stack.serve("pg", pg)
    customers = stack.sandbox_customers(k)
    db.with_conn(
        pg,
        lambda c: db.seed_users(
            c, prefix=PREFIX, count=k, balance=BALANCE, minimum=MINIMUM, target=TARGET,
            max_daily_recharges=100, customers=customers,
        ),
    )  # fmt: skip
    stack.ensure_workers(cfg.throughput_workers)
    rounds = [_round(stack, base, k) for _ in range(cfg.throughput_rounds)]
    failed = [r for r in rounds if r["succeeded"] != r["recharges"]]
    if failed:
        raise RuntimeError(f"some recharges did not succeed: {failed}")
    return {
        "end_to_end_per_second": spread([r["end_to_end_per_second"] for r in rounds]),
        "drain_per_second": spread([r["drain_per_second"] for r in rounds]),
        "rounds": rounds,
        "setup": {
            "recharges_per_round": k,
            "rounds": cfg.throughput_rounds,
            "workers": cfg.throughput_workers,
        },
    }
