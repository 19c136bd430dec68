"""Recording usage (one debit or a batch) and operator adjustments: the hot path.

A debit posts to the ledger and, in the same transaction, opens a recharge when the balance
is left below the minimum and :func:`policy.decide` agrees (the partial unique index allows
one open recharge per user). Idempotent by key: the same key and amount return the first
result; the same key with another amount is refused.

On PostgreSQL one debit is one statement (``store.ledger.debit_one``); whatever it cannot
settle alone (a replay, the floor, an unknown user, a concurrent repeat of its key) takes the
general posting path, which both databases and batches share.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asyncpg.exceptions import InterfaceError, UniqueViolationError
from sqlalchemy.ext.asyncio import AsyncConnection

from balance_manager.domain import money, policy, posting
from balance_manager.domain.amounts import parse_amount
from balance_manager.domain.errors import Conflict, NotFound, ServiceError
from balance_manager.domain.states import LedgerKind, TriggerSource
from balance_manager.store import ledger
from balance_manager.store.db import (
    driver_connection,
    lost_connection,
    retry_on_disconnect,
)
from balance_manager.telemetry import tracing
from balance_manager.usecases.accounts import check_user_id
from balance_manager.usecases.recharges import open_automatic
from balance_manager.usecases.services import Services


@dataclass(frozen=True, slots=True)
class Recorded:
    """A posting's result: the entry (new or replayed) and the balance right after it."""

    user_id: str
    amount: int  # minor units as posted (usage: positive, the amount debited)
    currency: money.Currency
    entry_id: int
    balance: int
    created_at: datetime
    replayed: bool
    recharge_id: str | None = None  # a recharge this debit opened


@dataclass(frozen=True, slots=True)
class UsageEvent:
    user_id: str
    amount: object  # major units as received
    idempotency_key: str
    description: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class BatchItem:
    index: int
    event: UsageEvent
    recorded: Recorded | None = None
    error: ServiceError | None = None


@retry_on_disconnect
@tracing.traced("usage.record_usage")
async def record_usage(svc: Services, event: UsageEvent) -> Recorded:
    """Debit one usage event (operator only)."""
    check_user_id(event.user_id)
    now = svc.clock()
    if svc.engine.dialect.name == "postgresql":
        fast = await _debit_one(svc, event, now)
        if fast is not None:
            return fast
    cur = await svc.currencies.of(event.user_id)
    amount = parse_amount(event.amount, cur, field="amount", allow_zero=False)
    if svc.sqlite_writer is not None:
        debited = await svc.sqlite_writer.debit(_usage(event, amount), now=now)
        if debited is not None:
            return _applied(event, amount, cur, debited, now, recharge_id=None)
    async with svc.engine.begin() as conn:
        posted = await ledger.post(conn, [_usage(event, amount)], now=now)
        result = posted.results[0]
        _raise_for(result)
        opened = await _open_after_usage(svc, conn, posted)
    if opened:
        svc.wakeup.set()
    return _recorded(result, cur, now, recharge_id=opened.get(event.user_id))


async def _debit_one(svc: Services, event: UsageEvent, now: datetime) -> Recorded | None:
    """PostgreSQL, through asyncpg on a pooled connection: one statement committed on its own
    when the debit leaves no recharge to decide; otherwise BEGIN, the statement, and the
    decision and the record in the same transaction (SQLAlchemy on the same connection, in a
    savepoint), COMMIT. None: let the general path answer (a replay, the floor, an unknown
    user, a concurrent repeat)."""
    async with svc.engine.connect() as conn:
        try:
            pg = await driver_connection(conn)
            cur = svc.currencies.cached(event.user_id)
            if cur is None:
                code = await ledger.currency_of(pg, event.user_id)
                if code is None:
                    return None
                cur = svc.currencies.remember(event.user_id, code)
            amount = parse_amount(event.amount, cur, field="amount", allow_zero=False)
            debit = functools.partial(
                ledger.debit_one,
                pg,
                user_id=event.user_id,
                amount=-amount,
                reference=event.idempotency_key,
                description=event.description,
                metadata=event.metadata,
                now=now,
                bound=money.max_minor(cur),
            )
            # Most debits leave nothing to decide: one statement, atomic and committed on its
            # own, one round trip. The others write nothing here and run again below, in a
            # transaction that the recharge decision joins.
            recharge_id = None
            debited = await debit(alone=True)
            if debited is not None:
                return _applied(event, amount, cur, debited, now, recharge_id=None)
            async with pg.transaction():
                debited = await debit()
                if debited is None:
                    return None
                if debited.may_need_recharge:
                    opened = await open_automatic(
                        svc, conn, [event.user_id], source=TriggerSource.USAGE
                    )
                    await conn.commit()  # the savepoint, not yet the transaction
                    recharge_id = opened[event.user_id].record_id if opened else None
        except UniqueViolationError:
            return None  # a concurrent repeat of this key committed first: it replays
        except Exception as exc:
            # Any asyncpg interface error leaves the connection's state unknown: drop it too.
            if not isinstance(exc, InterfaceError) and not lost_connection(exc):
                raise
            # A dead connection: the pool must not hand it out again, and the general path
            # (a fresh connection) applies the debit — or replays it, should the lost COMMIT
            # have gone through.
            await conn.invalidate()
            return None
    if recharge_id is not None:
        svc.wakeup.set()
    return _applied(event, amount, cur, debited, now, recharge_id=recharge_id)


def _applied(
    event: UsageEvent,
    amount: int,
    cur: money.Currency,
    debited: ledger.Debited,
    now: datetime,
    *,
    recharge_id: str | None,
) -> Recorded:
    """The answer of a fast path's debit (PostgreSQL's statement, SQLite's writer)."""
    return Recorded(
        user_id=event.user_id,
        amount=amount,
        currency=cur,
        entry_id=debited.entry_id,
        balance=debited.balance,
        created_at=now,
        replayed=False,
        recharge_id=recharge_id,
    )


