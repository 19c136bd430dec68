"""Serves the customer pages, their assets, the page configuration and the offline API docs.

- ``/`` (dashboard), ``/stripe-payment.html``, ``/stripe-elements-test.html``,
  ``/payment-success.html``: static HTML from ``pages/``; the customer's token travels in the URL
  fragment (``/#token=…``), so the server never sees it in a path or query. What every page
  has before its own content (the head, the top bar, the sign-in gate) is written once, in
  ``pages/shared/page-start.html``; a page's first line includes it, server-side-include style,
  and fills its ``${…}`` places: ``<!--#include file="page-start.html" title="…" i18n="…"
  script="…" -->``. Pages are put together once, when the router is built, and stay plain
  HTML with no inline script, as the CSP wants.
- ``/assets/…``: CSS, ES modules, icons (``static/``); ``/assets/vendor/…``: Swagger UI and ReDoc
  as shipped by the ``fastapi-offline`` package.
- ``/app-config.json``: the publishable key, the Stripe.js URL and the card fee the customer
  pays (``cardFee``: mode, rate and, for a gross-up, the fixed part — exact decimal strings);
  the CSP forbids inline scripts, so pages read their configuration from here.
- ``/sw.js`` and ``/manifest.webmanifest``: the progressive web app; the service worker's
  cache name carries a digest of the static files, so a new release replaces the old cache.
- ``/docs``, ``/redoc``: Swagger UI and ReDoc with assets served by the service.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from balance_manager import __version__
from balance_manager.domain import money
from balance_manager.settings import Settings
from balance_manager.web.headers import SecurityHeaders

PAGES = ("index.html", "stripe-payment.html", "stripe-elements-test.html", "payment-success.html")
_NO_CACHE = {"Cache-Control": "no-cache"}
_INCLUDE = re.compile(r'^<!--#include file="([\w.-]+)"((?: \w+="[^"]*")*) -->\n', re.MULTILINE)
_ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')


def _root() -> Traversable:
    return resources.files(__package__)


@cache
def _page(name: str) -> bytes:
    return _root().joinpath("pages", name).read_bytes()


@cache
def _rendered(name: str) -> bytes:
    """A page with each ``<!--#include file="…" name="value"… -->`` line replaced by that file
    of ``pages/shared/``, its ``${name}`` places filled with the values as written (HTML)."""
    shared = _root().joinpath("pages", "shared")

    def include(m: re.Match[str]) -> str:
        values = dict(_ATTRIBUTE.findall(m[2]))
        return Template(shared.joinpath(m[1]).read_text("utf-8")).substitute(values)

    return _INCLUDE.sub(include, _page(name).decode("utf-8")).encode("utf-8")


@cache
def static_digest() -> str:
    """A digest of every page and asset: the service worker's cache version."""
    digest = hashlib.sha256(__version__.encode())
    for base in ("pages", "static"):
        folder = Path(str(_root().joinpath(base)))
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class _Assets(StaticFiles):
    """Static files that browsers revalidate (ETag) on every use: there is no build step that
    would give them fingerprinted names."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


def _html(name: str) -> HTMLResponse:
    return HTMLResponse(_rendered(name), headers=_NO_CACHE)


def _page_endpoint(name: str) -> Callable[[], Awaitable[HTMLResponse]]:
    async def serve() -> HTMLResponse:
        return _html(name)

    return serve


def router(settings: Settings) -> APIRouter:
    for name in PAGES:  # read and put together now: a missing shared file fails at start-up
        _rendered(name)
    pages = APIRouter(include_in_schema=False)

    @pages.get("/")
    async def dashboard() -> HTMLResponse:
        return _html("index.html")

    for name in PAGES[1:]:
        pages.add_api_route(f"/{name}", _page_endpoint(name), methods=["GET"])

    @pages.get("/app-config.json")
    async def app_config() -> JSONResponse:
        return JSONResponse(
            {
                "publishableKey": settings.stripe_publishable_key,
                "stripeJsUrl": settings.stripe_js_url,
                "paymentsConfigured": settings.stripe_secret_key is not None,
                "cardFee": card_fee(settings),
                "version": __version__,
            },
            headers={"Cache-Control": "no-store"},
        )

    @pages.get("/sw.js")
    async def service_worker() -> Response:
        body = _page("sw.js").replace(b"__CACHE_VERSION__", static_digest().encode())
        return Response(body, media_type="text/javascript", headers=_NO_CACHE)

    @pages.get("/manifest.webmanifest")
    async def manifest() -> Response:
        return Response(
            _page("manifest.webmanifest"),
            media_type="application/manifest+json",
            headers=_NO_CACHE,
        )

    @pages.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(
            _root().joinpath("static", "icons", "icon-192.png").read_bytes(),
            media_type="image/png",
        )

    @pages.get("/docs")
    async def swagger(request: Request) -> HTMLResponse:
        return _docs(request, "Swagger UI", "swagger")

    @pages.get("/redoc")
    async def redoc(request: Request) -> HTMLResponse:
        return _docs(request, "ReDoc", "redoc")

    return pages


def card_fee(settings: Settings) -> dict[str, str]:
    """The card fee as the pages word it ("plus the 2.9% card fee"): the rule's mode, its rate
    and fixed part (major units of the default currency) as exact decimal strings."""
    rule = settings.fee_rule
    cur = money.currency(settings.default_currency)
    return {
        "mode": rule.mode.value,
        "rate": str(rule.rate),
        "fixed": str(money.to_major(rule.fixed, cur)),
        "currency": cur.code,
    }


def _docs(request: Request, title: str, kind: str) -> HTMLResponse:
    """Swagger UI or ReDoc; the start-up code is a file (``static/docs/``), not inline."""
    root = request.scope.get("root_path", "")
    app_title = request.app.title
    vendor = f"{root}/assets/vendor"
    head_css = (
        f'<link rel="stylesheet" href="{vendor}/swagger-ui.css">' if kind == "swagger" else ""
    )
    bundle = "swagger-ui-bundle.js" if kind == "swagger" else "redoc.standalone.js"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{app_title} – {title}</title>
<link rel="icon" href="{root}/assets/icons/icon.svg" type="image/svg+xml">{head_css}
</head><body>
<div id="{kind}-ui" data-openapi-url="{root}{request.app.openapi_url}"></div>
<script src="{vendor}/{bundle}"></script>
<script src="{root}/assets/docs/{kind}-init.js"></script>
</body></html>"""
    return HTMLResponse(page)


def install(app: FastAPI, settings: Settings) -> None:
    """Add the pages, their assets and the security headers to the app (which must be built
    with ``docs_url=None, redoc_url=None``: the docs here replace FastAPI's CDN-based ones)."""
    app.add_middleware(SecurityHeaders, stripe_js_origin=settings.stripe_js_origin)
    app.include_router(router(settings))
    app.mount(
        "/assets/vendor",
        _Assets(packages=[("fastapi_offline", "static")]),
        name="vendor-assets",
    )
    app.mount("/assets", _Assets(packages=[(__package__, "static")]), name="assets")
