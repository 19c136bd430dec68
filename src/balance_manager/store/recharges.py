"""Recharge records in SQL: what the decision reads, opening, claiming, history, sweep.

Never commits: the use case owns the transaction. Reads that feed :func:`policy.decide` are
only authoritative under the users' row locks, which the caller takes first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, and_, exists, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from balance_manager.domain import ids, policy
from balance_manager.domain.states import IN_FLIGHT, RechargeStatus, TriggeredBy, TriggerSource
from balance_manager.store.models import BalanceConfig, RechargeRecord, User
from balance_manager.store.paging import Page, paginate
from balance_manager.store.sql import is_postgres, one_of

_USERS = cast(Table, User.__table__)
_CONFIGS = cast(Table, BalanceConfig.__table__)
_RECORDS = cast(Table, RechargeRecord.__table__)
_IN_FLIGHT = [str(s) for s in IN_FLIGHT]
# What maxDailyRecharges counts: charged or possibly about to be, and failed manual attempts.
_COUNTED = [*_IN_FLIGHT, str(RechargeStatus.SUCCEEDED)]


def day_start(now: datetime) -> datetime:
    """The start of ``now``'s day (UTC): the window maxDailyRecharges counts in."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Account:
    """A user's recharge-relevant state: the decision's input plus what a record needs."""

    user_id: str
    currency: str
    payment_method_id: str | None
    state: policy.AccountState


async def accounts(
    conn: AsyncConnection, user_ids: Sequence[str], *, now: datetime
) -> dict[str, Account]:
    """The recharge state of many users in one statement (the caller holds their locks)."""
    if not user_ids:
        return {}
    mine = _RECORDS.c.user_id == _USERS.c.id
    in_flight = exists().where(mine, _RECORDS.c.status.in_(_IN_FLIGHT))
    backoff_until = (
        select(func.max(_RECORDS.c.next_attempt_at))
        .where(mine, _RECORDS.c.status == str(RechargeStatus.FAILED))
        .scalar_subquery()
    )
    attempts_today = (
        select(func.count())
        .select_from(_RECORDS)
        .where(
            mine,
            _RECORDS.c.created_at >= day_start(now),
            or_(
                _RECORDS.c.status.in_(_COUNTED),
                and_(
                    _RECORDS.c.status == str(RechargeStatus.FAILED),
                    _RECORDS.c.triggered_by == str(TriggeredBy.MANUAL),
                ),
            ),
        )
        .scalar_subquery()
    )
    rows = await conn.execute(
        select(
            _USERS.c.id,
            _USERS.c.balance,
            _USERS.c.currency,
            _CONFIGS.c.minimum_balance,
            _CONFIGS.c.target_balance,
            _CONFIGS.c.max_recharge_amount,
            _CONFIGS.c.max_daily_recharges,
            _CONFIGS.c.auto_recharge_enabled,
            _CONFIGS.c.paused_reason,
            _CONFIGS.c.default_payment_method_id,
            in_flight.label("in_flight"),
            backoff_until.label("backoff_until"),
            attempts_today.label("attempts_today"),
        )
        .select_from(_USERS.join(_CONFIGS, _CONFIGS.c.user_id == _USERS.c.id))
        .where(one_of(conn, _USERS.c.id, user_ids))
    )
    found = {}
    for r in rows:
        backoff = r.backoff_until
        if backoff is not None and backoff.tzinfo is None:  # SQLite keeps no offset
            backoff = backoff.replace(tzinfo=UTC)
        found[r.id] = Account(
            user_id=r.id,
            currency=r.currency,
            payment_method_id=r.default_payment_method_id,
            state=policy.AccountState(
                balance=r.balance,
                minimum=r.minimum_balance,
                target=r.target_balance,
                max_amount=r.max_recharge_amount,
                currency=r.currency,
                max_daily=r.max_daily_recharges,
                auto_enabled=bool(r.auto_recharge_enabled),
                paused=r.paused_reason is not None,
                has_payment_method=r.default_payment_method_id is not None,
                in_flight=bool(r.in_flight),
                backoff_until=backoff,
                attempts_today=int(r.attempts_today or 0),
            ),
        )
    return found


@dataclass(frozen=True, slots=True)
class Opening:
    account: Account
    calculation: policy.RechargeCalculation
    triggered_by: TriggeredBy
    source: TriggerSource


