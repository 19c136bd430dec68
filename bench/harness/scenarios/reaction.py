"""Target 3: reaction, from the response to the usage debit that crosses a user's minimum to
the PaymentIntent created in the Stripe sandbox, idle and under half the API's maximum load.

Each sample is a fresh user (a sandbox customer with a Visa card; balance 10.00, minimum
5.00): one ``POST /api/balance/usage/{userId}`` of 6.00 opens the recharge in the debit's
transaction, a ``balance-manager worker`` (woken by NOTIFY) charges it. The harness notes the
wall-clock time it received the debit's response; the sandbox logs the wall-clock time it
answered ``POST /v1/payment_intents`` with the recharge record's id as idempotency key
(``GET /_sandbox/requests``). Both clocks are this machine's. Samples are sequential, one
every ``reaction_gap`` seconds. Under load a reaction can be negative: the worker had created
the PaymentIntent before the debit's response reached the client. The time from the moment
the debit was sent is recorded too.

The loaded run paces wrk (debit.lua with a fixed pause before each request on each
connection; up to 32 connections, fewer when the pause would near the server's keep-alive
timeout) to half the service's maximum debits/s, calibrated with up to three short runs.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
from typing import Any

import httpx

from harness import db
from harness.load import LUA
from harness.scenarios.usage import max_rps, measure
from harness.stack import USAGE_PREFIX, Stack
from harness.stats import percentile

PREFIX = "br"
BALANCE, MINIMUM, TARGET = 1000, 500, 5000
DEBIT = "6.00"  # 10.00 → 4.00, below the 5.00 minimum


def _paced(delay_ms: float) -> str:
    return f"delay = function() return {max(0, round(delay_ms))} end\n"


def _sample(stack: Stack, base: str, users: range) -> dict[str, tuple[float, float]]:
    """Cross each user's minimum in turn; returns user id → (request sent, response
    received), wall-clock."""
    answered: dict[str, tuple[float, float]] = {}
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for n in users:
            user = f"{PREFIX}{n}"
            sent = time.time()
            response = client.post(
                f"/api/balance/usage/{user}",
                json={"amount": DEBIT, "idempotencyKey": f"cross-{secrets.token_hex(6)}"},
            )
            answered[user] = (sent, time.time())
            response.raise_for_status()
            time.sleep(stack.config.reaction_gap)
    return answered


def _reactions(stack: Stack, answered: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """Wait for the recharges to settle, then match them with the sandbox's request log."""
    users = list(answered)
    deadline = time.monotonic() + 60 + len(users)
    records: list[Any] = []
    while time.monotonic() < deadline:
        records = db.fetch(
            stack.postgres(),
            "SELECT id, user_id, status FROM recharge_records WHERE user_id = ANY($1::text[])",
            users,
        )
        if len(records) == len(users) and all(
            r["status"] not in ("pending", "processing") for r in records
        ):
            break
        time.sleep(0.5)
    log = httpx.get(f"{stack.sandbox_url}/_sandbox/requests", timeout=30).json()["data"]
    created = {
        e["idempotency_key"]: e["time"]
        for e in log
        if e["method"] == "POST" and e["path"] == "/v1/payment_intents" and e["status"] == 200
    }
    found = [r for r in records if r["id"] in created]
    ms = [1000 * (created[r["id"]] - answered[r["user_id"]][1]) for r in found]
    from_request = [1000 * (created[r["id"]] - answered[r["user_id"]][0]) for r in found]
    if not ms:
        raise RuntimeError(f"no PaymentIntent found for {len(users)} crossing debits: {records}")
    return {
        "samples": len(ms),
        "missing": len(users) - len(ms),
        "statuses": sorted({r["status"] for r in records}),
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "min_ms": round(min(ms), 2),
        "max_ms": round(max(ms), 2),
        # The same from the moment the debit was sent (includes the debit's own latency).
        "from_request_p50_ms": round(percentile(from_request, 50), 2),
        "from_request_p99_ms": round(percentile(from_request, 99), 2),
    }


def run(stack: Stack, usage: dict[str, Any] | None) -> dict[str, Any]:
    cfg = stack.config
    n = cfg.reaction_samples
    pg = stack.postgres()
    base = stack.serve("pg", pg)
    customers = stack.sandbox_customers(2 * n)
    db.with_conn(
        pg,
        lambda c: db.seed_users(
            c, prefix=PREFIX, count=2 * n, balance=BALANCE, minimum=MINIMUM, target=TARGET,
            max_daily_recharges=100, customers=customers,
        ),
    )  # fmt: skip
    stack.ensure_workers(1)
    idle = _reactions(stack, _sample(stack, base, range(1, n + 1)))

    # Half load: calibrate the per-request pause, rate ≈ connections / (pause + latency).
    peak = max_rps(stack, usage)
    goal = peak / 2
    path = f"/api/balance/usage/{USAGE_PREFIX}"
    proc = stack.serve_proc("pg")
    # Connections idle for the pause between requests: at most ~2 s of it, below uvicorn's
    # 5 s keep-alive timeout (a closed idle connection would count as a read error).
    conns = max(2, min(cfg.connections, int(goal * 2)))
    threads = min(cfg.threads, conns)
    pause = 1000 * conns / goal
    for _ in range(3):  # each probe long enough for every connection to make a few requests
        probe = measure(
            stack, base, path, proc, f"calib{secrets.token_hex(3)}",
            max(3.0, cfg.warmup, 3 * pause / 1000 + 1), extra_lua=_paced(pause),
            connections=conns,
        )  # fmt: skip
        if abs(probe["rps"] / goal - 1) <= 0.15:
            break
        latency = max(0.0, 1000 * conns / probe["rps"] - pause)
        pause = max(0.0, 1000 * conns / goal - latency)
    script = stack.work / "paced-debit.lua"
    script.write_text((LUA / "debit.lua").read_text() + "\n" + _paced(pause))
    argv = [
        # Runs until the samples are done (SIGINT: wrk stops and reports).
        "wrk", f"-t{threads}", f"-c{conns}", "-d3600s",
        "--timeout", "30s", "--latency", "-s", str(script), base, "--",
        path, str(cfg.users), stack.api_key, f"half{secrets.token_hex(3)}",
    ]  # fmt: skip
    load = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(2)
        answered = _sample(stack, base, range(n + 1, 2 * n + 1))
        load.send_signal(signal.SIGINT)
        out, _ = load.communicate(timeout=60)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    loaded = _reactions(stack, answered)
    line = next((x for x in out.splitlines() if x.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"the background wrk reported nothing: {out[-2000:]}")
    data = json.loads(line.removeprefix("BENCHJSON "))
    achieved = data["requests"] / (data["duration_us"] / 1e6)
    loaded["background_rps"] = round(achieved, 1)
    loaded["background_fraction_of_max"] = round(achieved / peak, 2)
    loaded["background_p99_ms"] = round(data["latency_us"]["p99"] / 1000, 2)
    loaded["background_errors"] = data["errors"]
    return {
        "idle": idle,
        "half_load": loaded,
        "max_rps_used": round(peak, 1),
        "setup": {
            "samples": n,
            "gap_seconds": cfg.reaction_gap,
            "workers": 1,
            "pause_ms_per_request": round(pause, 1),
            "background_connections": conns,
        },
    }
