"""Stripe's idempotency layer for POST requests.

The first request with an ``Idempotency-Key`` that reaches an endpoint is saved (status and body,
errors included) for 24 hours; a retry with the same parameters replays it with
``Idempotent-Replayed: true``; different parameters or another endpoint → 400
``idempotency_error``; a retry while the first is still running → 409. Requests refused before
the endpoint runs (bad parameters, auth, injected faults) are not saved, as in Stripe.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .wire import JSON, StripeError

TTL_SECONDS = 24 * 3600


@dataclass
class Record:
    method: str
    path: str
    fingerprint: str
    created: float
    request_id: str
    status: int | None = None  # None while the first request is in progress
    body: bytes = b""

    @property
    def in_progress(self) -> bool:
        return self.status is None


def _idem_error(message: str) -> StripeError:
    return StripeError(400, {"message": message, "type": "idempotency_error"})


@dataclass
class IdempotencyStore:
    records: dict[str, Record] = field(default_factory=dict)
    ttl: float = TTL_SECONDS
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _since_prune: int = 0

    def begin(
        self, key: str, method: str, path: str, fingerprint: str, now: float, request_id: str
    ) -> Record | None:
        """Claim ``key`` (→ None: run the endpoint) or return the saved record to replay."""
        if len(key) > 255:
            raise StripeError(
                400,
                {
                    "message": "Idempotency keys are limited to 255 characters.",
                    "type": "invalid_request_error",
                },
            )
        with self._lock:
            self._maybe_prune(now)
            rec = self.records.get(key)
            if rec is not None and now - rec.created >= self.ttl:
                del self.records[key]
                rec = None
            if rec is None:
                self.records[key] = Record(method, path, fingerprint, now, request_id)
                return None
        if rec.in_progress:
            raise StripeError(
                409,
                {
                    "code": "idempotency_key_in_use",
                    "doc_url": "https://docs.stripe.com/error-codes/idempotency-key-in-use",
                    "message": (
                        "There is currently another in-progress request using this Stripe "
                        "idempotency key (that probably means you submitted twice, and the other "
                        f"request is still going through): {key}. Please try again later."
                    ),
                    "type": "invalid_request_error",
                },
            )
        if rec.path != path or rec.method != method:
            raise _idem_error(
                "Keys for idempotent requests can only be used for the same endpoint they were "
                f"first used for ('{rec.method} {rec.path}' vs '{method} {path}'). Try using a "
                f"key other than '{key}' if you meant to execute a different request."
            )
        if rec.fingerprint != fingerprint:
            raise _idem_error(
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request."
            )
        return rec

    def finish(self, key: str, status: int, body: bytes) -> None:
        with self._lock:
            rec = self.records.get(key)
            if rec is not None:
                rec.status = status
                rec.body = body

    def abandon(self, key: str) -> None:
        """The endpoint never ran: forget the claim so a retry runs afresh."""
        with self._lock:
            rec = self.records.get(key)
            if rec is not None and rec.in_progress:
                del self.records[key]

    def clear(self) -> None:
        with self._lock:
            self.records.clear()

    def _maybe_prune(self, now: float) -> None:
        self._since_prune += 1
        if self._since_prune < 10_000:
            return
        self._since_prune = 0
        expired = [k for k, r in self.records.items() if now - r.created >= self.ttl]
        for k in expired:
            del self.records[k]

    def snapshot(self) -> JSON:
        with self._lock:
            return {
                k: {
                    "method": r.method,
                    "path": r.path,
                    "fingerprint": r.fingerprint,
                    "created": r.created,
                    "request_id": r.request_id,
                    "status": r.status,
                    "body": r.body.decode(),
                }
                for k, r in self.records.items()
                if not r.in_progress
            }

    def restore(self, data: dict[str, Any]) -> None:
        with self._lock:
            self.records = {
                k: Record(
                    v["method"],
                    v["path"],
                    v["fingerprint"],
                    float(v["created"]),
                    v["request_id"],
                    int(v["status"]),
                    v["body"].encode(),
                )
                for k, v in data.items()
            }
