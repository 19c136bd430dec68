"""Worker heartbeats in SQL: one row per worker process, written by the worker after its
passes, read by readiness, the metrics and ``balance-manager status`` in any process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from balance_manager.store.models import WorkerHeartbeat

_BEATS = cast(Table, WorkerHeartbeat.__table__)


@dataclass(frozen=True, slots=True)
class Beat:
    worker_id: str
    hostname: str
    pid: int
    started_at: datetime
    passes: int
    charged: int


async def write(conn: AsyncConnection, beat: Beat, *, now: datetime, swept: bool = False) -> None:
    """Record a pass (and a sweep): update the worker's row, or insert it the first time."""
    values: dict[str, object] = {
        "beat_at": now,
        "passes": beat.passes,
        "charged": beat.charged,
        "stopped_at": None,
    }
    if swept:
        values["sweep_at"] = now
    updated = await conn.execute(
        update(_BEATS).where(_BEATS.c.id == beat.worker_id).values(**values)
    )
    if updated.rowcount == 0:
        await conn.execute(
            insert(_BEATS).values(
                id=beat.worker_id,
                hostname=beat.hostname[:255],
                pid=beat.pid,
                started_at=beat.started_at,
                sweep_at=now if swept else None,
                **{k: v for k, v in values.items() if k != "sweep_at"},
            )
        )


async def stopped(conn: AsyncConnection, worker_id: str, *, now: datetime) -> None:
    await conn.execute(update(_BEATS).where(_BEATS.c.id == worker_id).values(stopped_at=now))


async def prune(conn: AsyncConnection, *, before: datetime) -> None:
    """Forget workers not heard of since ``before`` (restarts leave a row each)."""
    await conn.execute(delete(_BEATS).where(_BEATS.c.beat_at < before))


@dataclass(frozen=True, slots=True)
class Worker:
    id: str
    hostname: str
    pid: int
    started_at: datetime
    beat_at: datetime
    sweep_at: datetime | None
    stopped_at: datetime | None
    passes: int
    charged: int


async def recent(conn: AsyncConnection, *, limit: int = 100) -> list[Worker]:
    """The workers heard of most recently first."""
    rows = await conn.execute(
        select(
            _BEATS.c.id,
            _BEATS.c.hostname,
            _BEATS.c.pid,
            _BEATS.c.started_at,
            _BEATS.c.beat_at,
            _BEATS.c.sweep_at,
            _BEATS.c.stopped_at,
            _BEATS.c.passes,
            _BEATS.c.charged,
        )
        .order_by(_BEATS.c.beat_at.desc())
        .limit(limit)
    )
    return [Worker(*row) for row in rows]
