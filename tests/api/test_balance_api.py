"""The balance API end to end over ASGI, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from balance_manager.domain.ids import new_id
from balance_manager.store.db import SessionFactory
from balance_manager.store.ledger import entries_sum
from balance_manager.store.models import RechargeRecord, User, utcnow
from tests.conftest import UserMaker

Headers = Callable[[str], dict[str, str]]


async def test_worked_example_through_the_status_endpoint(
    client: httpx.AsyncClient, make_user: UserMaker, customer_headers: Headers
) -> None:
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=-50)
    response = await client.get(
        f"/api/balance/status/{user}", headers={**customer_headers(user), "x-user-id": user}
    )
    assert response.status_code == 200
    assert response.json() == {
        "needsRecharge": True,
        "currentBalance": -50,
        "minimumBalance": 150,
        "targetBalance": 600,
        "calculation": {
            "rechargeAmount": 650,
            "fee": 18.85,
            "totalCharge": 668.85,
            "newBalance": 600,
            "capped": False,
        },
        "canRecharge": False,
        "rechargeBlockedReason": "no_payment_method",
        "rechargeBlockedUntil": None,  # set only while waiting after a decline
        "currency": "usd",
        "autoRechargeEnabled": True,
        "pendingRechargeId": None,
    }
    # The exact digits, not just float equality.
    assert '"fee":18.85' in response.text and '"totalCharge":668.85' in response.text


async def test_status_reports_real_balance_when_auto_recharge_is_off(
    client: httpx.AsyncClient, make_user: UserMaker, operator: dict[str, str]
) -> None:
    user = await make_user(
        minimum_balance=150,
        target_balance=600,
        initial_balance="75.25",
        auto_recharge_enabled=False,
    )
    body = (await client.get(f"/api/balance/status/{user}", headers=operator)).json()
    assert body["currentBalance"] == 75.25
    assert body["autoRechargeEnabled"] is False
    assert body["calculation"]["rechargeAmount"] == 524.75


async def test_status_above_minimum_has_no_calculation(
    client: httpx.AsyncClient, make_user: UserMaker, operator: dict[str, str]
) -> None:
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=150)
    body = (await client.get(f"/api/balance/status/{user}", headers=operator)).json()
    assert body["needsRecharge"] is False
    assert body["calculation"] is None


async def test_zero_decimal_currency(
    client: httpx.AsyncClient, make_user: UserMaker, operator: dict[str, str]
) -> None:
    user = await make_user(
        currency="jpy", minimum_balance=1000, target_balance=5000, initial_balance=-1
    )
    body = (await client.get(f"/api/balance/status/{user}", headers=operator)).json()
    assert body["calculation"] == {
        "rechargeAmount": 5001,
        "fee": 145,
        "totalCharge": 5146,
        "newBalance": 5000,
        "capped": False,
    }
    bad = await client.post(
        f"/api/balance/usage/{user}", json={"amount": 1.5, "idempotencyKey": "k"}, headers=operator
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "too_many_decimals"


# --- config ------------------------------------------------------------------------------


async def test_config_partial_update_as_in_the_original(
    client: httpx.AsyncClient,
    make_user: UserMaker,
    customer_headers: Headers,
    operator: dict[str, str],
) -> None:
    user = await make_user(minimum_balance=150, target_balance=600)
    headers = customer_headers(user)
    body = {
        "minimumBalance": 200,
        "targetBalance": 800,
        "autoRechargeEnabled": True,
        "maxDailyRecharges": 3,
    }
    # maxDailyRecharges is the operator's (the original had no such distinction).
    response = await client.put(f"/api/balance/config/{user}", json=body, headers=operator)
    assert response.status_code == 200, response.text
    got = response.json()
    assert (got["minimumBalance"], got["targetBalance"], got["maxDailyRecharges"]) == (200, 800, 3)
    assert got["maxRechargeAmount"] == 10000 and got["warnings"] == []
    patched = await client.patch(
        f"/api/balance/config/{user}", json={"targetBalance": "950.5"}, headers=headers
    )
    assert patched.json()["targetBalance"] == 950.5
    assert patched.json()["minimumBalance"] == 200
    again = (await client.get(f"/api/balance/config/{user}", headers=headers)).json()
    assert again["targetBalance"] == 950.5 and again["userId"] == user


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"minimumBalance": -1}, "minimumBalance", "negative_amount"),
        ({"targetBalance": 150}, "targetBalance", "target_not_above_minimum"),
        ({"minimumBalance": 700}, "targetBalance", "target_not_above_minimum"),
        ({"maxDailyRecharges": 0}, "maxDailyRecharges", "out_of_range"),
        ({"maxDailyRecharges": 101}, "maxDailyRecharges", "out_of_range"),
        ({"maxDailyRecharges": 2.5}, "maxDailyRecharges", "invalid_input"),
        ({"maxDailyRecharges": "3"}, "maxDailyRecharges", "invalid_input"),
        ({"maxDailyRecharges": True}, "maxDailyRecharges", "invalid_input"),
        ({"maxRechargeAmount": 0}, "maxRechargeAmount", "zero_amount"),
        ({"maxRechargeAmount": -5}, "maxRechargeAmount", "negative_amount"),
        ({"minimumBalance": 1.001}, "minimumBalance", "too_many_decimals"),
        ({"minimumBalance": "abc"}, "minimumBalance", "invalid_amount"),
        ({"minimumBalance": True}, "minimumBalance", "invalid_input"),
        ({"autoRechargeEnabled": "yes please"}, "autoRechargeEnabled", "invalid_input"),
        ({"minimumBalance": 100, "colour": "red"}, "colour", "unknown_field"),
        ({"balanceFloor": 150}, "balanceFloor", "floor_not_below_minimum"),
    ],
)
async def test_rejected_config_update_names_the_field_and_changes_nothing(
    client: httpx.AsyncClient,
    make_user: UserMaker,
    operator: dict[str, str],
    body: dict[str, object],
    field: str,
    code: str,
) -> None:
    user = await make_user(minimum_balance=150, target_balance=600)
    before = (await client.get(f"/api/balance/config/{user}", headers=operator)).json()
    response = await client.put(f"/api/balance/config/{user}", json=body, headers=operator)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["field"], error["code"]) == (field, code)
    assert error["message"]
    after = (await client.get(f"/api/balance/config/{user}", headers=operator)).json()
    assert after == before


async def test_cap_below_the_gap_is_accepted_with_a_warning(
    client: httpx.AsyncClient, make_user: UserMaker, operator: dict[str, str]
) -> None:
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=-50)
    response = await client.put(
        f"/api/balance/config/{user}", json={"maxRechargeAmount": 100}, headers=operator
    )
    assert response.status_code == 200
    assert "cannot bring the balance to the target" in response.json()["warnings"][0]
    status = (await client.get(f"/api/balance/status/{user}", headers=operator)).json()
    assert status["calculation"]["rechargeAmount"] == 100
    assert status["calculation"]["capped"] is True
    assert status["calculation"]["newBalance"] == 50


async def test_balance_floor_can_be_set_and_removed(
    client: httpx.AsyncClient, make_user: UserMaker, operator: dict[str, str]
) -> None:
    user = await make_user(minimum_balance=150, target_balance=600)
    set_ = await client.put(
        f"/api/balance/config/{user}", json={"balanceFloor": -20}, headers=operator
    )
    assert set_.json()["balanceFloor"] == -20
    cleared = await client.put(
        f"/api/balance/config/{user}", json={"balanceFloor": None}, headers=operator
    )
    assert cleared.json()["balanceFloor"] is None


# --- usage and the ledger ---------------------------------------------------------------


async def test_usage_is_idempotent(
    client: httpx.AsyncClient,
    make_user: UserMaker,
    operator: dict[str, str],
    sessions: SessionFactory,
) -> None:
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=100)
    url = f"/api/balance/usage/{user}"
    first = await client.post(
        url, json={"amount": 12.34, "idempotencyKey": "req-1"}, headers=operator
    )
    assert first.status_code == 200
    assert first.json()["balance"] == 87.66 and first.json()["replayed"] is False
    await client.post(url, json={"amount": 1, "idempotencyKey": "req-2"}, headers=operator)
    replay = await client.post(
        url, json={"amount": "12.34", "idempotencyKey": "req-1"}, headers=operator
    )
    assert replay.status_code == 200
    assert replay.json()["replayed"] is True
    assert replay.json()["balance"] == 87.66  # the first result again, not the current balance
    assert replay.json()["entryId"] == first.json()["entryId"]
    conflict = await client.post(
        url, json={"amount": 5, "idempotencyKey": "req-1"}, headers=operator
    )
    assert conflict.status_code == 409
    assert conflict.json()["error"] == {
        "code": "idempotency_key_reused",
        "message": "idempotencyKey 'req-1' was already used with a different amount",
        "field": "idempotencyKey",
    }
    async with sessions.begin() as session:
        balance = (await session.get(User, user)).balance  # type: ignore[union-attr]
        assert balance == 8666 == await entries_sum(session, user)


async def test_usage_may_take_the_balance_negative_unless_a_floor_is_set(
    client: httpx.AsyncClient, make_user: UserMaker, operator: dict[str, str]
) -> None:
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=10)
    url = f"/api/balance/usage/{user}"
    negative = await client.post(url, json={"amount": 30, "idempotencyKey": "a"}, headers=operator)
    assert negative.json()["balance"] == -20
    await client.put(f"/api/balance/config/{user}", json={"balanceFloor": -25}, headers=operator)
    refused = await client.post(url, json={"amount": 5.01, "idempotencyKey": "b"}, headers=operator)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "balance_floor_reached"
    exact = await client.post(url, json={"amount": 5, "idempotencyKey": "c"}, headers=operator)
    assert exact.json()["balance"] == -25


async def test_crossing_the_minimum_writes_a_balance_low_event(
    client: httpx.AsyncClient,
    make_user: UserMaker,
    operator: dict[str, str],
    sessions: SessionFactory,
) -> None:
    from sqlalchemy import select

    from balance_manager.store.models import OutboxEvent

    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=200)
    url = f"/api/balance/usage/{user}"
    await client.post(url, json={"amount": 40, "idempotencyKey": "a"}, headers=operator)  # 160
    await client.post(
        url, json={"amount": 20, "idempotencyKey": "b"}, headers=operator
    )  # 140: crosses
    await client.post(
        url, json={"amount": 20, "idempotencyKey": "c"}, headers=operator
    )  # 120: already below
    async with sessions.begin() as session:
        events = (
            await session.scalars(select(OutboxEvent).where(OutboxEvent.user_id == user))
        ).all()
    assert [e.type for e in events] == ["balance.low"]
    assert events[0].payload["balanceMinor"] == 14000


async def test_batch_usage_reports_each_event(
    client: httpx.AsyncClient,
    make_user: UserMaker,
    operator: dict[str, str],
    sessions: SessionFactory,
) -> None:
    a = await make_user(initial_balance=100)
    b = await make_user(initial_balance=50, currency="jpy", minimum_balance=10, target_balance=100)
    events = [
        {"userId": a, "amount": 1.5, "idempotencyKey": "e1"},
        {"userId": b, "amount": 7, "idempotencyKey": "e1"},  # same key, other user: independent
        {"userId": "ghost", "amount": 1, "idempotencyKey": "e2"},
        {"userId": a, "amount": 1.5, "idempotencyKey": "e1"},  # repeat inside the batch
        {"userId": a, "amount": 2, "idempotencyKey": "e1"},  # conflict inside the batch
        {"userId": b, "amount": 0.5, "idempotencyKey": "e3"},  # JPY has no decimals
        {"userId": a, "amount": 0.25, "idempotencyKey": "e4"},
    ]
    response = await client.post("/api/balance/usage", json={"events": events}, headers=operator)
    assert response.status_code == 200, response.text
    body = response.json()
    statuses = [(r["index"], r["status"]) for r in body["results"]]
    assert statuses == [
        (0, "applied"),
        (1, "applied"),
        (2, "error"),
        (3, "replayed"),
        (4, "error"),
        (5, "error"),
        (6, "applied"),
    ]
    assert body["results"][2]["error"]["code"] == "user_not_found"
    assert body["results"][4]["error"]["code"] == "idempotency_key_reused"
    assert body["results"][5]["error"]["code"] == "too_many_decimals"
    assert body["results"][6]["balance"] == 98.25
    assert (body["applied"], body["replayed"], body["failed"]) == (3, 1, 3)
    again = await client.post("/api/balance/usage", json={"events": events}, headers=operator)
    assert again.json()["applied"] == 0 and again.json()["replayed"] == 4
    async with sessions.begin() as session:
        for user, expected in ((a, 9825), (b, 43)):
            assert (await session.get(User, user)).balance == expected  # type: ignore[union-attr]
            assert await entries_sum(session, user) == expected


async def test_batch_of_1000_across_chunks(
    client: httpx.AsyncClient,
    make_user: UserMaker,
    operator: dict[str, str],
    sessions: SessionFactory,
) -> None:
    users = [await make_user(initial_balance=1000) for _ in range(7)]
    events = [
        {"userId": users[i % 7], "amount": "0.01", "idempotencyKey": f"k{i}"} for i in range(1000)
    ]
    response = await client.post("/api/balance/usage", json={"events": events}, headers=operator)
    assert response.status_code == 200
    assert response.json()["applied"] == 1000
    async with sessions.begin() as session:
        for i, user in enumerate(users):
            count = len(range(i, 1000, 7))
            assert (await session.get(User, user)).balance == 100000 - count  # type: ignore[union-attr]
            assert await entries_sum(session, user) == 100000 - count
    too_many = await client.post(
        "/api/balance/usage", json={"events": [*events, events[0]]}, headers=operator
    )
    assert too_many.status_code == 400
    assert too_many.json()["error"]["field"] == "events"


async def test_adjustments_are_signed_and_idempotent(
    client: httpx.AsyncClient, make_user: UserMaker, operator: dict[str, str]
) -> None:
    user = await make_user(initial_balance=10)
    url = f"/api/balance/adjust/{user}"
    grant = await client.post(
        url,
        json={"amount": 25, "reason": "welcome credit", "idempotencyKey": "g1"},
        headers=operator,
    )
    assert grant.json()["balance"] == 35
    replay = await client.post(
        url,
        json={"amount": 25, "reason": "welcome credit", "idempotencyKey": "g1"},
        headers=operator,
    )
    assert replay.json()["replayed"] is True and replay.json()["balance"] == 35
    take = await client.post(
        url, json={"amount": -5.5, "reason": "correction", "idempotencyKey": "c1"}, headers=operator
    )
    assert take.json()["balance"] == 29.5
    zero = await client.post(
        url, json={"amount": 0, "reason": "x", "idempotencyKey": "z"}, headers=operator
    )
    assert zero.status_code == 400 and zero.json()["error"]["field"] == "amount"
    ledger = (await client.get(f"/api/balance/ledger/{user}?limit=2", headers=operator)).json()
    assert [e["amount"] for e in ledger["entries"]] == [-5.5, 25]
    assert ledger["entries"][0]["description"] == "correction"
    assert ledger["pagination"] == {"total": 3, "page": 1, "limit": 2, "totalPages": 2}


async def test_history_pagination(
    client: httpx.AsyncClient,
    make_user: UserMaker,
    operator: dict[str, str],
    sessions: SessionFactory,
) -> None:
    user = await make_user()
    now = utcnow()
    async with sessions.begin() as session:
        for i in range(25):
            session.add(
                RechargeRecord(
                    id=new_id(),
                    user_id=user,
                    amount=65000,
                    fee=1885,
                    total_charge=66885,
                    currency="usd",
                    status="succeeded",
                    triggered_by="auto",
                    trigger_detail="usage",
                    created_at=now - timedelta(minutes=i),
                )
            )
    first = (await client.get(f"/api/balance/history/{user}", headers=operator)).json()
    assert first["pagination"] == {"total": 25, "page": 1, "limit": 20, "totalPages": 2}
    record = first["records"][0]
    assert (
        record["amount"],
        record["fee"],
        record["totalCharge"],
        record["status"],
        record["triggeredBy"],
    ) == (
        650,
        18.85,
        668.85,
        "succeeded",
        "auto",
    )
    second = (
        await client.get(f"/api/balance/history/{user}?page=2&limit=20", headers=operator)
    ).json()
    assert len(second["records"]) == 5
    assert {r["id"] for r in first["records"]}.isdisjoint({r["id"] for r in second["records"]})
    for query, field in (
        ("page=0", "page"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("page=abc", "page"),
    ):
        bad = await client.get(f"/api/balance/history/{user}?{query}", headers=operator)
        assert bad.status_code == 400, query
        assert bad.json()["error"]["field"] == field


# --- users -------------------------------------------------------------------------------


async def test_create_and_read_users(client: httpx.AsyncClient, operator: dict[str, str]) -> None:
    created = await client.post(
        "/api/users",
        json={
            "email": "Ada@Example.com",
            "minimumBalance": 150,
            "targetBalance": 600,
            "initialBalance": -50,
        },
        headers=operator,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (
        body["email"] == "ada@example.com" and body["balance"] == -50 and body["currency"] == "usd"
    )
    assert len(body["id"]) >= 20
    got = await client.get(f"/api/users/{body['id']}", headers=operator)
    assert got.json()["id"] == body["id"]
    duplicate = await client.post("/api/users", json={"email": "ada@example.com"}, headers=operator)
    assert duplicate.status_code == 409 and duplicate.json()["error"]["field"] == "email"
    own_id = await client.post(
        "/api/users", json={"email": "b@example.com", "id": "acct_42"}, headers=operator
    )
    assert own_id.json()["id"] == "acct_42"
    again = await client.post(
        "/api/users", json={"email": "c@example.com", "id": "acct_42"}, headers=operator
    )
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@example.com", "currency": "xyz"}, "currency"),
        ({"email": "a@example.com", "id": "has space"}, "id"),
        ({"email": "a@example.com", "minimumBalance": 600, "targetBalance": 150}, "targetBalance"),
        ({"email": "a@example.com", "initialBalance": "1e400"}, "initialBalance"),
        ({}, "email"),
    ],
)
async def test_create_user_rejects_bad_input(
    client: httpx.AsyncClient, operator: dict[str, str], body: dict[str, object], field: str
) -> None:
    response = await client.post("/api/users", json=body, headers=operator)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
