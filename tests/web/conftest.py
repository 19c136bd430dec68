"""The customer pages in real Chromium: the Stripe sandbox, the service on a real port with its
embedded worker and a webhook endpoint registered in the sandbox, and a browser.

Every test gets a fresh database (SQLite by default; ``@pytest.mark.parametrize("web",
["sqlite", "postgresql"], indirect=True)`` runs one on both) and a fresh sandbox state. Pages
record what would betray a defect — CSP violations, uncaught errors, every request with its
URL and Referer — and the service's access log is captured, so tests can prove the customer
token never reaches a server log or another site. Screenshots go to a temporary folder
(``BM_SCREENSHOT_DIR``, default ``$TMPDIR/balance-manager-screenshots``), not the repository.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import stripe
from playwright.sync_api import expect
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from balance_manager.auth import api_keys
from balance_manager.runtime.compose import create_app
from balance_manager.settings import load_settings
from balance_manager.store.db import create_engine, session_factory
from balance_manager.store.models import Base
from stripe_sandbox import RunningSandbox
from tests._support import unavailable
from tests.conftest import (
    POSTGRES_ADMIN_URL,
    TOKEN_SECRET,
    LiveServer,
    _pg_create_database,
    _pg_drop_database,
    free_port,
)

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(
    os.environ.get("BM_SCREENSHOT_DIR")
    or Path(tempfile.gettempdir()) / "balance-manager-screenshots"
)
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
# Records what a strict page must never do, before any page script runs (init scripts are
# injected by the browser, outside the page's CSP).
RECORDER = """
window.__csp = [];
window.__errors = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
window.addEventListener('error', e => window.__errors.push(String(e.message)));
"""
T = TypeVar("T")
# Waits, not thresholds: generous, because other suites share this 2-core machine.
expect.set_options(timeout=30_000)


def in_thread(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on a loop of its own in another thread (the sync Playwright API owns
    this thread's event loop while a browser is open)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(make())
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=target)
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover
        unavailable("playwright is not installed")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except Exception as exc:  # the binary exists but cannot start here
            unavailable(f"Chromium cannot start: {exc}")
        yield b
        b.close()


@pytest.fixture(scope="module")
def web_postgres() -> Iterator[str | None]:
    """A PostgreSQL database for this module's browser tests, made in a thread of its own (the
    shared ``postgres_url`` fixture would start an event loop in Playwright's thread)."""
    try:
        url = in_thread(_pg_create_database)
    except (OSError, SQLAlchemyError):
        yield None
        return
    yield url
    in_thread(lambda: _pg_drop_database(url))


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@dataclass
class Page:
    """A Playwright page plus what it recorded."""

    page: Any
    context: Any
    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def problems(self) -> dict[str, list[str]]:
        return {
            "csp": self.page.evaluate("window.__csp || []"),
            "errors": self.page.evaluate("window.__errors || []"),
        }

    def assert_clean(self) -> None:
        assert self.problems() == {"csp": [], "errors": []}


