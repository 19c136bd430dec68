"""Target 2: batch ingestion, 1,000 usage events a request over 10,000 users, against one
set-based SQL statement applying the same kind of 1,000 debits (``harness.sql.BATCH_SQL``).

Interleaved rounds: four HTTP clients each posting 1,000-event batches to
``POST /api/balance/usage``, then four asyncpg connections each running the statement with
fresh events (random users, unique keys), for the same time. Each run ends when its last
request or statement is answered and counts every event applied, so the figure is work / time
(a fixed wrk window would leave a second-long batch in flight uncounted: a bias of a request's
latency over the window). The client is a few lines of asyncio: at a few requests a second its
own cost is noise. Figures are events per second.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from typing import Any

import asyncpg
import httpx

from harness import db, procs
from harness.sql import BATCH_SQL
from harness.stack import USAGE_PREFIX, Stack
from harness.stats import percentile, ratio, spread


async def _api(
    stack: Stack, base: str, run_prefix: str, seconds: float, *, warmup: bool = False
) -> dict[str, Any]:
    """``batch_connections`` clients, each sending 1,000-event batches until ``seconds`` have
    passed; the run ends when the last answer arrives (nothing in flight is left uncounted)."""
    cfg = stack.config
    proc = stack.serve_proc("pg")
    headers = {"Authorization": f"Bearer {stack.api_key}", "Content-Type": "application/json"}
    latencies: list[float] = []
    applied = 0
    limits = httpx.Limits(max_connections=cfg.batch_connections)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, timeout=300, limits=limits
    ) as client:
        deadline = time.monotonic() + seconds

        async def loop(i: int) -> None:
            nonlocal applied
            n = 0
            while time.monotonic() < deadline:
                n += 1
                events = ",".join(
                    f'{{"userId":"{USAGE_PREFIX}{random.randint(1, cfg.users)}","amount":0.01,'
                    f'"idempotencyKey":"{run_prefix}-{i}-{n}-{j}"}}'
                    for j in range(cfg.batch_events)
                )
                started = time.perf_counter()
                response = await client.post(
                    "/api/balance/usage", content=f'{{"events":[{events}]}}'
                )
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"batch API: {response.status_code} {response.text[:500]}")
                applied += response.json()["applied"]

        procs.wait_idle(proc.pid)
        cpu_before = procs.cpu_seconds(proc.pid)
        started = time.monotonic()
        await asyncio.gather(*(loop(i) for i in range(cfg.batch_connections)))
        elapsed = time.monotonic() - started
        cpu = procs.cpu_seconds(proc.pid) - cpu_before
    requests = len(latencies)
    if warmup:
        return {}
    if applied != requests * cfg.batch_events:
        raise RuntimeError(f"batch API applied {applied} of {requests * cfg.batch_events} events")
    return {
        "requests": requests,
        "seconds": round(elapsed, 3),
        "events_per_second": round(applied / elapsed, 1),
        "latency_ms": {
            "p50": round(1000 * percentile(latencies, 50), 1),
            "p99": round(1000 * percentile(latencies, 99), 1),
        },
        "cpu_ms_per_event": round(1000 * cpu / applied, 4),
    }


async def _set_based(url: str, run_prefix: str, seconds: float, stack: Stack) -> dict[str, Any]:
    cfg = stack.config
    conns = [await asyncpg.connect(url) for _ in range(cfg.batch_connections)]
    latencies: list[float] = []
    try:
        deadline = time.monotonic() + seconds

        async def loop(i: int, conn: Any) -> int:
            n = 0
            amounts = [1] * cfg.batch_events
            while time.monotonic() < deadline:
                n += 1
                users = [
                    f"{USAGE_PREFIX}{random.randint(1, cfg.users)}" for _ in range(cfg.batch_events)
                ]
                keys = [f"{run_prefix}-{i}-{n}-{j}" for j in range(cfg.batch_events)]
                started = time.perf_counter()
                await conn.execute(BATCH_SQL, users, amounts, keys)
                latencies.append(time.perf_counter() - started)
            return n

        started = time.monotonic()
        statements = sum(await asyncio.gather(*(loop(i, c) for i, c in enumerate(conns))))
        elapsed = time.monotonic() - started
    finally:
        for conn in conns:
            await conn.close()
    return {
        "statements": statements,
        "seconds": round(elapsed, 3),
        "events_per_second": round(statements * cfg.batch_events / elapsed, 1),
        "latency_ms": {
            "p50": round(1000 * percentile(latencies, 50), 2),
            "p99": round(1000 * percentile(latencies, 99), 2),
        },
    }


def _applied(url: str, prefix: str) -> int:
    return int(
        db.fetchval(
            url,
            "SELECT count(*) FROM ledger_entries WHERE kind = 'usage' AND reference LIKE $1",
            f"{prefix}-%",
        )
    )


def run(stack: Stack) -> dict[str, Any]:
    cfg = stack.config
    pg = stack.postgres()
    base = stack.serve("pg", pg)
    tag = secrets.token_hex(3)
    asyncio.run(_api(stack, base, f"bwarm{tag}", cfg.warmup, warmup=True))
    asyncio.run(_set_based(pg, f"swarm{tag}", min(cfg.warmup, 3), stack))
    api: list[dict[str, Any]] = []
    sql: list[dict[str, Any]] = []
    for r in range(cfg.batch_rounds):
        for kind in ("api", "sql") if r % 2 == 0 else ("sql", "api"):
            if kind == "api":
                api.append(asyncio.run(_api(stack, base, f"bapi{tag}-{r}", cfg.batch_seconds)))
            else:
                sql.append(asyncio.run(_set_based(pg, f"bsql{tag}-{r}", cfg.batch_seconds, stack)))
    answered = sum(a["requests"] for a in api) * cfg.batch_events
    applied = _applied(pg, f"bapi{tag}")
    if applied < answered:
        raise RuntimeError(f"the batch API answered {answered} events but applied {applied}")
    api_eps = spread([a["events_per_second"] for a in api])
    sql_eps = spread([s["events_per_second"] for s in sql])
    return {
        "api": {
            "events_per_second": api_eps,
            "request_p50_ms": spread([a["latency_ms"]["p50"] for a in api], 1),
            "request_p99_ms": spread([a["latency_ms"]["p99"] for a in api], 1),
            "cpu_ms_per_event": spread([a["cpu_ms_per_event"] for a in api], 4),
            "runs": api,
        },
        "set_based": {
            "events_per_second": sql_eps,
            "statement_p50_ms": spread([s["latency_ms"]["p50"] for s in sql], 1),
            "runs": sql,
        },
        "ratio_api_vs_set_based": ratio(api_eps["median"], sql_eps["median"]),
        "ledger_check": {"answered_events": answered, "applied_events": applied},
        "setup": {
            "events_per_request": cfg.batch_events,
            "users": cfg.users,
            "concurrency": cfg.batch_connections,
            "rounds": cfg.batch_rounds,
            "seconds": cfg.batch_seconds,
        },
    }
