"""The webhook dispatcher: delivers the outbox to the operator's endpoints. The worker runs one
beside its recharge loop, as a task of its own, so a slow receiver never delays a recharge.

It keeps up to ``WEBHOOK_CONCURRENCY`` deliveries in flight and claims more as soon as one
finishes (never waiting for a whole batch, so one dead receiver cannot stall the others), at
most a few per endpoint. Between passes it waits for a slot to free up, or polls every
``WEBHOOK_POLL_SECONDS`` with one read that takes no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import structlog

from balance_manager.senders.webhook import Sender
from balance_manager.store.webhooks import Due
from balance_manager.usecases import webhooks
from balance_manager.usecases.services import Services

log = structlog.get_logger(__name__)

PER_ENDPOINT = 8  # deliveries in flight to one endpoint, per worker


class Dispatcher:
    def __init__(
        self,
        svc: Services,
        *,
        concurrency: int,
        poll_interval: float,
        timeout: float,
        per_endpoint: int = PER_ENDPOINT,
    ) -> None:
        self.svc = svc
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.per_endpoint = per_endpoint
        self.sender = Sender(timeout=timeout)
        self.delivered = 0  # attempts made by this dispatcher (any outcome)
        self._in_flight: dict[asyncio.Task[None], str] = {}

    @classmethod
    def from_services(cls, svc: Services) -> Dispatcher:
        settings = svc.settings
        return cls(
            svc,
            concurrency=settings.webhook_concurrency,
            poll_interval=settings.webhook_poll_seconds,
            timeout=settings.webhook_timeout_seconds,
        )

    async def step(self) -> int:
        """Fan out new events, claim due deliveries into the free slots and start sending
        them; returns how many it started."""
        if not await webhooks.has_work(self.svc):
            return 0
        await webhooks.fan_out(self.svc)
        jobs = await webhooks.claim(
            self.svc,
            limit=self.concurrency - len(self._in_flight),
            busy=Counter(self._in_flight.values()),
            per_endpoint=self.per_endpoint,
        )
        for job in jobs:
            task = asyncio.create_task(self._send(job))
            self._in_flight[task] = job.endpoint_id
            task.add_done_callback(self._finished)
        return len(jobs)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)

    async def _send(self, job: Due) -> None:
        try:
            await webhooks.deliver(self.svc, self.sender, job)
        except Exception:  # the lease runs out and the delivery is tried again
            log.exception("webhook_delivery_failed", delivery_id=job.delivery_id)
        finally:
            self.delivered += 1

    async def run_once(self) -> int:
        """Deliver everything due now and wait for every result; returns the attempts made."""
        started = 0
        while True:
            count = await self.step()
            started += count
            if not self._in_flight:
                if count == 0:
                    return started
                continue
            await asyncio.wait(list(self._in_flight), return_when=asyncio.FIRST_COMPLETED)

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until ``stop``; then let the deliveries in flight finish (each is bounded
        by the timeout) and close the HTTP client."""
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                try:
                    started = await self.step()
                except Exception:
                    log.exception("webhook_dispatch_failed")
                    started = 0
                if started and len(self._in_flight) < self.concurrency:
                    continue  # more may be due right now
                await asyncio.wait(
                    [stopping, *self._in_flight],
                    timeout=self.poll_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
        finally:
            stopping.cancel()
            await self.drain()

    async def drain(self) -> None:
        """Wait for the deliveries in flight (bounded by the timeout), then close."""
        pending = list(self._in_flight)
        if pending:
            _done, late = await asyncio.wait(pending, timeout=self.sender.timeout + 10)
            for task in late:  # its lease runs out and another attempt follows
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.sender.aclose()
