"""Domain events for the operator, written in the transaction that caused them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from balance_manager import ids
from balance_manager.store.models import OutboxEvent

_TABLE = cast(Table, OutboxEvent.__table__)


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    user_id: str | None
    payload: dict[str, Any]


def balance_low(user_id: str, balance: int, minimum: int, currency: str) -> Event:
    return Event(
        "balance.low",
        user_id,
        {
            "userId": user_id,
            "balanceMinor": balance,
            "minimumBalanceMinor": minimum,
            "currency": currency,
        },
    )


async def add(conn: AsyncConnection, events: Sequence[Event], *, now: datetime) -> None:
    if not events:
        return
    await conn.execute(
        insert(_TABLE),
        [
            {
                "event_id": ids.new_id(),
                "type": e.type,
                "user_id": e.user_id,
                "payload": e.payload,
                "created_at": now,
                "attempts": 0,
            }
            for e in events
        ],
    )
