"""``balance-manager status``: the database's view of the service as two tables (rich) —
the same numbers as the metrics (``usecases.metrics.snapshot``) and readiness's view of the
workers. Reads only; no migration."""

from __future__ import annotations

import asyncio
from datetime import datetime

from rich.console import Console
from rich.table import Table

from balance_manager.domain import money
from balance_manager.runtime.compose import build_services
from balance_manager.settings import Settings
from balance_manager.usecases import metrics
from balance_manager.usecases.heartbeats import last_sweep


def _ago(now: datetime, then: datetime | None, *, none: str = "never") -> str:
    if then is None:
        return none
    seconds = max(int((now - then).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


async def _snapshot(settings: Settings) -> metrics.Snapshot:
    services = build_services(settings.model_copy(update={"stripe_secret_key": None}))
    try:
        return await metrics.snapshot(services)
    finally:
        await services.aclose()


def render(settings: Settings, console: Console | None = None) -> None:
    snap = asyncio.run(_snapshot(settings))
    out = console or Console(width=120)
    now = snap.taken_at
    queue = snap.queue

    summary = Table(title="Balance Manager", show_header=False)
    summary.add_column("what")
    summary.add_column("value", justify="right")
    summary.add_row("users", str(snap.users.total))
    summary.add_row("below minimum", str(snap.users.below_minimum))
    summary.add_row("auto-recharge paused", str(snap.users.paused))
    summary.add_row("waiting for authentication", str(snap.requires_action))
    summary.add_row("queue (pending)", str(queue.pending))
    summary.add_row("queue (due now)", str(queue.due))
    summary.add_row("oldest pending", _ago(now, queue.oldest_pending_at, none="none"))
    summary.add_row("charging now", str(queue.processing))
    summary.add_row("outbox backlog", str(snap.outbox.backlog))
    living = snap.alive_workers
    summary.add_row("workers alive", str(len(living)))
    summary.add_row("last sweep", _ago(now, last_sweep(snap.workers)))
    for charged in snap.charged:
        cur = money.currency(charged.currency)
        summary.add_row(
            f"charged ({cur.code.upper()})",
            f"{money.to_major(charged.total, cur)} in {charged.count} recharges "
            f"(fees {money.to_major(charged.fee, cur)})",
        )
    out.print(summary)

    workers = Table(title="Workers")
    for column in ("worker", "state", "last beat", "last sweep", "passes", "charged"):
        workers.add_column(column)
    alive_ids = {w.id for w in living}
    for worker in snap.workers:
        state = (
            "stopped"
            if worker.stopped_at is not None
            else ("alive" if worker.id in alive_ids else "stale")
        )
        workers.add_row(
            worker.id,
            state,
            _ago(now, worker.beat_at),
            _ago(now, worker.sweep_at),
            str(worker.passes),
            str(worker.charged),
        )
    if not snap.workers:
        workers.add_row("(no worker has run yet)", "", "", "", "", "")
    out.print(workers)
