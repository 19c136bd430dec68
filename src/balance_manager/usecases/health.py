"""Can this service do its job right now? Readiness (``GET /health/ready``), the original's
"调度器状态" (scheduler status).

Not ready (503), with the reasons, when:

- ``database_unreachable`` — the database does not answer (within 2 s);
- ``no_live_worker`` / ``worker_heartbeat_stale`` — payments are configured but no worker,
  in any process, has beaten within ``HEALTH_WORKER_STALE_SECONDS`` (stale: one had, and
  went quiet without stopping cleanly);
- ``sweep_late`` — workers run but none has swept within twice ``RECHARGE_CHECK_INTERVAL``
  (plus the staleness allowance);
- ``queue_stalled`` — a due recharge has waited longer than ``HEALTH_QUEUE_MAX_AGE_SECONDS``;
- ``outbox_backlog`` — the oldest undelivered outbox event is older than
  ``HEALTH_OUTBOX_MAX_AGE_SECONDS`` (only when set);
- ``stripe_unreachable`` / ``stripe_rejected`` — Stripe cannot be reached, or refuses our
  key (checked with one cheap read at most every 30 s per process).

Warnings only (ready stays true):

- ``listen_disconnected`` — a lost ``LISTEN`` connection: workers still poll;
- ``stripe_event_api_version`` — the newest Stripe event came in another API version than the
  one the service is written against (the SDK's pinned version): the webhook endpoint was made
  without it. ``balance-manager stripe webhook-setup --update`` replaces it.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

from balance_manager.payments.gateway import (
    PINNED_API_VERSION,
    GatewayError,
    StripeGateway,
    StripeRejected,
    StripeUnavailable,
)
from balance_manager.store import aggregates
from balance_manager.store import heartbeats as beats
from balance_manager.store.db import ping, reader
from balance_manager.usecases.heartbeats import alive, last_sweep
from balance_manager.usecases.services import Services

DATABASE_TIMEOUT_SECONDS = 2.0
STRIPE_CHECK_SECONDS = 30.0
STRIPE_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class DatabaseCheck:
    ok: bool
    backend: str
    latency_ms: float | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class WorkersCheck:
    ok: bool
    required: bool
    alive: int
    stale_after_seconds: int
    last_heartbeat_age_seconds: float | None


@dataclass(frozen=True, slots=True)
class SweepCheck:
    ok: bool
    interval_seconds: int
    late_after_seconds: int
    last_sweep_age_seconds: float | None


@dataclass(frozen=True, slots=True)
class QueueCheck:
    ok: bool
    pending: int
    due: int
    processing: int
    oldest_due_age_seconds: float | None
    max_age_seconds: int


@dataclass(frozen=True, slots=True)
class OutboxCheck:
    ok: bool
    backlog: int
    oldest_age_seconds: float | None
    max_age_seconds: int | None


@dataclass(frozen=True, slots=True)
class ListenCheck:
    ok: bool
    connected: bool


@dataclass(frozen=True, slots=True)
class StripeCheck:
    ok: bool
    configured: bool
    checked_ago_seconds: float | None = None
    latency_ms: float | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StripeEventsCheck:
    ok: bool
    expected_api_version: str
    last_api_version: str | None
    last_received_age_seconds: float | None


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reasons: list[str]
    warnings: list[str]
    database: DatabaseCheck
    workers: WorkersCheck | None
    sweep: SweepCheck | None
    queue: QueueCheck | None
    outbox: OutboxCheck | None
    listen: ListenCheck | None
    stripe: StripeCheck
    stripe_events: StripeEventsCheck | None


class StripeProbe:
    """Stripe's reachability, asked at most every ``ttl`` seconds (callers in between get
    the last answer; concurrent callers share one request)."""

    def __init__(
        self,
        gateway: StripeGateway,
        *,
        ttl: float = STRIPE_CHECK_SECONDS,
        timeout: float = STRIPE_TIMEOUT_SECONDS,
    ) -> None:
        self.gateway = gateway
        self.ttl = ttl
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._last: StripeCheck | None = None
        self._at = 0.0

    async def check(self) -> StripeCheck:
        async with self._lock:
            if self._last is None or time.monotonic() - self._at >= self.ttl:
                self._last = await self._ask()
                self._at = time.monotonic()
            age = round(time.monotonic() - self._at, 3)
            last = self._last
        return StripeCheck(last.ok, True, age, last.latency_ms, last.error)

    async def _ask(self) -> StripeCheck:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                await self.gateway.ping()
        except (StripeUnavailable, TimeoutError):
            return StripeCheck(False, True, error="stripe_unreachable")
        except StripeRejected:
            return StripeCheck(False, True, error="stripe_rejected")
        except GatewayError:
            return StripeCheck(False, True, error="stripe_unreachable")
        return StripeCheck(True, True, latency_ms=round((time.perf_counter() - started) * 1000, 2))


_probes: weakref.WeakKeyDictionary[StripeGateway, StripeProbe] = weakref.WeakKeyDictionary()


def probe_for(gateway: StripeGateway) -> StripeProbe:
    """The process's probe for ``gateway`` (one cache per gateway)."""
    probe = _probes.get(gateway)
    if probe is None:
        probe = _probes[gateway] = StripeProbe(gateway)
    return probe


