"""The /api/webhook-endpoints routes and the low-balance threshold of the config, on both
databases: shapes, the secret shown once, operator only, bad input."""

from __future__ import annotations

from typing import Any

from tests.conftest import UserMaker
from tests.webhooks_out.conftest import Hooks
from tests.webhooks_out.receiver import Receiver

BASE = "/api/webhook-endpoints"


async def test_endpoints_are_created_listed_updated_and_deleted(hooks: Hooks) -> None:
    api, op = hooks.client, hooks.operator
    created = await api.post(
        BASE,
        json={
            "url": "https://example.com/hooks",
            "eventTypes": ["balance.low"],
            "description": "x",
        },
        headers=op,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    endpoint = body["id"]
    assert body["secret"].startswith("whsec_")
    assert (body["url"], body["eventTypes"], body["enabled"], body["description"]) == (
        "https://example.com/hooks",
        ["balance.low"],
        True,
        "x",
    )

    shown = (await api.get(f"{BASE}/{endpoint}", headers=op)).json()
    assert "secret" not in shown  # the secret is shown only once
    listed = (await api.get(BASE, headers=op)).json()
    assert [e["id"] for e in listed["endpoints"]] == [endpoint]
    assert "secret" not in listed["endpoints"][0] and listed["pagination"]["total"] == 1

    patched = await api.patch(
        f"{BASE}/{endpoint}",
        json={"url": "https://example.com/v2", "eventTypes": ["recharge.failed", "balance.low"]},
        headers=op,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["eventTypes"] == ["balance.low", "recharge.failed"]
    everything = await api.patch(f"{BASE}/{endpoint}", json={"eventTypes": None}, headers=op)
    assert everything.json()["eventTypes"] is None
    assert everything.json()["url"] == "https://example.com/v2"  # unsent fields stay
    off = await api.patch(f"{BASE}/{endpoint}", json={"enabled": False}, headers=op)
    assert off.json()["enabled"] is False
    assert off.json()["disabledReason"] == "disabled by the operator"
    on = await api.patch(f"{BASE}/{endpoint}", json={"enabled": True}, headers=op)
    assert on.json()["enabled"] is True and on.json()["disabledReason"] is None

    deliveries = await api.get(f"{BASE}/{endpoint}/deliveries", headers=op)
    assert deliveries.status_code == 200
    assert deliveries.json() == {
        "deliveries": [],
        "pagination": {"total": 0, "page": 1, "limit": 20, "totalPages": 0},
    }
    assert (await api.delete(f"{BASE}/{endpoint}", headers=op)).status_code == 204
    gone = await api.get(f"{BASE}/{endpoint}", headers=op)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "webhook_endpoint_not_found"
    assert (await api.delete(f"{BASE}/{endpoint}", headers=op)).status_code == 404


async def test_only_an_operator_may_manage_endpoints(
    hooks: Hooks, make_user: UserMaker, customer_headers: Any
) -> None:
    user = await make_user()
    customer = customer_headers(user)
    for method, path, body in [
        ("POST", BASE, {"url": "https://example.com/h"}),
        ("GET", BASE, None),
        ("GET", f"{BASE}/x", None),
        ("PATCH", f"{BASE}/x", {"enabled": False}),
        ("DELETE", f"{BASE}/x", None),
        ("GET", f"{BASE}/x/deliveries", None),
        ("POST", f"{BASE}/x/resend", {"eventId": "e"}),
        ("POST", f"{BASE}/x/recover", {"since": "2026-11-30T00:00:00Z"}),
    ]:
        anonymous = await hooks.client.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path)
        forbidden = await hooks.client.request(method, path, json=body, headers=customer)
        assert forbidden.status_code == 403, (method, path)
    assert (await hooks.client.get(BASE, headers=hooks.operator)).json()["endpoints"] == []


async def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(hooks: Hooks) -> None:
    api, op = hooks.client, hooks.operator
    cases: list[tuple[dict[str, Any], str]] = [
        ({"url": "ftp://example.com/h"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://user:pw@example.com/h"}, "url"),
        ({"url": "https://example.com/h", "eventTypes": []}, "eventTypes"),
        ({"url": "https://example.com/h", "eventTypes": ["recharge.teleported"]}, "eventTypes"),
        ({"url": "https://example.com/h", "eventTypes": "balance.low"}, "eventTypes"),
        ({"url": "https://example.com/h", "secret": "whsec_mine"}, "secret"),
        ({}, "url"),
    ]
    for body, field in cases:
        response = await api.post(BASE, json=body, headers=op)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["field"] == field, (body, response.json())
    assert (await api.get(BASE, headers=op)).json()["endpoints"] == []

    created = await api.post(BASE, json={"url": "https://example.com/h"}, headers=op)
    endpoint = created.json()["id"]
    bad_patch = await api.patch(f"{BASE}/{endpoint}", json={"url": "gopher://x"}, headers=op)
    assert bad_patch.status_code == 400 and bad_patch.json()["error"]["field"] == "url"
    assert (await api.get(f"{BASE}/{endpoint}", headers=op)).json()["url"] == (
        "https://example.com/h"
    )
    bad_status = await api.get(f"{BASE}/{endpoint}/deliveries?status=lost", headers=op)
    assert bad_status.status_code == 400 and bad_status.json()["error"]["field"] == "status"
    naive = await api.post(
        f"{BASE}/{endpoint}/recover", json={"since": "2026-11-30T00:00:00"}, headers=op
    )
    assert naive.status_code == 400 and naive.json()["error"]["field"] == "since"
    missing = await api.get(f"{BASE}/{endpoint}/deliveries/123", headers=op)
    assert missing.status_code == 404


async def test_the_delivery_log_through_the_api(
    hooks: Hooks, make_user: UserMaker, receiver: Receiver
) -> None:
    receiver.script = [500]
    endpoint, _ = await hooks.endpoint(receiver.url, ["balance.low"])
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=200)
    await hooks.usage(user, 60, "u1")
    await hooks.dispatcher.run_once()
    hooks.clock.advance(10)
    await hooks.dispatcher.run_once()
    listed = (
        await hooks.client.get(f"{BASE}/{endpoint}/deliveries", headers=hooks.operator)
    ).json()
    (delivery,) = listed["deliveries"]
    assert {k: delivery[k] for k in ("eventType", "status", "attempts", "lastStatusCode")} == {
        "eventType": "balance.low",
        "status": "succeeded",
        "attempts": 2,
        "lastStatusCode": 200,
    }
    failed_only = await hooks.client.get(
        f"{BASE}/{endpoint}/deliveries?status=failed", headers=hooks.operator
    )
    assert failed_only.json()["deliveries"] == []
    log = (
        await hooks.client.get(
            f"{BASE}/{endpoint}/deliveries/{delivery['id']}", headers=hooks.operator
        )
    ).json()
    assert [(a["attempt"], a["statusCode"], a["error"]) for a in log["log"]] == [
        (1, 500, "HTTP 500"),
        (2, 200, None),
    ]
    assert all(a["latencyMs"] > 0 for a in log["log"])


async def test_the_low_balance_threshold_is_part_of_the_config(
    hooks: Hooks, make_user: UserMaker, customer_headers: Any
) -> None:
    """Settable by the customer and the operator, validated like the other amounts, null
    clears it; balance.low then follows it (on PostgreSQL through the one-statement debit)."""
    user = await make_user(
        minimum_balance=10, target_balance=100, initial_balance=100, auto_recharge_enabled=False
    )
    url = f"/api/balance/config/{user}"
    customer = customer_headers(user)
    assert (await hooks.client.get(url, headers=customer)).json()["lowBalanceThreshold"] is None
    for bad, code in [(50.001, "too_many_decimals"), ("abc", None), (True, None)]:
        response = await hooks.client.patch(
            url, json={"lowBalanceThreshold": bad}, headers=customer
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["field"] == "lowBalanceThreshold"
        if code:
            assert response.json()["error"]["code"] == code
    set_ = await hooks.client.put(url, json={"lowBalanceThreshold": 50}, headers=customer)
    assert set_.status_code == 200 and set_.json()["lowBalanceThreshold"] == 50
    never = await hooks.client.patch(  # a threshold at the floor could never be crossed
        url, json={"lowBalanceThreshold": 5, "balanceFloor": 5}, headers=hooks.operator
    )
    assert never.status_code == 400 and never.json()["error"]["field"] == "lowBalanceThreshold"
    unchanged = (await hooks.client.get(url, headers=customer)).json()
    assert (unchanged["lowBalanceThreshold"], unchanged["balanceFloor"]) == (50, None)

    await hooks.usage(user, 40, "a")  # 60
    await hooks.usage(user, 15, "b")  # 45: crosses 50
    await hooks.usage(user, 5, "c")  # 40
    batch = await hooks.client.post(  # the general (batch) path on every database
        "/api/balance/usage",
        json={"events": [{"userId": user, "amount": 1, "idempotencyKey": "d"}]},
        headers=hooks.operator,
    )
    assert batch.status_code == 200
    cleared = await hooks.client.patch(url, json={"lowBalanceThreshold": None}, headers=customer)
    assert cleared.json()["lowBalanceThreshold"] is None
    await hooks.usage(user, 35, "e")  # 4: crosses the minimum, 10
    events = [e for e in await hooks.events("balance.low") if e.user_id == user]
    assert [e.payload for e in events] == [
        {
            "userId": user,
            "balanceMinor": 4500,
            "thresholdMinor": 5000,
            "minimumBalanceMinor": 1000,
            "currency": "usd",
        },
        {
            "userId": user,
            "balanceMinor": 400,
            "thresholdMinor": 1000,
            "minimumBalanceMinor": 1000,
            "currency": "usd",
        },
    ]

    # The batch path crosses too.
    other = await make_user(minimum_balance=10, target_balance=100, initial_balance=100)
    await hooks.client.patch(
        f"/api/balance/config/{other}", json={"lowBalanceThreshold": 80}, headers=hooks.operator
    )
    crossing = await hooks.client.post(
        "/api/balance/usage",
        json={"events": [{"userId": other, "amount": 30, "idempotencyKey": "x"}]},
        headers=hooks.operator,
    )
    assert crossing.status_code == 200
    (low,) = [e for e in await hooks.events("balance.low") if e.user_id == other]
    assert low.payload["thresholdMinor"] == 8000 and low.payload["balanceMinor"] == 7000
