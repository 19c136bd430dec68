"""Run every benchmark of issue 7 on this machine and record the figures (``make bench``).

    .venv/bin/python bench/run_all.py [--quick] [--only usage,batch,...] [--processes N]

Scenarios, in order: usage (target 1, PostgreSQL, with the minimal / constant / pgbench
baselines), sqlite (target 1, SQLite), batch (2), reaction (3), throughput (5), sweep (4),
memory (6), sandbox (the sandbox's own capacity). Each can run alone with ``--only``.

The whole run writes ``bench/results/latest.json`` and the results section of
``bench/README.md``; ``--quick`` (a smoke test, a couple of minutes) and ``--only`` runs write
``bench/results/quick.json`` / ``partial.json`` and leave the README alone unless
``--readme`` is given. Databases it creates are dropped and processes it starts are stopped
on success, failure and Ctrl-C. Exit status 0 only if every selected scenario ran.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import db, machine, report
from harness.config import Config
from harness.stack import BENCH, REPO, Stack

SCENARIOS = ("usage", "sqlite", "batch", "reaction", "throughput", "sweep", "memory", "sandbox")
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: short and small")
    parser.add_argument(
        "--only", default="", help="comma-separated scenarios: " + ",".join(SCENARIOS)
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="an existing database to connect to for CREATE/DROP DATABASE (BENCH_POSTGRES_URL)",
    )
    parser.add_argument("--pgbench", default=shutil.which("pgbench") or PGBENCH)
    parser.add_argument(
        "--processes", type=int, default=1, help="server processes (service and baselines)"
    )
    parser.add_argument("--out", type=Path, help="JSON result path")
    readme = parser.add_mutually_exclusive_group()
    readme.add_argument("--readme", action="store_true", help="write bench/README.md anyway")
    readme.add_argument("--no-readme", action="store_true", help="leave bench/README.md alone")
    args = parser.parse_args()
    unknown = {s for s in args.only.split(",") if s} - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return args


def _preflight(cfg: Config) -> None:
    missing = [tool for tool in ("wrk", cfg.pgbench) if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"missing: {', '.join(missing)}")
    try:
        import asyncpg  # noqa: F401

        import balance_manager  # noqa: F401
    except ImportError as exc:
        raise SystemExit(f"{exc}: run with the project's virtualenv (.venv/bin/python)") from None


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally that cleans up


def main() -> int:
    args = _args()
    selected = [s for s in SCENARIOS if not args.only or s in args.only.split(",")]
    full = not args.only and not args.quick
    cfg = Config.for_run(
        quick=args.quick, admin_url=args.postgres, pgbench=args.pgbench, processes=args.processes
    )
    _preflight(cfg)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    started = time.monotonic()
    result: dict[str, Any] = {
        "started_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_start": machine.load_average(),
        "config": {k: v for k, v in vars(cfg).items() if k != "admin_url"},
        "selected": selected,
        "scenarios": {},
        "errors": {},
    }
    result["machine"] = machine.describe(
        repo=REPO,
        postgres_version=str(db.fetchval(cfg.admin_url, "SHOW server_version")),
        pgbench=cfg.pgbench,
    )
    stack = Stack(cfg)
    ok = False
    try:
        scenarios: dict[str, Any] = result["scenarios"]
        for name in selected:
            print(f"--- {name}", flush=True)
            t0 = time.monotonic()
            try:
                scenarios[name] = _run(name, stack, scenarios)
                scenarios[name]["duration_seconds"] = round(time.monotonic() - t0, 1)
                print(_headline(name, scenarios[name]), flush=True)
            except Exception:
                result["errors"][name] = traceback.format_exc()
                print(f"{name} FAILED:\n{result['errors'][name]}", file=sys.stderr, flush=True)
        ok = not result["errors"]
    finally:
        undropped = stack.close(keep_work=not ok)
        if undropped:
            print(f"could not drop: {', '.join(undropped)}", file=sys.stderr)
        if not ok:
            print(f"logs kept in {stack.work}", file=sys.stderr)

    result["load_average_end"] = machine.load_average()
    result["duration_seconds"] = round(time.monotonic() - started, 1)
    out = args.out or BENCH / "results" / (
        "latest.json" if full else "quick.json" if args.quick else "partial.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    if (full or args.readme) and not args.no_readme:
        readme = BENCH / "README.md"
        readme.write_text(report.write_readme(readme.read_text(), result))
        print(f"wrote {readme.relative_to(REPO)}")
    print(f"took {result['duration_seconds'] / 60:.1f} min")
    return 0 if ok else 1


def _run(name: str, stack: Stack, done: dict[str, Any]) -> dict[str, Any]:
    from harness.scenarios import (
        batch,
        memory,
        reaction,
        sandbox,
        sqlite,
        sweep,
        throughput,
        usage,
    )

    if name == "usage":
        return usage.run(stack)
    if name == "sqlite":
        return sqlite.run(stack)
    if name == "batch":
        return batch.run(stack)
    if name == "reaction":
        return reaction.run(stack, done.get("usage"))
    if name == "throughput":
        return throughput.run(stack)
    if name == "sweep":
        return sweep.run(stack)
    if name == "memory":
        return memory.run(
            stack,
            loaded_api=any(s in done for s in ("usage", "batch", "reaction")),
            charged="throughput" in done,
        )
    return sandbox.run(stack)


def _headline(name: str, r: dict[str, Any]) -> str:
    """One line of the scenario's main figures for the console."""
    if name == "usage":
        return (
            f"service {r['service']['rps']['median']}/s p99 {r['service']['p99_ms']['median']} ms"
            f" cpu {r['service']['cpu_ms_per_request']['median']} ms/req | minimal "
            f"{r['minimal']['rps']['median']}/s | constant {r['constant']['rps']['median']}/s | "
            f"pgbench {r['pgbench']['tps']['median']} tps | ratios {r['ratios']}"
        )
    if name == "sqlite":
        return f"sqlite {r['service']['rps']['median']}/s p99 {r['service']['p99_ms']['median']} ms"
    if name == "batch":
        return (
            f"api {r['api']['events_per_second']['median']} events/s | set-based "
            f"{r['set_based']['events_per_second']['median']} events/s | "
            f"ratio {r['ratio_api_vs_set_based']}"
        )
    if name == "reaction":
        return f"idle {r['idle']} | half load {r['half_load']}"
    if name == "throughput":
        return (
            f"end to end {r['end_to_end_per_second']['median']}/s, drain "
            f"{r['drain_per_second']['median']}/s"
        )
    if name == "sweep":
        return (
            f"empty pass {r['empty_pass_ms']['median']} ms over {r['users']} users; first due "
            f"pass {r['first_due_pass']}; passes {r['passes_until_none_due']}"
        )
    if name == "memory":
        return f"api peak {r['api_peak_mib']} MiB, worker peak {r['worker_peak_mib']} MiB"
    return json.dumps({k: v for k, v in r.items() if k != "duration_seconds"})


if __name__ == "__main__":
    sys.exit(main())
