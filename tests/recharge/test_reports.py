"""Statistics and reports for a scripted scenario with known numbers, on both databases:
the API's CSV and JSON and the CLI's report agree with the scenario to the cent."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TOKEN_SECRET, UserMaker
from tests.recharge.conftest import Engine


@dataclass
class Scenario:
    """Five users, four recharges, one entry outside the period (see ``scenario``)."""

    a: str  # usd, worked example: 650 + 18.85 = 668.85 succeeded, then a 10.05 grant
    b: str  # usd, declined: 650 + 18.85 failed
    c: str  # jpy: 5300 + 154 = 5454 succeeded
    d: str  # usd, 3-D Secure: 650 + 18.85 waits in requires_action
    e: str  # usd, no card, one usage two days before the period
    query: dict[str, str]  # from/to of the period


@pytest.fixture
async def scenario(engine_app: Engine, make_user: UserMaker, operator: dict[str, str]) -> Scenario:
    e = engine_app
    start = e.clock.now - timedelta(hours=1)
    a = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
    b = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
    c = await make_user(
        currency="jpy", minimum_balance=1000, target_balance=5000, initial_balance=0
    )
    d = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
    late = await make_user(initial_balance=0)
    await e.give_card(a)
    await e.give_card(b, "pm_card_chargeCustomerFail")
    await e.give_card(c)
    await e.give_card(d, "pm_card_authenticationRequired")

    e.clock.advance(-2 * 86400)  # before the period
    assert (await e.usage(late, 5, "e1", operator)).status_code == 200
    e.clock.advance(2 * 86400)
    for user, amount in ((a, 50), (b, 50), (c, 300), (d, 50)):
        e.clock.advance(1)  # rows in scenario order
        assert (await e.usage(user, amount, f"{user}-1", operator)).status_code == 200
        assert await e.worker.run_once() == 1
    e.clock.advance(1)
    grant = await e.client.post(
        f"/api/balance/adjust/{a}",
        json={"amount": "10.05", "reason": "goodwill", "idempotencyKey": "g1"},
        headers=operator,
    )
    assert grant.status_code == 200, grant.text
    assert [r.status for r in await e.records(d)] == ["requires_action"]
    end = e.clock.now + timedelta(hours=1)
    return Scenario(a, b, c, d, late, {"from": start.isoformat(), "to": end.isoformat()})


def _csv_sections(text: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    rows, _, totals = text.replace("\r\n", "\n").partition("\n\ntotals\n")
    return list(csv.DictReader(io.StringIO(rows))), list(csv.DictReader(io.StringIO(totals)))


RECHARGE_TOTALS = [
    {
        "currency": "jpy",
        "records": "1",
        "pending": "0",
        "processing": "0",
        "succeeded": "1",
        "failed": "0",
        "requires_action": "0",
        "canceled": "0",
        "charged_total": "5454",
        "fees": "154",
        "credited": "5300",
    },
    {
        "currency": "usd",
        "records": "3",
        "pending": "0",
        "processing": "0",
        "succeeded": "1",
        "failed": "1",
        "requires_action": "1",
        "canceled": "0",
        "charged_total": "668.85",
        "fees": "18.85",
        "credited": "650.00",
    },
]
LEDGER_TOTALS = [
    {
        "currency": "jpy",
        "entries": "2",
        "usage_count": "1",
        "usage_amount": "-300",
        "recharge_count": "1",
        "recharge_amount": "5300",
        "adjustment_count": "0",
        "adjustment_amount": "0",
        "refund_count": "0",
        "refund_amount": "0",
        "refund_reversal_count": "0",
        "refund_reversal_amount": "0",
        "dispute_count": "0",
        "dispute_amount": "0",
        "dispute_reversal_count": "0",
        "dispute_reversal_amount": "0",
        "net_change": "5000",
    },
    {
        "currency": "usd",
        "entries": "5",
        "usage_count": "3",
        "usage_amount": "-150.00",
        "recharge_count": "1",
        "recharge_amount": "650.00",
        "adjustment_count": "1",
        "adjustment_amount": "10.05",
        "refund_count": "0",
        "refund_amount": "0.00",
        "refund_reversal_count": "0",
        "refund_reversal_amount": "0.00",
        "dispute_count": "0",
        "dispute_amount": "0.00",
        "dispute_reversal_count": "0",
        "dispute_reversal_amount": "0.00",
        "net_change": "510.05",
    },
]


async def test_recharge_report_csv_and_json_match_the_scenario_to_the_cent(
    engine_app: Engine, scenario: Scenario, operator: dict[str, str]
) -> None:
    s, client = scenario, engine_app.client
    got = await client.get(
        "/api/admin/reports/recharges", params={**s.query, "format": "csv"}, headers=operator
    )
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/csv")
    assert got.headers["content-disposition"].startswith('attachment; filename="recharges-')
    rows, totals = _csv_sections(got.text)
    assert [
        (r["user_id"], r["status"], r["amount"], r["fee"], r["total_charge"]) for r in rows
    ] == [
        (s.a, "succeeded", "650.00", "18.85", "668.85"),
        (s.b, "failed", "650.00", "18.85", "668.85"),
        (s.c, "succeeded", "5300", "154", "5454"),
        (s.d, "requires_action", "650.00", "18.85", "668.85"),
    ]
    assert rows[0]["payment_intent_id"].startswith("pi_") and rows[0]["completed_at"]
    assert rows[1]["failure_code"] and rows[3]["completed_at"] == ""
    assert totals == RECHARGE_TOTALS

    as_json = await client.get(
        "/api/admin/reports/recharges", params={**s.query, "format": "json"}, headers=operator
    )
    body = json.loads(as_json.text)
    assert body["report"] == "recharges" and body["rowCount"] == 4
    assert [(r["rechargeId"], r["totalCharge"]) for r in body["rows"]] == [
        (r["recharge_id"], r["total_charge"]) for r in rows
    ]
    assert body["rows"][3]["completedAt"] is None
    assert body["totals"][1] == {
        "currency": "usd",
        "rows": 3,
        "counts": {
            "pending": 0,
            "processing": 0,
            "succeeded": 1,
            "failed": 1,
            "requires_action": 1,
            "canceled": 0,
        },
        "chargedTotal": "668.85",
        "fees": "18.85",
        "credited": "650.00",
    }
    assert body["totals"][0]["chargedTotal"] == "5454"


async def test_ledger_report_csv_and_json_match_the_scenario_and_leave_out_other_days(
    engine_app: Engine, scenario: Scenario, operator: dict[str, str]
) -> None:
    s, client = scenario, engine_app.client
    got = await client.get("/api/admin/reports/ledger", params=s.query, headers=operator)
    rows, totals = _csv_sections(got.text)
    assert [(r["user_id"], r["kind"], r["amount"], r["balance_after"]) for r in rows] == [
        (s.a, "usage", "-50.00", "-50.00"),
        (s.a, "recharge", "650.00", "600.00"),
        (s.b, "usage", "-50.00", "-50.00"),
        (s.c, "usage", "-300", "-300"),
        (s.c, "recharge", "5300", "5000"),
        (s.d, "usage", "-50.00", "-50.00"),
        (s.a, "adjustment", "10.05", "610.05"),
    ]
    assert s.e not in got.text  # its only entry is two days before the period
    assert totals == LEDGER_TOTALS

    body = (
        await client.get(
            "/api/admin/reports/ledger", params={**s.query, "format": "json"}, headers=operator
        )
    ).json()
    assert [(r["userId"], r["kind"], r["amount"]) for r in body["rows"]] == [
        (r["user_id"], r["kind"], r["amount"]) for r in rows
    ]
    assert isinstance(body["rows"][0]["entryId"], int)
    assert body["totals"][1] == {
        "currency": "usd",
        "rows": 5,
        "counts": {
            "usage": 3,
            "recharge": 1,
            "adjustment": 1,
            "refund": 0,
            "refund_reversal": 0,
            "dispute": 0,
            "dispute_reversal": 0,
        },
        "amounts": {
            "usage": "-150.00",
            "recharge": "650.00",
            "adjustment": "10.05",
            "refund": "0.00",
            "refund_reversal": "0.00",
            "dispute": "0.00",
            "dispute_reversal": "0.00",
        },
        "netChange": "510.05",
    }


async def test_cli_report_matches_the_api(
    engine_app: Engine, scenario: Scenario, operator: dict[str, str], tmp_path: Path
) -> None:
    s = scenario
    env = {
        **os.environ,
        "DATABASE_URL": engine_app.svc.settings.database_url,
        "TOKEN_SIGNING_SECRET": TOKEN_SECRET,
    }
    for kind, fmt in (("recharges", "csv"), ("ledger", "json")):
        out = tmp_path / f"{kind}.{fmt}"
        args = ["--from", s.query["from"], "--to", s.query["to"], "--kind", kind]
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "balance_manager", "report", *args, "--format", fmt],
            capture_output=True,
            text=True,
            env={**env},
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        written = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "balance_manager",
                "report",
                *args,
                "--format",
                fmt,
                "--output",
                str(out),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert written.returncode == 0, written.stderr
        rows = 4 if kind == "recharges" else 7
        assert f"{rows} {kind} rows to {out}" in written.stderr
        api = await engine_app.client.get(
            f"/api/admin/reports/{kind}", params={**s.query, "format": fmt}, headers=operator
        )
        if fmt == "csv":
            assert _csv_sections(out.read_bytes().decode()) == _csv_sections(api.text)
            assert _csv_sections(result.stdout)[1] == RECHARGE_TOTALS
        else:
            from_cli, from_api = json.loads(out.read_text()), api.json()
            from_cli.pop("generatedAt"), from_api.pop("generatedAt")
            assert from_cli == from_api
            assert json.loads(result.stdout)["rowCount"] == 7


async def test_statistics_of_the_scenario(
    engine_app: Engine, scenario: Scenario, operator: dict[str, str]
) -> None:
    s, client = scenario, engine_app.client
    rates = (
        await client.get("/api/admin/stats/recharges", params=s.query, headers=operator)
    ).json()
    assert rates["outcomes"] == {
        "total": 4,
        "byStatus": {
            "pending": 0,
            "processing": 0,
            "succeeded": 2,
            "failed": 1,
            "requires_action": 1,
            "canceled": 0,
        },
        "finished": 3,
        "successRate": 0.6667,
    }
    assert rates["byTrigger"]["auto"]["successRate"] == 0.6667
    assert rates["byTrigger"]["manual"] == {
        "total": 0,
        "byStatus": dict.fromkeys(rates["outcomes"]["byStatus"], 0),
        "finished": 0,
        "successRate": None,
    }
    assert rates["volumes"] == [
        {"currency": "jpy", "succeeded": 1, "charged": 5454, "fees": 154, "credited": 5300},
        {"currency": "usd", "succeeded": 1, "charged": 668.85, "fees": 18.85, "credited": 650},
    ]
    # A window ending now (the test's clock) holds the same records; one ending two hours
    # before the period holds none.
    windowed = await client.get(
        "/api/admin/stats/recharges", params={"window": "2h"}, headers=operator
    )
    assert windowed.json()["outcomes"]["total"] == 4
    engine_app.clock.advance(-3 * 3600)
    empty = await client.get(
        "/api/admin/stats/recharges", params={"window": "1h"}, headers=operator
    )
    assert empty.json()["outcomes"]["successRate"] is None
    engine_app.clock.advance(3 * 3600)

    users = (await client.get("/api/admin/stats/users", headers=operator)).json()
    assert users == {
        "total": 5,
        "belowMinimum": 3,
        "negativeBalance": 3,
        "autoRechargeOff": 0,
        "paused": 0,
        "requiresAction": 1,
        "rechargeInFlight": 0,
    }
    cards = (await client.get("/api/admin/stats/payment-methods", headers=operator)).json()
    assert cards == {"users": 5, "withCard": 4, "withoutCard": 1}

    balances = (await client.get("/api/admin/stats/balances", headers=operator)).json()
    usd = next(c for c in balances["currencies"] if c["currency"] == "usd")
    assert (usd["users"], usd["total"]) == (4, 505.05)
    filled = {b["label"]: (b["users"], b["total"]) for b in usd["buckets"] if b["users"]}
    assert filled == {"negative": (3, -105), "100-1000": (1, 610.05)}
    assert usd["buckets"][0] == {
        "label": "negative",
        "min": None,
        "max": 0,
        "users": 3,
        "total": -105,
    }
    jpy = next(c for c in balances["currencies"] if c["currency"] == "jpy")
    assert [(b["label"], b["min"], b["max"]) for b in jpy["buckets"] if b["users"]] == [
        ("1000-10000", 1000, 10000)
    ]


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"from": "yesterday"}, "from", "invalid_datetime"),
        ({"from": "2026-11-02", "to": "2026-11-01"}, "to", "empty_period"),
        ({"window": "24h", "from": "2026-11-01"}, "window", "ambiguous_period"),
        ({"window": "0h"}, "window", "invalid_window"),
        ({"window": "fortnight"}, "window", "invalid_window"),
        ({"to": "2026-11-01"}, "from", "missing_field"),
        ({"from": "2026-11-01", "format": "xlsx"}, "format", "invalid_input"),
    ],
)
async def test_bad_periods_are_400_naming_the_field(
    engine_app: Engine, operator: dict[str, str], params: dict[str, str], field: str, code: str
) -> None:
    got = await engine_app.client.get("/api/admin/reports/ledger", params=params, headers=operator)
    assert got.status_code == 400, got.text
    assert (got.json()["error"]["field"], got.json()["error"]["code"]) == (field, code)


async def test_reports_and_statistics_are_for_operators_only(
    engine_app: Engine, make_user: UserMaker, customer_headers: Any
) -> None:
    user = await make_user()
    for path in (
        "/api/admin/stats/recharges",
        "/api/admin/stats/users",
        "/api/admin/stats/balances",
        "/api/admin/stats/payment-methods",
        "/api/admin/recharges",
        "/api/admin/reports/ledger?from=2026-11-01",
        "/api/users",
    ):
        denied = await engine_app.client.get(path, headers=customer_headers(user))
        assert denied.status_code == 403, path
        assert (await engine_app.client.get(path)).status_code == 401, path


async def test_operator_lists_recharges_across_users(
    engine_app: Engine, scenario: Scenario, operator: dict[str, str]
) -> None:
    client = engine_app.client
    every = (await client.get("/api/admin/recharges", headers=operator)).json()
    assert every["pagination"]["total"] == 4
    assert [r["status"] for r in every["records"]] == [  # newest first
        "requires_action",
        "succeeded",
        "failed",
        "succeeded",
    ]
    waiting = (
        await client.get(
            "/api/admin/recharges", params={"status": "requires_action"}, headers=operator
        )
    ).json()
    assert [r["id"] for r in waiting["records"]] == [(await engine_app.records(scenario.d))[0].id]
    one_user = (
        await client.get("/api/admin/recharges", params={"userId": scenario.c}, headers=operator)
    ).json()
    assert [r["currency"] for r in one_user["records"]] == ["jpy"]
    bad = await client.get("/api/admin/recharges", params={"status": "lost"}, headers=operator)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "status"
