"""Who may change what in a balance config: spending limits and the floor are the operator's;
a customer keeps minimum and target within them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import UserMaker

Headers = Any


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"maxDailyRecharges": 50}, "maxDailyRecharges"),
        ({"maxRechargeAmount": 99999}, "maxRechargeAmount"),
        ({"maxRechargeAmount": 10}, "maxRechargeAmount"),  # lowering is the operator's too
        ({"balanceFloor": -500}, "balanceFloor"),
        ({"minimumBalance": 200, "maxDailyRecharges": 6}, "maxDailyRecharges"),
    ],
)
@pytest.mark.parametrize("method", ["put", "patch"])
async def test_a_customer_token_gets_403_naming_an_operator_only_field(
    client: httpx.AsyncClient,
    make_user: UserMaker,
    customer_headers: Headers,
    operator: dict[str, str],
    body: dict[str, object],
    field: str,
    method: str,
) -> None:
    user = await make_user(minimum_balance=150, target_balance=600)
    before = (await client.get(f"/api/balance/config/{user}", headers=operator)).json()
    denied = await client.request(
        method, f"/api/balance/config/{user}", json=body, headers=customer_headers(user)
    )
    assert denied.status_code == 403, denied.text
    error = denied.json()["error"]
    assert (error["code"], error["field"]) == ("operator_only", field)
    assert field in error["message"] and "operator" in error["message"]
    assert (await client.get(f"/api/balance/config/{user}", headers=operator)).json() == before

    allowed = await client.request(
        method, f"/api/balance/config/{user}", json=body, headers=operator
    )
    assert allowed.status_code == 200, allowed.text


async def test_a_customer_may_clear_no_floor_it_cannot_set(
    client: httpx.AsyncClient, make_user: UserMaker, customer_headers: Headers
) -> None:
    user = await make_user(minimum_balance=150, target_balance=600, balance_floor=-100)
    cleared = await client.patch(
        f"/api/balance/config/{user}", json={"balanceFloor": None}, headers=customer_headers(user)
    )
    assert cleared.status_code == 403
    assert cleared.json()["error"]["field"] == "balanceFloor"


async def test_a_customer_may_send_back_the_limits_it_read(
    client: httpx.AsyncClient, make_user: UserMaker, customer_headers: Headers
) -> None:
    user = await make_user(minimum_balance=150, target_balance=600, balance_floor=-100)
    headers = customer_headers(user)
    current = (await client.get(f"/api/balance/config/{user}", headers=headers)).json()
    body = {
        "minimumBalance": 200,
        "targetBalance": 700,
        "autoRechargeEnabled": False,
        "maxDailyRecharges": current["maxDailyRecharges"],
        "maxRechargeAmount": current["maxRechargeAmount"],
        "balanceFloor": current["balanceFloor"],
    }
    saved = await client.put(f"/api/balance/config/{user}", json=body, headers=headers)
    assert saved.status_code == 200, saved.text
    got = saved.json()
    assert (got["minimumBalance"], got["targetBalance"], got["autoRechargeEnabled"]) == (
        200,
        700,
        False,
    )


async def test_a_customer_keeps_one_recharge_within_max_recharge_amount(
    client: httpx.AsyncClient,
    make_user: UserMaker,
    customer_headers: Headers,
    operator: dict[str, str],
) -> None:
    user = await make_user(minimum_balance=100, target_balance=300, max_recharge_amount=500)
    headers = customer_headers(user)
    # Up to the limit: target - minimum == maxRechargeAmount.
    ok = await client.patch(
        f"/api/balance/config/{user}", json={"targetBalance": 600}, headers=headers
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["warnings"] == []
    for body, field in (
        ({"targetBalance": 600.01}, "targetBalance"),
        ({"minimumBalance": 50}, "minimumBalance"),
        ({"minimumBalance": 0, "targetBalance": 5000}, "targetBalance"),
    ):
        wide = await client.patch(f"/api/balance/config/{user}", json=body, headers=headers)
        assert wide.status_code == 403, wide.text
        error = wide.json()["error"]
        assert (error["code"], error["field"]) == ("beyond_operator_limit", field)
        assert "maxRechargeAmount (500" in error["message"]
    # Moving the whole range up keeps the gap, so it is allowed.
    moved = await client.patch(
        f"/api/balance/config/{user}",
        json={"minimumBalance": 1000, "targetBalance": 1500},
        headers=headers,
    )
    assert moved.status_code == 200, moved.text
    # The operator may set a wider gap (with the warning it always had) ...
    wider = await client.patch(
        f"/api/balance/config/{user}", json={"targetBalance": 3000}, headers=operator
    )
    assert wider.status_code == 200 and wider.json()["warnings"]
    # ... which the customer may keep, move or narrow, but not widen further.
    for body in (
        {"autoRechargeEnabled": False},
        {"minimumBalance": 1100, "targetBalance": 3100},
        {"targetBalance": 2500},
    ):
        kept = await client.patch(f"/api/balance/config/{user}", json=body, headers=headers)
        assert kept.status_code == 200, kept.text
    further = await client.patch(
        f"/api/balance/config/{user}", json={"targetBalance": 2600}, headers=headers
    )
    assert further.status_code == 403
    assert further.json()["error"]["code"] == "beyond_operator_limit"
