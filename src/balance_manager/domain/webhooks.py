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
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
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
    """An absolute http(s) URL (the operator's own receiver)."""
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL_LENGTH:
        raise InvalidEndpoint(f"url must be at most {MAX_URL_LENGTH} characters", "url")
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidEndpoint("url must be an http(s) URL such as https://example.com/hook", "url")
    if parts.username or parts.password:
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


def pick_fairly(
    candidates: Sequence[tuple[str, Job]],
    *,
    busy: Mapping[str, int],
    per_endpoint: int,
    limit: int,
) -> list[Job]:
    """From due deliveries (``(endpoint_id, job)``, oldest first), at most ``limit``, and at
    most ``per_endpoint`` in flight per endpoint counting the ``busy`` ones: a dead receiver
    holds a few slots, never all of them."""
    taken: dict[str, int] = dict(busy)
    picked: list[Job] = []
    for endpoint_id, job in candidates:
        if len(picked) >= limit:
            break
        if taken.get(endpoint_id, 0) >= per_endpoint:
            continue
        taken[endpoint_id] = taken.get(endpoint_id, 0) + 1
        picked.append(job)
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
