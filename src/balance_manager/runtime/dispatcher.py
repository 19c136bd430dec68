"""The webhook dispatcher: delivers the outbox to the operator's endpoints. The worker runs one
beside its recharge loop, as a task of its own, so a slow receiver never delays a recharge.

It keeps up to ``WEBHOOK_CONCURRENCY`` deliveries in flight and claims more as soon as one
finishes (never waiting for a whole batch, so one dead receiver cannot stall the others),
sharing the slots fairly (``domain.webhooks.pick_fairly``): endpoints take turns, a healthy one
holds at most ``WEBHOOK_ENDPOINT_CONCURRENCY``, and those on probation (never delivered to,
failing, or with an attempt here waiting for more than a second) one each and half the slots
between them; the other half is kept for healthy endpoints, first for those that answered it
a moment ago. Each attempt is bounded by
``WEBHOOK_TIMEOUT_SECONDS``. Between passes it waits for a slot to free up, or polls every
``WEBHOOK_POLL_SECONDS`` with one read that takes no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass

import structlog

from balance_manager.domain.webhooks import Shares
from balance_manager.senders.webhook import Sender
from balance_manager.store.webhooks import Due
from balance_manager.usecases import webhooks
from balance_manager.usecases.services import Services

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _InFlight:
    endpoint_id: str
    probation: bool  # the endpoint was on probation when this delivery was claimed
    started: float  # time.monotonic()


class Dispatcher:
    """``sender`` defaults to one that checks every address against WEBHOOK_ALLOWED_NETWORKS'
    policy (tests hand in one with their own resolver)."""

    def __init__(
        self,
        svc: Services,
        *,
        concurrency: int,
        poll_interval: float,
        timeout: float,
        per_endpoint: int | None = None,
        sender: Sender | None = None,
    ) -> None:
        self.svc = svc
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.shares = Shares(
            slots=concurrency,
            per_endpoint=per_endpoint or svc.settings.webhook_endpoint_concurrency,
        )
        self.sender = sender or Sender(
            timeout=timeout,
            check=svc.settings.webhook_address_policy.refusal,
            resolver_threads=concurrency,
        )
        self.delivered = 0  # attempts made by this dispatcher (any outcome)
        self._in_flight: dict[asyncio.Task[None], _InFlight] = {}
        # When each endpoint last answered one of this dispatcher's attempts (2xx).
        self._answered: dict[str, float] = {}

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
        now = time.monotonic()
        slow_since, trusted_since = now - self.shares.slow_after, now - self.shares.trust_for
        for endpoint, at in list(self._answered.items()):
            if at < trusted_since:
                del self._answered[endpoint]
        jobs = await webhooks.claim(
            self.svc,
            busy=Counter(f.endpoint_id for f in self._in_flight.values()),
            probation={
                f.endpoint_id
                for f in self._in_flight.values()
                if f.probation or f.started < slow_since
            },
            trusted=dict(self._answered),
            shares=self.shares,
        )
        for job in jobs:
            task = asyncio.create_task(self._send(job))
            self._in_flight[task] = _InFlight(job.endpoint_id, job.probation, time.monotonic())
            task.add_done_callback(self._finished)
        return len(jobs)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)

    async def _send(self, job: Due) -> None:
        try:
            sent = await webhooks.deliver(self.svc, self.sender, job)
            if sent.ok:
                self._answered[job.endpoint_id] = time.monotonic()
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
