"""Target 1: single usage debits through the API on PostgreSQL, against the floor.

Side by side in interleaved rounds (the order alternates each round), all with
``wrk -t2 -c32``, the same Lua script (a unique idempotency key per request, a user drawn from
10,000) and the same number of server processes:

- ``service``: ``POST /api/balance/usage/{userId}`` on ``balance-manager serve``;
- ``minimal``: the same debit as one SQL statement behind FastAPI + asyncpg, no auth, no logic;
- ``constant``: a FastAPI endpoint returning a constant (the HTTP stack alone);
- ``pgbench``: the debit statement straight into PostgreSQL, 32 clients.

CPU per request is the server process tree's user+system time over the run (from /proc)
divided by the requests wrk completed.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from harness import db, procs
from harness.load import WrkResult, pgbench, wrk
from harness.sql import pgbench_script
from harness.stack import USAGE_PREFIX, Stack
from harness.stats import ratio, spread

HTTP_VARIANTS = ("service", "minimal", "constant")


def check(result: WrkResult, what: str, proc: procs.Proc) -> None:
    """Refuse figures made of errors: a 401 or 500 answers faster than a debit."""
    if result.requests == 0 or result.error_count > 0.01 * result.requests:
        raise RuntimeError(
            f"{what}: {result.error_count} errors in {result.requests} requests "
            f"{result.errors}\n{proc.tail()}"
        )


def measure(
    stack: Stack, base: str, path: str, proc: procs.Proc, run_prefix: str, seconds: float,
    *, token: str = "", users: int | None = None, extra_lua: str | None = None,
    connections: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One wrk run of debit.lua against ``base + path``, with the server's CPU per request.

    A run with errors is repeated once (recorded as ``retried``): on a shared machine another
    program can take PostgreSQL's last connections for a moment. A second failure is fatal.
    """
    cfg = stack.config
    for attempt in (1, 2):
        procs.wait_idle(proc.pid)
        cpu_before = procs.cpu_seconds(proc.pid)
        result = wrk(
            base,
            "debit.lua",
            [path, str(users or cfg.users), token or stack.api_key, f"{run_prefix}.{attempt}"],
            seconds=seconds,
            threads=min(cfg.threads, connections or cfg.connections),
            connections=connections or cfg.connections,
            extra_lua=extra_lua,
            tmp=stack.work,
        )
        cpu = procs.cpu_seconds(proc.pid) - cpu_before
        try:
            check(result, f"{path} ({run_prefix})", proc)
            break
        except RuntimeError as exc:
            if attempt == 2:
                raise
            print(f"retrying once: {str(exc).splitlines()[0]}", flush=True)
            time.sleep(5)
    out = result.as_json()
    out["cpu_ms_per_request"] = round(1000 * cpu / result.requests, 3)
    out["cpu_busy"] = round(cpu / result.seconds, 2)  # cores the server kept busy
    out["retried"] = attempt > 1
    return out


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rps": spread([r["rps"] for r in runs]),
        "p50_ms": spread([r["latency_ms"]["p50"] for r in runs], 2),
        "p99_ms": spread([r["latency_ms"]["p99"] for r in runs], 2),
        "cpu_ms_per_request": spread([r["cpu_ms_per_request"] for r in runs], 3),
        "runs": runs,
    }


