"""An error that quotes values carries them in ``error.params`` (strings: exact decimal amounts
in major units, currency codes in capitals), beside the documented ``code``, ``message`` and
``field``, so a client words it in its own language; an error that quotes none has no
``params``. On both databases, as a customer meets them and as an operator does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.api.test_payment_api import api  # noqa: F401  (the app with the sandbox: a fixture)
from tests.conftest import UserMaker

Headers = Callable[[str], dict[str, str]]


async def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


async def test_errors_that_quote_values_carry_them_as_params(
    api: httpx.AsyncClient,  # noqa: F811
    make_user: UserMaker,
    customer_headers: Headers,
    operator: dict[str, str],
) -> None:
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=300)
    me = customer_headers(user)
    config = f"/api/balance/config/{user}"

    # The example: the smallest automatic recharge (150.30 − 149.99 = 0.31 + 0.01 fee)
    # is below Stripe's minimum charge.
    error = await _error(await api.put(config, json={"targetBalance": 150.30}, headers=me), 400)
    assert error == {
        "code": "below_stripe_minimum_charge",
        "message": "the smallest automatic recharge would charge 0.32 USD, below Stripe's "
        "minimum charge of 0.50 USD: raise targetBalance - minimumBalance",
        "field": "targetBalance",
        "params": {"total": "0.32", "minimum": "0.50", "currency": "USD"},
    }

    # A customer may not widen the range beyond the operator's largest recharge.
    r = await api.put(config, json={"maxRechargeAmount": 1000}, headers=operator)
    assert r.status_code == 200, r.text
    error = await _error(
        await api.put(config, json={"minimumBalance": 0, "targetBalance": 2000}, headers=me),
        403,
    )
    assert (error["code"], error["field"]) == ("beyond_operator_limit", "targetBalance")
    assert error["params"] == {"gap": "2000.00", "maximum": "1000.00", "currency": "USD"}

    error = await _error(await api.put(config, json={"minimumBalance": 1.005}, headers=me), 400)
    assert (error["code"], error["field"]) == ("too_many_decimals", "minimumBalance")
    assert error["params"] == {"currency": "USD", "places": "2"}

    # An explicit manual amount (an operator's): above the user's limit, below Stripe's.
    recharge = f"/api/balance/recharge/{user}"
    error = await _error(await api.post(recharge, json={"amount": 1500}, headers=operator), 400)
    assert (error["code"], error["params"]) == (
        "above_max_recharge_amount",
        {"maximum": "1000.00", "currency": "USD"},
    )
    error = await _error(await api.post(recharge, json={"amount": 0.1}, headers=operator), 400)
    assert error["code"] == "below_stripe_minimum_charge"
    assert error["params"] == {
        "amount": "0.10",
        "total": "0.10",
        "minimum": "0.50",
        "currency": "USD",
    }

    # Nothing quoted, nothing in params: the documented shape, unchanged.
    error = await _error(await api.put(config, json={"targetBalance": 100}, headers=me), 400)
    assert error == {
        "code": "target_not_above_minimum",
        "message": "targetBalance must be greater than minimumBalance",
        "field": "targetBalance",
    }
