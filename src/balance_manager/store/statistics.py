"""Aggregates for the operator's statistics: a constant number of grouped statements each,
whatever the number of users or records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, Table, case, exists, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from balance_manager.domain.states import RechargeStatus
from balance_manager.store.models import BalanceConfig, RechargeRecord, User

_USERS = cast(Table, User.__table__)
_CONFIGS = cast(Table, BalanceConfig.__table__)
_RECORDS = cast(Table, RechargeRecord.__table__)


@dataclass(frozen=True, slots=True)
class RechargeGroup:
    currency: str
    status: str
    triggered_by: str
    count: int
    amount: int
    fee: int
    total_charge: int


async def recharge_groups(
    conn: AsyncConnection, *, start: datetime, end: datetime
) -> list[RechargeGroup]:
    """Records opened in ``[start, end)`` by currency, status and trigger, with their sums."""
    c = _RECORDS.c
    rows = await conn.execute(
        select(
            c.currency,
            c.status,
            c.triggered_by,
            func.count().label("n"),
            func.coalesce(func.sum(c.amount), 0).label("amount"),
            func.coalesce(func.sum(c.fee), 0).label("fee"),
            func.coalesce(func.sum(c.total_charge), 0).label("total"),
        )
        .where(c.created_at >= start, c.created_at < end)
        .group_by(c.currency, c.status, c.triggered_by)
    )
    return [
        RechargeGroup(r.currency, str(r.status), str(r.triggered_by), r.n, r.amount, r.fee, r.total)
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class BalanceBucket:
    currency: str
    bucket: int  # index into the caller's edges: 0 = below edges[0], i = [edges[i-1], edges[i])
    count: int
    total: int


async def balance_buckets(
    conn: AsyncConnection, edges_by_currency: Mapping[str, Sequence[int]]
) -> list[BalanceBucket]:
    """Users per balance bucket and currency; ``edges`` are ascending minor-unit bounds."""
    found: list[BalanceBucket] = []
    for currency, edges in sorted(edges_by_currency.items()):
        balance = _USERS.c.balance
        # Integers written into the statement (they are ours, never input), so that the
        # grouped expression is the same text in SELECT and GROUP BY.
        bucket = case(
            *(
                (balance < literal_column(str(int(edge))), literal_column(str(i)))
                for i, edge in enumerate(edges)
            ),
            else_=literal_column(str(len(edges))),
        )
        rows = await conn.execute(
            select(
                bucket.label("bucket"),
                func.count().label("n"),
                func.sum(balance).label("total"),
            )
            .where(_USERS.c.currency == currency)
            .group_by(bucket)
        )
        found.extend(BalanceBucket(currency, r.bucket, r.n, int(r.total or 0)) for r in rows)
    return found


async def currencies(conn: AsyncConnection) -> list[str]:
    return sorted((await conn.execute(select(_USERS.c.currency).distinct())).scalars())


@dataclass(frozen=True, slots=True)
class UserCounts:
    total: int
    below_minimum: int
    negative_balance: int
    auto_recharge_off: int
    paused: int
    requires_action: int
    recharge_in_flight: int
    with_card: int


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def user_counts(conn: AsyncConnection) -> UserCounts:
    mine = _RECORDS.c.user_id == _USERS.c.id
    waiting = exists().where(mine, _RECORDS.c.status == str(RechargeStatus.REQUIRES_ACTION))
    in_flight = exists().where(
        mine,
        _RECORDS.c.status.in_([str(RechargeStatus.PENDING), str(RechargeStatus.PROCESSING)]),
    )
    row = (
        await conn.execute(
            select(
                func.count().label("total"),
                _count_if(_USERS.c.below_minimum.is_(True)).label("below_minimum"),
                _count_if(_USERS.c.balance < 0).label("negative_balance"),
                _count_if(_CONFIGS.c.auto_recharge_enabled.is_(False)).label("auto_off"),
                _count_if(_CONFIGS.c.paused_reason.is_not(None)).label("paused"),
                _count_if(waiting).label("requires_action"),
                _count_if(in_flight).label("in_flight"),
                _count_if(_CONFIGS.c.default_payment_method_id.is_not(None)).label("with_card"),
            ).select_from(_USERS.outerjoin(_CONFIGS, _CONFIGS.c.user_id == _USERS.c.id))
        )
    ).one()
    return UserCounts(
        total=int(row.total),
        below_minimum=int(row.below_minimum),
        negative_balance=int(row.negative_balance),
        auto_recharge_off=int(row.auto_off),
        paused=int(row.paused),
        requires_action=int(row.requires_action),
        recharge_in_flight=int(row.in_flight),
        with_card=int(row.with_card),
    )