@dataclass(frozen=True, slots=True)
class _Facts:
    workers: list[beats.Worker]
    queue: aggregates.Queue
    outbox: aggregates.Outbox
    last_stripe_event: aggregates.LastStripeEvent | None


async def _read(svc: Services, now: datetime) -> tuple[float, _Facts]:
    engine = reader(svc.engine)  # on SQLite, never the write lock
    latency = await ping(engine)
    async with engine.connect() as conn:
        facts = _Facts(
            workers=await beats.recent(conn),
            queue=await aggregates.queue(conn, now=now),
            outbox=await aggregates.outbox(conn),
            last_stripe_event=await aggregates.last_stripe_event(conn),
        )
        await conn.rollback()
    return latency, facts


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else round(max((now - then).total_seconds(), 0.0), 3)


async def readiness(svc: Services, *, listening: bool | None = None) -> Readiness:
    """Check everything the service needs; ``listening`` is the LISTEN state of this
    process's embedded worker (None: it runs none, or not on PostgreSQL)."""
    settings = svc.settings
    now = svc.clock()
    reasons: list[str] = []
    warnings: list[str] = []
    backend = svc.engine.dialect.name

    stripe = StripeCheck(True, False)
    if svc.gateway is not None:
        stripe = await probe_for(svc.gateway).check()
        if not stripe.ok:
            reasons.append(stripe.error or "stripe_unreachable")

    listen = None if listening is None else ListenCheck(listening, listening)
    if listen is not None and not listen.ok:
        warnings.append("listen_disconnected")

    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS):
            latency, facts = await _read(svc, now)
    except Exception as exc:  # any failure to reach the database means "not ready"
        return Readiness(
            ready=False,
            reasons=["database_unreachable", *reasons],
            warnings=warnings,
            database=DatabaseCheck(False, backend, error=type(exc).__name__),
            workers=None,
            sweep=None,
            queue=None,
            outbox=None,
            listen=listen,
            stripe=stripe,
            stripe_events=None,
        )
    database = DatabaseCheck(True, backend, latency_ms=round(latency, 2))

    required = svc.payments_enabled
    stale_after = timedelta(seconds=settings.health_worker_stale_seconds)
    living = alive(facts.workers, now=now, stale_after=stale_after)
    running = [w for w in facts.workers if w.stopped_at is None]
    workers = WorkersCheck(
        ok=bool(living) or not required,
        required=required,
        alive=len(living),
        stale_after_seconds=settings.health_worker_stale_seconds,
        last_heartbeat_age_seconds=_age(now, max((w.beat_at for w in running), default=None)),
    )
    if not workers.ok:
        reasons.append("worker_heartbeat_stale" if running else "no_live_worker")

    interval = settings.recharge_check_interval
    late_after = 2 * interval + settings.health_worker_stale_seconds
    swept = last_sweep(facts.workers)
    # A worker sweeps when it starts; before that, count from when the first one started.
    since = swept or min((w.started_at for w in living), default=None)
    sweep = SweepCheck(
        ok=not (required and living) or (since is not None and _seconds(now, since) <= late_after),
        interval_seconds=interval,
        late_after_seconds=late_after,
        last_sweep_age_seconds=_age(now, swept),
    )
    if not sweep.ok:
        reasons.append("sweep_late")

    queue_age = _age(now, facts.queue.oldest_due_at)
    queue = QueueCheck(
        ok=queue_age is None or queue_age <= settings.health_queue_max_age_seconds,
        pending=facts.queue.pending,
        due=facts.queue.due,
        processing=facts.queue.processing,
        oldest_due_age_seconds=queue_age,
        max_age_seconds=settings.health_queue_max_age_seconds,
    )
    if not queue.ok:
        reasons.append("queue_stalled")

    outbox_limit = settings.health_outbox_max_age_seconds or None
    outbox_age = _age(now, facts.outbox.oldest_at)
    outbox = OutboxCheck(
        ok=outbox_limit is None or outbox_age is None or outbox_age <= outbox_limit,
        backlog=facts.outbox.backlog,
        oldest_age_seconds=outbox_age,
        max_age_seconds=outbox_limit,
    )
    if not outbox.ok:
        reasons.append("outbox_backlog")

    last = facts.last_stripe_event
    stripe_events = StripeEventsCheck(
        ok=last is None or last.api_version == PINNED_API_VERSION,
        expected_api_version=PINNED_API_VERSION,
        last_api_version=None if last is None else last.api_version,
        last_received_age_seconds=None if last is None else _age(now, last.received_at),
    )
    if not stripe_events.ok:
        warnings.append("stripe_event_api_version")

    return Readiness(
        ready=not reasons,
        reasons=reasons,
        warnings=warnings,
        database=database,
        workers=workers,
        sweep=sweep,
        queue=queue,
        outbox=outbox,
        listen=listen,
        stripe=stripe,
        stripe_events=stripe_events,
    )


def _seconds(now: datetime, then: datetime) -> float:
    return (now - then).total_seconds()
