"""What leaves the service at its edges: the portal ``returnUrl`` Stripe receives is exactly
the validated, normalised one; a database error's log line carries no statement values."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.runtime import logs
from balance_manager.runtime.compose import create_app
from balance_manager.settings import Settings
from balance_manager.store.models import User
from tests.conftest import UserMaker


@pytest.fixture
async def api(stripe_settings: Settings, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(stripe_settings, engine=engine, embedded_worker=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
    await app.state.ctx.gateway.aclose()


def _portal_sessions(sandbox: Any) -> list[dict[str, Any]]:
    with sandbox.state.lock:
        return [
            dict(o)
            for o in sandbox.state.objects.values()
            if o.get("object") == "billing_portal.session"
        ]


@pytest.mark.parametrize(
    ("sent", "received"),
    [
        ("  HTTP://127.0.0.1:3000  ", "http://127.0.0.1:3000/"),
        (
            "https://SHOP.Example.com/Billing?Tab=Cards#top",
            "https://shop.example.com/Billing?Tab=Cards#top",
        ),
        ("http://127.0.0.1:3000/back?a=1&b=%2F", "http://127.0.0.1:3000/back?a=1&b=%2F"),
    ],
)
async def test_stripe_receives_exactly_the_normalised_return_url(
    stripe_settings: Settings,
    engine: AsyncEngine,
    stripe_sandbox: Any,
    make_user: UserMaker,
    customer_headers: Any,
    sent: str,
    received: str,
) -> None:
    settings = stripe_settings.model_copy(
        update={"allowed_return_origins": "https://shop.example.com"}
    )
    app = create_app(settings, engine=engine, embedded_worker=False)
    user = await make_user()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as api:
        response = await api.post(
            f"/api/payment/portal/{user}", json={"returnUrl": sent}, headers=customer_headers(user)
        )
    await app.state.ctx.gateway.aclose()
    assert response.status_code == 200, response.text
    (session,) = _portal_sessions(stripe_sandbox)
    assert session["return_url"] == received
    assert response.json()["portalUrl"] == session["url"]


SENTINEL = "sentinel-4242@leak.example.com"


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The service's own logging set-up (JSON), writing to a buffer."""
    buffer = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    for handler in handlers:
        root.removeHandler(handler)
    logs.configure("info", "json", stream=buffer)
    # Module-level loggers would otherwise keep this buffer after the test.
    structlog.configure(cache_logger_on_first_use=False)
    yield buffer
    structlog.reset_defaults()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _force_a_database_error(app: FastAPI) -> None:
    """A route that inserts a user whose email is taken (the service itself checks first):
    the database refuses it, and PostgreSQL's message quotes the email."""

    async def duplicate_email() -> None:
        sessions = app.state.ctx.services.sessions
        for _ in range(2):
            async with sessions.begin() as session:
                session.add(User(id=f"u{_}", email=SENTINEL, currency="usd", balance=0))

    app.add_api_route("/_test/db-error", duplicate_email, methods=["POST"])


async def test_a_database_error_is_logged_without_its_values(
    settings: Settings, engine: AsyncEngine, json_logs: io.StringIO, backend: str
) -> None:
    app = create_app(settings, engine=engine, embedded_worker=False)
    _force_a_database_error(app)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://testserver",
    ) as client:
        response = await client.post("/_test/db-error")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert SENTINEL not in response.text

    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line.startswith("{")]
    (logged,) = [line for line in lines if line.get("event") == "unhandled_error"]
    assert logged["error"] == "IntegrityError"
    assert logged["statement"].startswith("INSERT INTO users")
    assert "test_edges_sent_and_logged.py" in logged["where"]
    if backend == "postgresql":
        assert logged["sqlstate"] == "23505"  # unique_violation
    assert "exception" not in logged  # no traceback text, which quotes the database
    assert SENTINEL not in json_logs.getvalue()
    assert "leak.example.com" not in json_logs.getvalue()

    # The server's own record of the same error (uvicorn logs "Exception in ASGI
    # application" through the standard library) is scrubbed the same way.
    server_log = logging.getLogger("uvicorn.error")
    logs.hide_database_values_in("uvicorn.error")
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    server_log.addHandler(handler)
    try:
        try:
            await _insert_twice(app)
        except Exception:
            server_log.error("Exception in ASGI application", exc_info=sys.exc_info())
    finally:
        server_log.removeHandler(handler)
    assert "Exception in ASGI application [error=IntegrityError" in captured.getvalue()
    assert SENTINEL not in captured.getvalue()


async def _insert_twice(app: FastAPI) -> None:
    sessions = app.state.ctx.services.sessions
    for i in range(2):
        async with sessions.begin() as session:
            session.add(User(id=f"v{i}", email="other-" + SENTINEL, currency="usd", balance=0))