def run(stack: Stack) -> dict[str, Any]:
    cfg = stack.config
    pg = stack.postgres()
    service = stack.serve("pg", pg)
    baseline_proc, baseline = stack.baseline()
    tag = secrets.token_hex(3)
    targets = {
        "service": (service, f"/api/balance/usage/{USAGE_PREFIX}", stack.serve_proc("pg")),
        "minimal": (baseline, f"/debit/{USAGE_PREFIX}", baseline_proc),
        "constant": (baseline, f"/const/{USAGE_PREFIX}", baseline_proc),
    }
    script = stack.work / "debit.pgbench"
    script.write_text(
        pgbench_script(user_prefix=USAGE_PREFIX, users=cfg.users, key_prefix=f"pgb{tag}")
    )

    def run_pgbench(seconds: float) -> dict[str, Any]:
        for attempt in (1, 2):  # retried once, as a wrk run (see measure)
            try:
                out = pgbench(
                    cfg.pgbench, pg, script, seconds=seconds, clients=cfg.connections,
                    threads=cfg.threads,
                ).as_json()  # fmt: skip
                out["retried"] = attempt > 1
                return out
            except RuntimeError as exc:
                if attempt == 2:
                    raise
                print(f"retrying once: {str(exc).splitlines()[0]}", flush=True)
                time.sleep(5)
        raise AssertionError("unreachable")

    for name, (base, path, proc) in targets.items():  # warm-up, not recorded
        measure(stack, base, path, proc, f"warm{tag}-{name}", cfg.warmup)
    run_pgbench(min(cfg.warmup, 3))

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in (*HTTP_VARIANTS, "pgbench")}
    order = [*HTTP_VARIANTS, "pgbench"]
    for r in range(cfg.rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            if name == "pgbench":
                runs[name].append(run_pgbench(cfg.seconds))
                continue
            base, path, proc = targets[name]
            runs[name].append(measure(stack, base, path, proc, f"{name}{tag}-{r}", cfg.seconds))

    # Every answered debit is in the ledger (wrk counts answers; in-flight ones may add more).
    answered = sum(r["requests"] for r in runs["service"])
    applied = db.fetchval(
        pg,
        "SELECT count(*) FROM ledger_entries WHERE kind = 'usage' AND reference LIKE $1",
        f"service{tag}-%",
    )
    if applied < answered:
        raise RuntimeError(f"service answered {answered} debits but the ledger has {applied}")

    result: dict[str, Any] = {name: summarize(runs[name]) for name in HTTP_VARIANTS}
    result["pgbench"] = {
        "tps": spread([r["tps"] for r in runs["pgbench"]]),
        "latency_avg_ms": spread([r["latency_avg_ms"] for r in runs["pgbench"]], 2),
        "runs": runs["pgbench"],
    }
    med = {name: result[name]["rps"]["median"] for name in HTTP_VARIANTS}
    result["ratios"] = {
        "service_vs_minimal": ratio(med["service"], med["minimal"]),
        "service_vs_constant": ratio(med["service"], med["constant"]),
        "minimal_vs_pgbench": ratio(med["minimal"], result["pgbench"]["tps"]["median"]),
        "service_vs_pgbench": ratio(med["service"], result["pgbench"]["tps"]["median"]),
        "cpu_service_vs_minimal": ratio(
            result["service"]["cpu_ms_per_request"]["median"],
            result["minimal"]["cpu_ms_per_request"]["median"],
        ),
    }
    result["ledger_check"] = {"answered": answered, "applied": applied}
    result["setup"] = {
        "wrk": f"-t{cfg.threads} -c{cfg.connections} -d{cfg.seconds:g}s",
        "users": cfg.users,
        "rounds": cfg.rounds,
        "warmup_seconds": cfg.warmup,
        "server_processes": cfg.processes,
        "pgbench": f"-M prepared -c{cfg.connections} -j{cfg.threads} -T{cfg.seconds:g}",
    }
    return result


def max_rps(stack: Stack, usage: dict[str, Any] | None) -> float:
    """The service's maximum debits/s: from the usage scenario if it ran, else a short probe."""
    if usage is not None:
        return float(usage["service"]["rps"]["median"])
    base = stack.serve("pg", stack.postgres())
    path = f"/api/balance/usage/{USAGE_PREFIX}"
    proc = stack.serve_proc("pg")
    tag = secrets.token_hex(3)
    measure(stack, base, path, proc, f"probewarm{tag}", stack.config.warmup)
    return float(
        measure(stack, base, path, proc, f"probe{tag}", max(3.0, stack.config.seconds / 2))["rps"]
    )
