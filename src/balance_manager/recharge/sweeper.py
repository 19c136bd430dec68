"""Trigger (2), the safety net: every RECHARGE_CHECK_INTERVAL, find the users who need a
recharge and have none in flight — in one indexed query — and open one for each."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager.recharge import service
from balance_manager.store.db import SessionFactory
from balance_manager.store.models import (
    IN_FLIGHT_STATUSES,
    BalanceConfig,
    RechargeRecord,
    RechargeStatus,
    User,
)


async def candidates(session: AsyncSession, *, now: datetime, limit: int = 1000) -> list[str]:
    in_flight = exists().where(
        RechargeRecord.user_id == User.id,
        RechargeRecord.status.in_([str(s) for s in IN_FLIGHT_STATUSES]),
    )
    backing_off = exists().where(
        RechargeRecord.user_id == User.id,
        RechargeRecord.status == RechargeStatus.FAILED,
        RechargeRecord.next_attempt_at > now,
    )
    rows = await session.scalars(
        select(User.id)
        .join(BalanceConfig, BalanceConfig.user_id == User.id)
        .where(
            User.balance < BalanceConfig.minimum_balance,
            BalanceConfig.auto_recharge_enabled.is_(True),
            BalanceConfig.paused_reason.is_(None),
            BalanceConfig.default_payment_method_id.is_not(None),
            ~in_flight,
            ~backing_off,
        )
        .order_by(User.id)
        .limit(limit)
    )
    return list(rows.all())


async def sweep(sessions: SessionFactory, *, rules: service.EngineRules, now: datetime) -> int:
    """Open the recharges the sweep finds; returns how many were opened."""
    async with sessions.begin() as session:
        user_ids = await candidates(session, now=now)
    opened = 0
    for user_id in user_ids:
        # One short transaction per user: the open re-checks everything under the user's lock.
        async with sessions.begin() as session:
            outcome = await service.open_automatic(
                session, user_id, rules=rules, trigger_detail="sweep", now=now
            )
            opened += isinstance(outcome, RechargeRecord)
    return opened
