"""Injected faults: make matching API requests fail the ways real networks and Stripe fail.

A rule matches a method (or ``*``) and a path glob (``/v1/payment_intents*``) and fires for the
next ``count`` matching requests, or for a ``fraction`` of them. Kinds:

- ``error``: respond 500 (or ``status``) before the endpoint runs — nothing happened.
- ``rate_limit``: 429 ``rate_limit`` with ``Retry-After: seconds``.
- ``timeout``: hold the request ``seconds`` (past the client's timeout), then drop it unperformed.
- ``lost_response``: perform the request (and save its idempotent result), then answer 500
  — or, with ``drop``, cut the connection mid-response. The client cannot know it succeeded.
- ``delay``: hold the request ``seconds``, then perform it normally (a slow Stripe; while it
  waits, the idempotency key is in progress, so a concurrent retry gets 409).
"""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from .wire import JSON, invalid_request

KINDS = ("error", "rate_limit", "timeout", "lost_response", "delay")


@dataclass
class Fault:
    id: str
    kind: str
    method: str = "*"
    path: str = "/v1/*"
    count: int | None = 1  # None: unlimited (use with fraction)
    fraction: float | None = None
    seconds: float = 1.0
    status: int = 500
    drop: bool = False
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method != "*" and self.method.upper() != method:
            return False
        return fnmatch.fnmatchcase(path, self.path)

    def as_json(self) -> JSON:
        return asdict(self)


@dataclass
class FaultTable:
    rules: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _seq: int = 0

    def add(self, spec: dict[str, Any]) -> Fault:
        kind = spec.get("kind")
        if kind not in KINDS:
            raise invalid_request(f"Invalid kind: must be one of {', '.join(KINDS)}", param="kind")
        fraction = spec.get("fraction")
        count = spec.get("count", None if fraction is not None else 1)
        with self._lock:
            self._seq += 1
            fault = Fault(
                id=f"fault_{self._seq}",
                kind=kind,
                method=str(spec.get("method", "*")).upper(),
                path=str(spec.get("path", "/v1/*")),
                count=None if count is None else int(count),
                fraction=None if fraction is None else float(fraction),
                seconds=float(spec.get("seconds", 30.0 if kind == "timeout" else 1.0)),
                status=int(spec.get("status", 500)),
                drop=bool(spec.get("drop", False)),
            )
            self.rules.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first rule that fires for this request (consuming one of its ``count``)."""
        with self._lock:
            for rule in self.rules:
                if not rule.matches(method, path):
                    continue
                if rule.fraction is not None and random.random() >= rule.fraction:
                    continue
                rule.fired += 1
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self.rules.remove(rule)
                return rule
        return None

    def remove(self, fault_id: str) -> bool:
        with self._lock:
            before = len(self.rules)
            self.rules = [r for r in self.rules if r.id != fault_id]
            return len(self.rules) != before

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
