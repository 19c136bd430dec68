"""The balance status and recharge history views, shaped like the original's."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager import money, policy
from balance_manager.accounts import service as accounts
from balance_manager.recharge import service
from balance_manager.store.models import BalanceConfig, RechargeRecord, User, utcnow
from balance_manager.store.paging import Page, paginate


@dataclass(frozen=True, slots=True)
class BalanceStatus:
    user: User
    config: BalanceConfig
    currency: money.Currency
    needs_recharge: bool
    calculation: policy.RechargeCalculation | None
    blocked_reason: policy.BlockedReason | None
    in_flight: RechargeRecord | None

    @property
    def can_recharge(self) -> bool:
        return self.blocked_reason is None


async def balance_status(
    session: AsyncSession, user_id: str, *, fee_rule: policy.FeeRule
) -> BalanceStatus:
    user, config = await accounts.get_config(session, user_id)
    now = utcnow()
    in_flight = await service.in_flight_record(session, user_id)
    below = policy.needs_recharge(user.balance, config.minimum_balance)
    calculation = (
        policy.calculate_recharge(
            balance=user.balance,
            target=config.target_balance,
            max_amount=config.max_recharge_amount,
            fee_rule=fee_rule,
        )
        if below
        else None
    )
    return BalanceStatus(
        user=user,
        config=config,
        currency=money.currency(user.currency),
        needs_recharge=below,
        calculation=calculation,
        blocked_reason=policy.recharge_blocked_reason(
            has_payment_method=config.default_payment_method_id is not None,
            paused=config.paused_reason is not None,
            in_flight=in_flight is not None,
            daily_limit_reached=await service.charged_today(session, user_id, now=now)
            >= config.max_daily_recharges,
            backing_off=await service.backing_off(session, user_id, now=now),
        ),
        in_flight=in_flight,
    )


async def recharge_history(
    session: AsyncSession, user_id: str, *, page: int, limit: int
) -> tuple[money.Currency, Page[RechargeRecord]]:
    """The user's currency and one page of recharge records, newest first."""
    user = await accounts.get_user(session, user_id)
    query = (
        select(RechargeRecord)
        .where(RechargeRecord.user_id == user_id)
        .order_by(RechargeRecord.created_at.desc(), RechargeRecord.id.desc())
    )
    return money.currency(user.currency), await paginate(session, query, page=page, limit=limit)
