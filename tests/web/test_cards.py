"""Saving a card from the pages — Payment Element and Customer Portal — and what follows: the
dashboard, the recharge, and the token staying out of every URL, Referer and server log."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.web.conftest import Page, WebStack

pytestmark = pytest.mark.browser


def fill_card(page: Page, number: str) -> None:
    """Type a card into the sandbox's Payment Element stand-in."""
    page.page.get_by_test_id("card-number").fill(number)
    page.page.get_by_test_id("card-expiry").fill("12 / 34")
    page.page.get_by_test_id("card-cvc").fill("123")


def payment_link(web: WebStack, user: str) -> str:
    """The original's payment page, opened with the customer's link."""
    link = web.link(user)
    return link.replace("/#token=", f"/stripe-payment.html?userId={user}#token=")


def save_with_payment_element(web: WebStack, page: Page, number: str, shot: str) -> None:
    page.page.get_by_test_id("choose-element").click()
    fill_card(page, number)
    web.shot(page, shot)
    page.page.get_by_test_id("save-card").click()


def assert_token_kept_private(web: WebStack, page: Page, token: str) -> None:
    """Nowhere but sessionStorage and Authorization headers: no URL the browser requested,
    no Referer, no line of the server's access log."""
    assert page.requests
    for url, referer in page.requests:
        assert token not in url
        assert referer is None or token not in referer
    assert web.access_log
    assert not [line for line in web.access_log if token in line]


@pytest.mark.parametrize("web", ["sqlite", "postgresql"], indirect=True)
def test_payment_element_card_then_usage_recharges_the_worked_example(web: WebStack) -> None:
    user = web.create_user(id="pe-user", minimumBalance=150, targetBalance=600, initialBalance=200)
    link = web.link(user)
    token = web.token_of(link)
    p = web.open(link)
    page = p.page
    expect(page.get_by_test_id("balance-current")).to_have_text("$200.00")
    expect(page.get_by_test_id("banner-no-card")).to_be_visible()
    assert "token" not in page.url  # moved to sessionStorage, out of the address bar
    web.shot(p, "1-dashboard-no-card")

    page.get_by_test_id("add-card").click()
    page.wait_for_url(f"**/stripe-payment.html?userId={user}")
    save_with_payment_element(web, p, "4242 4242 4242 4242", "2-payment-element")
    page.wait_for_url("**/payment-success.html?**")
    outcome = page.get_by_test_id("outcome")
    expect(outcome).to_have_attribute("data-outcome", "succeeded")
    expect(outcome).to_contain_text("Visa ending in 4242")
    assert "client_secret" not in page.url
    web.shot(p, "3-success")

    page.get_by_test_id("back-dashboard").click()
    card = page.locator("[data-testid=card][data-last4='4242']")
    expect(card.get_by_test_id("default-badge")).to_be_visible()

    web.usage(user, "250", "usage-1")  # 200 - 250 = -50, below the minimum of 150
    page.reload()
    row = page.get_by_test_id("history-row").first
    expect(row).to_have_attribute("data-status", "succeeded", timeout=30_000)
    for amount in ("$650.00", "$18.85", "$668.85"):
        expect(row).to_contain_text(amount)
    expect(page.get_by_test_id("balance-current")).to_have_text("$600.00")
    expect(page.get_by_test_id("balance-chart")).to_be_visible()
    web.shot(p, "4-dashboard-recharged")

    [record] = web.history(user)
    assert (record["amount"], record["fee"], record["totalCharge"]) == (650, 18.85, 668.85)
    assert web.status(user)["currentBalance"] == 600
    p.assert_clean()
    assert_token_kept_private(web, p, token)


def test_first_card_below_the_minimum_recharges_at_once_without_usage(web: WebStack) -> None:
    user = web.create_user(id="neg-user", minimumBalance=150, targetBalance=600, initialBalance=-50)
    p = web.open(payment_link(web, user))
    page = p.page
    expect(page.get_by_test_id("saved-cards")).to_contain_text("No card saved yet.")
    save_with_payment_element(web, p, "4242 4242 4242 4242", "1-payment-element")
    page.wait_for_url("**/payment-success.html?**")
    expect(page.get_by_test_id("outcome")).to_have_attribute("data-outcome", "succeeded")
    saved = time.monotonic()
    # The sweep runs hourly in these tests: only the immediate path can get here in time.
    expect(page.get_by_test_id("balance-current")).to_have_text("$600.00", timeout=10_000)
    print(f"first card → balance 600 shown after {time.monotonic() - saved:.2f} s")
    web.shot(p, "2-success-recharged")
    assert [e["kind"] for e in web.ledger(user)] == ["recharge", "adjustment"]  # no usage
    [record] = web.history(user)
    assert (record["status"], record["amount"], record["totalCharge"]) == ("succeeded", 650, 668.85)


def test_customer_portal_round_trip_updates_the_list(web: WebStack) -> None:
    user = web.create_user(
        id="portal-user", minimumBalance=150, targetBalance=600, initialBalance=300
    )
    link = payment_link(web, user)
    token = web.token_of(link)
    p = web.open(link)
    page = p.page
    expect(page.get_by_test_id("saved-cards")).to_contain_text("No card saved yet.")
    web.shot(p, "1-payment-page")
    page.get_by_test_id("choose-portal").click()
    page.wait_for_url(f"{web.sandbox.base_url}/p/session/**")
    page.fill("input[name=number]", "4242 4242 4242 4242")
    page.fill("input[name=exp]", "12/34")
    page.fill("input[name=cvc]", "123")
    page.click("[data-testid=add-card] button")
    expect(page.locator("[data-testid=card][data-last4='4242']")).to_be_visible()
    web.shot(p, "2-portal")
    page.click("[data-testid=return]")
    page.wait_for_url(f"{web.base_url}/stripe-payment.html?userId={user}")
    card = page.locator("[data-testid=card][data-last4='4242']")
    expect(card).to_be_visible()
    expect(card.get_by_test_id("default-badge")).to_be_visible()
    web.shot(p, "3-back-from-portal")
    assert [m["last4"] for m in web.methods(user)] == ["4242"]
    p.assert_clean()
    assert_token_kept_private(web, p, token)
    # no request — to the portal, Stripe.js or ourselves — named one of our pages as Referer
    assert any(url.startswith(web.sandbox.base_url + "/p/") for url, _ in p.requests)
    assert not [ref for _, ref in p.requests if ref and ref.startswith(web.base_url)]
