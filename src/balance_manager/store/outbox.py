"""Domain events for the operator, written in the transaction that caused them; the webhook
dispatcher (``usecases.webhooks``) delivers them. The events and their payloads are built in
``domain.events``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from balance_manager.domain import ids
from balance_manager.domain.events import Event as Event
from balance_manager.store.models import OutboxEvent

_TABLE = cast(Table, OutboxEvent.__table__)


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
