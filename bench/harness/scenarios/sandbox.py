"""Context for target 5: how many recharge calls the Stripe sandbox itself serves a second
(``bench/sandbox_throughput.py``: one sandbox process pinned to one core), so a recharge
figure can be read against the sandbox's own ceiling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from harness import procs
from harness.stack import BENCH, Stack


def run(stack: Stack) -> dict[str, Any]:
    seconds = stack.config.sandbox_seconds
    argv = [sys.executable, str(BENCH / "sandbox_throughput.py"), "--json"]
    proc = stack.start(
        "sandbox-throughput", [*argv, "--seconds", str(seconds)], env=dict(os.environ)
    )
    try:
        proc.popen.wait(timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"sandbox_throughput.py did not finish:\n{proc.tail()}") from None
    finally:
        procs.stop(proc)
    if proc.popen.returncode != 0:
        raise RuntimeError(f"sandbox_throughput.py failed:\n{proc.tail()}")
    line = next(x for x in reversed(proc.tail(50).splitlines()) if x.startswith("{"))
    return dict(json.loads(line))
