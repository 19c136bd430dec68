"""The pages when things go wrong: Stripe.js blocked, a declining card, bad settings, a link
that expired — each explained to the customer, none changing what it must not."""

from __future__ import annotations

from datetime import timedelta

import pytest
import stripe
from playwright.sync_api import expect

from balance_manager.auth.tokens import TokenSigner
from tests.conftest import TOKEN_SECRET
from tests.web.conftest import WebStack
from tests.web.test_cards import fill_card, payment_link, save_with_payment_element

pytestmark = pytest.mark.browser


def test_blocked_stripe_js_is_explained_and_retry_recovers(web: WebStack) -> None:
    user = web.create_user(id="blocked-user", minimumBalance=150, targetBalance=600)
    p = web.open(payment_link(web, user), block=web.stripe_js)
    page = p.page
    blocked = page.get_by_test_id("stripejs-blocked")
    expect(blocked).to_be_visible()
    expect(blocked).to_contain_text("ad blocker")
    expect(blocked).to_contain_text(web.stripe_js)
    expect(page.get_by_test_id("choose-element")).to_be_disabled()
    expect(page.get_by_test_id("choose-portal")).to_be_enabled()  # the portal needs no Stripe.js
    web.shot(p, "1-blocked")

    p.context.unroute(web.stripe_js)  # the customer allowed js.stripe.com
    page.get_by_test_id("stripejs-retry").click()
    expect(blocked).to_have_count(0)
    page.get_by_test_id("choose-element").click()
    expect(page.get_by_test_id("card-number")).to_be_visible()
    p.assert_clean()


