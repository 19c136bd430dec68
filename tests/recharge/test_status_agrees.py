"""``GET /api/balance/status`` says what a manual recharge would do: in every case, its
``rechargeBlockedReason`` is the refusal a ``POST /api/balance/recharge`` then gets (both ask
``policy.decide``), and ``canRecharge: true`` means the request goes through."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from balance_manager.domain.ids import new_id
from balance_manager.store.models import BalanceConfig, RechargeRecord
from tests.conftest import UserMaker
from tests.recharge.conftest import Engine


async def _record(e: Engine, user: str, status: str, **fields: Any) -> None:
    async with e.sessions.begin() as session:
        session.add(
            RechargeRecord(
                id=new_id(),
                user_id=user,
                amount=1000,
                fee=29,
                total_charge=1029,
                currency="usd",
                status=status,
                triggered_by="auto",
                trigger_detail="usage",
                attempt_count=1,
                created_at=e.clock(),
                updated_at=e.clock(),
                **fields,
            )
        )


async def _no_card(e: Engine, user: str) -> None:
    pass


async def _ready(e: Engine, user: str) -> None:
    await e.give_card(user)


async def _paused(e: Engine, user: str) -> None:
    await e.give_card(user)
    async with e.sessions.begin() as session:
        config = await session.get(BalanceConfig, user)
        assert config is not None
        config.paused_reason = "3 consecutive failed recharges (last: card_declined)"
        config.paused_at = e.clock()


async def _in_flight(e: Engine, user: str) -> None:
    await e.give_card(user)
    await _record(e, user, "requires_action")


async def _backing_off(e: Engine, user: str) -> None:
    await e.give_card(user)
    await _record(e, user, "failed", next_attempt_at=e.clock() + timedelta(minutes=5))


async def _daily_limit(e: Engine, user: str) -> None:
    await e.give_card(user)
    async with e.sessions.begin() as session:
        config = await session.get(BalanceConfig, user)
        assert config is not None
        config.max_daily_recharges = 1
    await _record(e, user, "succeeded")


CASES = [
    ("no_payment_method", _no_card, 422),
    ("auto_recharge_paused", _paused, 422),
    ("recharge_in_progress", _in_flight, 409),
    ("backing_off_after_failure", _backing_off, 422),
    ("daily_limit_reached", _daily_limit, 409),
    (None, _ready, 200),
]


@pytest.mark.parametrize(
    ("reason", "arrange", "http_status"), CASES, ids=[str(c[0]) for c in CASES]
)
async def test_status_says_what_a_manual_recharge_does(
    engine_app: Engine,
    make_user: UserMaker,
    customer_headers: Any,
    reason: str | None,
    arrange: Any,
    http_status: int,
) -> None:
    e = engine_app
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=200)
    await arrange(e, user)
    headers = customer_headers(user)
    status = (await e.client.get(f"/api/balance/status/{user}", headers=headers)).json()
    assert status["rechargeBlockedReason"] == reason
    assert status["canRecharge"] is (reason is None)

    response = await e.client.post(f"/api/balance/recharge/{user}", headers=headers)
    assert response.status_code == http_status, response.text
    if reason is None:
        assert response.json()["status"] == "succeeded"
    else:
        assert response.json()["error"]["code"] == reason
