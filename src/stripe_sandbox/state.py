"""The sandbox's whole memory: Stripe objects by id, events, idempotency records, faults.

Objects are kept as the JSON Stripe would return (ids, not expanded), so a response is the stored
dict plus any ``expand``. Data Stripe never shows (a PaymentMethod's test card, an endpoint's
secret after creation) lives in ``private``.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .faults import FaultTable
from .idempotency import IdempotencyStore
from .versions import LATEST
from .wire import JSON

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def random_id(prefix: str, length: int = 24) -> str:
    raw = secrets.token_bytes(length)
    return prefix + "_" + "".join(_ALPHABET[b % 62] for b in raw)


@dataclass
class RequestContext:
    """What an event records about the request that caused it, and the version it speaks."""

    request_id: str | None = None
    idempotency_key: str | None = None
    base_url: str = "http://127.0.0.1:12111"
    api_version: str = LATEST
    publishable: bool = False
    authenticated: bool = False  # its errors then carry a request_log_url


EventListener = Callable[[JSON], None]


@dataclass
class SandboxState:
    objects: dict[str, JSON] = field(default_factory=dict)
    order: dict[str, list[str]] = field(default_factory=dict)
    private: dict[str, JSON] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    clock_offset: int = 0
    idempotency: IdempotencyStore = field(default_factory=IdempotencyStore)
    faults: FaultTable = field(default_factory=FaultTable)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    listeners: list[EventListener] = field(default_factory=list, repr=False)
    reset_listeners: list[Callable[[], None]] = field(default_factory=list, repr=False)
    version: int = 0  # bumped on every change; the state file writer watches it
    # The account's default API version: requests without Stripe-Version speak it, and events
    # are rendered in it (a webhook endpoint with its own api_version overrides it on delivery).
    api_version: str = LATEST

    # ------------------------------------------------------------------ time and ids
    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def now_float(self) -> float:
        return time.time() + self.clock_offset

    # ------------------------------------------------------------------ objects
    def add(self, obj: JSON) -> JSON:
        self.objects[obj["id"]] = obj
        self.order.setdefault(obj["object"], []).append(obj["id"])
        self.version += 1
        return obj

    def get(self, id_: str, kind: str | None = None) -> JSON | None:
        obj = self.objects.get(id_)
        if obj is None or (kind is not None and obj["object"] != kind):
            return None
        return obj

    def touch(self) -> None:
        self.version += 1

    def ids_of(self, kind: str) -> list[str]:
        return self.order.get(kind, [])

    def private_of(self, id_: str) -> JSON:
        return self.private.setdefault(id_, {})

    # ------------------------------------------------------------------ events
    def emit(
        self,
        type_: str,
        obj: JSON,
        ctx: RequestContext | None,
        previous_attributes: JSON | None = None,
    ) -> JSON:
        data: JSON = {"object": json.loads(json.dumps(obj))}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        event: JSON = {
            "id": random_id("evt"),
            "object": "event",
            "api_version": self.api_version,
            "created": self.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": {
                "id": ctx.request_id if ctx else None,
                "idempotency_key": ctx.idempotency_key if ctx else None,
            },
            "type": type_,
        }
        self.add(event)
        for listener in self.listeners:
            listener(event)
        return event

    # ------------------------------------------------------------------ reset / snapshot
    def reset(self) -> None:
        with self.lock:
            self.objects.clear()
            self.order.clear()
            self.private.clear()
            self.deleted.clear()
            self.clock_offset = 0
            self.api_version = LATEST
            self.idempotency.clear()
            self.faults.clear()
            self.version += 1
        for cb in self.reset_listeners:
            cb()

    def snapshot(self) -> JSON:
        with self.lock:
            return {
                "format": 1,
                "objects": self.objects,
                "order": self.order,
                "private": self.private,
                "deleted": sorted(self.deleted),
                "clock_offset": self.clock_offset,
                "api_version": self.api_version,
                "idempotency": self.idempotency.snapshot(),
            }

    def restore(self, data: JSON) -> None:
        with self.lock:
            self.objects = dict(data.get("objects", {}))
            self.order = {k: list(v) for k, v in data.get("order", {}).items()}
            self.private = dict(data.get("private", {}))
            self.deleted = set(data.get("deleted", []))
            self.clock_offset = int(data.get("clock_offset", 0))
            self.api_version = str(data.get("api_version") or LATEST)
            self.idempotency.restore(data.get("idempotency", {}))
            self.version += 1


def copy_json(obj: Any) -> Any:
    return json.loads(json.dumps(obj))