@dataclass
class WebStack:
    base_url: str
    database_url: str
    sandbox: RunningSandbox
    sdk: stripe.StripeClient
    api: httpx.Client  # authenticated as the operator
    access_log: list[str]
    browser: Any
    test_name: str
    pages: list[Page] = field(default_factory=list)

    # --- the operator's side, through the public API ---------------------------------------
    def create_user(self, **fields: Any) -> str:
        fields.setdefault("email", f"{fields.get('id', 'u')}-{os.urandom(3).hex()}@example.com")
        r = self.api.post("/api/users", json=fields)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def link(self, user_id: str, ttl_seconds: int | None = None) -> str:
        body = {"ttlSeconds": ttl_seconds} if ttl_seconds else {}
        r = self.api.post(f"/api/users/{user_id}/tokens", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["dashboardUrl"])

    @staticmethod
    def token_of(link: str) -> str:
        return link.split("#token=", 1)[1]

    def usage(self, user_id: str, amount: str, key: str) -> dict[str, Any]:
        r = self.api.post(
            f"/api/balance/usage/{user_id}", json={"amount": amount, "idempotencyKey": key}
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    def status(self, user_id: str) -> dict[str, Any]:
        return dict(self.api.get(f"/api/balance/status/{user_id}").json())

    def config(self, user_id: str) -> dict[str, Any]:
        return dict(self.api.get(f"/api/balance/config/{user_id}").json())

    def ledger(self, user_id: str) -> list[dict[str, Any]]:
        r = self.api.get(f"/api/balance/ledger/{user_id}", params={"limit": 100})
        return list(r.json()["entries"])

    def history(self, user_id: str) -> list[dict[str, Any]]:
        r = self.api.get(f"/api/balance/history/{user_id}", params={"limit": 100})
        return list(r.json()["records"])

    def methods(self, user_id: str) -> list[dict[str, Any]]:
        return list(self.api.get(f"/api/payment/methods/{user_id}").json()["methods"])

    def pause(self, user_id: str, reason: str) -> None:
        """Arrange a paused auto-recharge, as repeated declines leave it."""

        async def update() -> None:
            engine = create_engine(self.database_url)
            try:
                async with engine.begin() as conn:
                    await conn.execute(
                        text(
                            "UPDATE balance_configs SET paused_reason = :reason, "
                            "paused_at = CURRENT_TIMESTAMP WHERE user_id = :user"
                        ),
                        {"reason": reason, "user": user_id},
                    )
            finally:
                await engine.dispose()

        in_thread(update)

    def give_card(self, user_id: str, test_pm: str = "pm_card_visa") -> str:
        """Save a card as the customer would (SetupIntent confirmed, 3-D Secure completed if
        asked), then tell the service; returns the PaymentMethod id."""
        si = self.api.post(f"/api/payment/setup-intent/{user_id}").json()
        confirmed = self.sdk.v1.setup_intents.confirm(
            si["setupIntentId"], params={"payment_method": test_pm}
        )
        if confirmed.status == "requires_action":
            httpx.post(
                f"{self.sandbox.base_url}/_sandbox/authenticate/{confirmed.id}",
                data={"client_secret": confirmed.client_secret, "outcome": "complete"},
            ).raise_for_status()
        done = self.api.post(
            f"/api/payment/setup-intent/{user_id}/complete",
            json={"setupIntentId": si["setupIntentId"]},
        )
        assert done.status_code == 200, done.text
        return str(done.json()["paymentMethodId"])

    @property
    def stripe_js(self) -> str:
        return f"{self.sandbox.base_url}/v3/"

    # --- the customer's side: Chromium --------------------------------------------------------
    def open(
        self,
        url: str,
        *,
        viewport: dict[str, int] | None = None,
        locale: str = "en-US",
        service_workers: str = "block",
        block: str | None = None,
        permissions: list[str] | None = None,
        only_local: bool = False,
    ) -> Page:
        """A new browser context on ``url``; ``block`` is a URL that fails as an ad blocker
        makes it fail; ``only_local`` fails every request that leaves this machine."""
        context = self.browser.new_context(
            viewport=viewport or DESKTOP,
            locale=locale,
            service_workers=service_workers,
            permissions=permissions or [],
        )
        context.add_init_script(RECORDER)
        if block:
            context.route(block, lambda route: route.abort("blockedbyclient"))
        if only_local:
            context.route(
                lambda url: not url.startswith("http://127.0.0.1:"),
                lambda route: route.abort("internetdisconnected"),
            )
        page = context.new_page()
        page.set_default_timeout(30_000)
        recorded = Page(page, context)
        page.on("request", lambda r: recorded.requests.append((r.url, r.headers.get("referer"))))
        self.pages.append(recorded)
        page.goto(url)
        return recorded

    def shot(self, page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.test_name}-{name}.png"
        page.page.screenshot(path=str(path), full_page=True)
        return path


async def _prepare_database(url: str) -> str:
    """Empty the tables (PostgreSQL is shared by the run) and create an operator key."""
    engine = create_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
            async with engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        async with session_factory(engine).begin() as session:
            return (await api_keys.create_key(session, name="web-tests")).secret
    finally:
        await engine.dispose()


@pytest.fixture
def web(
    request: pytest.FixtureRequest,
    browser: Any,
    stripe_sandbox: RunningSandbox,
    sqlite_template: Path,
    tmp_path: Path,
) -> Iterator[WebStack]:
    backend = getattr(request, "param", "sqlite")
    if backend == "postgresql":
        database_url = request.getfixturevalue("web_postgres")
        if database_url is None:
            unavailable(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}")
    else:
        path = tmp_path / "web.db"
        shutil.copy(sqlite_template, path)
        database_url = f"sqlite+aiosqlite:///{path}"
    operator_key = in_thread(lambda: _prepare_database(database_url))

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sdk = stripe.StripeClient(
        stripe_sandbox.secret_key, base_addresses={"api": stripe_sandbox.base_url}
    )
    endpoint = sdk.v1.webhook_endpoints.create(
        params={"url": f"{base}/api/webhooks/stripe", "enabled_events": ["*"]}
    )
    settings = load_settings(
        database_url=database_url,
        token_signing_secret=TOKEN_SECRET,
        public_base_url=base,
        stripe_secret_key=SecretStr(stripe_sandbox.secret_key),
        stripe_publishable_key=stripe_sandbox.publishable_key,
        stripe_webhook_secret=SecretStr(str(endpoint.secret)),
        stripe_api_base=stripe_sandbox.base_url,
        stripe_js_url=f"{stripe_sandbox.base_url}/v3/",
        stripe_max_retries=2,
        stripe_timeout_seconds=5.0,
        # The sweep is a safety net; these tests must see the immediate paths work.
        recharge_check_interval=3600,
        _env_file=None,
    )
    access = logging.getLogger("uvicorn.access")
    lines = _Lines()
    with LiveServer(create_app(settings), port=port) as live:
        # LiveServer runs uvicorn at "warning"; turn its access log on to inspect what a
        # server log would contain.
        access.setLevel(logging.INFO)
        access.addHandler(lines)
        with httpx.Client(
            base_url=live.base_url,
            headers={"Authorization": f"Bearer {operator_key}"},
            timeout=30,
        ) as api:
            stack = WebStack(
                base_url=live.base_url,
                database_url=database_url,
                sandbox=stripe_sandbox,
                sdk=sdk,
                api=api,
                access_log=lines.lines,
                browser=browser,
                test_name=request.node.name.replace("[", "-").replace("]", ""),
            )
            try:
                yield stack
            finally:
                for recorded in stack.pages:
                    recorded.context.close()
                access.removeHandler(lines)
                access.setLevel(logging.WARNING)
