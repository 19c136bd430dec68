"""Read-only aggregate SQL over the tables: a constant number of grouped statements per call,
whatever the number of users or records.

Two readers use them. The metrics, readiness and ``status`` run theirs at scrape time, so
every process reports the same numbers (``users``, ``card_brands``, ``records_by_status``,
``charged``, ``queue``, ``outbox``, ``balances``): the queue and outbox reads use their
indexes (``status, next_attempt_at``; ``delivered_at, …``), the others scan their table, which
a scrape every 15–60 s affords. The operator's statistics (``user_counts``,
``recharge_groups``, ``balance_buckets``) are asked for by a person, and may look further
(``EXISTS`` per user). ``currencies`` serves both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    case,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from balance_manager.domain.states import RechargeStatus
from balance_manager.store import webhooks
from balance_manager.store.models import BalanceConfig, RechargeRecord, StripeEvent, User

_USERS = cast(Table, User.__table__)
_CONFIGS = cast(Table, BalanceConfig.__table__)
_RECORDS = cast(Table, RechargeRecord.__table__)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _utc(value: object) -> datetime | None:
    """A MIN() over a timestamp column: SQLite returns its text (the column type is lost in
    the aggregate of a CASE)."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def currencies(conn: AsyncConnection) -> list[str]:
    """The currencies users hold balances in, sorted."""
    rows = await conn.execute(select(_USERS.c.currency).distinct().order_by(_USERS.c.currency))
    return [str(c) for (c,) in rows]


# --------------------------------------------------------------------- users


@dataclass(frozen=True, slots=True)
class Users:
    """The scrape's user gauges (one pass over users and their configs)."""

    total: int
    below_minimum: int
    paused: int
    auto_enabled: int
    with_card: int


async def users(conn: AsyncConnection) -> Users:
    row = (
        await conn.execute(
            select(
                func.count(),
                _count_if(_USERS.c.below_minimum.is_(True)),
                _count_if(_CONFIGS.c.paused_reason.is_not(None)),
                _count_if(_CONFIGS.c.auto_recharge_enabled.is_(True)),
                _count_if(_CONFIGS.c.default_payment_method_id.is_not(None)),
            ).select_from(_USERS.outerjoin(_CONFIGS, _CONFIGS.c.user_id == _USERS.c.id))
        )
    ).one()
    return Users(*(int(v or 0) for v in row))


@dataclass(frozen=True, slots=True)
class UserCounts:
    """The operator's statistics about users: also who waits for authentication or has a
    recharge in flight (an ``EXISTS`` per user)."""

    total: int
    below_minimum: int
    negative_balance: int
    auto_recharge_off: int
    paused: int
    requires_action: int
    recharge_in_flight: int
    with_card: int


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


async def card_brands(conn: AsyncConnection) -> dict[str, int]:
    """Users with a default card, by its brand (``unknown`` when never read from Stripe)."""
    brand = func.coalesce(_CONFIGS.c.default_card_brand, literal("unknown"))
    rows = await conn.execute(
        select(brand, func.count())
        .where(_CONFIGS.c.default_payment_method_id.is_not(None))
        .group_by(brand)
    )
    return {str(b): int(n) for b, n in rows}


# --------------------------------------------------------------------- balances


@dataclass(frozen=True, slots=True)
class Balances:
    currency: str
    count: int
    total: int  # minor units
    at_or_below: list[int]  # users with balance <= each bound, in the bounds' order


async def balances(conn: AsyncConnection, currency: str, bounds: Sequence[int]) -> Balances:
    """The balance distribution of one currency's users as a Prometheus histogram wants it:
    cumulative counts at ``bounds`` (minor units, ascending, ``<=``), the count and the sum."""
    row = (
        await conn.execute(
            select(
                func.count(),
                func.coalesce(func.sum(_USERS.c.balance), 0),
                *(_count_if(_USERS.c.balance <= bound) for bound in bounds),
            ).where(_USERS.c.currency == currency)
        )
    ).one()
    return Balances(currency, int(row[0]), int(row[1]), [int(v) for v in row[2:]])


@dataclass(frozen=True, slots=True)
class BalanceBucket:
    currency: str
    bucket: int  # index into the caller's edges: 0 = below edges[0], i = [edges[i-1], edges[i])
    count: int
    total: int


