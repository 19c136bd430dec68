"""Report rows in SQL, streamed so that a report of any size never sits in memory.

PostgreSQL: one statement through a server-side cursor (``yield_per``), so the rows come in
batches from one consistent snapshot. SQLite: keyset chunks on ``(created_at, id)`` in short
read transactions, because each process has one SQLite connection and a report must not
hold it for minutes while requests wait. Both walk the ``(created_at, id)`` indexes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    Table,
    and_,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.store.db import reader
from balance_manager.store.models import LedgerEntry, RechargeRecord, User

_USERS = cast(Table, User.__table__)
_RECORDS = cast(Table, RechargeRecord.__table__)
_ENTRIES = cast(Table, LedgerEntry.__table__)


def _text(column: ColumnElement[Any]) -> ColumnElement[str]:
    """A state column read as its plain string (no enum conversion per row of a report)."""
    return type_coerce(column, String()).label(column.key)


def recharges_query(start: datetime, end: datetime) -> Select[Any]:
    """Recharge records opened in ``[start, end)``, oldest first."""
    c = _RECORDS.c
    return (
        select(
            c.id,
            c.user_id,
            c.created_at,
            c.completed_at,
            _text(c.status),
            _text(c.triggered_by),
            _text(c.trigger_detail),
            c.currency,
            c.amount,
            c.fee,
            c.total_charge,
            c.payment_intent_id,
            c.failure_code,
        )
        .where(c.created_at >= start, c.created_at < end)
        .order_by(c.created_at, c.id)
    )


def ledger_query(start: datetime, end: datetime) -> Select[Any]:
    """Ledger entries written in ``[start, end)``, oldest first, with their user's currency."""
    c = _ENTRIES.c
    return (
        select(
            c.id,
            c.created_at,
            c.user_id,
            _USERS.c.currency,
            _text(c.kind),
            c.amount,
            c.balance_after,
            c.reference,
            c.description,
        )
        .select_from(_ENTRIES.join(_USERS, _USERS.c.id == c.user_id))
        .where(c.created_at >= start, c.created_at < end)
        .order_by(c.created_at, c.id)
    )


async def count(engine: AsyncEngine, query: Select[Any]) -> int:
    """How many rows ``query`` will stream (for a progress bar)."""
    async with reader(engine).connect() as conn:
        total = await conn.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return int(total or 0)


def stream_recharges(
    engine: AsyncEngine, start: datetime, end: datetime, *, chunk: int = 2000
) -> AsyncIterator[Sequence[Row[Any]]]:
    return _stream(engine, recharges_query(start, end), _RECORDS, chunk)


def stream_ledger(
    engine: AsyncEngine, start: datetime, end: datetime, *, chunk: int = 2000
) -> AsyncIterator[Sequence[Row[Any]]]:
    return _stream(engine, ledger_query(start, end), _ENTRIES, chunk)


async def _stream(
    engine: AsyncEngine, query: Select[Any], table: Table, chunk: int
) -> AsyncIterator[Sequence[Row[Any]]]:
    """``query``'s rows in batches of at most ``chunk``; ``table`` holds the keyset."""
    if engine.dialect.name == "postgresql":
        async with reader(engine).connect() as conn:
            result = await conn.stream(query.execution_options(yield_per=chunk))
            async for batch in result.partitions(chunk):
                yield batch
        return
    after: tuple[datetime, Any] | None = None
    while True:
        page = query if after is None else query.where(_after(table, *after))
        async with reader(engine).connect() as conn:
            batch = (await conn.execute(page.limit(chunk))).all()
        if not batch:
            return
        yield batch
        if len(batch) < chunk:
            return
        last = batch[-1]
        after = (last.created_at, last.id)


def _after(table: Table, created_at: datetime, row_id: Any) -> ColumnElement[bool]:
    """Rows past ``(created_at, id)`` in the report's order (the keyset)."""
    c = table.c
    return or_(c.created_at > created_at, and_(c.created_at == created_at, c.id > row_id))
