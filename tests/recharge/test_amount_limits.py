"""Amounts Stripe cannot charge: refused where they are configured or asked for, never
attempted, and when Stripe refuses an amount anyway it is not the card's failure."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from balance_manager.store.models import BalanceConfig
from tests.conftest import UserMaker
from tests.recharge.conftest import Engine


async def test_a_configuration_whose_recharges_stripe_would_refuse_is_refused(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    """The issue's case: minimum 10, target 10.10 → every automatic recharge would charge
    about 0.11 USD, below Stripe's 0.50. Refused with the rule named; nothing changes."""
    created = await client.post(
        "/api/users",
        json={"email": "tiny@example.com", "minimumBalance": 10, "targetBalance": 10.10},
        headers=operator,
    )
    assert created.status_code == 400
    error = created.json()["error"]
    assert (error["code"], error["field"]) == ("below_stripe_minimum_charge", "targetBalance")
    assert "minimum charge of 0.50 USD" in error["message"]

    user = (
        await client.post("/api/users", json={"email": "ok@example.com"}, headers=operator)
    ).json()["id"]
    url = f"/api/balance/config/{user}"
    before = (await client.get(url, headers=operator)).json()
    for body, code, field in [
        (
            {"minimumBalance": 10, "targetBalance": 10.10},
            "below_stripe_minimum_charge",
            "targetBalance",
        ),
        ({"maxRechargeAmount": 0.30}, "below_stripe_minimum_charge", "maxRechargeAmount"),
        ({"maxRechargeAmount": 999_999}, "above_stripe_maximum_charge", "maxRechargeAmount"),
    ]:
        refused = await client.put(url, json=body, headers=operator)
        assert refused.status_code == 400, body
        assert (refused.json()["error"]["code"], refused.json()["error"]["field"]) == (code, field)
    assert (await client.get(url, headers=operator)).json() == before
    # The smallest recharge that Stripe accepts: 0.49 + 0.01 fee = 0.50 (and 0.48 is one short).
    ok = await client.put(
        url, json={"minimumBalance": 10, "targetBalance": 10.48}, headers=operator
    )
    assert ok.status_code == 200, ok.text
    short = await client.put(url, json={"targetBalance": 10.47}, headers=operator)
    assert short.status_code == 400
    yen = await client.post(
        "/api/users",
        json={
            "email": "yen@example.com",
            "currency": "jpy",
            "minimumBalance": 100,
            "targetBalance": 140,
        },
        headers=operator,
    )
    assert yen.status_code == 400  # 41 + 1 yen < 50 yen
    assert yen.json()["error"]["message"].endswith("raise targetBalance - minimumBalance")


async def test_a_manual_amount_below_stripes_minimum_is_refused_before_stripe(
    engine_app: Engine, worked_example_user: str, operator: dict[str, str]
) -> None:
    e, user = engine_app, worked_example_user
    response = await e.client.post(
        f"/api/balance/recharge/{user}", json={"amount": 0.10}, headers=operator
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "below_stripe_minimum_charge"
    assert response.json()["error"]["field"] == "amount"
    assert await e.records(user) == []


async def test_an_old_configuration_stripe_would_refuse_opens_nothing_and_never_pauses(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    """A configuration saved before these checks (written here directly): the decision
    refuses the amount with its own reason; Stripe is never asked, the account never
    pauses."""
    e = engine_app
    user = await make_user(minimum_balance=5, target_balance=600, initial_balance=10)
    await e.give_card(user)
    async with e.sessions.begin() as session:
        await session.execute(
            update(BalanceConfig)
            .where(BalanceConfig.user_id == user)
            .values(minimum_balance=1000, target_balance=1010)
        )
    debit = await e.usage(user, 0.01, "u1", operator)
    assert debit.json()["rechargeId"] is None
    for _ in range(4):
        assert await e.worker.sweep() == 0
        e.clock.advance(3600)
    assert await e.records(user) == []
    manual = await e.client.post(f"/api/balance/recharge/{user}", headers=operator)
    assert manual.status_code == 422
    assert manual.json()["error"]["code"] == "below_stripe_minimum_charge"
    config = (await e.client.get(f"/api/balance/config/{user}", headers=operator)).json()
    assert config["pausedReason"] is None


async def test_stripe_refusing_an_amount_is_not_a_card_failure(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    """A currency whose minimum we do not know (KRW): Stripe answers ``amount_too_small``
    every time. The recharge fails with that code, but no decline is counted and the account
    never pauses (it used to pause after three, as if the card had been declined)."""
    e = engine_app
    user = await make_user(
        currency="krw", minimum_balance=10, target_balance=20, initial_balance=15
    )
    await e.give_card(user)
    for attempt in range(4):
        await e.usage(user, 6, f"u{attempt}", operator)  # 15 → 9: below the minimum
        await e.worker.run_once()
        records = await e.records(user)
        assert records[-1].status == "failed"
        assert records[-1].failure_code == "amount_too_small"
        e.clock.advance(e.svc.rules.backoff_seconds + 1)  # the single, undoubled wait
        await e.client.post(
            f"/api/balance/adjust/{user}",
            json={"amount": 6, "reason": "reset", "idempotencyKey": f"a{attempt}"},
            headers=operator,
        )
    assert len(await e.records(user)) == 4
    async with e.sessions.begin() as session:
        config = await session.get(BalanceConfig, user)
        assert config is not None
        assert (config.consecutive_failures, config.paused_reason) == (0, None)
