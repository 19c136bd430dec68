"""The ``/v1`` pipeline, as a raw ASGI app for speed.

One request goes: CORS preflight → route → auth → injected fault (before) → parameter
validation → idempotency claim/replay → endpoint (under the state lock) → save idempotent result
→ injected fault (after: lost response) → JSON response with Stripe's headers.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from . import shapes, versions
from .faults import Fault
from .params import validate
from .routing import Call, Route, Router, expand
from .state import RequestContext, SandboxState, random_id
from .wire import JSON, StripeError, api_error, dumps, invalid_request, parse_form

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"Request-Id, Idempotent-Replayed, Original-Request"),
]
PREFLIGHT_HEADERS = [
    *CORS_HEADERS,
    (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
    (
        b"access-control-allow-headers",
        b"Authorization, Content-Type, Idempotency-Key, Stripe-Version, Stripe-Account",
    ),
    (b"access-control-max-age", b"600"),
]

NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at "
    "https://support.stripe.com/."
)


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        self.body = body
        self.headers = headers


def _error_response(err: StripeError, ctx: RequestContext) -> tuple[int, bytes]:
    if ctx.authenticated:  # as Stripe: an authenticated request's error links its log entry
        err.error.setdefault(
            "request_log_url",
            f"{ctx.base_url}/_sandbox/requests/{ctx.request_id}?t={int(time.time())}",
        )
    return err.status, dumps(err.body())


class ApiApp:
    def __init__(self, state: SandboxState, router: Router) -> None:
        self.state = state
        self.router = router
        self.recent: deque[JSON] = deque(maxlen=500)
        self.reset_generation = 0
        state.reset_listeners.append(self._on_reset)

    def _on_reset(self) -> None:
        self.reset_generation += 1
        self.recent.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        if method == "OPTIONS":
            await _send(send, 204, b"", PREFLIGHT_HEADERS)
            return
        body = b""
        if method == "POST":
            body = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = random_id("req", 14)
        host = headers.get("host", "127.0.0.1")
        ctx = RequestContext(
            request_id=request_id,
            base_url=f"{scope.get('scheme', 'http')}://{host}",
            api_version=headers.get("stripe-version") or self.state.api_version,
        )
        response_headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/json"),
            (b"request-id", request_id.encode()),
            (b"stripe-version", ctx.api_version.encode()),
            (b"cache-control", b"no-cache, no-store"),
            *CORS_HEADERS,
        ]
        try:
            status, out = await self._handle(
                scope, method, body, headers, ctx, response_headers, send
            )
        except StripeError as err:
            status, out = _error_response(err, ctx)
            response_headers.extend(
                (k.lower().encode(), v.encode()) for k, v in err.headers.items()
            )
        if status < 0:  # the response was already sent (or deliberately cut)
            return
        self.recent.append(
            {
                "id": request_id,
                "method": method,
                "path": scope["path"],
                "status": status,
                "idempotency_key": ctx.idempotency_key,
                "time": time.time(),
            }
        )
        await _send(send, status, out, response_headers)

    async def _handle(
        self,
        scope: Scope,
        method: str,
        body: bytes,
        headers: dict[str, str],
        ctx: RequestContext,
        response_headers: list[tuple[bytes, bytes]],
        send: Send,
    ) -> tuple[int, bytes]:
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        raw = parse_form(
            body.decode() if method == "POST" else scope.get("query_string", b"").decode()
        )
        matched = self.router.match(method, path)
        if matched is None:
            raise invalid_request(
                f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
                "or we can help at https://support.stripe.com/.",
                status=404,
            )
        route, path_params = matched
        self._authenticate(headers, raw, route, ctx)
        ctx.authenticated = True
        versions.check(ctx.api_version)
        fault = self.state.faults.take(method, path)
        if fault is not None and fault.kind in ("error", "rate_limit"):
            raise _fault_error(fault)
        params = validate(raw, route.schema_for(ctx))
        key = headers.get("idempotency-key") if method == "POST" else None
        ctx.idempotency_key = key
        if key is not None:
            response_headers.append((b"idempotency-key", key.encode()))
            fingerprint = json.dumps(raw, sort_keys=True)
            saved = self.state.idempotency.begin(
                key, method, path, fingerprint, self.state.now_float(), ctx.request_id or ""
            )
            if saved is not None:
                response_headers.append((b"idempotent-replayed", b"true"))
                response_headers.append((b"original-request", saved.request_id.encode()))
                assert saved.status is not None
                if (
                    fault is not None
                    and fault.kind in ("timeout", "delay")
                    and (not await self._wait(fault.seconds) or fault.kind == "timeout")
                ):
                    raise api_error("The request timed out.", status=504)
                return await self._after(fault, saved.status, saved.body, send)
        try:
            if fault is not None and fault.kind in ("timeout", "delay"):
                completed = await self._wait(fault.seconds)
                if fault.kind == "timeout" or not completed:
                    raise api_error("The request timed out.", status=504)
            status, out = self._execute(route, params, path_params, ctx)
        except BaseException:
            if key is not None:
                self.state.idempotency.abandon(key)
            raise
        if key is not None:
            self.state.idempotency.finish(key, status, out)
            response_headers.append((b"original-request", (ctx.request_id or "").encode()))
        return await self._after(fault, status, out, send)

    async def _after(
        self, fault: Fault | None, status: int, out: bytes, send: Send
    ) -> tuple[int, bytes]:
        """The response, unless a ``lost_response`` fault eats it."""
        if fault is not None and fault.kind == "lost_response":
            if fault.drop:
                await _send_truncated(send, out)
                return -1, b""
            raise api_error("An error occurred with our connection to Stripe.", status=500)
        return status, out

    def _execute(
        self, route: Route, params: JSON, path_params: dict[str, str], ctx: RequestContext
    ) -> tuple[int, bytes]:
        try:
            with self.state.lock:
                result = route.handler(Call(self.state, params, path_params, ctx))
                result = expand(self.state, result, params.get("expand"))
                return 200, dumps(shapes.render(result, ctx.api_version, params.get("expand")))
        except StripeError as err:
            return _error_response(err, ctx)
        except Exception:  # a sandbox bug must look like Stripe's 500, not kill the server
            log.exception("sandbox endpoint failed: %s %s", route.method, route.template)
            return _error_response(api_error(), ctx)

    def _authenticate(
        self, headers: dict[str, str], raw: JSON, route: Route, ctx: RequestContext
    ) -> None:
        key = _api_key(headers, raw)
        if not key:
            raise invalid_request(NO_KEY, status=401)
        if key.startswith("pk_test_"):
            if not route.publishable:
                raise invalid_request(
                    "This API call cannot be made with a publishable API key. Please use a "
                    "secret API key. You can find a list of your API keys at "
                    "https://dashboard.stripe.com/account/apikeys.",
                    status=401,
                )
            ctx.publishable = True
            return
        if not key.startswith(("sk_test_", "rk_test_")) or len(key) < 9:
            masked = key[:8] + "*" * 4 + key[-4:] if len(key) > 12 else "****"
            raise invalid_request(f"Invalid API Key provided: {masked}", status=401)

    async def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds``; False if a reset cut it short."""
        generation = self.reset_generation
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if generation != self.reset_generation:
                return False
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        return generation == self.reset_generation


def _api_key(headers: dict[str, str], raw: JSON) -> str | None:
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            return value.strip()
        if scheme == "basic":
            try:
                decoded = base64.b64decode(value.strip()).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            return decoded.partition(":")[0]
        return None
    key = raw.pop("key", None)  # Stripe.js sends its publishable key as a form field
    return key if isinstance(key, str) else None


def _fault_error(fault: Fault) -> StripeError:
    if fault.kind == "rate_limit":
        seconds = max(1, round(fault.seconds))
        return StripeError(
            429,
            {
                "code": "rate_limit",
                "doc_url": "https://docs.stripe.com/error-codes/rate-limit",
                "message": "Request rate limit exceeded. Learn more about rate limits here "
                "https://stripe.com/docs/rate-limits.",
                "type": "invalid_request_error",
            },
            headers={"Retry-After": str(seconds)},
        )
    return api_error("An unexpected error occurred (injected by the sandbox).", status=fault.status)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_truncated(send: Send, body: bytes) -> None:
    """Start a 200 response and stop half-way through the body: the server then closes the
    connection (uvicorn logs one "returned without completing response" line)."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
