"""Support for the tests that hold the three usage-debit paths to one set of rules
(``test_sql_rules_agree``, ``test_debit_parity``): accounts in any state, written straight
into the tables; each debit path run as the service runs it; what a debit wrote, read back.

The three paths:

- ``general`` — ``ledger.post`` (``posting.apply`` decides; both databases, batches);
- ``statement`` — PostgreSQL's one-statement debit ``ledger.debit_one``, in a transaction
  (``alone=False``: it writes whatever ``posting.apply`` would apply) or on its own
  (``alone=True``: it also leaves alone a debit that calls for the recharge decision);
- ``writer`` — SQLite's ``sqlite_writer.debit`` on its own connection (it leaves alone what
  the general path must answer, and a debit that calls for the recharge decision).

A fast path that leaves a debit alone writes nothing and returns None: the service then
asks the general path.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, make_url, select
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.domain import money, policy, posting
from balance_manager.domain.states import LedgerKind
from balance_manager.store import ledger, sqlite_writer
from balance_manager.store.db import driver_connection
from balance_manager.store.models import BalanceConfig, LedgerEntry, OutboxEvent, User

_USERS = cast(Table, User.__table__)
_CONFIGS = cast(Table, BalanceConfig.__table__)
_ENTRIES = cast(Table, LedgerEntry.__table__)
_EVENTS = cast(Table, OutboxEvent.__table__)

_serial = itertools.count()


@dataclass(frozen=True)
class State:
    """An account as a debit finds it, minor units. ``minimum=None``: a user without a
    balance config (none exist in practice; every path must still agree on it)."""

    balance: int
    minimum: int | None = 15000
    low_balance: int | None = None  # the user's own lowBalanceThreshold
    floor: int | None = None
    auto: bool = True
    paused: bool = False
    card: bool = True
    currency: str = "usd"
    # Entries already in the ledger: (kind, reference, amount).
    prior: tuple[tuple[LedgerKind, str, int], ...] = ()

    def account(self, user_id: str) -> posting.Account:
        return posting.Account(
            user_id, self.balance, self.minimum, self.floor, self.currency, self.low_balance
        )

    def may_need_recharge(self, balance: int) -> bool:
        return policy.may_need_recharge(
            balance=balance,
            minimum=self.minimum,
            auto_enabled=self.auto,
            paused=self.paused,
            has_card=self.card,
        )


async def create(engine: AsyncEngine, states: list[State], *, now: datetime) -> list[str]:
    """One user per state, in one transaction; their ids in order."""
    ids = [f"usr_{next(_serial)}_{i}" for i in range(len(states))]
    users = [
        {
            "id": user_id,
            "email": f"{user_id}@example.com",
            "currency": s.currency,
            "balance": s.balance,
            "below_minimum": policy.needs_recharge(s.balance, s.minimum),
            "created_at": now,
            "updated_at": now,
        }
        for user_id, s in zip(ids, states, strict=True)
    ]
    configs = [
        {
            "user_id": user_id,
            "minimum_balance": s.minimum,
            "target_balance": s.minimum + 10000,
            "auto_recharge_enabled": s.auto,
            "default_payment_method_id": "pm_card_visa" if s.card else None,
            "max_daily_recharges": 5,
            "max_recharge_amount": 1_000_000,
            "balance_floor": s.floor,
            "low_balance_threshold": s.low_balance,
            "consecutive_failures": 3 if s.paused else 0,
            "paused_reason": "3 consecutive failed recharges (last: card_declined)"
            if s.paused
            else None,
            "paused_at": now if s.paused else None,
            "created_at": now,
            "updated_at": now,
        }
        for user_id, s in zip(ids, states, strict=True)
        if s.minimum is not None
    ]
    entries = [
        {
            "user_id": user_id,
            "kind": str(kind),
            "amount": amount,
            "balance_after": s.balance,
            "reference": reference,
            "created_at": now,
        }
        for user_id, s in zip(ids, states, strict=True)
        for kind, reference, amount in s.prior
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(_USERS), users)
        if configs:
            await conn.execute(insert(_CONFIGS), configs)
        if entries:
            await conn.execute(insert(_ENTRIES), entries)
    return ids


def usage(user_id: str, amount: int, reference: str) -> posting.Posting:
    """A usage debit of ``amount`` minor units, as ``usecases.usage`` posts one."""
    return posting.Posting(
        user_id=user_id,
        kind=LedgerKind.USAGE,
        amount=-amount,
        reference=reference,
        description="tokens",
        metadata={"model": "m", "n": 3},
        enforce_floor=True,
        enforce_bounds=True,
    )


async def general(engine: AsyncEngine, debit: posting.Posting, *, now: datetime) -> posting.Result:
    async with engine.begin() as conn:
        posted = await ledger.post(conn, [debit], now=now)
    return posted.results[0]


async def statement(
    engine: AsyncEngine, debit: posting.Posting, *, currency: str, now: datetime, alone: bool
) -> ledger.Debited | None:
    async with engine.connect() as conn:
        pg = await driver_connection(conn)
        run = ledger.debit_one(
            pg,
            user_id=debit.user_id,
            amount=debit.amount,
            reference=debit.reference,
            description=debit.description,
            metadata=debit.metadata,
            now=now,
            bound=money.max_minor(money.currency(currency)),
            alone=alone,
        )
        if alone:
            return await run
        async with pg.transaction():
            return await run


def writer(engine: AsyncEngine, debit: posting.Posting, *, now: datetime) -> ledger.Debited | None:
    path = make_url(str(engine.url)).database
    assert path is not None
    conn = sqlite_writer.connect(path)
    try:
        return sqlite_writer.debit(conn, debit, now=now)
    finally:
        conn.close()


@dataclass(frozen=True)
class Written:
    """A user's rows after a debit, with the user's id replaced by ``USER`` (each path runs
    on a user of its own)."""

    balance: int | None
    below_minimum: bool | None
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)


USER = "<user>"


async def written(engine: AsyncEngine, user_id: str) -> Written:
    async with engine.connect() as conn:
        user = (
            await conn.execute(
                select(_USERS.c.balance, _USERS.c.below_minimum).where(_USERS.c.id == user_id)
            )
        ).first()
        entries = await conn.execute(
            select(
                _ENTRIES.c.kind,
                _ENTRIES.c.amount,
                _ENTRIES.c.balance_after,
                _ENTRIES.c.reference,
                _ENTRIES.c.description,
                _ENTRIES.c.metadata,
                _ENTRIES.c.created_at,
            )
            .where(_ENTRIES.c.user_id == user_id)
            .order_by(_ENTRIES.c.id)
        )
        events = await conn.execute(
            select(_EVENTS.c.type, _EVENTS.c.user_id, _EVENTS.c.payload, _EVENTS.c.created_at)
            .where(_EVENTS.c.user_id == user_id)
            .order_by(_EVENTS.c.id)
        )
        return Written(
            balance=None if user is None else user.balance,
            below_minimum=None if user is None else bool(user.below_minimum),
            entries=[(str(e[0]), *e[1:]) for e in entries],
            events=[(e.type, USER, anonymous(e.payload, user_id), e.created_at) for e in events],
        )


def anonymous(payload: dict[str, Any], user_id: str) -> dict[str, Any]:
    return {k: USER if v == user_id else v for k, v in payload.items()}
