"""Operator webhooks, the pure rules: which endpoints get an event, what is sent and how it is
signed, when a failed delivery is tried again, when an endpoint is given up on. No I/O.

Payloads and signatures follow the Standard Webhooks specification (the ``standardwebhooks``
package signs): the body is ``{"type", "timestamp", "data"}``; the headers are
``webhook-id`` (the event id, the same on every retry, so receivers deduplicate on it),
``webhook-timestamp`` (when this attempt was signed) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`` keyed by the endpoint's secret).

Retry schedule: attempt *n* failed → the next one waits ``base × 2^(n-1)`` seconds, at most
``max_delay``; no attempt is scheduled later than ``retry_period`` after the delivery was
created (then it is ``failed``). An endpoint whose every attempt has failed for
``disable_after`` is disabled.

Fair delivery (:func:`pick_fairly`): endpoints take turns for a worker's slots; one on
probation (never delivered to yet, or failing) has one delivery in flight at a time and all of
them share half the slots, so hanging or failing receivers cannot delay the healthy ones.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from balance_manager.domain.states import EventType

SECRET_PREFIX = "whsec_"  # noqa: S105  (the prefix the specification gives secrets)
SECRET_BYTES = 32  # the specification asks for 24 to 64
MAX_URL_LENGTH = 2048


@dataclass(frozen=True, slots=True)
class DeliveryRules:
    """Timing of deliveries (seconds); see the module docstring."""

    timeout: float = 10.0
    base_delay: float = 10.0
    max_delay: float = 6 * 3600.0
    retry_period: float = 3 * 86400.0
    disable_after: float = 86400.0

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery is this worker's: past it (the worker died mid-POST),
        another worker sends it again — at least once, never lost."""
        return timedelta(seconds=self.timeout + 60)

    def delay_after(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        exponent = min(max(attempts, 1) - 1, 60)  # 2**60 s is past any cap
        return float(min(self.base_delay * 2**exponent, self.max_delay))

    def next_attempt(
        self, *, attempts: int, created_at: datetime, now: datetime
    ) -> datetime | None:
        """When to try again after ``attempts`` failed attempts; None: give up."""
        at = now + timedelta(seconds=self.delay_after(attempts))
        if at > created_at + timedelta(seconds=self.retry_period):
            return None
        return at

    def should_disable(self, *, failing_since: datetime | None, now: datetime) -> bool:
        """An endpoint is disabled once every attempt has failed for ``disable_after``."""
        return failing_since is not None and now - failing_since >= timedelta(
            seconds=self.disable_after
        )

    def schedule(self) -> list[float]:
        """The delays (seconds after the first attempt) of every retry of a delivery that
        keeps failing — what the README's table shows."""
        offsets: list[float] = []
        elapsed, attempts = 0.0, 1
        while True:
            elapsed += self.delay_after(attempts)
            if elapsed > self.retry_period:
                return offsets
            offsets.append(elapsed)
            attempts += 1


# --------------------------------------------------------------------- endpoints


class InvalidEndpoint(ValueError):
    """An endpoint setting breaks a rule; ``field`` names it (API spelling)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def new_secret() -> str:
    """A signing secret as the specification spells it: ``whsec_`` + base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def check_url(url: str) -> str:
    """An absolute http(s) URL (the operator's own receiver), without spaces, control
    characters or credentials. (The sender's parser and the address rule check it further.)"""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise InvalidEndpoint(f"url must be at most {MAX_URL_LENGTH} characters", "url")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise InvalidEndpoint("url must not contain spaces or control characters", "url")
    try:
        parts = urlsplit(url)
        host, username, password = parts.hostname, parts.username, parts.password
    except ValueError as exc:  # e.g. "http://[::1/x": an unclosed or invalid IPv6 address
        raise InvalidEndpoint(f"url is not a valid URL: {exc}", "url") from None
    if parts.scheme not in {"http", "https"} or not host:
        raise InvalidEndpoint("url must be an http(s) URL such as https://example.com/hook", "url")
    if username or password:
        raise InvalidEndpoint("url must not carry credentials; verify the signature", "url")
    return url


def check_event_types(types: Iterable[str] | None) -> list[str] | None:
    """The filter as stored: known types, each once, sorted; None means every type."""
    if types is None:
        return None
    chosen = sorted(set(types))
    if not chosen:
        raise InvalidEndpoint(
            "eventTypes must name at least one type, or be null for every type", "eventTypes"
        )
    known = {str(t) for t in EventType}
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise InvalidEndpoint(
            f"unknown event type {unknown[0]!r}; known: {', '.join(sorted(known))}",
            "eventTypes",
        )
    return chosen


def wants(event_types: Sequence[str] | None, event_type: str) -> bool:
    return event_types is None or event_type in event_types


def fan_out(
    events: Sequence[tuple[str, str]], endpoints: Mapping[str, Sequence[str] | None]
) -> list[tuple[str, str]]:
    """``(event_id, endpoint_id)`` for each event (``(event_id, type)``) and each endpoint
    (id → its filter) that wants it."""
    return [
        (event_id, endpoint_id)
        for event_id, event_type in events
        for endpoint_id, types in endpoints.items()
        if wants(types, event_type)
    ]


Job = TypeVar("Job")


@dataclass(frozen=True, slots=True)
class Shares:
    """How one worker shares its delivery slots among endpoints (see :func:`pick_fairly`)."""

    slots: int  # WEBHOOK_CONCURRENCY
    per_endpoint: int  # WEBHOOK_ENDPOINT_CONCURRENCY: in flight to one healthy endpoint

    @property
    def probation_slots(self) -> int:
        """What endpoints on probation hold between them: half the slots, one each."""
        return max(1, self.slots // 2)


@dataclass(frozen=True, slots=True)
class Candidate(Generic[Job]):
    """A due delivery (``job``) to an endpoint, which may be on probation: never delivered
    to yet, or failing."""

    endpoint_id: str
    probation: bool
    job: Job


def pick_fairly(
    candidates: Sequence[Candidate[Job]],
    *,
    busy: Mapping[str, int],
    probation: AbstractSet[str] = frozenset(),
    shares: Shares,
) -> list[Job]:
    """Which due deliveries to start now, given ``busy`` (deliveries in flight per endpoint)
    and ``probation`` (endpoints in flight that were on probation when claimed).

    - Endpoints take turns: each gets one delivery before any gets a second (round robin),
      healthy endpoints before those on probation, each group in the order of its oldest due
      delivery (``candidates`` come oldest first).
    - A healthy endpoint has at most ``per_endpoint`` in flight.
    - An endpoint on probation has at most one in flight, and all of them together at most
      ``probation_slots``: however many receivers hang or fail (each attempt bounded by the
      timeout), the other half of the slots stays for the healthy ones.
    """
    queues: dict[str, list[Job]] = {}
    on_probation = set(probation)
    for candidate in candidates:
        queues.setdefault(candidate.endpoint_id, []).append(candidate.job)
        if candidate.probation:
            on_probation.add(candidate.endpoint_id)
    turns = sorted(queues, key=lambda endpoint: endpoint in on_probation)  # stable: oldest first
    taken = dict(busy)
    free = shares.slots - sum(busy.values())
    probation_free = shares.probation_slots - sum(
        count for endpoint, count in busy.items() if endpoint in on_probation
    )
    picked: list[Job] = []
    for turn in range(max(map(len, queues.values()), default=0)):
        for endpoint in turns:
            if free <= 0:
                return picked
            queue, held = queues[endpoint], taken.get(endpoint, 0)
            if turn >= len(queue):
                continue
            if endpoint in on_probation:
                if held >= 1 or probation_free <= 0:
                    continue
                probation_free -= 1
            elif held >= shares.per_endpoint:
                continue
            picked.append(queue[turn])
            taken[endpoint] = held + 1
            free -= 1
    return picked


# --------------------------------------------------------------------- the request


def body(event_type: str, created_at: datetime, data: Mapping[str, Any]) -> bytes:
    """The payload, byte for byte the same on every attempt."""
    return json.dumps(
        {
            "type": event_type,
            "timestamp": created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "data": data,
        },
        separators=(",", ":"),
        sort_keys=True,
        ensure_ascii=False,
    ).encode()


def headers(*, secret: str, event_id: str, payload: bytes, signed_at: datetime) -> dict[str, str]:
    """The request headers, signed at ``signed_at`` (the real time of the attempt: receivers
    compare it with their clock to refuse replays)."""
    signed_at = signed_at.astimezone(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(signed_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, signed_at, payload.decode()),
    }
