"""What the service sends for the pages, without a browser: security headers, no inline code,
the page configuration, the PWA files and the customer link."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from balance_manager.runtime.compose import create_app
from balance_manager.settings import Settings, load_settings
from balance_manager.web import csp
from balance_manager.web.pages import PAGES, card_fee
from tests.conftest import TOKEN_SECRET

PAGE_PATHS = ["/", *(f"/{name}" for name in PAGES[1:])]
SANDBOX_JS = "http://127.0.0.1:12111/v3/"


def _settings(tmp_path: Path, sqlite_template: Path, **overrides: object) -> Settings:
    db = tmp_path / "serving.db"
    db.write_bytes(sqlite_template.read_bytes())
    base: dict[str, object] = {
        "database_url": f"sqlite+aiosqlite:///{db}",
        "token_signing_secret": TOKEN_SECRET,
        "public_base_url": "https://billing.example.com",
        "stripe_secret_key": SecretStr("sk_test_x"),
        "stripe_publishable_key": "pk_test_123",
        "stripe_js_url": SANDBOX_JS,
        "_env_file": None,
    }
    base.update(overrides)
    return load_settings(**base)


@pytest.fixture
async def web_client(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(_settings(tmp_path, sqlite_template), embedded_worker=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield client


class _Scripts(HTMLParser):
    """Collects what a strict CSP would refuse: inline scripts, event-handler attributes,
    style attributes and <style> blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.sources: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        for name, _ in attrs:
            if name.startswith("on") or name == "style":
                self.problems.append(f"<{tag} {name}=…>")
        if tag == "style":
            self.problems.append("<style>")
        if tag == "script":
            if not names.get("src"):
                self.problems.append("inline <script>")
            else:
                self.sources.append(str(names["src"]))


@pytest.mark.parametrize("path", PAGE_PATHS)
async def test_pages_send_a_strict_policy_and_contain_no_inline_code(
    web_client: httpx.AsyncClient, path: str
) -> None:
    r = await web_client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    policy = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self' http://127.0.0.1:12111"
    assert directives["frame-src"] == "http://127.0.0.1:12111"
    assert directives["connect-src"] == "'self' http://127.0.0.1:12111"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["style-src"] == "'self'"
    assert "unsafe" not in policy
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    parser = _Scripts()
    parser.feed(r.text)
    assert parser.problems == []
    assert parser.sources and all(s.startswith("assets/js/") for s in parser.sources)
    assert '<meta name="referrer" content="no-referrer">' in r.text


@pytest.mark.parametrize("path", PAGE_PATHS)
async def test_pages_arrive_whole_with_the_shared_head_and_their_own_title_and_script(
    web_client: httpx.AsyncClient, path: str
) -> None:
    r = await web_client.get(path)
    assert r.text.startswith('<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n')
    assert "<!--#" not in r.text and "${" not in r.text  # the shared start was put in, filled
    head, body = r.text.split("</head>\n")
    for shared in (
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="manifest" href="manifest.webmanifest">',
        '<link rel="stylesheet" href="assets/css/app.css">',
    ):
        assert head.count(shared) == 1
    assert re.search(r'<title data-i18n="\w+\.doc_title">[^<$]+ – Balance Manager</title>', head)
    assert len(re.findall(r'<script type="module" src="assets/js/\w+\.js"></script>', head)) == 1
    assert body.count('<header class="topbar">') == 1 and body.count('<main id="main"') == 1


def test_real_stripe_js_gets_stripes_documented_companion_hosts() -> None:
    policy = csp.page_policy("https://js.stripe.com")
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert "https://api.stripe.com" in directives["connect-src"].split()
    assert "https://hooks.stripe.com" in directives["frame-src"].split()
    assert "https://js.stripe.com" in directives["script-src"].split()
    # and none of them for another origin (the sandbox's stand-in)
    assert "stripe.com" not in csp.page_policy("http://127.0.0.1:12111")


async def test_docs_are_served_locally(web_client: httpx.AsyncClient) -> None:
    for path, bundle, init in (
        ("/docs", "swagger-ui-bundle.js", "swagger-init.js"),
        ("/redoc", "redoc.standalone.js", "redoc-init.js"),
    ):
        r = await web_client.get(path)
        assert r.status_code == 200
        sources = re.findall(r'<script src="([^"]+)"', r.text)
        assert sources == [f"/assets/vendor/{bundle}", f"/assets/docs/{init}"]
        assert "cdn" not in r.text.lower() and "http" not in " ".join(sources)
        parser = _Scripts()
        parser.feed(r.text)
        assert parser.problems == []
        assert r.headers["content-security-policy"] == csp.DOCS_POLICY
        for src in sources:
            asset = await web_client.get(src)
            assert asset.status_code == 200 and len(asset.content) > 100
    assert (await web_client.get("/openapi.json")).status_code == 200


