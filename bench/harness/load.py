"""Load generators: wrk (HTTP, with the Lua scripts in bench/lua) and pgbench (SQL)."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LUA = Path(__file__).resolve().parent.parent / "lua"


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: dict[str, int]
    latency_us: dict[str, float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "errors": self.errors,
            "latency_ms": {k: round(v / 1000, 2) for k, v in self.latency_us.items()},
        }


def wrk(
    url: str,
    script: str,
    args: list[str],
    *,
    seconds: float,
    threads: int,
    connections: int,
    extra_lua: str | None = None,
    tmp: Path | None = None,
) -> WrkResult:
    """Run wrk with ``bench/lua/<script>``; ``extra_lua`` is appended to a copy of it."""
    path = LUA / script
    if extra_lua is not None:
        assert tmp is not None
        path = tmp / f"paced-{script}"
        path.write_text((LUA / script).read_text() + "\n" + extra_lua)
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(path),
        url,
        "--",
        *args,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            data = json.loads(line.removeprefix("BENCHJSON "))
            return WrkResult(
                requests=data["requests"],
                seconds=data["duration_us"] / 1e6,
                errors=data["errors"],
                latency_us=data["latency_us"],
            )
    raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-2000:]}{out.stderr[-2000:]}")


@dataclass(frozen=True)
class PgbenchResult:
    transactions: int
    tps: float
    latency_ms: float
    failed: int

    def as_json(self) -> dict[str, Any]:
        return {
            "transactions": self.transactions,
            "tps": round(self.tps, 1),
            "latency_avg_ms": round(self.latency_ms, 2),
            "failed": self.failed,
        }


def pgbench(
    pgbench_bin: str, url: str, script: Path, *, seconds: float, clients: int, threads: int
) -> PgbenchResult:
    argv = [
        pgbench_bin,
        "-n",  # no vacuum of pgbench's own tables: we have none
        "-M",
        "prepared",
        f"-c{clients}",
        f"-j{threads}",
        f"-T{max(1, round(seconds))}",
        "-f",
        str(script),
        url,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120, check=False)
    text = out.stdout + out.stderr
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", text)
    done = re.search(r"number of transactions actually processed: (\d+)", text)
    lat = re.search(r"latency average = ([\d.]+) ms", text)
    failed = re.search(r"number of failed transactions: (\d+)", text)
    if out.returncode != 0 or tps is None or done is None or lat is None:
        raise RuntimeError(f"pgbench failed ({out.returncode}): {text[-3000:]}")
    return PgbenchResult(
        transactions=int(done.group(1)),
        tps=float(tps.group(1)),
        latency_ms=float(lat.group(1)),
        failed=int(failed.group(1)) if failed else 0,
    )