async def balance_buckets(
    conn: AsyncConnection, edges_by_currency: Mapping[str, Sequence[int]]
) -> list[BalanceBucket]:
    """Users per balance bucket and currency, as the operator's statistics show them (each
    bucket on its own, with its sum); ``edges`` are ascending minor-unit bounds."""
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


# --------------------------------------------------------------------- recharges


async def records_by_status(conn: AsyncConnection) -> dict[tuple[str, str], int]:
    """Recharge records by (status, trigger)."""
    rows = await conn.execute(
        select(_RECORDS.c.status, _RECORDS.c.trigger_detail, func.count()).group_by(
            _RECORDS.c.status, _RECORDS.c.trigger_detail
        )
    )
    return {(str(s), str(t)): int(n) for s, t, n in rows}


@dataclass(frozen=True, slots=True)
class Charged:
    currency: str
    count: int
    amount: int  # credited to balances, minor units
    fee: int
    total: int  # charged to cards


async def charged(conn: AsyncConnection) -> list[Charged]:
    """Succeeded recharges per currency: count, amounts, fees and totals (minor units)."""
    rows = await conn.execute(
        select(
            _RECORDS.c.currency,
            func.count(),
            func.sum(_RECORDS.c.amount),
            func.sum(_RECORDS.c.fee),
            func.sum(_RECORDS.c.total_charge),
        )
        .where(_RECORDS.c.status == str(RechargeStatus.SUCCEEDED))
        .group_by(_RECORDS.c.currency)
    )
    return [
        Charged(str(c), int(n), int(a or 0), int(f or 0), int(t or 0)) for c, n, a, f, t in rows
    ]


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
class Queue:
    pending: int
    due: int
    oldest_pending_at: datetime | None  # created_at of the oldest pending record
    oldest_due_at: datetime | None  # since when the longest-waiting due record has been due
    processing: int


async def queue(conn: AsyncConnection, *, now: datetime) -> Queue:
    pending = _RECORDS.c.status == str(RechargeStatus.PENDING)
    due = and_(
        pending, or_(_RECORDS.c.next_attempt_at.is_(None), _RECORDS.c.next_attempt_at <= now)
    )
    row = (
        await conn.execute(
            select(
                _count_if(pending),
                _count_if(due),
                func.min(case((pending, _RECORDS.c.created_at))),
                func.min(
                    case((due, func.coalesce(_RECORDS.c.next_attempt_at, _RECORDS.c.created_at)))
                ),
                _count_if(_RECORDS.c.status == str(RechargeStatus.PROCESSING)),
            ).where(
                _RECORDS.c.status.in_([str(RechargeStatus.PENDING), str(RechargeStatus.PROCESSING)])
            )
        )
    ).one()
    return Queue(
        pending=int(row[0] or 0),
        due=int(row[1] or 0),
        oldest_pending_at=_utc(row[2]),
        oldest_due_at=_utc(row[3]),
        processing=int(row[4] or 0),
    )


# --------------------------------------------------------------------- outbox


@dataclass(frozen=True, slots=True)
class Outbox:
    backlog: int
    oldest_at: datetime | None


async def outbox(conn: AsyncConnection) -> Outbox:
    """Events not delivered yet: not fanned out to the endpoints, or deliveries pending."""
    pending = await webhooks.backlog(conn)
    return Outbox(
        pending.undispatched_events + pending.pending_deliveries, pending.oldest_pending_at
    )


# --------------------------------------------------------------------- Stripe events


@dataclass(frozen=True, slots=True)
class LastStripeEvent:
    api_version: str
    received_at: datetime


async def last_stripe_event(conn: AsyncConnection) -> LastStripeEvent | None:
    """The newest Stripe event that names its API version (``ix_stripe_events_received_at``
    read backwards: one row)."""
    row = (
        await conn.execute(
            select(StripeEvent.api_version, StripeEvent.received_at)
            .where(StripeEvent.api_version.is_not(None))
            .order_by(StripeEvent.received_at.desc())
            .limit(1)
        )
    ).first()
    if row is None or row.api_version is None:
        return None
    received = _utc(row.received_at)
    assert received is not None
    return LastStripeEvent(row.api_version, received)
