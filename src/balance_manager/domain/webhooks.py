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
probation (never delivered to yet, failing, or with an attempt waiting for more than a second)
has one delivery in flight at a time and all of them share half the slots; the other half is
the healthy endpoints' whatever else is in flight, so hanging or failing receivers cannot
delay the healthy ones.
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
    slow_after: float = 1.0  # seconds: an attempt still waiting puts its endpoint on probation
    trust_for: float = 60.0  # seconds an endpoint that answered stays trusted

    @property
    def probation_slots(self) -> int:
        """What endpoints on probation hold between them: half the slots, one each."""
        return max(1, self.slots // 2)

    @property
    def healthy_slots(self) -> int:
        """The slots kept for healthy endpoints whatever those on probation hold."""
        return max(1, self.slots - self.probation_slots)

    @property
    def most_in_flight(self) -> int:
        """The hard limit: attempts that turned slow may hold up to three times the slots
        more (each ends within the timeout) before even healthy endpoints wait."""
        return 4 * self.slots


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
    trusted: Mapping[str, float] | None = None,
    shares: Shares,
) -> list[Job]:
    """Which due deliveries to start now, given what the worker has in flight: ``busy``
    (deliveries per endpoint), ``probation`` (endpoints in flight that are on probation:
    claimed so, or with an attempt in flight for longer than ``slow_after``) and ``trusted``
    (endpoints that answered one of its attempts a moment ago → when, on any clock).

    - Endpoints take turns: each gets one delivery before any gets a second (round robin);
      trusted endpoints first, the one that answered last first, then the other healthy
      ones, then those on probation, each in the order of its oldest due delivery
      (``candidates`` come oldest first).
    - An endpoint on probation — never delivered to, failing, or slow right now — has one
      delivery in flight at most, and all of them together ``probation_slots`` at most.
    - A healthy endpoint has at most ``per_endpoint`` in flight. Healthy endpoints use any
      free slot, and ``healthy_slots`` are theirs whatever is in flight elsewhere (an attempt
      that turns slow counts on probation's side), up to ``most_in_flight`` in all; trusted
      endpoints have ``healthy_slots`` of their own even past that.

    So however many receivers hang or fail, they hold probation's half of the slots plus the
    attempts that were healthy when they started (each ends within the timeout), and the
    endpoints that answer keep their share.
    """
    queues: dict[str, list[Job]] = {}
    on_probation = set(probation)
    for candidate in candidates:
        queues.setdefault(candidate.endpoint_id, []).append(candidate.job)
        if candidate.probation:
            on_probation.add(candidate.endpoint_id)

    answered = trusted or {}

    def group(endpoint: str) -> int:
        """0: trusted, 1: healthy, 2: on probation."""
        if endpoint in on_probation:
            return 2
        return 0 if endpoint in answered else 1

    # Stable: within a group, the oldest due delivery first.
    turns = sorted(queues, key=lambda e: (group(e), -answered.get(e, 0.0) if group(e) == 0 else 0))
    taken = dict(busy)
    held = [0, 0, 0]
    for endpoint, count in busy.items():
        held[group(endpoint)] += count
    picked: list[Job] = []
    for turn in range(max(map(len, queues.values()), default=0)):
        for endpoint in turns:
            queue, mine, kind = queues[endpoint], taken.get(endpoint, 0), group(endpoint)
            total = sum(held)
            if turn >= len(queue):
                continue
            if kind == 2:
                if mine >= 1 or held[2] >= shares.probation_slots or total >= shares.slots:
                    continue
            elif mine >= shares.per_endpoint:
                continue
            elif kind == 1:
                if total >= shares.most_in_flight:
                    continue
                if total >= shares.slots and held[0] + held[1] >= shares.healthy_slots:
                    continue
            elif total >= shares.slots and held[0] >= shares.healthy_slots:
                continue
            picked.append(queue[turn])
            taken[endpoint] = mine + 1
            held[kind] += 1
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
