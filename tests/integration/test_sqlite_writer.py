"""SQLite's usage debit runs on a connection and thread of its own (``store.sqlite_writer``):
what it writes must read back exactly like what the general path writes."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select, text, update

from balance_manager.store.db import SessionFactory
from balance_manager.store.models import BalanceConfig, LedgerEntry, OutboxEvent, User
from tests.conftest import UserMaker

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_the_writer_and_the_general_path_write_alike(
    client: httpx.AsyncClient,
    make_user: UserMaker,
    operator: dict[str, str],
    sessions: SessionFactory,
) -> None:
    # No auto-recharge: every debit here is the writer's; crossing 50.00 writes balance.low.
    user = await make_user(
        minimum_balance=10, target_balance=100, initial_balance=60, auto_recharge_enabled=False
    )
    async with sessions.begin() as session:
        await session.execute(
            update(BalanceConfig)
            .where(BalanceConfig.user_id == user)
            .values(low_balance_threshold=5000)
        )
    body = {"description": "tokens", "metadata": {"model": "m", "n": 3}}
    single = await client.post(
        f"/api/balance/usage/{user}",
        json={"amount": "11.00", "idempotencyKey": "one", **body},
        headers=operator,
    )
    batch = await client.post(  # the general path, set-based
        "/api/balance/usage",
        json={"events": [{"userId": user, "amount": "1.00", "idempotencyKey": "two", **body}]},
        headers=operator,
    )
    assert single.status_code == 200 and batch.status_code == 200, (single.text, batch.text)
    replay = await client.post(
        f"/api/balance/usage/{user}",
        json={"amount": "11.00", "idempotencyKey": "one", **body},
        headers=operator,
    )
    assert replay.json()["replayed"] is True and replay.json()["balance"] == 49

    async with sessions.begin() as session:
        one, two = (
            await session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.user_id == user, LedgerEntry.kind == "usage")
                .order_by(LedgerEntry.id)
            )
        ).all()
        events = (
            await session.scalars(select(OutboxEvent).where(OutboxEvent.user_id == user))
        ).all()
        balance = (await session.get(User, user)).balance  # type: ignore[union-attr]
        stored = (
            await session.execute(
                text(
                    "SELECT typeof(created_at), length(created_at), typeof(metadata)"
                    " FROM ledger_entries WHERE user_id = :u AND kind = 'usage' ORDER BY id"
                ),
                {"u": user},
            )
        ).all()
    assert (one.reference, one.amount, one.balance_after) == ("one", -1100, 4900)
    assert (two.reference, two.amount, two.balance_after) == ("two", -100, 4800)
    for entry in (one, two):
        assert entry.description == "tokens" and entry.metadata_ == {"model": "m", "n": 3}
        assert entry.created_at.utcoffset() is not None
    assert one.created_at <= two.created_at
    assert stored[0] == stored[1]  # the same storage format, byte for byte in shape
    assert balance == 4800
    # The writer's debit crossed the threshold: one event, the general path's payload.
    assert [(e.type, e.payload) for e in events] == [
        (
            "balance.low",
            {
                "userId": user,
                "balanceMinor": 4900,
                "thresholdMinor": 5000,
                "minimumBalanceMinor": 1000,
                "currency": "usd",
            },
        )
    ]
