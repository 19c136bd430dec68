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

from .control_input import boolean, integer, number, text
from .wire import JSON, invalid_request

KINDS = ("error", "rate_limit", "timeout", "lost_response", "delay")
_FIELDS = {"kind", "method", "path", "count", "fraction", "seconds", "status", "drop"}


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
        """A rule from a control request's ``spec``; a malformed one is Stripe's 400."""
        kind = spec.get("kind")
        if kind not in KINDS:
            raise invalid_request(f"Invalid kind: must be one of {', '.join(KINDS)}", param="kind")
        given = {k: v for k, v in spec.items() if v is not None}
        unknown = sorted(set(given) - _FIELDS)
        if unknown:
            raise invalid_request(f"Unknown fault setting: {unknown[0]}", param=unknown[0])
        fraction = given.get("fraction")
        if fraction is not None:
            fraction = number(fraction, "fraction", minimum=0, maximum=1)
        count = given.get("count")
        if count is not None:
            count = integer(count, "count", minimum=1)
        elif fraction is None:
            count = 1
        default_seconds = 30.0 if kind == "timeout" else 1.0
        seconds = number(given.get("seconds", default_seconds), "seconds", minimum=0)
        status = integer(given.get("status", 500), "status", minimum=400)
        if status > 599:
            raise invalid_request("Invalid status: must be at most 599.", param="status")
        with self._lock:
            self._seq += 1
            fault = Fault(
                id=f"fault_{self._seq}",
                kind=kind,
                method=text(given.get("method", "*"), "method").upper(),
                path=text(given.get("path", "/v1/*"), "path"),
                count=count,
                fraction=fraction,
                seconds=seconds,
                status=status,
                drop=boolean(given.get("drop", False), "drop"),
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
