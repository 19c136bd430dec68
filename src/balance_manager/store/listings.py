"""The operator's list views across users: users (searchable) and recharge records."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager.domain.states import RechargeStatus
from balance_manager.store.models import BalanceConfig, RechargeRecord, User
from balance_manager.store.paging import Page, paginate


async def users_page(
    session: AsyncSession, *, query: str | None, page: int, limit: int
) -> Page[tuple[User, BalanceConfig | None]]:
    """Users with their configs, newest first. ``query`` matches an id exactly or by prefix,
    or any part of an email (case-insensitive: emails are stored in lower case)."""
    statement = (
        select(User, BalanceConfig)
        .outerjoin(BalanceConfig, BalanceConfig.user_id == User.id)
        .order_by(User.created_at.desc(), User.id.desc())
    )
    if query:
        statement = statement.where(
            or_(
                User.id.startswith(query, autoescape=True),
                User.email.contains(query.lower(), autoescape=True),
            )
        )
    total = await session.scalar(
        select(func.count()).select_from(statement.order_by(None).subquery())
    )
    rows = await session.execute(statement.offset((page - 1) * limit).limit(limit))
    return Page([(u, c) for u, c in rows], int(total or 0), page, limit)


async def recharges_page(
    session: AsyncSession,
    *,
    user_id: str | None,
    status: RechargeStatus | None,
    page: int,
    limit: int,
) -> Page[RechargeRecord]:
    """Recharge records of every user (or one), newest first, optionally of one status."""
    statement = select(RechargeRecord).order_by(
        RechargeRecord.created_at.desc(), RechargeRecord.id.desc()
    )
    if user_id is not None:
        statement = statement.where(RechargeRecord.user_id == user_id)
    if status is not None:
        statement = statement.where(RechargeRecord.status == status)
    return await paginate(session, statement, page=page, limit=limit)
