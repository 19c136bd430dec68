"""Domain events for the operator, written in the transaction that caused them; the webhook
dispatcher (``usecases.webhooks``) delivers them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from balance_manager.domain import ids
from balance_manager.domain.states import EventType
from balance_manager.store.models import OutboxEvent

_TABLE = cast(Table, OutboxEvent.__table__)


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    user_id: str | None
    payload: dict[str, Any]


def balance_low(
    user_id: str, *, balance: int, threshold: int, minimum: int | None, currency: str
) -> Event:
    """A debit took the balance below the user's low-balance threshold (see
    ``posting.low_balance_threshold``). The PostgreSQL one-statement debit
    (``ledger._DEBIT_ONE``) builds the same payload in SQL."""
    return Event(
        EventType.BALANCE_LOW,
        user_id,
        {
            "userId": user_id,
            "balanceMinor": balance,
            "thresholdMinor": threshold,
            "minimumBalanceMinor": minimum,
            "currency": currency,
        },
    )


def endpoint_disabled(
    endpoint_id: str, *, url: str, reason: str, failing_since: datetime, disabled_at: datetime
) -> Event:
    return Event(
        EventType.WEBHOOK_ENDPOINT_DISABLED,
        None,
        {
            "endpointId": endpoint_id,
            "url": url,
            "reason": reason,
            "failingSince": _iso(failing_since),
            "disabledAt": _iso(disabled_at),
        },
    )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


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
            }
            for e in events
        ],
    )
