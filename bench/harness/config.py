"""How big and how long: the full run and the ``--quick`` smoke run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Config:
    quick: bool
    admin_url: str
    pgbench: str
    processes: int = 1  # server processes for the service and the baselines alike
    log_level: str = "warning"
    # usage debits (target 1)
    seconds: float = 20.0  # one measured wrk run
    warmup: float = 5.0
    rounds: int = 5  # interleaved service / baseline rounds; medians and min-max over them
    users: int = 10_000
    threads: int = 2
    connections: int = 32
    sqlite_rounds: int = 3
    # batch ingestion (target 2)
    batch_events: int = 1000
    batch_connections: int = 4
    batch_seconds: float = 20.0
    batch_rounds: int = 5
    # reaction (target 3)
    reaction_samples: int = 100
    reaction_gap: float = 0.25  # seconds between crossing debits
    # sweep (target 4)
    sweep_users: int = 1_000_000
    sweep_due: int = 10_000
    sweep_empty_passes: int = 5
    sweep_max_passes: int = 20  # passes run until nobody is left due (today: 1,000 a pass)
    # recharge throughput (target 5)
    throughput_recharges: int = 2000
    throughput_rounds: int = 3
    throughput_workers: int = 2
    # the sandbox's own capacity (context for target 5)
    sandbox_seconds: float = 8.0

    @classmethod
    def for_run(cls, *, quick: bool, **common: Any) -> Config:
        if not quick:
            return cls(quick=False, **common)
        return cls(
            quick=True,
            seconds=3.0,
            warmup=2.0,
            rounds=2,
            sqlite_rounds=1,
            batch_seconds=5.0,
            batch_rounds=1,
            reaction_samples=15,
            sweep_users=100_000,
            sweep_due=200,
            sweep_empty_passes=3,
            sweep_max_passes=3,
            throughput_recharges=200,
            throughput_rounds=1,
            sandbox_seconds=3.0,
            **common,
        )
