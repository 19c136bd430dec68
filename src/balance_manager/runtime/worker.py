"""The recharge worker: claims due recharges, charges them, settles them; sweeps on its
interval; reconciles with Stripe once every ``RECONCILE_INTERVAL_SECONDS`` (the last stored
run says when: several workers share the schedule); gives up on recharges that waited too
long for authentication (``expiry``); and, in a task of its own, delivers operator webhooks
(``dispatcher.py``). ``serve`` embeds one; ``balance-manager worker`` runs more (on
PostgreSQL).

Each pass claims a batch and charges its records concurrently (``concurrency`` at a time):
Stripe calls are network-bound, so one worker keeps several in flight. The gateway honours
Stripe's 429 and ``Retry-After`` with the same idempotency key, which slows every in-flight
charge of this worker — the backpressure — rather than outrunning the rate limit.

After its passes (at most every ``heartbeat_interval`` seconds) the worker writes its
heartbeat row (``usecases.heartbeats``), which readiness and ``status`` read from any
process. Its log lines carry ``worker_id`` and, per pass, ``job_id``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta

import structlog

from balance_manager.runtime.dispatcher import Dispatcher
from balance_manager.settings import Settings
from balance_manager.store.wakeups import Listener, Wakeup
from balance_manager.telemetry import metrics
from balance_manager.usecases import charging, expiry, heartbeats
from balance_manager.usecases import reconcile as reconciling
from balance_manager.usecases import sweep as sweeping
from balance_manager.usecases.services import Services

log = structlog.get_logger(__name__)


@dataclass
class Heartbeat:
    """When the worker last finished a pass and a sweep (monotonic seconds; None: never)."""

    last_pass: float | None = None
    last_sweep: float | None = None
    last_reconcile: float | None = None
    executed: int = 0
    swept: int = 0
    passes: int = 0


class Worker:
    def __init__(
        self,
        svc: Services,
        *,
        sweep_interval: float,
        poll_interval: float = 2.0,
        batch: int = 32,
        concurrency: int = 8,
        heartbeat_interval: float = 5.0,
        reconcile_interval: float = 0,
        reconcile_window: float = 2 * 86400,
    ) -> None:
        self.svc = svc
        self.sweep_interval = sweep_interval
        self.reconcile_interval = reconcile_interval  # 0: never
        self.reconcile_window = reconcile_window
        self.poll_interval = poll_interval
        self.batch = batch
        self.concurrency = concurrency
        self.heartbeat_interval = heartbeat_interval
        self.listener = Listener(svc.engine, svc.wakeup)
        self.heartbeat = Heartbeat()
        self.dispatcher = Dispatcher.from_services(svc)  # operator webhooks, its own task
        self.identity = heartbeats.new_identity(svc.clock())

    @classmethod
    def from_settings(cls, settings: Settings, svc: Services) -> Worker:
        return cls(
            svc,
            sweep_interval=settings.recharge_check_interval,
            reconcile_interval=settings.reconcile_interval_seconds,
            reconcile_window=settings.reconcile_window_seconds,
        )

    @property
    def listening(self) -> bool | None:
        """Whether the LISTEN connection is up (None on SQLite, which has none)."""
        return self.listener.connected if self.listener.applies else None

    @property
    def wakeup(self) -> Wakeup:
        return self.svc.wakeup

    async def run_once(self) -> int:
        """Claim and charge everything due now; returns how many records were charged."""
        done = 0
        limit = asyncio.Semaphore(self.concurrency)

        async def one(job: charging.Charge) -> None:
            async with limit:
                await charging.execute(self.svc, job)

        while True:
            jobs = await charging.claim(self.svc, limit=self.batch)
            if not jobs:
                break
            await asyncio.gather(*(one(job) for job in jobs))
            done += len(jobs)
        self.heartbeat.last_pass = time.monotonic()
        self.heartbeat.executed += done
        self.heartbeat.passes += 1
        return done

    async def sweep(self) -> int:
        swept = await sweeping.sweep(self.svc)
        self.heartbeat.last_sweep = time.monotonic()
        self.heartbeat.swept += swept.opened
        metrics.sweep_finished(
            seconds=swept.seconds, candidates=swept.candidates, opened=swept.opened
        )
        if swept.opened:
            log.info("sweep_opened_recharges", count=swept.opened, seconds=round(swept.seconds, 3))
        return swept.opened

    async def beat(self, *, swept: bool) -> None:
        """Write the heartbeat row; a database hiccup is logged, never fatal."""
        first = self.heartbeat.passes <= 1
        self.identity = replace(
            self.identity, passes=self.heartbeat.passes, charged=self.heartbeat.executed
        )
        try:
            await heartbeats.beat(self.svc, self.identity, swept=swept, first=first)
        except Exception as exc:
            log.warning("worker_heartbeat_failed", error=type(exc).__name__)

    async def reconcile_if_due(self) -> reconciling.Report | None:
        """Reconcile the last ``reconcile_window`` seconds when no stored run started within
        ``reconcile_interval`` (by any worker)."""
        if not self.reconcile_interval or not self.svc.payments_enabled:
            return None
        now = self.svc.clock()
        last = await reconciling.last_run_started(self.svc)
        if last is not None and now - last < timedelta(seconds=self.reconcile_interval):
            return None
        report = await reconciling.reconcile(
            self.svc, since=now - timedelta(seconds=self.reconcile_window)
        )
        self.heartbeat.last_reconcile = time.monotonic()
        return report

    async def expire(self) -> int:
        """Cancel recharges that waited too long for authentication; how many settled."""
        expired = await expiry.expire_waiting(self.svc)
        return len(expired.outcomes)

    async def run(self, stop: asyncio.Event) -> None:
        listening = asyncio.create_task(self.listener.run(stop))
        dispatching = asyncio.create_task(self.dispatcher.run(stop))
        last_sweep = float("-inf")
        last_beat = float("-inf")
        next_reconcile_check = float("-inf")
        loop = asyncio.get_running_loop()
        structlog.contextvars.bind_contextvars(worker_id=self.identity.worker_id)
        try:
            while not stop.is_set():
                swept = False
                structlog.contextvars.bind_contextvars(job_id=uuid.uuid4().hex[:16])
                try:
                    if await self.expire():
                        last_sweep = float("-inf")  # their next recharge may start now
                    if loop.time() - last_sweep >= self.sweep_interval:
                        last_sweep = loop.time()
                        await self.sweep()
                        swept = True
                    if self.reconcile_interval and loop.time() >= next_reconcile_check:
                        # Whether a run is due is the database's to say; ask now and then.
                        next_reconcile_check = loop.time() + min(self.reconcile_interval, 300)
                        await self.reconcile_if_due()
                    await self.run_once()
                    metrics.worker_pass(ok=True)
                except Exception:  # keep the worker alive; the record stays claimable
                    metrics.worker_pass(ok=False)
                    log.exception("worker_pass_failed")
                if swept or loop.time() - last_beat >= self.heartbeat_interval:
                    last_beat = loop.time()
                    await self.beat(swept=swept)
                structlog.contextvars.unbind_contextvars("job_id")
                await self.svc.wakeup.wait(self.poll_interval)
            await self._stopped()
        finally:
            stop.set()
            structlog.contextvars.unbind_contextvars("worker_id", "job_id")
            await listening
            await dispatching

    async def _stopped(self) -> None:
        """A clean stop: readiness stops counting this worker at once (a crash or a
        cancellation leaves the row to go stale instead)."""
        try:
            await heartbeats.stopped(self.svc, self.identity.worker_id)
        except Exception as exc:
            log.warning("worker_heartbeat_failed", error=type(exc).__name__)
