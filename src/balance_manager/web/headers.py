"""Security headers on every response (a small ASGI middleware, like ``api.limits``).

- HTML: the Content-Security-Policy of ``csp`` (the docs' own for ``/docs`` and ``/redoc``).
- Everything: ``Referrer-Policy: no-referrer`` (customer pages carry a token in their URL
  fragment; no page of ours ever needs to tell another site where the browser came from),
  ``X-Content-Type-Options: nosniff`` and ``X-Frame-Options: DENY`` (``frame-ancestors`` for
  browsers older than CSP 2).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from balance_manager.web import csp

DOCS_PATHS = frozenset({"/docs", "/redoc"})


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, stripe_js_origin: str) -> None:
        self.app = app
        self.page_policy = csp.page_policy(stripe_js_origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"] in DOCS_PATHS

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                if headers.get("content-type", "").startswith("text/html"):
                    policy = csp.DOCS_POLICY if docs else self.page_policy
                    headers.setdefault("Content-Security-Policy", policy)
            await send(message)

        await self.app(scope, receive, with_headers)
