"""The ASGI middleware that gives every HTTP request an id, a latency and one log line.

- **Request id**: a trusted peer's ``X-Request-ID`` (the proxies of ``FORWARDED_ALLOW_IPS``;
  1–128 characters of ``[A-Za-z0-9._:-]``) is kept, anything else gets a fresh one; it is
  bound to structlog's context for every line logged while the request runs, and returned
  in the ``X-Request-ID`` response header.
- **Latency**: ``balance_manager_http_request_duration_seconds`` by method, *route template*
  (``/api/balance/usage/{userId}``, never the raw path) and status; ``unmatched`` for paths
  no route knows.
- **Access log**: one ``http_request`` line per request with the route, the path without
  its query string (a query string may carry a token), the status and the duration.

It must see the connecting peer before ``X-Forwarded-For`` replaces it, so it sits outside
the proxy-headers middleware (``api.app`` installs both; uvicorn's own is switched off).
"""

from __future__ import annotations

import ipaddress
import re
import time
import uuid

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from balance_manager.telemetry import metrics

HEADER = "x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
log = structlog.get_logger("balance_manager.http")


class TrustedPeers:
    """``FORWARDED_ALLOW_IPS``: addresses and networks, comma-separated; ``*`` trusts all."""

    def __init__(self, spec: str) -> None:
        entries = [e.strip() for e in spec.split(",") if e.strip()]
        self.everyone = "*" in entries
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.names: set[str] = set()
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.add(entry)  # e.g. a unix socket path

    def __contains__(self, host: str | None) -> bool:
        if host is None:
            return False
        if self.everyone or host in self.names:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def _incoming_id(scope: Scope) -> str | None:
    for name, raw in scope["headers"]:
        if name == b"x-request-id":
            candidate = raw.decode("latin1").strip()
            return candidate if _VALID_ID.match(candidate) else None
    return None


class RequestTelemetry:
    def __init__(self, app: ASGIApp, *, trusted: TrustedPeers, access_log: bool = True) -> None:
        self.app = app
        self.trusted = trusted
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        request_id = (_incoming_id(scope) if client and client[0] in self.trusted else None) or (
            uuid.uuid4().hex
        )
        bound = structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500  # unless the app answers: an exception escaped it

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics.http_request(scope["method"], route, status, seconds)
            if self.access_log:
                log.info(
                    "http_request",
                    method=scope["method"],
                    route=route,
                    path=scope["path"],
                    status=status,
                    duration_ms=round(seconds * 1000, 2),
                )
            structlog.contextvars.reset_contextvars(**bound)
