"""The dashboard's own controls: cards (default, remove), history pages, the auto-recharge
switch and the paused banner."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.web.conftest import WebStack

pytestmark = pytest.mark.browser


def test_cards_history_pages_and_auto_recharge(web: WebStack) -> None:
    user = web.create_user(
        id="dash-user",
        minimumBalance=150,
        targetBalance=600,
        initialBalance=600,
        maxDailyRecharges=20,
    )
    visa = web.give_card(user, "pm_card_visa")
    mastercard = web.give_card(user, "pm_card_mastercard")
    assert web.config(user)["defaultPaymentMethodId"] == visa
    for n in range(12):
        r = web.api.post(f"/api/balance/recharge/{user}", json={"amount": "1"})
        assert r.status_code == 200 and r.json()["status"] == "succeeded", (n, r.text)
    p = web.open(web.link(user))
    page = p.page

    rows = page.get_by_test_id("history-row")
    expect(rows).to_have_count(10)
    expect(page.get_by_test_id("history-page")).to_have_text("Page 1 of 2")
    expect(page.get_by_test_id("history-prev")).to_be_disabled()
    page.get_by_test_id("history-next").click()
    expect(rows).to_have_count(2)
    expect(page.get_by_test_id("history-page")).to_have_text("Page 2 of 2")
    expect(page.get_by_test_id("history-next")).to_be_disabled()
    expect(rows.first.get_by_test_id("status-badge")).to_have_text("Succeeded")
    page.get_by_test_id("history-prev").click()
    expect(rows).to_have_count(10)

    page.locator("[data-testid=card][data-last4='4444'] [data-testid=make-default]").click()
    expect(page.get_by_test_id("cards-result")).to_have_text(
        "Mastercard ending in 4444 is now your default card."
    )
    expect(page.locator("[data-testid=card][data-default=true]")).to_have_attribute(
        "data-last4", "4444"
    )
    assert web.config(user)["defaultPaymentMethodId"] == mastercard
    page.locator("[data-testid=card][data-last4='4242'] [data-testid=remove-card]").click()
    expect(page.get_by_test_id("card")).to_have_count(1)
    assert [m["last4"] for m in web.methods(user)] == ["4444"]

    page.get_by_test_id("auto-input").uncheck()
    page.get_by_test_id("save-settings").click()
    expect(page.get_by_test_id("balance-auto")).to_have_text("Off")
    expect(page.get_by_test_id("balance-status")).to_have_text("Automatic recharge is off")
    assert web.config(user)["autoRechargeEnabled"] is False
    web.shot(p, "1-dashboard")
    p.assert_clean()


def test_paused_banner_shows_the_reason_and_resumes(web: WebStack) -> None:
    user = web.create_user(
        id="paused-user", minimumBalance=150, targetBalance=600, initialBalance=300
    )
    web.give_card(user)
    web.pause(user, "3 consecutive failed recharges (last: card_declined)")
    p = web.open(web.link(user))
    page = p.page
    banner = page.get_by_test_id("banner-paused")
    expect(banner).to_contain_text("Automatic recharge is paused")
    expect(banner).to_contain_text("3 consecutive failed recharges (last: card_declined)")
    expect(page.get_by_test_id("balance-status")).to_have_text("Automatic recharge paused")
    web.shot(p, "1-paused")
    banner.get_by_test_id("resume").click()
    expect(page.get_by_test_id("banner-paused")).to_have_count(0)
    expect(page.get_by_test_id("balance-status")).to_have_text("Above the minimum")
    assert web.config(user)["pausedReason"] is None
    p.assert_clean()