async def test_page_configuration_and_api_answers(web_client: httpx.AsyncClient) -> None:
    r = await web_client.get("/app-config.json")
    assert r.json() == {
        "publishableKey": "pk_test_123",
        "stripeJsUrl": SANDBOX_JS,
        "paymentsConfigured": True,
        # The rate the pages show ("plus the 2.9% card fee"), from the settings.
        "cardFee": {"mode": "percentage", "rate": "0.029", "fixed": "0.00", "currency": "usd"},
        "version": r.json()["version"],
    }
    assert r.headers["cache-control"] == "no-store"
    # JSON answers carry no page policy but keep the referrer and framing rules
    health = await web_client.get("/health")
    assert "content-security-policy" not in health.headers
    assert health.headers["referrer-policy"] == "no-referrer"


def test_page_configuration_card_fee_follows_the_settings(
    tmp_path: Path, sqlite_template: Path
) -> None:
    settings = _settings(
        tmp_path,
        sqlite_template,
        default_recharge_fee_percentage="0.034",
        recharge_fee_mode="gross_up",
        recharge_fee_fixed=30,
        default_currency="eur",
    )
    assert card_fee(settings) == {
        "mode": "gross_up",
        "rate": "0.034",
        "fixed": "0.30",
        "currency": "eur",
    }


async def test_pwa_files(web_client: httpx.AsyncClient) -> None:
    manifest = await web_client.get("/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    data = json.loads(manifest.text)
    assert data["display"] == "standalone" and data["start_url"] == "./"
    sizes = {icon["sizes"] for icon in data["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in data["icons"]:
        got = await web_client.get("/" + icon["src"])
        assert got.status_code == 200, icon
    worker = await web_client.get("/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert "__CACHE_VERSION__" not in worker.text
    assert re.search(r'"bm-static-[0-9a-f]{16}"', worker.text)
    # every asset the worker precaches exists
    for path in re.findall(r'"(assets/[^"]+)"', worker.text):
        assert (await web_client.get("/" + path)).status_code == 200, path
    assert (await web_client.get("/assets/nope.js")).status_code == 404


async def test_token_answer_carries_the_dashboard_link(
    web_client: httpx.AsyncClient, tmp_path: Path
) -> None:
    from balance_manager.auth import api_keys
    from balance_manager.store.db import create_engine, session_factory

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'serving.db'}")  # the app's file
    async with session_factory(engine).begin() as session:
        key = (await api_keys.create_key(session, name="t")).secret
    await engine.dispose()
    operator = {"Authorization": f"Bearer {key}"}
    created = await web_client.post(
        "/api/users", json={"email": "link@example.com", "id": "link-user"}, headers=operator
    )
    assert created.status_code == 201
    r = await web_client.post("/api/users/link-user/tokens", json={}, headers=operator)
    body = r.json()
    assert body["dashboardUrl"] == f"https://billing.example.com/#token={body['token']}"


def test_demo_banner_lists_each_users_dashboard_link() -> None:
    from balance_manager.cli import demo

    links = {
        demo.DEMO_USER_ID: "http://127.0.0.1:3000/#token=a.b.c",
        demo.DECLINE_USER[0]: "http://127.0.0.1:3000/#token=d.e.f",
        demo.SCA_USER[0]: "http://127.0.0.1:3000/#token=g.h.i",
    }
    creds = demo.DemoCredentials(demo.DEMO_USER_ID, "bmk_x", "a.b.c", links)
    text = demo.banner("http://127.0.0.1:3000", "http://127.0.0.1:12111", creds)
    for user, link in links.items():
        assert re.search(rf"^  {re.escape(user)}: {re.escape(link)}$", text, re.MULTILINE)


def test_cli_token_prints_the_dashboard_link(tmp_path: Path, sqlite_template: Path) -> None:
    from tests.cli.test_cli import last_line, run

    db = tmp_path / "cli.db"
    db.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{db}"
    run(url, "users", "create", "--email", "cli-link@example.com", "--id", "cli-link")
    result = run(url, "token", "cli-link", PUBLIC_BASE_URL="https://billing.example.com")
    token = last_line(result)  # still alone on the last line, for scripts
    assert f"dashboard link: https://billing.example.com/#token={token}" in result.stdout
