"""Manual recharges cannot be used to test cards: a customer hammering "recharge now" on a
declining card reaches Stripe only as often as pause, backoff and maxDailyRecharges allow,
each refusal names its reason, and the status view predicts every answer."""

from __future__ import annotations

from typing import Any

from balance_manager.store.models import User
from tests.conftest import UserMaker
from tests.recharge.conftest import Engine


async def _customer(e: Engine, user: str) -> str:
    async with e.sessions.begin() as session:
        found = await session.get(User, user)
        assert found is not None and found.stripe_customer_id is not None
        return found.stripe_customer_id


async def _attempt(e: Engine, user: str, headers: dict[str, str], body: Any = None) -> str | None:
    """Ask status what a manual request would do, make the request, and check that status
    said so. Returns the refusal code (None: the card was charged, and declined)."""
    status = await e.client.get(f"/api/balance/status/{user}", headers=headers)
    assert status.status_code == 200, status.text
    predicted = status.json()["rechargeBlockedReason"]
    assert status.json()["canRecharge"] is (predicted is None)
    response = await e.client.post(f"/api/balance/recharge/{user}", json=body, headers=headers)
    if response.status_code == 200:
        answer = response.json()
        assert answer["success"] is False
        assert answer["status"] == "failed" and answer["failureCode"] == "generic_decline"
        refused = None
    else:
        error = response.json()["error"]
        assert response.status_code == (409 if error["code"] == "daily_limit_reached" else 422)
        assert error["message"]
        refused = error["code"]
    if body is None or not body.get("overrideHolds"):
        assert refused == predicted, f"status said {predicted!r}, the request got {refused!r}"
    return refused


async def test_fifteen_manual_attempts_on_a_declining_card_reach_stripe_as_the_limits_allow(
    engine_app: Engine,
    make_user: UserMaker,
    operator: dict[str, str],
    customer_headers: Any,
) -> None:
    e = engine_app  # backoff after a decline: 60 s, doubling; pause after 3 in a row
    e.clock.now = e.clock.now.replace(hour=12)  # the whole test inside one UTC day
    user = await make_user(
        minimum_balance=150, target_balance=600, initial_balance=100, max_daily_recharges=5
    )
    await e.give_card(user, "pm_card_chargeCustomerFail")
    customer = customer_headers(user)

    outcomes = []
    for call in range(15):
        if call % 2 == 0:
            e.clock.advance(250)  # past any backoff so far (60, 120, 240 s)
        outcomes.append(await _attempt(e, user, customer))
    assert outcomes == [
        None,  # charged, declined: backoff 60 s
        "backing_off_after_failure",
        None,  # declined again: backoff 120 s
        "backing_off_after_failure",
        None,  # third decline in a row: paused
        *["auto_recharge_paused"] * 10,
    ]
    intents = e.payment_intents(await _customer(e, user))
    assert len(intents) == 3
    assert all(i.status == "requires_payment_method" for i in intents)

    # A customer may not override the holds; nothing reaches Stripe.
    forbidden = await e.client.post(
        f"/api/balance/recharge/{user}", json={"overrideHolds": True}, headers=customer
    )
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["field"] == "overrideHolds"

    # The operator's override charges despite the pause (and the backoff) — but never past
    # maxDailyRecharges, which counts the failed manual attempts.
    override = {"overrideHolds": True}
    operator_outcomes = [await _attempt(e, user, operator, override) for _ in range(4)]
    assert operator_outcomes == [None, None, "daily_limit_reached", "daily_limit_reached"]
    assert len(e.payment_intents(await _customer(e, user))) == 5  # = maxDailyRecharges

    # Without the override the pause still answers first, for customer and operator alike.
    assert await _attempt(e, user, customer) == "auto_recharge_paused"
    assert await _attempt(e, user, operator) == "auto_recharge_paused"
    assert len(e.payment_intents(await _customer(e, user))) == 5
    assert await e.credits(user) == 0
    assert await e.balance(user) == (10000, 10000)

    # The next UTC day the limit starts again; the operator's override still works.
    e.clock.advance(24 * 3600)
    assert await _attempt(e, user, operator, override) is None
    assert len(e.payment_intents(await _customer(e, user))) == 6