async def open_records(
    conn: AsyncConnection,
    openings: Sequence[Opening],
    *,
    now: datetime,
    status: RechargeStatus = RechargeStatus.PENDING,
    trace_parent: str | None = None,
) -> list[str]:
    """Insert records (amount and fee fixed now), ``pending`` for the workers or already
    ``processing`` (claimed) for the caller to charge; returns their ids in order. The
    partial unique index still refuses a second in-flight record for a user.
    ``trace_parent`` is the opening span's W3C traceparent (tracing on)."""
    if not openings:
        return []
    rows = [
        {
            "id": ids.new_id(),
            "user_id": o.account.user_id,
            "amount": o.calculation.recharge_amount,
            "fee": o.calculation.fee,
            "total_charge": o.calculation.total_charge,
            "currency": o.account.currency,
            "status": status,
            "triggered_by": o.triggered_by,
            "trigger_detail": o.source,
            "capped": o.calculation.capped,
            "payment_method_id": o.account.payment_method_id,
            "attempt_count": 0 if status is RechargeStatus.PENDING else 1,
            "created_at": now,
            "updated_at": now,
            "trace_parent": trace_parent,
        }
        for o in openings
    ]
    if is_postgres(conn):
        # One statement over arrays (a sweep opens thousands at once): a dozen parameters,
        # not fifteen a row for SQLAlchemy to render into a VALUES list.
        await conn.execute(
            _OPEN_RECORDS_PG,
            {
                "ids": [r["id"] for r in rows],
                "user_ids": [r["user_id"] for r in rows],
                "amounts": [r["amount"] for r in rows],
                "fees": [r["fee"] for r in rows],
                "totals": [r["total_charge"] for r in rows],
                "currencies": [r["currency"] for r in rows],
                "triggered_by": [str(r["triggered_by"]) for r in rows],
                "capped": [r["capped"] for r in rows],
                "payment_methods": [r["payment_method_id"] for r in rows],
                "status": str(status),
                "details": [str(r["trigger_detail"]) for r in rows],
                "attempts": 0 if status is RechargeStatus.PENDING else 1,
                "now": now,
                "trace_parent": trace_parent,
            },
        )
    else:
        await conn.execute(insert(_RECORDS), rows)
    return [str(r["id"]) for r in rows]


_OPEN_RECORDS_PG = text(
    "INSERT INTO recharge_records (id, user_id, amount, fee, total_charge, currency, status,"
    " triggered_by, trigger_detail, capped, payment_method_id, attempt_count, created_at,"
    " updated_at, trace_parent)"
    " SELECT r.id, r.user_id, r.amount, r.fee, r.total_charge, r.currency, :status,"
    " r.triggered_by, r.detail, r.capped, r.payment_method_id, :attempts, :now, :now,"
    " :trace_parent"
    " FROM unnest(CAST(:ids AS varchar[]), CAST(:user_ids AS varchar[]),"
    " CAST(:amounts AS bigint[]), CAST(:fees AS bigint[]), CAST(:totals AS bigint[]),"
    " CAST(:currencies AS varchar[]), CAST(:triggered_by AS varchar[]),"
    " CAST(:details AS varchar[]), CAST(:capped AS boolean[]),"
    " CAST(:payment_methods AS varchar[]))"
    " AS r(id, user_id, amount, fee, total_charge, currency, triggered_by, detail, capped,"
    " payment_method_id)"
)


