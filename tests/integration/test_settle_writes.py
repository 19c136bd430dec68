"""Settling writes exactly what ``domain.settlement`` says, and nothing when it says nothing
(``usecases.charging.settle_in`` on both databases, with Stripe's answers given).

The transitions themselves are tested in ``tests/unit/test_settlement.py``; here: the row
changes (record, config, ledger, outbox, anomalies), a repeat that writes nothing more, a
PaymentIntent that is not the record's leaving the record's row untouched, and an unknown
record."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update

from balance_manager.domain.charges import ChargeOutcome, ChargeResult
from balance_manager.domain.policy import FeeRule, RechargeRules
from balance_manager.domain.settlement import Settled
from balance_manager.domain.states import RechargeStatus, TriggeredBy, TriggerSource
from balance_manager.store.db import SessionFactory
from balance_manager.store.models import (
    BalanceConfig,
    LedgerEntry,
    OutboxEvent,
    PaymentAnomaly,
    RechargeRecord,
    User,
    utcnow,
)
from balance_manager.usecases import charging
from tests.integration import debits
from tests.integration.debits import State

RULES = RechargeRules(FeeRule(Decimal("0.029")), max_consecutive_failures=2, backoff_seconds=60)


async def _record(sessions: SessionFactory, *, now: datetime) -> tuple[str, str]:
    """A user at -50.00 (minimum 150.00) with a processing recharge of 650.00 + 18.85."""
    bind = sessions.kw["bind"]  # the test's engine
    (user,) = await debits.create(bind, [State(-5000)], now=now)
    async with sessions.begin() as session:
        await session.execute(
            update(User).where(User.id == user).values(stripe_customer_id=f"cus_{user}")
        )
        session.add(
            RechargeRecord(
                id=f"rec_{user}",
                user_id=user,
                amount=65000,
                fee=1885,
                total_charge=66885,
                currency="usd",
                status=RechargeStatus.PROCESSING,
                triggered_by=TriggeredBy.AUTO,
                trigger_detail=TriggerSource.USAGE,
                attempt_count=1,
                created_at=now,
                updated_at=now,
            )
        )
    return user, f"rec_{user}"


def _answer(user: str, outcome: ChargeOutcome, **fields: Any) -> ChargeResult:
    base: dict[str, Any] = {
        "payment_intent_id": f"pi_{user}",
        "customer_id": f"cus_{user}",
        "amount": 66885,
        "currency": "usd",
    }
    return ChargeResult(outcome, **{**base, **fields})


async def _settle(
    sessions: SessionFactory, record_id: str, answer: ChargeResult, now: datetime
) -> Settled:
    async with sessions.begin() as session:
        return await charging.settle_in(session, record_id, answer, rules=RULES, now=now)


async def _rows(sessions: SessionFactory, user: str) -> dict[str, Any]:
    async with sessions.begin() as session:
        record = await session.scalar(select(RechargeRecord).where(RechargeRecord.user_id == user))
        config = await session.get(BalanceConfig, user)
        found = await session.get(User, user)
        assert record is not None and config is not None and found is not None
        entries = (
            await session.execute(
                select(LedgerEntry.kind, LedgerEntry.amount, LedgerEntry.reference).where(
                    LedgerEntry.user_id == user
                )
            )
        ).all()
        events = (
            await session.execute(
                select(OutboxEvent.type, OutboxEvent.payload)
                .where(OutboxEvent.user_id == user)
                .order_by(OutboxEvent.id)
            )
        ).all()
        anomalies = await session.scalar(select(func.count()).select_from(PaymentAnomaly))
    return {
        "record": (
            record.status,
            record.payment_intent_id,
            record.failure_code,
            record.next_attempt_at,
            record.completed_at,
            record.updated_at,
        ),
        "config": (config.consecutive_failures, config.paused_reason, config.paused_at),
        "balance": found.balance,
        "entries": [tuple(e) for e in entries],
        "events": [(e.type, e.payload) for e in events],
        "anomalies": anomalies,
    }


async def test_a_credit_writes_the_record_the_ledger_and_the_event_once(
    sessions: SessionFactory,
) -> None:
    opened = utcnow()
    user, record_id = await _record(sessions, now=opened)
    now = opened + timedelta(seconds=5)
    succeeded = _answer(user, ChargeOutcome.SUCCEEDED)
    assert await _settle(sessions, record_id, succeeded, now) is Settled.CREDITED
    rows = await _rows(sessions, user)
    assert rows["record"] == (RechargeStatus.SUCCEEDED, f"pi_{user}", None, None, now, now)
    assert rows["balance"] == 60000
    assert rows["entries"] == [("recharge", 65000, f"pi_{user}")]
    ((kind, payload),) = rows["events"]
    assert kind == "recharge.succeeded"
    assert (payload["status"], payload["balanceMinor"], payload["paymentIntentId"]) == (
        "succeeded",
        60000,
        f"pi_{user}",
    )
    # Again (a webhook after the worker): only the record's stamp moves.
    later = now + timedelta(seconds=5)
    assert await _settle(sessions, record_id, succeeded, later) is Settled.ALREADY_SUCCEEDED
    again = await _rows(sessions, user)
    assert again == {**rows, "record": (*rows["record"][:-1], later)}


async def test_declines_back_off_and_pause_in_the_users_config(sessions: SessionFactory) -> None:
    opened = utcnow()
    user, record_id = await _record(sessions, now=opened)
    now = opened + timedelta(seconds=5)
    declined = _answer(user, ChargeOutcome.DECLINED, failure_code="card_declined")
    assert await _settle(sessions, record_id, declined, now) is Settled.FAILED
    rows = await _rows(sessions, user)
    assert rows["record"] == (
        RechargeStatus.FAILED,
        f"pi_{user}",
        "card_declined",
        now + timedelta(seconds=60),
        now,
        now,
    )
    assert rows["config"] == (1, None, None)
    assert [kind for kind, _ in rows["events"]] == ["recharge.failed"]

    # A second recharge, declined too: the second in a row pauses (max_consecutive_failures=2).
    async with sessions.begin() as session:
        session.add(
            RechargeRecord(
                id=f"rec2_{user}",
                user_id=user,
                amount=65000,
                fee=1885,
                total_charge=66885,
                currency="usd",
                status=RechargeStatus.PROCESSING,
                triggered_by=TriggeredBy.AUTO,
                trigger_detail=TriggerSource.SWEEP,
                attempt_count=1,
            )
        )
    second = _answer(user, ChargeOutcome.DECLINED, payment_intent_id=f"pi2_{user}")
    assert await _settle(sessions, f"rec2_{user}", second, now) is Settled.FAILED_PAUSED
    async with sessions.begin() as session:
        config = await session.get(BalanceConfig, user)
        assert config is not None
        assert (config.consecutive_failures, config.paused_at) == (2, now)
        assert config.paused_reason == "2 consecutive failed recharges (last: card_declined)"
        kinds = (
            await session.scalars(
                select(OutboxEvent.type).where(OutboxEvent.user_id == user).order_by(OutboxEvent.id)
            )
        ).all()
    assert kinds == ["recharge.failed", "recharge.failed", "auto_recharge.paused"]


async def test_a_payment_intent_that_is_not_the_records_writes_nothing_to_it(
    sessions: SessionFactory,
) -> None:
    opened = utcnow()
    user, record_id = await _record(sessions, now=opened)
    before = await _rows(sessions, user)
    now = opened + timedelta(seconds=5)
    foreign = _answer(user, ChargeOutcome.DECLINED, customer_id="cus_someone_else")
    assert await _settle(sessions, record_id, foreign, now) is Settled.PAYMENT_INTENT_MISMATCH
    assert await _rows(sessions, user) == before  # not even the record's stamp
    took_money = _answer(user, ChargeOutcome.SUCCEEDED, amount=100)
    assert await _settle(sessions, record_id, took_money, now) is Settled.ANOMALY
    after = await _rows(sessions, user)
    assert {k: v for k, v in after.items() if k not in {"events", "anomalies"}} == {
        k: v for k, v in before.items() if k not in {"events", "anomalies"}
    }
    assert after["anomalies"] == 1
    assert [kind for kind, _ in after["events"]] == ["payment.anomaly"]


async def test_an_unknown_record(sessions: SessionFactory) -> None:
    answer = ChargeResult(ChargeOutcome.SUCCEEDED, payment_intent_id="pi_x", amount=1)
    assert await _settle(sessions, "rec_nobody", answer, utcnow()) is Settled.UNKNOWN_RECORD
