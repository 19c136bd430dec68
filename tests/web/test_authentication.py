"""3-D Secure: a recharge that needs the customer waits (the sweep and usage open no other),
the dashboard's banner completes it on-session with Stripe.js, and the balance is credited
exactly once; a failed challenge is shown and changes nothing."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.conftest import WebStack
from tests.web.test_cards import fill_card

pytestmark = pytest.mark.browser


def wait_for_record(web: WebStack, user: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        records = web.history(user)
        if records and records[0]["status"] == status:
            return records[0]
        time.sleep(0.1)
    raise AssertionError(f"no {status} recharge: {web.history(user)}")


def recharge_credits(web: WebStack, user: str) -> list[dict[str, Any]]:
    return [e for e in web.ledger(user) if e["kind"] == "recharge"]


def test_3ds_card_recharge_completed_on_the_dashboard_credits_once(web: WebStack) -> None:
    user = web.create_user(id="sca-user", minimumBalance=150, targetBalance=600, initialBalance=200)
    p = web.open(web.link(user).replace("/#token=", f"/stripe-payment.html?userId={user}#token="))
    page = p.page
    # The card asks for authentication when it is saved, too.
    page.get_by_test_id("choose-element").click()
    fill_card(p, "4000 0027 6000 3184")
    page.get_by_test_id("save-card").click()
    page.get_by_test_id("3ds-complete").click()
    page.wait_for_url("**/payment-success.html?**")
    expect(page.get_by_test_id("outcome")).to_have_attribute("data-outcome", "succeeded")

    web.usage(user, "250", "usage-1")  # → -50: the off-session charge needs the customer
    waiting = wait_for_record(web, user, "requires_action")
    web.usage(user, "1", "usage-2")  # -51: more usage while it waits opens no second recharge
    status = web.status(user)
    assert status["rechargeBlockedReason"] == "recharge_in_progress"
    assert status["pendingRechargeId"] == waiting["id"]
    assert len(web.history(user)) == 1

    page.get_by_test_id("back-dashboard").click()
    banner = page.get_by_test_id("banner-action")
    expect(banner).to_contain_text("A recharge of $668.85 needs your confirmation")
    expect(page.get_by_test_id("balance-status")).to_have_text("Waiting for your confirmation")
    web.shot(p, "1-banner")
    banner.get_by_test_id("authenticate").click()
    expect(page.get_by_test_id("3ds-dialog")).to_be_visible()
    web.shot(p, "2-challenge")
    page.get_by_test_id("3ds-complete").click()
    result = page.get_by_test_id("banner-result")
    expect(result).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("balance-current")).to_have_text("$599.00")  # -51 + 650
    expect(page.get_by_test_id("banner-action")).to_have_count(0)
    web.shot(p, "3-credited")

    assert web.sandbox.wait_for_webhooks(timeout=15)  # payment_intent.succeeded arrived too
    [credit] = recharge_credits(web, user)
    assert credit["amount"] == 650 and credit["balanceAfter"] == 599
    assert web.status(user)["currentBalance"] == 599
    [record] = web.history(user)
    assert record["status"] == "succeeded"
    p.assert_clean()


def test_failed_challenge_is_shown_and_leaves_the_balance_unchanged(web: WebStack) -> None:
    user = web.create_user(id="sca-fail", minimumBalance=150, targetBalance=600, initialBalance=200)
    web.give_card(user, "pm_card_authenticationRequired")  # 4000 0027 6000 3184
    web.usage(user, "250", "usage-1")
    wait_for_record(web, user, "requires_action")
    p = web.open(web.link(user))
    page = p.page
    page.get_by_test_id("authenticate").click()
    page.get_by_test_id("3ds-fail").click()
    result = page.get_by_test_id("banner-result")
    expect(result).to_have_attribute("data-status", "failed")
    expect(result).to_contain_text("failed authentication")
    expect(result).to_contain_text("Your balance is unchanged")
    expect(page.get_by_test_id("balance-current")).to_have_text("-$50.00")
    expect(page.get_by_test_id("history-row").first).to_have_attribute("data-status", "failed")
    web.shot(p, "1-failed")
    assert web.sandbox.wait_for_webhooks(timeout=15)
    assert recharge_credits(web, user) == []
    assert web.status(user)["currentBalance"] == -50
    p.assert_clean()
