"""Every page on a 360 px phone in English and Chinese (no horizontal overflow, no serious
accessibility violation by axe-core), the progressive web app, and the API docs offline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from balance_manager.auth.tokens import TokenSigner
from tests.conftest import TOKEN_SECRET
from tests.web.conftest import DESKTOP, PHONE, Page, WebStack
from tests.web.test_authentication import wait_for_record

pytestmark = pytest.mark.browser

AXE = Axe()  # axe-core as shipped by the axe-playwright-python package: served locally


def serious_violations(page: Page) -> list[dict[str, Any]]:
    results = AXE.run(page.page)
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def overflow(page: Page) -> dict[str, int]:
    return dict(
        page.page.evaluate(
            "({scroll: document.documentElement.scrollWidth,"
            " client: document.documentElement.clientWidth})"
        )
    )


def test_every_page_fits_a_phone_in_english_and_chinese_and_passes_axe(web: WebStack) -> None:
    user = web.create_user(
        id="phone-user", minimumBalance=150, targetBalance=600, initialBalance=200
    )
    web.give_card(user)
    web.usage(user, "250", "usage-1")
    wait_for_record(web, user, "succeeded")
    link = web.link(user)
    with_path = lambda path: link.replace("/#token=", f"/{path}#token=")  # noqa: E731
    expired = TokenSigner(TOKEN_SECRET, ttl=timedelta(seconds=-5)).mint(user).token
    pages: dict[str, tuple[str, str]] = {
        # name: (url, what shows the page is ready)
        "dashboard": (link, "[data-testid=history-row]"),
        "payment": (
            with_path(f"stripe-payment.html?userId={user}&method=element"),
            "[data-testid=card-number]",
        ),
        "success": (with_path(f"payment-success.html?userId={user}"), "[data-outcome=none]"),
        "debug": (
            with_path("stripe-elements-test.html"),
            "[data-testid=step-mounted][data-state=ok]",
        ),
        "expired": (f"{web.base_url}/#token={expired}", "[data-testid=gate-expired]"),
    }
    found: dict[str, Any] = {}
    for locale, heading in (("en-US", "Your balance"), ("zh-CN", "我的余额")):
        for name, (url, ready) in pages.items():
            p = web.open(url, viewport=PHONE, locale=locale)
            p.page.wait_for_selector(ready)
            if name == "dashboard":
                expect(p.page.locator("h1")).to_have_text(heading)
                assert p.page.evaluate("document.documentElement.lang") == locale.replace(
                    "en-US", "en"
                )
            size = overflow(p)
            assert size["scroll"] <= size["client"], (locale, name, size)
            web.shot(p, f"phone-{locale}-{name}")
            found[f"{locale} {name}"] = serious_violations(p)
            p.assert_clean()
            p.context.close()
            web.pages.remove(p)
    desktop = web.open(link, viewport=DESKTOP)
    desktop.page.wait_for_selector("[data-testid=history-row]")
    found["desktop dashboard"] = serious_violations(desktop)
    assert found == {name: [] for name in found}


def test_language_switch_translates_the_page_in_place(web: WebStack) -> None:
    user = web.create_user(
        id="lang-user", minimumBalance=150, targetBalance=600, initialBalance=200
    )
    p = web.open(web.link(user))
    page = p.page
    expect(page.get_by_test_id("balance-current")).to_have_text("$200.00")
    page.get_by_test_id("lang-switch").select_option("zh-CN")
    expect(page.locator("h1")).to_have_text("我的余额")
    expect(page.get_by_test_id("balance-current")).to_have_text("US$200.00")
    expect(page.get_by_test_id("save-settings")).to_have_text("保存设置")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.reload()  # the choice is remembered
    expect(page.locator("h1")).to_have_text("我的余额")
    page.get_by_test_id("lang-switch").select_option("en")
    expect(page.locator("h1")).to_have_text("Your balance")
    # keyboard: the skip link comes first and lands on the content
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    p.assert_clean()


CACHED_URLS = """async () => {
  const urls = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) urls.push(request.url);
  }
  return urls;
}"""


def test_service_worker_caches_static_assets_only(web: WebStack) -> None:
    user = web.create_user(id="pwa-user", minimumBalance=150, targetBalance=600, initialBalance=200)
    p = web.open(web.link(user), service_workers="allow")
    page = p.page
    expect(page.get_by_test_id("balance-current")).to_have_text("$200.00")
    assert page.evaluate("navigator.serviceWorker.ready.then(r => !!r.active)")
    page.reload()  # now controlled by the worker: the API calls pass it by
    expect(page.get_by_test_id("balance-current")).to_have_text("$200.00")
    assert page.evaluate("!!navigator.serviceWorker.controller")
    urls = page.evaluate(CACHED_URLS)
    paths = {u.removeprefix(web.base_url) for u in urls}
    assert {"/", "/assets/css/app.css", "/assets/js/dashboard.js", "/stripe-payment.html"} <= paths
    assert not [u for u in paths if u.startswith("/api/") or "app-config" in u or "?" in u]
    manifest = page.evaluate("document.querySelector('link[rel=manifest]').href")
    assert manifest == f"{web.base_url}/manifest.webmanifest"

    p.context.set_offline(True)
    page.reload()  # the shell comes from the cache; the balance does not
    expect(page.locator("h1")).to_have_text("Your balance")
    expect(page.locator(".banner-error")).to_contain_text("could not be reached")
    expect(page.get_by_test_id("balance-current")).to_have_text("—")
    web.shot(p, "offline")
    p.context.set_offline(False)


def test_api_docs_render_offline(web: WebStack) -> None:
    docs = web.open(f"{web.base_url}/docs", only_local=True)
    operations = docs.page.locator(".opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() >= 20
    expect(
        docs.page.locator(".opblock-summary-path", has_text="/api/balance/status/{userId}")
    ).to_have_count(1)
    web.shot(docs, "swagger")
    docs.assert_clean()

    redoc = web.open(f"{web.base_url}/redoc", only_local=True)
    expect(redoc.page.get_by_role("heading", name="Stripe Balance Manager")).to_be_visible()
    expect(redoc.page.get_by_text("/api/balance/status/{userId}").first).to_be_attached()
    web.shot(redoc, "redoc")
    # ReDoc's sidebar credit shows Redocly's logo from its CDN: the docs' CSP refuses it (and
    # the credit hides the broken image), which is the point of serving the docs locally.
    assert redoc.problems() == {
        "csp": ["img-src https://cdn.redoc.ly/redoc/logo-mini.svg"],
        "errors": [],
    }
    leaving = {
        url
        for page in (docs, redoc)
        for url, _ in page.requests
        if not url.startswith(web.base_url)
    }
    assert leaving <= {"https://cdn.redoc.ly/redoc/logo-mini.svg"}  # the refused logo only
