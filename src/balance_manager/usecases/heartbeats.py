"""A worker's heartbeat: after its passes (at most every few seconds) a worker records that
it is alive and when it last swept, in ``worker_heartbeats``, so that readiness, the metrics
and ``balance-manager status`` in any process see the workers of every process and host."""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from balance_manager.store import heartbeats
from balance_manager.store.heartbeats import Beat
from balance_manager.usecases.services import Services

# Rows of workers not heard of for this long are deleted (each restart leaves one).
FORGET_AFTER = timedelta(days=7)

__all__ = ["Beat", "alive", "beat", "last_sweep", "new_identity", "stopped"]


def new_identity(now: datetime) -> Beat:
    """This worker process: ``host:pid:random`` (a restarted pid is a new worker)."""
    host = socket.gethostname()
    pid = os.getpid()
    return Beat(
        worker_id=f"{host}:{pid}:{secrets.token_hex(3)}",
        hostname=host,
        pid=pid,
        started_at=now,
        passes=0,
        charged=0,
    )


async def beat(svc: Services, worker: Beat, *, swept: bool, first: bool = False) -> None:
    """Record a pass (and whether it swept); the first beat also forgets long-gone workers."""
    now = svc.clock()
    async with svc.engine.begin() as conn:
        await heartbeats.write(conn, worker, now=now, swept=swept)
        if first:
            await heartbeats.prune(conn, before=now - FORGET_AFTER)


async def stopped(svc: Services, worker_id: str) -> None:
    """A clean shutdown: readiness stops counting this worker at once."""
    async with svc.engine.begin() as conn:
        await heartbeats.stopped(conn, worker_id, now=svc.clock())


def alive(
    workers: list[heartbeats.Worker], *, now: datetime, stale_after: timedelta
) -> list[heartbeats.Worker]:
    """Workers that have not stopped and beat within ``stale_after``."""
    return [w for w in workers if w.stopped_at is None and now - w.beat_at <= stale_after]


def last_sweep(workers: list[heartbeats.Worker]) -> datetime | None:
    return max((w.sweep_at for w in workers if w.sweep_at is not None), default=None)
