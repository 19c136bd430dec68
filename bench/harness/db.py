"""PostgreSQL databases for the bench: create, seed by SQL into the real tables, drop.

The schema comes from ``balance-manager migrate``; seeding writes the rows the service itself
would write (a user, its balance config and an opening ledger entry, so that
``balance == sum(entries)`` holds), in a few set-based statements.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")

_created: list[tuple[str, str]] = []  # (admin url, database name)


def with_conn(url: str, work: Callable[[Any], Awaitable[T]]) -> T:
    async def main() -> T:
        conn = await asyncpg.connect(url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(main())


def execute(url: str, sql: str, *args: object) -> str:
    return with_conn(url, lambda c: c.execute(sql, *args))


def fetch(url: str, sql: str, *args: object) -> list[Any]:
    return with_conn(url, lambda c: c.fetch(sql, *args))


def fetchval(url: str, sql: str, *args: object) -> Any:
    return with_conn(url, lambda c: c.fetchval(sql, *args))


def database_url(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + name


def create_database(admin_url: str, label: str) -> str:
    """A fresh database named ``bm_bench_<label>_<random>``; dropped by ``drop_all``."""
    name = f"bm_bench_{label}_{secrets.token_hex(3)}"
    execute(admin_url, f'CREATE DATABASE "{name}"')
    _created.append((admin_url, name))
    return database_url(admin_url, name)


def drop(url: str) -> None:
    for i, (admin_url, name) in enumerate(_created):
        if database_url(admin_url, name) == url:
            execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            del _created[i]
            return


def drop_all() -> list[str]:
    """Drop every database this run created; returns the names of those that failed."""
    failed = []
    while _created:
        admin_url, name = _created.pop()
        try:
            execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception:
            failed.append(name)
    return failed


async def seed_users(
    conn: Any,
    *,
    prefix: str,
    count: int,
    balance: int,
    minimum: int,
    target: int,
    card: str | None = None,
    max_daily_recharges: int = 5,
    customers: Sequence[tuple[str, str]] | None = None,
) -> None:
    """Users ``<prefix>1`` … ``<prefix><count>`` (USD) with a config and an opening ledger
    entry. ``customers`` gives each user a (Stripe customer id, default card) pair; otherwise
    every user gets ``card`` (a placeholder the sweep accepts; nothing charges it)."""
    async with conn.transaction():
        await conn.execute(
            """
            INSERT INTO users (id, email, currency, balance, created_at, updated_at)
            SELECT $1::text || g, $1::text || g || '@bench.invalid', 'usd', $3::bigint, now(),
                now()
            FROM generate_series(1, $2::int) AS g
            """,
            prefix,
            count,
            balance,
        )
        await conn.execute(
            """
            INSERT INTO balance_configs (user_id, minimum_balance, target_balance,
                auto_recharge_enabled, default_payment_method_id, max_daily_recharges,
                max_recharge_amount, consecutive_failures, created_at, updated_at)
            SELECT $1::text || g, $3::bigint, $4::bigint, true, $5::text, $6::int,
                $4::bigint * 10, 0, now(), now()
            FROM generate_series(1, $2::int) AS g
            """,
            prefix,
            count,
            minimum,
            target,
            card,
            max_daily_recharges,
        )
        if balance != 0:
            await conn.execute(
                """
                INSERT INTO ledger_entries (user_id, kind, amount, balance_after, reference,
                    description, created_at)
                SELECT $1::text || g, 'adjustment', $3::bigint, $3::bigint,
                    'bench-opening-balance', 'bench: opening balance', now()
                FROM generate_series(1, $2::int) AS g
                """,
                prefix,
                count,
                balance,
            )
        if customers is not None:
            await conn.execute(
                """
                UPDATE users u SET stripe_customer_id = c.customer
                FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS c(customer, card, n)
                WHERE u.id = $1::text || c.n
                """,
                prefix,
                [c for c, _ in customers],
                [p for _, p in customers],
            )
            await conn.execute(
                """
                UPDATE balance_configs b SET default_payment_method_id = c.card
                FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS c(customer, card, n)
                WHERE b.user_id = $1::text || c.n
                """,
                prefix,
                [c for c, _ in customers],
                [p for _, p in customers],
            )
    await conn.execute("ANALYZE")
