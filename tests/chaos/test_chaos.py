"""The chaos run at its CI size: real processes on PostgreSQL, SIGKILLs, killed database
connections and Stripe faults; every invariant must hold (see ``invariants.py``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.chaos.run import SIZES, Chaos


def test_chaos_at_ci_size_breaks_no_invariant(postgres_url: str) -> None:
    """``postgres_url``: the run creates a database of its own on the same server, and
    skips (or, in CI, fails) like every PostgreSQL test when there is none."""
    size = SIZES["ci"]
    chaos = Chaos(size)
    figures = asyncio.run(chaos.run())
    report = json.dumps(figures.summary(), indent=2)
    assert figures.rounds == size.rounds, report
    # Every kind of chaos happened: one worker killed per round, a server every other one.
    assert figures.worker_kills == size.rounds, report
    assert figures.server_kills >= 1, report  # (skipped when only one server is up)
    assert figures.db_connections_killed > 0, report
    assert figures.fault_rounds > 0, report
    assert figures.debits_confirmed > 0 and figures.recharges_succeeded > 0, report
    assert figures.mismatch_count == 0, f"{report}\n{_errors_in(chaos.logs)}"


def _errors_in(logs: Path, limit: int = 200) -> str:
    """The error lines (and tracebacks) of the run's process logs, so a failure in CI, where
    the log directory is gone with the machine, still says what went wrong."""
    lines: list[str] = []
    for log in sorted(logs.glob("*.log")):
        in_traceback = False
        for line in log.read_text(errors="replace").splitlines():
            in_traceback = line.startswith("Traceback") or (in_traceback and line[:1] in " \t")
            if (
                in_traceback
                or "error" in line.lower()
                or line.startswith(("sqlalchemy", "asyncpg"))
            ):
                lines.append(f"{log.stem}: {line}")
    return f"process logs: {logs}\n" + "\n".join(lines[-limit:])
