"""Webhook delivery: every event goes, signed, to each enabled endpoint that wants it.

Delivery is asynchronous (after the API response), signed as Stripe signs
(``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>">``, key = the endpoint's
``whsec_`` secret), retried with exponential backoff while the receiver fails, and logged.
Faults for the receiver's sake: delay every delivery, send each twice, deliver out of order.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from .control_input import boolean, integer, number
from .resources.events import record_delivery, type_matches
from .shapes import render_event
from .state import SandboxState, random_id
from .wire import JSON, invalid_request

log = logging.getLogger(__name__)


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def rendered_for(event: JSON, endpoint: JSON) -> JSON:
    """The event as this endpoint receives it: in the endpoint's API version when it has one,
    else in the account's version the event was created with (never the request's version);
    ``data`` is shaped for that version (``shapes.py``)."""
    return render_event(event, endpoint.get("api_version"))


@dataclass
class WebhookConfig:
    retry_base_seconds: float = 1.0  # attempt n waits base * 2**(n-1) after a failure
    max_attempts: int = 6
    timeout_seconds: float = 10.0
    delay_seconds: float = 0.0  # hold every delivery this long before its first attempt
    duplicate: bool = False  # deliver every event twice
    reorder_window: int = 0  # buffer this many events, then deliver them newest first

    def update(self, values: dict[str, Any]) -> None:
        """Apply a control request's settings, all or none; a bad one is Stripe's 400."""
        parsed: dict[str, Any] = {}
        for name, value in values.items():
            if name not in _LIMITS:
                raise invalid_request(f"Unknown webhook setting: {name}", param=name)
            current = getattr(self, name)
            if isinstance(current, bool):
                parsed[name] = boolean(value, name)
            elif isinstance(current, int):
                parsed[name] = integer(value, name, minimum=int(_LIMITS[name]))
            else:
                parsed[name] = number(value, name, minimum=_LIMITS[name])
        for name, value in parsed.items():
            setattr(self, name, value)


# The smallest value each setting takes (booleans: unused).
_LIMITS: dict[str, float] = {
    "retry_base_seconds": 0,
    "max_attempts": 1,
    "timeout_seconds": 0.001,
    "delay_seconds": 0,
    "duplicate": 0,
    "reorder_window": 0,
}


@dataclass
class Attempt:
    id: str
    event: str
    event_type: str
    endpoint: str
    url: str
    attempt: int
    status: int | None
    error: str | None
    succeeded: bool
    at: float
    duration_ms: int
    manual: bool = False

    def as_json(self) -> JSON:
        return asdict(self)


@dataclass
class WebhookDispatcher:
    state: SandboxState
    config: WebhookConfig = field(default_factory=WebhookConfig)
    attempts: list[Attempt] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _client: httpx.AsyncClient | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _early: list[tuple[str, str]] = field(default_factory=list)
    _buffer: list[tuple[str, str]] = field(default_factory=list)
    _flush_handle: asyncio.TimerHandle | None = None

    def __post_init__(self) -> None:
        self.state.listeners.append(self.on_event)
        self.state.reset_listeners.append(self.on_reset)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the dispatcher runs on (the server's), once started."""
        return self._loop

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._client = httpx.AsyncClient(timeout=self.config.timeout_seconds)
        early, self._early = self._early, []
        for endpoint_id, event_id in early:
            self._spawn(endpoint_id, event_id)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
        self._loop = None

    def on_reset(self) -> None:
        self.attempts.clear()
        self._buffer.clear()
        if self._loop is not None:
            for task in list(self._tasks):
                self._loop.call_soon_threadsafe(task.cancel)

    # ------------------------------------------------------------------ scheduling
    def endpoints_for(self, event: JSON) -> list[JSON]:
        out = []
        for we_id in self.state.ids_of("webhook_endpoint"):
            endpoint = self.state.objects.get(we_id)
            if endpoint is None or endpoint["status"] != "enabled":
                continue
            if any(type_matches(p, event["type"]) for p in endpoint["enabled_events"]):
                out.append(endpoint)
        return out

    def on_event(self, event: JSON) -> None:
        """Called under the state lock for every new event."""
        for endpoint in self.endpoints_for(event):
            event["pending_webhooks"] += 1
            self._schedule(endpoint["id"], event["id"])

    def _schedule(self, endpoint_id: str, event_id: str) -> None:
        loop = self._loop
        if loop is None:
            self._early.append((endpoint_id, event_id))
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._enqueue(endpoint_id, event_id)
        else:
            loop.call_soon_threadsafe(self._enqueue, endpoint_id, event_id)

    def _enqueue(self, endpoint_id: str, event_id: str) -> None:
        window = self.config.reorder_window
        if window <= 1:
            self._spawn(endpoint_id, event_id)
            return
        self._buffer.append((endpoint_id, event_id))
        if len(self._buffer) >= window:
            self._flush()
        elif self._flush_handle is None and self._loop is not None:
            self._flush_handle = self._loop.call_later(0.5, self._flush)

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        batch, self._buffer = self._buffer, []
        for i, (endpoint_id, event_id) in enumerate(reversed(batch)):
            self._spawn(endpoint_id, event_id, extra_delay=0.05 * i)

    def _spawn(self, endpoint_id: str, event_id: str, *, extra_delay: float = 0.0) -> None:
        copies = 2 if self.config.duplicate else 1
        for n in range(copies):
            delay = self.config.delay_seconds + extra_delay + 0.05 * n
            task = asyncio.ensure_future(self._deliver(endpoint_id, event_id, delay))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ delivery
    async def _deliver(self, endpoint_id: str, event_id: str, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        attempt = 0
        while True:
            attempt += 1
            result = await self.attempt(endpoint_id, event_id, attempt)
            if result is None or result.succeeded or attempt >= self.config.max_attempts:
                break
            await asyncio.sleep(self.config.retry_base_seconds * 2 ** (attempt - 1))
        with self.state.lock:
            event = self.state.objects.get(event_id)
            if event is not None and event["pending_webhooks"] > 0:
                event["pending_webhooks"] -= 1
                self.state.touch()
            if event is not None and result is not None and not result.succeeded:
                record_delivery(self.state, event_id, endpoint_id, succeeded=False)

    async def attempt(
        self, endpoint_id: str, event_id: str, number: int, *, manual: bool = False
    ) -> Attempt | None:
        with self.state.lock:
            endpoint = self.state.objects.get(endpoint_id)
            event = self.state.objects.get(event_id)
            secret = self.state.private_of(endpoint_id).get("secret")
            if endpoint is None or event is None or secret is None:
                return None
            payload = json.dumps(rendered_for(event, endpoint), indent=2)
            url = endpoint["url"]
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(payload, secret),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        started = time.time()
        status: int | None = None
        error: str | None = None
        client = self._client or httpx.AsyncClient(timeout=self.config.timeout_seconds)
        try:
            response = await client.post(url, content=payload.encode(), headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            if client is not self._client:
                await client.aclose()
        result = Attempt(
            id=random_id("wdel", 14),
            event=event_id,
            event_type=event["type"],
            endpoint=endpoint_id,
            url=url,
            attempt=number,
            status=status,
            error=error,
            succeeded=status is not None and 200 <= status < 300,
            at=started,
            duration_ms=int((time.time() - started) * 1000),
            manual=manual,
        )
        self.attempts.append(result)
        if manual and result.succeeded:  # a resend that gets through ends a failure
            with self.state.lock:
                record_delivery(self.state, event_id, endpoint_id, succeeded=True)
        return result

    async def resend(self, event_id: str, endpoint_ids: list[str] | None = None) -> list[Attempt]:
        """One manual attempt per endpoint (as ``stripe events resend``)."""
        with self.state.lock:
            event = self.state.objects.get(event_id)
            if event is None:
                return []
            targets = endpoint_ids or [e["id"] for e in self.endpoints_for(event)]
        out = []
        for endpoint_id in targets:
            result = await self.attempt(endpoint_id, event_id, 1, manual=True)
            if result is not None:
                out.append(result)
        return out

    def log(self, event: str | None = None, endpoint: str | None = None) -> list[JSON]:
        return [
            a.as_json()
            for a in self.attempts
            if (event is None or a.event == event) and (endpoint is None or a.endpoint == endpoint)
        ]

    async def idle(self, within: float = 10.0) -> bool:
        """Wait until no delivery is in flight (for tests and the demo)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self._tasks and not self._buffer:
                return True
            await asyncio.sleep(0.02)
        return False
