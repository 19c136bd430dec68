"""A card that declines, as the demo's ``demo-decline`` customer meets it, and the way out: the
dashboard says what happened and why "Recharge now" waits, suggests another card, and the
moment another card becomes the default the recharge runs (the sweep runs hourly and the
backoff lasts minutes here: only the immediate path can make it in time). Also the small
things of the balance card: the status pill on one line at 1280 px, a 3-D Secure recharge
shown as waiting (not declined), and the card fee's rate."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.conftest import DESKTOP, PHONE, Page, WebStack
from tests.web.test_authentication import wait_for_record
from tests.web.test_cards import save_with_payment_element
from tests.web.test_quality import overflow, serious_violations

pytestmark = pytest.mark.browser

# Lines a text takes on screen: one client rect per line box of the element's text.
LINES = """el => {
  const range = document.createRange();
  range.selectNodeContents(el);
  return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
}"""


def declined_user(web: WebStack) -> str:
    """``demo-decline``: 200.00 (minimum 150, target 600), a card that declines every charge,
    then usage to 100.00; the recharge that opens declines and the account backs off."""
    user = web.create_user(
        id="demo-decline", minimumBalance=150, targetBalance=600, initialBalance=200
    )
    web.give_card(user, "pm_card_chargeCustomerFail")
    web.usage(user, "100", "usage-1")
    wait_for_record(web, user, "failed")
    return user


def pill_lines(page: Page) -> int:
    pill = page.page.get_by_test_id("status-pill")
    return int(pill.evaluate(LINES))


@pytest.mark.parametrize("where", ["success-page", "dashboard"])
def test_fixing_a_declined_card_recharges_within_seconds(web: WebStack, where: str) -> None:
    user = declined_user(web)
    p = web.open(web.link(user), viewport=DESKTOP)
    page = p.page
    status = page.get_by_test_id("status-pill")
    expect(status).to_have_text("Below the minimum — waiting after a declined charge")
    assert pill_lines(p) == 1
    # Disabled, and says why: the decline, until when, and the way out.
    expect(page.get_by_test_id("recharge-now")).to_be_disabled()
    why = page.get_by_test_id("recharge-why")
    expect(why).to_contain_text("The last charge was declined; the next try is after")
    expect(why).to_contain_text("Add or choose another card to try again now.")
    assert page.get_by_test_id("recharge-now").get_attribute("aria-describedby") == "recharge-why"
    expect(page.get_by_test_id("cards-decline-hint")).to_contain_text(
        "Your last charge was declined. Add another card"
    )
    expect(page.get_by_test_id("row-note")).to_have_text("Your card was declined")
    web.shot(p, "1-declined")

    page.get_by_test_id("add-card").click()
    page.wait_for_url(f"**/stripe-payment.html?userId={user}")
    save_with_payment_element(web, p, "4242 4242 4242 4242", "2-payment-element")
    page.wait_for_url("**/payment-success.html?**")
    outcome = page.get_by_test_id("outcome")
    expect(outcome).to_contain_text(
        "Visa ending in 4242 is saved. Automatic recharges still use Visa ending in 0341."
    )
    offer = outcome.get_by_test_id("make-default")
    expect(offer).to_have_text("Use Visa ending in 4242 for automatic recharges")
    expect(page.get_by_test_id("recharge-why")).to_contain_text("The last charge was declined")
    web.shot(p, "3-saved-not-default")

    chosen = time.monotonic()
    if where == "success-page":
        offer.click()
        expect(outcome).to_contain_text(
            "Visa ending in 4242 is saved and is now the card used for automatic recharges."
        )
    else:
        page.get_by_test_id("back-dashboard").click()
        expect(page.get_by_test_id("cards-decline-hint")).to_contain_text(
            "Make another card the default"
        )
        chosen = time.monotonic()
        page.locator("[data-testid=card][data-last4='4242'] [data-testid=make-default]").click()
    expect(page.get_by_test_id("balance-current")).to_have_text("$600.00", timeout=10_000)
    print(f"{where}: make default → balance 600 shown after {time.monotonic() - chosen:.2f} s")
    web.shot(p, "4-recharged")

    records = web.history(user)
    assert [(r["status"], r["triggerDetail"]) for r in records] == [
        ("succeeded", "card"),
        ("failed", "usage"),
    ]
    assert web.config(user)["defaultPaymentMethodId"] == web.methods(user)[0]["id"]
    if where == "dashboard":
        expect(page.get_by_test_id("cards-decline-hint")).to_have_count(0)
        expect(page.get_by_test_id("recharge-why")).to_have_text(
            "Your balance is already at the target."
        )
    p.assert_clean()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_decline_status_pill_is_one_line_at_1280_px(web: WebStack, locale: str) -> None:
    user = declined_user(web)
    for path in ("/", f"/payment-success.html?userId={user}"):
        p = web.open(web.link(user).replace("/#token=", f"{path}#token="), locale=locale)
        pill = p.page.get_by_test_id("status-pill")
        expect(pill).to_have_attribute("class", "badge badge-warn")
        assert p.page.viewport_size == DESKTOP
        assert pill_lines(p) == 1, (path, pill.inner_text())
        # The disabled button says why, in the page's language.
        expect(p.page.get_by_test_id("recharge-now")).to_be_disabled()
        why = p.page.get_by_test_id("recharge-why")
        expect(why).to_contain_text("上一笔扣款被拒" if locale == "zh-CN" else "was declined")
        web.shot(p, f"pill-{path.strip('/').split('.')[0] or 'dashboard'}")
        p.assert_clean()


def test_a_recharge_waiting_for_3d_secure_is_shown_waiting_not_declined(web: WebStack) -> None:
    user = web.create_user(id="sca-row", minimumBalance=150, targetBalance=600, initialBalance=200)
    web.give_card(user, "pm_card_authenticationRequired")
    web.usage(user, "100", "usage-1")
    record = wait_for_record(web, user, "requires_action")
    # What Stripe says of such a charge, and what the page must not show as a failure.
    assert record["failureMessage"].startswith("Your card was declined")
    p = web.open(web.link(user))
    page = p.page
    row = page.get_by_test_id("history-row").first
    expect(row.get_by_test_id("status-badge")).to_have_text("Needs confirmation")
    note = row.get_by_test_id("row-note")
    expect(note).to_have_text("Waiting for your confirmation (3-D Secure)")
    expect(row).not_to_contain_text("declined")
    expect(note).to_have_class("row-note waiting")
    expect(page.get_by_test_id("recharge-now")).to_be_disabled()
    expect(page.get_by_test_id("recharge-why")).to_have_text(
        "Confirm or cancel the recharge waiting for your bank above first."
    )
    colours = page.evaluate(
        """() => {
          const css = getComputedStyle(document.documentElement);
          return {warn: css.getPropertyValue('--warn').trim(), error: css.getPropertyValue('--error').trim()};
        }"""
    )
    colour = note.evaluate("el => getComputedStyle(el).color")
    assert colour == _rgb(colours["warn"]) != _rgb(colours["error"])
    web.shot(p, "1-waiting-row")
    p.assert_clean()


def _rgb(hex_colour: str) -> str:
    value = hex_colour.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({r}, {g}, {b})"


def test_above_the_minimum_the_card_fee_rate_comes_from_the_service(web: WebStack) -> None:
    user = web.create_user(id="fee-user", minimumBalance=150, targetBalance=600, initialBalance=300)
    p = web.open(web.link(user))
    next_recharge = p.page.get_by_test_id("next-recharge")
    expect(next_recharge).to_have_text(
        "When the balance falls below $150.00, it is topped up to $600.00 (plus the 2.9% card fee)."
    )
    p.page.get_by_test_id("lang-switch").select_option("zh-CN")
    expect(next_recharge).to_contain_text("2.9% 的银行卡手续费")
    p.assert_clean()

    # Another service's fee: the page says what /app-config.json says, nothing of its own.
    def other_fee(route: Any) -> None:
        body = route.fetch().json()
        body["cardFee"] = {
            "mode": "percentage",
            "rate": "0.034",
            "fixed": "0.00",
            "currency": "usd",
        }
        route.fulfill(json=body)

    other = web.browser.new_context(viewport=DESKTOP)
    try:
        other.route("**/app-config.json", other_fee)
        page = other.new_page()
        page.goto(web.link(user))
        expect(page.get_by_test_id("next-recharge")).to_contain_text("(plus the 3.4% card fee)")
        config = json.loads(page.evaluate("fetch('app-config.json').then(r => r.text())"))
        assert config["cardFee"]["rate"] == "0.034"
    finally:
        other.close()


def test_the_declined_state_fits_a_phone_and_passes_axe_in_both_languages(
    web: WebStack,
) -> None:
    """What this file adds to the pages — the reason beside the disabled button, the hint to
    add another card, the success page's offer — at 360 px in English and Chinese."""
    user = declined_user(web)
    si = web.api.post(f"/api/payment/setup-intent/{user}").json()
    web.sdk.v1.setup_intents.confirm(si["setupIntentId"], params={"payment_method": "pm_card_visa"})
    success = (
        f"payment-success.html?userId={user}&setup_intent={si['setupIntentId']}"
        "&redirect_status=succeeded"
    )
    link = web.link(user)
    found: dict[str, Any] = {}
    for locale in ("en-US", "zh-CN"):
        for name, url, ready in (
            ("dashboard", link, "[data-testid=cards-decline-hint]"),
            ("success", link.replace("/#token=", f"/{success}#token="), "#outcome-actions button"),
        ):
            p = web.open(url, viewport=PHONE, locale=locale)
            p.page.wait_for_selector(ready)
            expect(p.page.get_by_test_id("recharge-why")).not_to_be_empty()
            size = overflow(p)
            assert size["scroll"] <= size["client"], (locale, name, size)
            web.shot(p, f"phone-{locale}-{name}")
            found[f"{locale} {name}"] = serious_violations(p)
            p.assert_clean()
    assert found == {name: [] for name in found}
