"""Migration 0003 with data in the outbox: events written before webhooks existed are marked
dispatched (not sent to endpoints created later), and the downgrade keeps them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.store import migrate


async def test_events_from_before_webhooks_are_not_sent_later(engine: AsyncEngine) -> None:
    await migrate.downgrade(engine, "0002")
    created = datetime(2026, 11, 1, tzinfo=UTC)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO outbox_events (event_id, type, user_id, payload, created_at,"
                " attempts) VALUES ('old', 'balance.low', NULL, '{}', :created, 0)"
            ),
            {"created": created},
        )
    await migrate.upgrade(engine)
    async with engine.connect() as conn:
        dispatched = await conn.scalar(
            text("SELECT dispatched_at FROM outbox_events WHERE event_id = 'old'")
        )
        assert dispatched is not None
    await migrate.downgrade(engine, "0002")
    async with engine.connect() as conn:
        delivered = await conn.scalar(
            text("SELECT delivered_at FROM outbox_events WHERE event_id = 'old'")
        )
        assert delivered is not None
    await migrate.upgrade(engine)