@retry_on_disconnect
@tracing.traced("usage.record_batch")
async def record_batch(svc: Services, events: Sequence[UsageEvent]) -> list[BatchItem]:
    """Up to 1,000 usage events for many users, in one transaction with a constant number of
    statements; one result per event, in order. A failing event (unknown user, bad amount,
    key reused, floor) is reported and the others still apply."""
    currencies = await svc.currencies.known({e.user_id for e in events})
    items: dict[int, BatchItem] = {}
    postings: list[tuple[int, posting.Posting]] = []
    for index, event in enumerate(events):
        cur = currencies.get(event.user_id)
        if cur is None:
            error: ServiceError = NotFound(
                f"user {event.user_id} not found", code="user_not_found", field="userId"
            )
            items[index] = BatchItem(index, event, error=error)
            continue
        try:
            amount = parse_amount(event.amount, cur, field="amount", allow_zero=False)
        except ServiceError as exc:
            items[index] = BatchItem(index, event, error=exc)
            continue
        postings.append((index, _usage(event, amount)))
    now = svc.clock()
    opened: dict[str, str] = {}
    if postings:
        async with svc.engine.begin() as conn:
            posted = await ledger.post(conn, [p for _, p in postings], now=now)
            opened = await _open_after_usage(svc, conn, posted)
        for (index, _), result in zip(postings, posted.results, strict=True):
            event = events[index]
            failure = _error_for(result)
            items[index] = (
                BatchItem(index, event, error=failure)
                if failure is not None
                else BatchItem(
                    index,
                    event,
                    recorded=_recorded(
                        result,
                        currencies[event.user_id],
                        now,
                        recharge_id=opened.get(event.user_id),
                    ),
                )
            )
    if opened:
        svc.wakeup.set()
    return [items[i] for i in range(len(events))]


@retry_on_disconnect
@tracing.traced("usage.adjust")
async def adjust(
    svc: Services,
    user_id: str,
    *,
    amount: object,
    reason: str,
    idempotency_key: str,
    metadata: dict[str, Any] | None = None,
) -> Recorded:
    """Grant (positive) or remove (negative) credit with a reason; idempotent like usage."""
    cur = await svc.currencies.of(check_user_id(user_id))
    minor = parse_amount(amount, cur, field="amount", allow_negative=True, allow_zero=False)
    now = svc.clock()
    async with svc.engine.begin() as conn:
        posted = await ledger.post(
            conn,
            [
                posting.Posting(
                    user_id=user_id,
                    kind=LedgerKind.ADJUSTMENT,
                    amount=minor,
                    reference=idempotency_key,
                    description=reason,
                    metadata=metadata,
                    enforce_bounds=True,
                )
            ],
            now=now,
        )
    result = posted.results[0]
    _raise_for(result)
    return _recorded(result, cur, now)


def _usage(event: UsageEvent, amount: int) -> posting.Posting:
    return posting.Posting(
        user_id=event.user_id,
        kind=LedgerKind.USAGE,
        amount=-amount,
        reference=event.idempotency_key,
        description=event.description,
        metadata=event.metadata,
        enforce_floor=True,
        enforce_bounds=True,
    )


async def _open_after_usage(
    svc: Services, conn: AsyncConnection, posted: ledger.Posted
) -> dict[str, str]:
    """Open the recharges that this usage made necessary (users left below their minimum)."""
    debited = {
        r.posting.user_id
        for r in posted.results
        if r.outcome is posting.Outcome.APPLIED and r.posting.amount < 0
    }
    below = sorted(
        u
        for u in debited
        if policy.needs_recharge(posted.accounts[u].balance, posted.accounts[u].minimum)
    )
    opened = await open_automatic(svc, conn, below, source=TriggerSource.USAGE)
    return {u: o.record_id for u, o in opened.items() if o.record_id is not None}


def _recorded(
    result: posting.Result,
    cur: money.Currency,
    now: datetime,
    *,
    recharge_id: str | None = None,
) -> Recorded:
    entry = result.entry
    assert entry is not None
    assert entry.id is not None
    return Recorded(
        user_id=result.posting.user_id,
        amount=abs(result.posting.amount)
        if result.posting.kind is LedgerKind.USAGE
        else result.posting.amount,
        currency=cur,
        entry_id=entry.id,
        balance=entry.balance_after,
        created_at=entry.created_at or now,
        replayed=result.outcome is posting.Outcome.REPLAYED,
        recharge_id=recharge_id,
    )


def _error_for(result: posting.Result) -> ServiceError | None:
    posted = result.posting
    if result.outcome is posting.Outcome.UNKNOWN_USER:
        return NotFound(f"user {posted.user_id} not found", code="user_not_found", field="userId")
    if result.outcome is posting.Outcome.KEY_REUSED:
        return Conflict(
            f"idempotencyKey {posted.reference!r} was already used with a different amount",
            code="idempotency_key_reused",
            field="idempotencyKey",
        )
    if result.outcome is posting.Outcome.FLOOR_REACHED:
        return Conflict(
            "this usage would take the balance below the configured balanceFloor",
            code="balance_floor_reached",
            field="amount",
        )
    if result.outcome is posting.Outcome.OUT_OF_RANGE:
        return Conflict(
            "this would take the balance to 1,000,000,000,000 or beyond in magnitude",
            code="balance_out_of_range",
            field="amount",
        )
    return None


def _raise_for(result: posting.Result) -> None:
    error = _error_for(result)
    if error is not None:
        raise error
