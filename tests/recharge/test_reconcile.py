"""Reconciliation against the sandbox: it repairs what settling can (a credit whose answer
and webhooks were all lost, a recharge stuck past Stripe's 24 hours), reports every other
difference with its amount, and is empty after a normal scenario."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from balance_manager.store.models import PaymentAnomaly, ReconciliationRun, User
from balance_manager.usecases import charging
from balance_manager.usecases import reconcile as reconciling
from tests.conftest import UserMaker
from tests.recharge.conftest import Engine
from tests.recharge.control import sandbox_post


async def _reconcile(e: Engine, **options: Any) -> reconciling.Report:
    return await reconciling.reconcile(e.svc, since=e.clock() - timedelta(hours=48), **options)


async def test_a_credit_lost_with_its_answer_and_its_webhooks_is_repaired_once(
    engine_app: Engine, worked_example_user: str, operator: dict[str, str]
) -> None:
    """No webhook endpoint, and every answer to the charge lost (the request performed each
    time): the record goes back to ``pending`` uncredited while Stripe holds the money.
    Reconciliation finds the PaymentIntent and credits it, once."""
    e, user = engine_app, worked_example_user
    e.sandbox.state.faults.add(
        {"kind": "lost_response", "method": "POST", "path": "/v1/payment_intents", "count": 10}
    )
    await e.usage(user, 50, "u1", operator)
    assert await e.worker.run_once() == 1
    (record,) = await e.records(user)
    assert (record.status, record.payment_intent_id) == ("pending", None)
    assert await e.credits(user) == 0
    e.sandbox.state.faults.clear()
    e.clock.advance(e.svc.rules.processing_timeout_seconds + 1)  # no worker is on it now

    dry = await _reconcile(e, repair=False)
    assert [f.kind for f in dry.repaired] == ["missed_credit"]
    assert await e.credits(user) == 0  # a dry run changes nothing

    report = await _reconcile(e)
    (repaired,) = report.repaired
    assert (repaired.kind, repaired.amount, repaired.currency) == ("missed_credit", 66885, "usd")
    assert repaired.recharge_id == record.id
    assert report.differences == []
    (record,) = await e.records(user)
    assert record.status == "succeeded"
    assert await e.credits(user) == 1
    assert await e.balance(user) == (60000, 60000)

    # Nothing left to do: the worker finds nothing, a second run finds nothing.
    e.clock.advance(3600)
    assert await e.worker.run_once() == 0
    assert (await _reconcile(e)).empty
    async with e.sessions.begin() as session:
        customer = (await session.get(User, user)).stripe_customer_id  # type: ignore[union-attr]
        runs = (await session.scalars(select(ReconciliationRun))).all()
    assert len(e.payment_intents(str(customer))) == 1
    assert [r.repaired for r in runs] == [1, 0]  # each run stored with its report
    assert runs[0].report is not None
    assert runs[0].report["repaired"][0]["amount"] == "668.85"


async def test_a_recharge_stuck_past_stripes_idempotency_window_is_settled(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    """Two records left ``processing`` by workers that died more than 24 hours ago: one had
    charged (found on Stripe by its metadata, credited), one had not (canceled as expired,
    so a new recharge can open)."""
    e = engine_app
    charged = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
    never = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
    for user in (charged, never):
        await e.give_card(user)
        await e.usage(user, 50, "u1", operator)
    jobs = {job.user_id: job for job in await charging.claim(e.svc)}
    assert e.ctx.gateway is not None
    await charging.charge(e.ctx.gateway, jobs[charged], now=e.clock())  # then the worker died
    e.clock.advance(25 * 3600)

    # A window that no longer holds the PaymentIntent: found by the record's own look-up.
    report = await reconciling.reconcile(e.svc, since=e.clock() - timedelta(hours=1))
    assert sorted((f.kind, f.user_id) for f in report.repaired) == sorted(
        [("stuck_recharge", charged), ("stuck_recharge", never)]
    )
    assert report.differences == []
    assert [r.status for r in await e.records(charged)] == ["succeeded"]
    assert await e.balance(charged) == (60000, 60000)
    (expired,) = await e.records(never)
    assert (expired.status, expired.failure_code) == ("canceled", "expired")
    assert await e.credits(never) == 0


async def test_money_that_matches_no_record_is_reported_with_its_amount(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    """A charge of one of our customers that names no recharge, and one that names a
    recharge it does not belong to: differences with their amounts, anomalies once each."""
    e = engine_app
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
    card = await e.give_card(user)
    async with e.sessions.begin() as session:
        customer = str((await session.get(User, user)).stripe_customer_id)  # type: ignore[union-attr]
    await e.usage(user, 50, "u1", operator)
    await e.worker.run_once()
    (record,) = await e.records(user)
    common = {
        "currency": "usd",
        "customer": customer,
        "payment_method": card,
        "confirm": True,
        "off_session": True,
    }
    stray = e.stripe.v1.payment_intents.create(params={**common, "amount": 4200})
    claiming = e.stripe.v1.payment_intents.create(
        params={**common, "amount": 999, "metadata": {"recharge_id": record.id}}
    )

    for _ in range(2):
        report = await _reconcile(e)
        assert report.repaired == []
        found = {(f.kind, f.reference, f.amount, f.currency) for f in report.differences}
        assert found == {
            ("unmatched_payment", stray.id, 4200, "usd"),
            ("payment_mismatch", claiming.id, 999, "usd"),
        }
        assert {f.user_id for f in report.differences} == {user}
    assert await e.balance(user) == (60000, 60000)
    async with e.sessions.begin() as session:
        anomalies = (await session.scalars(select(PaymentAnomaly))).all()
    assert sorted((a.kind, a.reference, a.amount) for a in anomalies) == sorted(
        [("unmatched_payment", stray.id, 4200), ("payment_mismatch", claiming.id, 999)]
    )
    assert "42.00 USD" in reconciling.table(report)


async def test_the_report_is_empty_after_a_normal_scenario(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str], customer_headers: Any
) -> None:
    """Charges that succeed, decline and wait for the customer, a refund through the API, a
    refund and a dispute won and lost in Stripe (their events delivered): nothing to repair,
    no difference."""
    from balance_manager.usecases import stripe_events

    e = engine_app
    cards = {
        "ok": "pm_card_visa",
        "refunded": "pm_card_visa",
        "declined": "pm_card_chargeCustomerFail",
        "sca": "pm_card_authenticationRequired",
        "won": "pm_card_createDispute",
        "lost": "pm_card_visa",
    }
    users = {}
    for name, card in cards.items():
        users[name] = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
        await e.give_card(users[name], card)
        await e.usage(users[name], 50, "u1", operator)
    await e.worker.run_once()
    (refunded,) = await e.records(users["refunded"])
    response = await e.client.post(
        f"/api/balance/recharge/{users['refunded']}/{refunded.id}/refund",
        json={"amount": 10},
        headers=operator,
    )
    assert response.status_code == 200, response.text
    (lost,) = await e.records(users["lost"])
    opened = await sandbox_post(e.sandbox, "disputes", {"payment_intent": lost.payment_intent_id})
    await sandbox_post(e.sandbox, f"disputes/{opened['id']}/lose")
    (won,) = [d for d in e.stripe.v1.disputes.list().data if d.id != opened["id"]]
    await sandbox_post(e.sandbox, f"disputes/{won.id}/win")
    for event in reversed(e.stripe.v1.events.list(params={"limit": 100}).data):
        await stripe_events.handle(e.svc, event)
    e.clock.advance(e.svc.rules.processing_timeout_seconds + 1)

    report = await _reconcile(e)
    assert report.empty, report.to_json()
    assert report.checked["paymentIntents"] == 6
    assert report.checked["refunds"] == 1
    assert report.checked["disputes"] == 2
    assert [r.status for r in await e.records(users["sca"])] == ["requires_action"]
    assert [r.status for r in await e.records(users["declined"])] == ["failed"]


async def test_the_worker_reconciles_once_per_interval(
    engine_app: Engine, make_user: UserMaker
) -> None:
    """The schedule is the database's: a run stored within the interval (by any worker)
    means no run; past it, the next check runs one."""
    e = engine_app
    worker = e.second_worker(reconcile_interval=86400, reconcile_window=3600)
    first = await worker.reconcile_if_due()
    assert first is not None
    assert first.empty
    assert await e.second_worker(reconcile_interval=86400).reconcile_if_due() is None
    e.clock.advance(86400 + 1)
    assert await worker.reconcile_if_due() is not None
    assert await e.second_worker(reconcile_interval=0).reconcile_if_due() is None


async def test_the_reconcile_command_prints_the_report_and_fails_on_differences(
    engine_app: Engine, make_user: UserMaker, stripe_settings: Any, database_url: str
) -> None:
    import asyncio
    import json
    import os
    import sys

    e = engine_app
    user = await make_user(initial_balance=100)
    card = await e.give_card(user)
    async with e.sessions.begin() as session:
        customer = str((await session.get(User, user)).stripe_customer_id)  # type: ignore[union-attr]
    stray = e.stripe.v1.payment_intents.create(
        params={
            "amount": 4200,
            "currency": "usd",
            "customer": customer,
            "payment_method": card,
            "confirm": True,
            "off_session": True,
        }
    )
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "STRIPE_SECRET_KEY": stripe_settings.stripe_secret_key.get_secret_value(),
        "STRIPE_API_BASE": str(stripe_settings.stripe_api_base),
        "LOG_LEVEL": "error",
    }

    async def cli(*args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "balance_manager",
            "reconcile",
            *args,
            env=environment,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
        return int(process.returncode or 0), out.decode()

    code, out = await cli("--since", "2h", "--json")
    assert code == 1
    report = json.loads(out)
    assert [(d["kind"], d["reference"], d["amount"]) for d in report["differences"]] == [
        ("unmatched_payment", stray.id, "42.00")
    ]
    code, out = await cli("--since", "2h")
    assert code == 1
    assert "1 differences" in out and "42.00 USD" in out and stray.id in out
    code, out = await cli("--since", "yesterday")
    assert code == 1  # a bad --since is refused before anything runs