def test_debug_page_runs_each_step_and_shows_the_failing_one(web: WebStack) -> None:
    user = web.create_user(id="debug-user", minimumBalance=150, targetBalance=600)
    link = web.link(user).replace("/#token=", "/stripe-elements-test.html#token=")

    ok = web.open(link, permissions=["clipboard-read", "clipboard-write"])
    page = ok.page
    for step in ("config", "stripejs", "setupintent", "elements", "mounted"):
        expect(page.get_by_test_id(f"step-{step}")).to_have_attribute("data-state", "ok")
    fill_card(ok, "4242 4242 4242 4242")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("step-confirmed")).to_have_attribute("data-state", "ok")
    web.shot(ok, "1-all-steps")
    page.get_by_test_id("copy-log").click()
    expect(page.get_by_test_id("copy-result")).to_have_text("Log copied to the clipboard.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "step mounted: done" in copied and "step confirmed: done" in copied
    assert web.token_of(link) not in copied
    assert [m["last4"] for m in web.methods(user)] == ["4242"]

    blocked = web.open(link, block=web.stripe_js)
    page = blocked.page
    expect(page.get_by_test_id("step-config")).to_have_attribute("data-state", "ok")
    failing = page.get_by_test_id("step-stripejs")
    expect(failing).to_have_attribute("data-state", "failed")
    expect(page.get_by_test_id("step-stripejs-detail")).to_contain_text(web.stripe_js)
    for step in ("setupintent", "elements", "mounted", "confirmed"):
        expect(page.get_by_test_id(f"step-{step}")).to_have_attribute("data-state", "skipped")
    expect(page.get_by_test_id("log")).to_contain_text("step stripejs: failed")
    web.shot(blocked, "2-stripejs-blocked")
    blocked.assert_clean()


def test_declining_card_is_reported_honestly(web: WebStack) -> None:
    user = web.create_user(
        id="decline-user", minimumBalance=150, targetBalance=600, initialBalance=200
    )
    p = web.open(payment_link(web, user))
    page = p.page
    # 4000 0000 0000 0341 saves fine and declines every charge.
    save_with_payment_element(web, p, "4000 0000 0000 0341", "1-element")
    page.wait_for_url("**/payment-success.html?**")
    expect(page.get_by_test_id("outcome")).to_have_attribute("data-outcome", "succeeded")
    page.get_by_test_id("recharge-now").click()
    result = page.get_by_test_id("recharge-result")
    expect(result).to_have_attribute("data-status", "failed")
    expect(result).to_contain_text("The charge failed: Your card was declined.")
    expect(result).to_contain_text("Your balance is unchanged")
    expect(page.get_by_test_id("balance-current")).to_have_text("$200.00")
    web.shot(p, "2-recharge-declined")
    [record] = web.history(user)
    assert record["status"] == "failed" and record["triggeredBy"] == "manual"
    assert web.status(user)["currentBalance"] == 200

    # A card refused while it is being saved: Stripe sends the customer to the success page
    # with redirect_status=failed, which must not claim success.
    si = web.api.post(f"/api/payment/setup-intent/{user}").json()
    with pytest.raises(stripe.CardError):
        web.sdk.v1.setup_intents.confirm(
            si["setupIntentId"], params={"payment_method": "pm_card_chargeDeclined"}
        )
    query = (
        f"userId={user}&setup_intent={si['setupIntentId']}"
        f"&setup_intent_client_secret={si['clientSecret']}&redirect_status=failed"
    )
    failed = web.open(web.link(user).replace("/#token=", f"/payment-success.html?{query}#token="))
    outcome = failed.page.get_by_test_id("outcome")
    expect(outcome).to_have_attribute("data-outcome", "failed")
    expect(outcome).to_contain_text("Your card was not saved")
    expect(outcome).to_contain_text("Your card was declined.")
    web.shot(failed, "3-setup-failed")
    assert [m["last4"] for m in web.methods(user)] == ["0341"]
    p.assert_clean()
    failed.assert_clean()


def test_settings_errors_show_inline_and_change_nothing(web: WebStack) -> None:
    user = web.create_user(
        id="settings-user", minimumBalance=150, targetBalance=600, initialBalance=300
    )
    p = web.open(web.link(user))
    page = p.page
    minimum, target = page.get_by_test_id("minimum-input"), page.get_by_test_id("target-input")
    expect(minimum).to_have_value("150")
    before = web.config(user)
    puts_before = sum("PUT /api/balance/config" in line for line in web.access_log)

    # checked when the customer leaves the field, cleared as soon as it is right
    target.fill("100")
    target.press("Tab")
    expect(page.get_by_test_id("target-error")).to_have_text(
        "The target must be more than the minimum."
    )
    target.fill("1000")
    expect(page.get_by_test_id("target-error")).to_have_text("")
    expect(target).not_to_have_attribute("aria-invalid", "true")

    cases = [
        ("-5", "600", "minimum-error", "The minimum must be 0 or more."),
        ("150", "100", "target-error", "The target must be more than the minimum."),
        ("150", "150", "target-error", "The target must be more than the minimum."),
        ("150.555", "600", "minimum-error", "Too many decimal places for this currency."),
        ("abc", "600", "minimum-error", "Enter a number such as 150 or 150.50."),
    ]
    for low, high, field, message in cases:
        minimum.fill(low)
        target.fill(high)
        page.get_by_test_id("save-settings").click()
        expect(page.get_by_test_id(field)).to_have_text(message)
        field_input = minimum if field == "minimum-error" else target
        expect(field_input).to_have_attribute("aria-invalid", "true")
        expect(field_input).to_be_focused()
        expect(page.get_by_test_id("settings-result")).to_contain_text("Nothing was changed")
    web.shot(p, "1-inline-error")
    assert web.config(user) == before
    assert sum("PUT /api/balance/config" in line for line in web.access_log) == puts_before

    minimum.fill("200")
    target.fill("800.50")
    page.get_by_test_id("save-settings").click()
    expect(page.get_by_test_id("settings-result")).to_have_text("Settings saved.")
    expect(page.get_by_test_id("minimum-error")).to_have_text("")
    expect(page.get_by_test_id("balance-target")).to_have_text("$800.50")
    after = web.config(user)
    assert (after["minimumBalance"], after["targetBalance"]) == (200, 800.5)
    p.assert_clean()


def test_expired_invalid_and_missing_links_ask_for_a_new_one(web: WebStack) -> None:
    user = web.create_user(id="gate-user", minimumBalance=150, targetBalance=600)
    expired = TokenSigner(TOKEN_SECRET, ttl=timedelta(seconds=-5)).mint(user).token
    page = web.open(f"{web.base_url}/#token={expired}")
    expect(page.page.get_by_test_id("gate-expired")).to_contain_text("This link has expired")
    expect(page.page.get_by_test_id("gate-expired")).to_contain_text("Ask the service you use")
    web.shot(page, "1-expired")

    # Looks current but the service refuses it (revoked secret, tampered): its 401 becomes the
    # same page, never a raw error.
    forged = TokenSigner("another-secret-" + "y" * 32, ttl=timedelta(hours=1)).mint(user).token
    for path in (
        "/",
        f"/stripe-payment.html?userId={user}",
        f"/payment-success.html?userId={user}",
    ):
        refused = web.open(f"{web.base_url}{path}#token={forged}")
        expect(refused.page.get_by_test_id("gate-expired")).to_be_visible()
        expect(refused.page.locator("#app")).to_be_hidden()

    missing = web.open(f"{web.base_url}/")
    expect(missing.page.get_by_test_id("gate-missing")).to_contain_text("Open your personal link")
    other = web.open(
        web.link(user).replace("/#token=", "/stripe-payment.html?userId=someone-else#token=")
    )
    expect(other.page.get_by_test_id("gate-other-user")).to_be_visible()
    for recorded in (page, missing, other):
        recorded.assert_clean()
