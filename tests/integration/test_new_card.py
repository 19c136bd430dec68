"""A new default card is a new chance (``settlement.new_default_card``), written by
``cards.set_default_in`` on both databases: declines forgotten, pause lifted, the backoff of
every failed recharge of that user (and no one else's) cut to now, and — below the minimum —
the recharge opened in the same transaction with trigger ``card``. The same card again, or no
card, changes none of it.

The clock is fixed: nothing here can pass because a backoff ran out by itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.domain.states import RechargeStatus, TriggeredBy, TriggerSource
from balance_manager.runtime.compose import build_services
from balance_manager.settings import Settings
from balance_manager.store.models import BalanceConfig, RechargeRecord
from balance_manager.usecases import cards
from balance_manager.usecases.services import Services
from tests.integration import debits
from tests.integration.debits import State

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
DECLINING = "pm_card_visa"  # what debits.create saves as every user's card


@pytest.fixture
async def svc(stripe_settings: Settings, engine: AsyncEngine) -> AsyncIterator[Services]:
    """The use cases' services with Stripe configured (nothing here calls it) and a clock
    that does not move."""
    services = build_services(stripe_settings, engine=engine)
    services.clock = lambda: NOW
    yield services
    await services.aclose(dispose_engine=False)


async def _declined(svc: Services, user: str, *, retry_in: list[int]) -> None:
    """Failed recharges whose backoff ends ``retry_in`` seconds from now (negative: over)."""
    async with svc.sessions.begin() as session:
        for n, seconds in enumerate(retry_in):
            session.add(
                RechargeRecord(
                    id=f"rec_{user}_{n}",
                    user_id=user,
                    amount=45000,
                    fee=1305,
                    total_charge=46305,
                    currency="usd",
                    status=RechargeStatus.FAILED,
                    triggered_by=TriggeredBy.AUTO,
                    trigger_detail=TriggerSource.USAGE,
                    failure_code="generic_decline",
                    next_attempt_at=NOW + timedelta(seconds=seconds),
                    created_at=NOW - timedelta(hours=1),
                    updated_at=NOW - timedelta(hours=1),
                    completed_at=NOW - timedelta(hours=1),
                )
            )
        await session.execute(
            update(BalanceConfig)
            .where(BalanceConfig.user_id == user)
            .values(consecutive_failures=len(retry_in))
        )


async def _state(svc: Services, user: str) -> dict[str, Any]:
    async with svc.sessions.begin() as session:
        config = await session.get(BalanceConfig, user)
        records = (
            await session.scalars(
                select(RechargeRecord)
                .where(RechargeRecord.user_id == user)
                .order_by(RechargeRecord.created_at, RechargeRecord.id)
            )
        ).all()
        assert config is not None
        return {
            "card": config.default_payment_method_id,
            "failures": (config.consecutive_failures, config.paused_reason),
            "retry_at": [
                r.next_attempt_at.replace(tzinfo=UTC) if r.next_attempt_at else None
                for r in records
                if r.status is RechargeStatus.FAILED
            ],
            "opened": [
                (r.status, r.triggered_by, r.trigger_detail, r.amount, r.fee)
                for r in records
                if r.status is not RechargeStatus.FAILED
            ],
        }


async def _set(svc: Services, user: str, card: str | None) -> bool:
    async with svc.sessions.begin() as session:
        return await cards.set_default_in(svc, session, user, card, "visa")


async def test_a_new_card_ends_the_backoff_lifts_the_pause_and_opens_the_recharge(
    svc: Services,
) -> None:
    # Below the minimum of 150.00, paused after three declines, the last backing off 20 min;
    # a neighbour in the same situation must be left as it is.
    user, neighbour = await debits.create(
        svc.engine, [State(10000, paused=True), State(10000, paused=True)], now=NOW
    )
    for who in (user, neighbour):
        await _declined(svc, who, retry_in=[-600, 300, 1200])
    neighbour_before = await _state(svc, neighbour)

    assert await _set(svc, user, "pm_new") is True
    after = await _state(svc, user)
    assert after == {
        "card": "pm_new",
        "failures": (0, None),
        # The ended backoff keeps its time; the running ones end now.
        "retry_at": [NOW - timedelta(seconds=600), NOW, NOW],
        # 100.00 → target 250.00: 150.00 + 4.35 fee, opened by the card itself.
        "opened": [(RechargeStatus.PENDING, TriggeredBy.AUTO, TriggerSource.CARD, 15000, 435)],
    }
    assert await _state(svc, neighbour) == neighbour_before


async def test_the_same_card_or_no_card_is_no_new_chance(svc: Services) -> None:
    (user,) = await debits.create(svc.engine, [State(10000, paused=True)], now=NOW)
    await _declined(svc, user, retry_in=[1200])
    before = await _state(svc, user)

    assert await _set(svc, user, DECLINING) is False
    assert await _state(svc, user) == before

    assert await _set(svc, user, None) is True  # the card is gone: nothing to charge
    assert await _state(svc, user) == {**before, "card": None}


async def test_above_the_minimum_a_new_card_clears_the_failures_and_opens_nothing(
    svc: Services,
) -> None:
    (user,) = await debits.create(svc.engine, [State(20000)], now=NOW)
    await _declined(svc, user, retry_in=[300])
    assert await _set(svc, user, "pm_new") is True
    assert await _state(svc, user) == {
        "card": "pm_new",
        "failures": (0, None),
        "retry_at": [NOW],
        "opened": [],
    }
