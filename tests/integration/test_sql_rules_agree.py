"""Where SQL restates a rule for speed, it says what the Python says, on one table of cases.

The rules (one Python definition each):

- ``policy.needs_recharge`` — the ``users.below_minimum`` flag, written by the PostgreSQL
  debit statement and by ``ledger.refresh_below_minimum``;
- ``policy.may_need_recharge`` — whether the recharge decision must join the debit: the
  statement's ``alone`` guard and the row it returns; the SQLite writer's account query; the
  sweep's candidate query (``store.recharges.sweep_candidates``);
- ``posting.apply`` — the floor, the bounds (what a fast path may write by itself);
- ``posting.crosses_low_balance`` and ``events.balance_low`` — the statement's
  ``balance.low`` row and its payload.

The table is every combination of balance, debit, minimum, low-balance threshold, floor,
auto-recharge on/off, paused and card; every case runs on a user of its own.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.domain import policy, posting
from balance_manager.store import ledger
from balance_manager.store import recharges as records
from balance_manager.store.models import OutboxEvent, User, utcnow
from tests.integration import debits
from tests.integration.debits import State

_USERS = cast(Table, User.__table__)
_EVENTS = cast(Table, OutboxEvent.__table__)

CASES = [
    (State(balance, minimum, low, floor, auto, paused, card), amount)
    for balance, amount, minimum, low, floor, auto, paused, card in itertools.product(
        [30000, 15001, 15000, 5000],
        [1, 10000],
        [0, 15000],
        [None, 20000, 10000],
        [None, 0],
        [True, False],
        [True, False],
        [True, False],
    )
]


async def _rows(engine: AsyncEngine, ids: list[str]) -> dict[str, Any]:
    """Each user's balance, flag and events, in three statements."""
    async with engine.connect() as conn:
        users = await conn.execute(
            select(_USERS.c.id, _USERS.c.balance, _USERS.c.below_minimum).where(
                _USERS.c.id.in_(ids)
            )
        )
        found: dict[str, Any] = {u.id: (u.balance, bool(u.below_minimum), []) for u in users}
        events = await conn.execute(
            select(_EVENTS.c.user_id, _EVENTS.c.type, _EVENTS.c.payload)
            .where(_EVENTS.c.user_id.in_(ids))
            .order_by(_EVENTS.c.id)
        )
        for e in events:
            found[e.user_id][2].append((e.type, e.payload))
    return found


async def _check_debits(engine: AsyncEngine, path: str) -> None:
    now = utcnow()
    ids = await debits.create(engine, [s for s, _ in CASES], now=now)
    returned: dict[str, ledger.Debited | None] = {}
    for user, (_state, amount) in zip(ids, CASES, strict=True):
        debit = debits.usage(user, amount, "k")
        if path == "writer":
            returned[user] = debits.writer(engine, debit, now=now)
        else:
            returned[user] = await debits.statement(
                engine, debit, currency="usd", now=now, alone=path == "alone"
            )
    rows = await _rows(engine, ids)
    for user, (state, amount) in zip(ids, CASES, strict=True):
        case = (path, state, amount)
        # What the rules say.
        account = state.account(user)
        debit = debits.usage(user, amount, "k")
        (result,) = posting.apply({user: dataclasses.replace(account)}, {}, [debit]).results
        after = state.balance - amount
        may_need = policy.may_need_recharge(
            balance=after,
            minimum=state.minimum,
            auto_enabled=state.auto,
            paused=state.paused,
            has_card=state.card,
        )
        # In a transaction the statement writes whatever applies; on its own (and the
        # writer) it leaves a debit that calls for the recharge decision to the general path.
        decides_alone = path != "statement" and may_need
        writes = result.outcome is posting.Outcome.APPLIED and not decides_alone
        # What the SQL did.
        debited = returned[user]
        balance, below, events = rows[user]
        assert (debited is not None) is writes, case
        if not writes:
            assert (balance, events) == (state.balance, []), case
            continue
        assert debited is not None
        assert debited.balance == balance == after, case
        assert below is policy.needs_recharge(after, state.minimum), case
        assert debited.may_need_recharge is may_need, case
        low = [ledger.balance_low(account, after)] if result.crossed_low_balance else []
        assert events == [(e.type, e.payload) for e in low], case


async def test_the_fast_debit_paths_agree_with_the_rules(engine: AsyncEngine, backend: str) -> None:
    """PostgreSQL's statement (in a transaction, and on its own) and SQLite's writer."""
    for path in ["statement", "alone"] if backend == "postgresql" else ["writer"]:
        await _check_debits(engine, path)


async def test_refresh_below_minimum_agrees_with_needs_recharge(engine: AsyncEngine) -> None:
    ids = await debits.create(engine, [s for s, _ in CASES], now=utcnow())
    async with engine.begin() as conn:  # every flag wrong first, so each must be rewritten
        await conn.execute(
            update(_USERS).where(_USERS.c.id.in_(ids)).values(below_minimum=~_USERS.c.below_minimum)
        )
        for user, (state, amount) in zip(ids, CASES, strict=True):
            # The minimum as a config change would leave it: the case's, moved by the debit.
            assert state.minimum is not None
            await ledger.refresh_below_minimum(conn, user, minimum=state.minimum + amount)
    rows = await _rows(engine, ids)
    for user, (state, amount) in zip(ids, CASES, strict=True):
        assert state.minimum is not None
        expected = policy.needs_recharge(state.balance, state.minimum + amount)
        assert rows[user][1] is expected, (state, amount)


async def test_sweep_candidates_agree_with_may_need_recharge(engine: AsyncEngine) -> None:
    now = utcnow()
    states = [s for s, _ in CASES]
    ids = await debits.create(engine, states, now=now)
    async with engine.connect() as conn:
        found = set(await records.sweep_candidates(conn, now=now, limit=len(ids) + 1))
    expected = {
        user
        for user, s in zip(ids, states, strict=True)
        if s.may_need_recharge(s.balance)  # nothing in flight, no backoff here
    }
    assert found == expected
    assert 0 < len(expected) < len(ids)