async def in_flight_record(session: AsyncSession, user_id: str) -> RechargeRecord | None:
    return await session.scalar(
        select(RechargeRecord).where(
            RechargeRecord.user_id == user_id, RechargeRecord.status.in_(_IN_FLIGHT)
        )
    )


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    stale_before: datetime,
    limit: int,
    record_id: str | None = None,
) -> list[RechargeRecord]:
    """Move due records to ``processing`` (the caller commits before charging).

    Due: ``pending`` whose time has come, or ``processing`` untouched since ``stale_before``
    (its worker died; it is re-driven with the same idempotency key). ``SKIP LOCKED`` lets
    several workers share the queue.
    """
    query = (
        select(RechargeRecord)
        .where(
            or_(
                (RechargeRecord.status == RechargeStatus.PENDING)
                & (
                    RechargeRecord.next_attempt_at.is_(None)
                    | (RechargeRecord.next_attempt_at <= now)
                ),
                (RechargeRecord.status == RechargeStatus.PROCESSING)
                & (RechargeRecord.updated_at < stale_before),
            )
        )
        .order_by(RechargeRecord.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if record_id is not None:
        query = query.where(RechargeRecord.id == record_id)
    records = list((await session.scalars(query)).all())
    for record in records:
        record.status = RechargeStatus.PROCESSING
        record.attempt_count += 1
        record.updated_at = now
    await session.flush()
    return records


async def release_for_retry(
    conn: AsyncConnection, record_id: str, *, now: datetime, delay_seconds: float, error: str
) -> None:
    """Stripe could not be reached: back to ``pending`` for another attempt with the same
    idempotency key (so a charge that did happen is replayed, not repeated)."""
    await conn.execute(
        update(_RECORDS)
        .where(_RECORDS.c.id == record_id, _RECORDS.c.status == str(RechargeStatus.PROCESSING))
        .values(
            status=RechargeStatus.PENDING,
            next_attempt_at=now + timedelta(seconds=delay_seconds),
            failure_message=error[:500],
            updated_at=now,
        )
    )


async def end_backoff(conn: AsyncConnection, user_id: str, *, at: datetime) -> None:
    """No failed recharge of the user holds the next one back beyond ``at`` (a new default
    card: ``settlement.new_default_card``). The backoff is the latest ``next_attempt_at`` of
    the user's failed records (:func:`accounts`), so it ends when theirs do."""
    await conn.execute(
        update(_RECORDS)
        .where(
            _RECORDS.c.user_id == user_id,
            _RECORDS.c.status == str(RechargeStatus.FAILED),
            _RECORDS.c.next_attempt_at > at,
        )
        .values(next_attempt_at=at)
    )


async def history(
    session: AsyncSession, user_id: str, *, page: int, limit: int
) -> Page[RechargeRecord]:
    """One page of the user's recharge records, newest first."""
    query = (
        select(RechargeRecord)
        .where(RechargeRecord.user_id == user_id)
        .order_by(RechargeRecord.created_at.desc(), RechargeRecord.id.desc())
    )
    return await paginate(session, query, page=page, limit=limit)


async def sweep_candidates(conn: AsyncConnection, *, now: datetime, limit: int) -> list[str]:
    """Users the sweep should look at: below their minimum (through the partial index on
    ``users.below_minimum``, which holds only such users), auto-recharge on and not paused,
    a card saved, nothing in flight and not backing off. The decision itself is re-made
    under each user's lock."""
    mine = _RECORDS.c.user_id == _USERS.c.id
    rows = await conn.execute(
        select(_USERS.c.id)
        .select_from(_USERS.join(_CONFIGS, _CONFIGS.c.user_id == _USERS.c.id))
        .where(
            _USERS.c.below_minimum.is_(True),
            _CONFIGS.c.auto_recharge_enabled.is_(True),
            _CONFIGS.c.paused_reason.is_(None),
            _CONFIGS.c.default_payment_method_id.is_not(None),
            ~exists().where(mine, _RECORDS.c.status.in_(_IN_FLIGHT)),
            ~exists().where(
                mine,
                _RECORDS.c.status == str(RechargeStatus.FAILED),
                _RECORDS.c.next_attempt_at > now,
            ),
        )
        .order_by(_USERS.c.id)
        .limit(limit)
    )
    return [r.id for r in rows]


@dataclass(frozen=True, slots=True)
class Waiting:
    """A recharge waiting for the customer's authentication."""

    record_id: str
    user_id: str
    payment_intent_id: str | None
    created_at: datetime


async def waiting_since_before(
    conn: AsyncConnection, *, before: datetime, limit: int
) -> list[Waiting]:
    """``requires_action`` records opened before ``before``, oldest first (through the
    ``(status, next_attempt_at)`` index: few records wait at any time)."""
    c = _RECORDS.c
    rows = await conn.execute(
        select(c.id, c.user_id, c.payment_intent_id, c.created_at)
        .where(c.status == str(RechargeStatus.REQUIRES_ACTION), c.created_at < before)
        .order_by(c.created_at, c.id)
        .limit(limit)
    )
    return [Waiting(r.id, r.user_id, r.payment_intent_id, r.created_at) for r in rows]
