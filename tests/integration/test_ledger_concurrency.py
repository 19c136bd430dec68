"""Concurrent debits with real connections (asyncio tasks over a pool, and OS processes):
the balance stays exact and equal to the sum of the ledger."""

from __future__ import annotations

import asyncio
import random
from concurrent.futures import ProcessPoolExecutor

import httpx
import pytest

from balance_manager.domain import posting
from balance_manager.domain.states import LedgerKind
from balance_manager.store import ledger
from balance_manager.store.db import SessionFactory, create_engine
from balance_manager.store.models import User, utcnow
from tests.conftest import UserMaker


async def _balance_and_sum(sessions: SessionFactory, user_id: str) -> tuple[int, int]:
    async with sessions.begin() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user.balance, await ledger.entries_sum(session, user_id)


async def test_200_concurrent_debits_for_one_user(
    client: httpx.AsyncClient,
    make_user: UserMaker,
    operator: dict[str, str],
    sessions: SessionFactory,
) -> None:
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=1000)

    async def debit(i: int) -> httpx.Response:
        return await client.post(
            f"/api/balance/usage/{user}",
            json={"amount": "1.23", "idempotencyKey": f"debit-{i}"},
            headers=operator,
        )

    responses = await asyncio.gather(*(debit(i) for i in range(200)))
    assert [r.status_code for r in responses] == [200] * 200
    # Every debit saw a distinct balance: they were serialized, none was lost.
    balances_after = sorted(r.json()["balance"] for r in responses)
    assert len(set(balances_after)) == 200
    expected = 100000 - 200 * 123
    assert await _balance_and_sum(sessions, user) == (expected, expected)


async def test_concurrent_repeats_of_the_same_keys_count_once(
    client: httpx.AsyncClient,
    make_user: UserMaker,
    operator: dict[str, str],
    sessions: SessionFactory,
) -> None:
    user = await make_user(initial_balance=1000)
    keys = [f"k{i % 50}" for i in range(200)]  # 50 keys, each sent 4 times at once
    random.Random(7).shuffle(keys)

    responses = await asyncio.gather(
        *(
            client.post(
                f"/api/balance/usage/{user}",
                json={"amount": 2, "idempotencyKey": key},
                headers=operator,
            )
            for key in keys
        )
    )
    assert all(r.status_code == 200 for r in responses)
    assert sum(not r.json()["replayed"] for r in responses) == 50
    # All four answers for a key carry the same entry and the same resulting balance.
    by_key: dict[str, set[tuple[int, float]]] = {}
    for key, r in zip(keys, responses, strict=True):
        by_key.setdefault(key, set()).add((r.json()["entryId"], r.json()["balance"]))
    assert all(len(v) == 1 for v in by_key.values())
    assert await _balance_and_sum(sessions, user) == (100000 - 50 * 200, 100000 - 50 * 200)


async def test_overlapping_batches_in_opposite_orders_do_not_deadlock(
    client: httpx.AsyncClient,
    make_user: UserMaker,
    operator: dict[str, str],
    sessions: SessionFactory,
) -> None:
    users = [await make_user(initial_balance=500) for _ in range(10)]

    def batch(tag: str, order: list[str]) -> dict[str, object]:
        return {
            "events": [
                {"userId": u, "amount": 1, "idempotencyKey": f"{tag}-{i}"}
                for i, u in enumerate(order * 5)
            ]
        }

    forward, backward = users, list(reversed(users))
    responses = await asyncio.wait_for(
        asyncio.gather(
            *(
                client.post(
                    "/api/balance/usage",
                    json=batch(f"b{n}", forward if n % 2 else backward),
                    headers=operator,
                )
                for n in range(16)
            )
        ),
        timeout=60,
    )
    assert all(r.status_code == 200 and r.json()["applied"] == 50 for r in responses)
    for user in users:
        # 16 batches × 5 debits of 1.00 per user
        assert await _balance_and_sum(sessions, user) == (50000 - 8000, 50000 - 8000)


def _debit_in_own_process(url: str, user_id: str, worker: int, count: int) -> int:
    """Runs in a separate OS process with its own engine and connections."""

    async def run() -> int:
        engine = create_engine(url, pool_size=5)
        applied = 0
        try:
            for i in range(count):
                async with engine.begin() as conn:
                    posted = await ledger.post(
                        conn,
                        [
                            posting.Posting(
                                user_id=user_id,
                                kind=LedgerKind.USAGE,
                                amount=-7,
                                # half of each process's keys collide with another process's
                                reference=f"shared-{i}" if i % 2 else f"p{worker}-{i}",
                            )
                        ],
                        now=utcnow(),
                    )
                (result,) = posted.results
                assert result.ok
                applied += result.outcome is posting.Outcome.APPLIED
        finally:
            await engine.dispose()
        return applied

    return asyncio.run(run())


@pytest.mark.usefixtures("client")
async def test_debits_from_four_processes(
    database_url: str, make_user: UserMaker, sessions: SessionFactory
) -> None:
    user = await make_user(initial_balance=100)
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=4) as pool:
        applied = await asyncio.gather(
            *(
                loop.run_in_executor(pool, _debit_in_own_process, database_url, user, w, 40)
                for w in range(4)
            )
        )
    # 4 × 20 private keys + 20 shared keys applied exactly once.
    assert sum(applied) == 100
    assert await _balance_and_sum(sessions, user) == (10000 - 700, 10000 - 700)


async def test_1000_concurrent_debits_over_100_users(
    client: httpx.AsyncClient,
    make_user: UserMaker,
    operator: dict[str, str],
    sessions: SessionFactory,
) -> None:
    """The usage path (PostgreSQL: the one-statement debit) under real concurrency: every
    key applied once, every balance equal to the sum of its entries."""
    users = [await make_user(initial_balance=100) for _ in range(100)]
    keys = [(users[i % 100], f"k{i}") for i in range(1000)]
    random.Random(11).shuffle(keys)
    resend = keys[:100]  # a tenth sent twice, concurrently with the first send

    async def debit(user: str, key: str) -> httpx.Response:
        return await client.post(
            f"/api/balance/usage/{user}",
            json={"amount": "0.07", "idempotencyKey": key},
            headers=operator,
        )

    responses = await asyncio.gather(*(debit(u, k) for u, k in keys + resend))
    assert [r.status_code for r in responses] == [200] * 1100
    assert sum(not r.json()["replayed"] for r in responses) == 1000
    by_key: dict[str, set[int]] = {}
    for (_, key), r in zip(keys + resend, responses, strict=True):
        by_key.setdefault(key, set()).add(r.json()["entryId"])
    assert all(len(entries) == 1 for entries in by_key.values())
    for user in users:
        assert await _balance_and_sum(sessions, user) == (10000 - 70, 10000 - 70)
