"""The recharge worker: claims due recharges, charges them, settles them; sweeps on its
interval; and, in a task of its own, delivers operator webhooks (``dispatcher.py``).
``serve`` embeds one; ``balance-manager worker`` runs more (on PostgreSQL).

Each pass claims a batch and charges its records concurrently (``concurrency`` at a time):
Stripe calls are network-bound, so one worker keeps several in flight. The gateway honours
Stripe's 429 and ``Retry-After`` with the same idempotency key, which slows every in-flight
charge of this worker — the backpressure — rather than outrunning the rate limit.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import structlog

from balance_manager.dispatcher import Dispatcher
from balance_manager.settings import Settings
from balance_manager.store.wakeups import Listener, Wakeup
from balance_manager.usecases import charging
from balance_manager.usecases import sweep as sweeping
from balance_manager.usecases.services import Services

log = structlog.get_logger(__name__)


@dataclass
class Heartbeat:
    """When the worker last finished a pass and a sweep (monotonic seconds; None: never)."""

    last_pass: float | None = None
    last_sweep: float | None = None
    executed: int = 0
    swept: int = 0


class Worker:
    def __init__(
        self,
        svc: Services,
        *,
        sweep_interval: float,
        poll_interval: float = 2.0,
        batch: int = 32,
        concurrency: int = 8,
    ) -> None:
        self.svc = svc
        self.sweep_interval = sweep_interval
        self.poll_interval = poll_interval
        self.batch = batch
        self.concurrency = concurrency
        self.listener = Listener(svc.engine, svc.wakeup)
        self.heartbeat = Heartbeat()
        self.dispatcher = Dispatcher.from_services(svc)  # operator webhooks, its own task

    @classmethod
    def from_settings(cls, settings: Settings, svc: Services) -> Worker:
        return cls(svc, sweep_interval=settings.recharge_check_interval)

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
        return done

    async def sweep(self) -> int:
        swept = await sweeping.sweep(self.svc)
        self.heartbeat.last_sweep = time.monotonic()
        self.heartbeat.swept += swept.opened
        if swept.opened:
            log.info("sweep_opened_recharges", count=swept.opened, seconds=round(swept.seconds, 3))
        return swept.opened

    async def run(self, stop: asyncio.Event) -> None:
        listening = asyncio.create_task(self.listener.run(stop))
        dispatching = asyncio.create_task(self.dispatcher.run(stop))
        last_sweep = float("-inf")
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                try:
                    if loop.time() - last_sweep >= self.sweep_interval:
                        last_sweep = loop.time()
                        await self.sweep()
                    await self.run_once()
                except Exception:  # keep the worker alive; the record stays claimable
                    log.exception("worker_pass_failed")
                await self.svc.wakeup.wait(self.poll_interval)
        finally:
            stop.set()
            await listening
            await dispatching
