"""Target 6: resident memory of the API process under load and of a worker while charging.

Peaks come from a sampler that reads /proc every 0.5 s for the whole run, so they cover the
usage, batch, reaction and throughput loads when those ran; on its own (``--only memory``)
this scenario applies a short debit load and one small throughput round first.
"""

from __future__ import annotations

import secrets
from typing import Any

from harness.scenarios import throughput
from harness.scenarios.usage import measure
from harness.stack import USAGE_PREFIX, Stack


def run(stack: Stack, *, loaded_api: bool, charged: bool) -> dict[str, Any]:
    if not loaded_api:
        base = stack.serve("pg", stack.postgres())
        measure(
            stack, base, f"/api/balance/usage/{USAGE_PREFIX}", stack.serve_proc("pg"),
            f"mem{secrets.token_hex(3)}", stack.config.seconds,
        )  # fmt: skip
    if not charged:
        throughput.run(stack)
    mib = {label: round(rss / 2**20, 1) for label, rss in stack.rss.peaks.items()}
    first = {label: round(rss / 2**20, 1) for label, rss in stack.rss.first.items()}
    workers = [v for k, v in mib.items() if k.startswith("worker-")]
    return {
        "api_peak_mib": mib.get("serve-pg"),
        "api_at_start_mib": first.get("serve-pg"),
        "api_sqlite_peak_mib": mib.get("serve-sqlite"),
        "worker_peak_mib": max(workers) if workers else None,
        "worker_at_start_mib": max(
            (v for k, v in first.items() if k.startswith("worker-")), default=None
        ),
        "baseline_peak_mib": mib.get("baseline"),
        "all_peaks_mib": mib,
    }
