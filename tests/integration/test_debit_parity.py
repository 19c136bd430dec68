"""The three usage-debit paths give the same outcome and write the same rows, over one table.

A usage debit is written by PostgreSQL's one-statement debit (``ledger.debit_one``), by
SQLite's writer (``sqlite_writer.debit``) or by the general path (``ledger.post``, which
``posting.apply`` decides). Each row of the table below is an account, a debit and what must
happen — written out, not computed — and every path runs it on an account of its own:

- the general path must reach the expected outcome and write exactly the expected rows (the
  entry, the balance, the ``below_minimum`` flag, a ``balance.low`` event or none);
- a fast path either writes rows identical to the general path's (same entry, balance, flag
  and event, payload included) and reports the same balance, or writes nothing and leaves
  the debit to the general path — and it may leave alone only what it must: a debit the
  general path does not simply apply (replay, key reuse, floor, bounds, unknown user, no
  config) or, on its own, one that calls for the recharge decision.

``tests/integration/test_sqlite_writer.py`` checks through the API that the writer's rows
read back like the general path's (storage formats); ``tests/recharge/test_round_trips.py``
counts each path's statements.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.domain import events, posting
from balance_manager.domain.posting import Outcome
from balance_manager.domain.states import LedgerKind
from balance_manager.store.models import utcnow
from tests.integration import debits
from tests.integration.debits import USER, State

USD_BOUND = 10**14  # money.max_minor(usd): a trillion dollars in cents
JPY_BOUND = 10**12


@dataclass(frozen=True)
class Case:
    id: str
    state: State
    amount: int  # minor units debited
    outcome: Outcome
    after: int | None = None  # the balance after, when applied
    below: bool = False  # users.below_minimum after
    low: bool = False  # a balance.low event
    may_need_recharge: bool = False  # the recharge decision must join the debit
    reference: str = "k"


OFF = {"auto": False}  # auto-recharge off: every path writes the crossing itself

CASES = [
    Case("stays-above", State(100000), 5000, Outcome.APPLIED, after=95000),
    Case(
        "crosses-the-minimum",
        State(20000),
        6000,
        Outcome.APPLIED,
        after=14000,
        below=True,
        low=True,
        may_need_recharge=True,
    ),
    Case(
        "crosses-the-minimum-auto-off",
        State(20000, **OFF),
        6000,
        Outcome.APPLIED,
        after=14000,
        below=True,
        low=True,
    ),
    Case(
        "crosses-the-minimum-paused",
        State(20000, paused=True),
        6000,
        Outcome.APPLIED,
        after=14000,
        below=True,
        low=True,
    ),
    Case(
        "crosses-the-minimum-without-a-card",
        State(20000, card=False),
        6000,
        Outcome.APPLIED,
        after=14000,
        below=True,
        low=True,
    ),
    Case(
        "already-below",
        State(10000),
        1000,
        Outcome.APPLIED,
        after=9000,
        below=True,
        may_need_recharge=True,
    ),
    Case("already-below-auto-off", State(10000, **OFF), 1000, Outcome.APPLIED, 9000, below=True),
    Case("lands-on-the-minimum", State(20000), 5000, Outcome.APPLIED, after=15000),
    Case(
        "one-below-the-minimum",
        State(20000, **OFF),
        5001,
        Outcome.APPLIED,
        after=14999,
        below=True,
        low=True,
    ),
    Case(
        "own-threshold-above-the-minimum",
        State(60000, low_balance=50000),
        11000,
        Outcome.APPLIED,
        after=49000,
        low=True,
    ),
    Case(
        "lands-on-the-own-threshold",
        State(60000, low_balance=50000),
        10000,
        Outcome.APPLIED,
        after=50000,
    ),
    Case(
        "own-threshold-below-the-minimum-not-crossed",
        State(20000, low_balance=5000, **OFF),
        6000,
        Outcome.APPLIED,
        after=14000,
        below=True,
    ),
    Case(
        "own-threshold-crossed-far-below",
        State(6000, low_balance=5000, **OFF),
        2000,
        Outcome.APPLIED,
        after=4000,
        below=True,
        low=True,
    ),
    Case(
        "down-to-the-floor",
        State(0, floor=-10000, **OFF),
        10000,
        Outcome.APPLIED,
        after=-10000,
        below=True,
    ),
    Case("past-the-floor", State(0, floor=-10000), 10001, Outcome.FLOOR_REACHED),
    Case("past-a-zero-floor", State(500, floor=0), 501, Outcome.FLOOR_REACHED),
    Case(
        "just-inside-the-bounds",
        State(-USD_BOUND + 101, **OFF),
        100,
        Outcome.APPLIED,
        after=-USD_BOUND + 1,
        below=True,
    ),
    Case("onto-the-bound", State(-USD_BOUND + 100, **OFF), 100, Outcome.OUT_OF_RANGE),
    Case(
        "onto-the-bound-in-yen",
        State(-JPY_BOUND + 5, currency="jpy", **OFF),
        5,
        Outcome.OUT_OF_RANGE,
    ),
    Case(
        "replayed",
        State(100000, prior=((LedgerKind.USAGE, "k", -500),)),
        500,
        Outcome.REPLAYED,
    ),
    Case(
        "key-reused",
        State(100000, prior=((LedgerKind.USAGE, "k", -500),)),
        700,
        Outcome.KEY_REUSED,
    ),
    Case(
        "the-key-of-another-kind-is-free",
        State(100000, prior=((LedgerKind.ADJUSTMENT, "k", -500),)),
        500,
        Outcome.APPLIED,
        after=99500,
    ),
    Case("no-config", State(20000, minimum=None), 6000, Outcome.APPLIED, after=14000),
]


async def _check_general(engine: AsyncEngine, case: Case) -> debits.Written:
    """The general path reaches the expected outcome and writes the expected rows; returns
    them (for the fast paths to match)."""
    now = utcnow()
    (user,) = await debits.create(engine, [case.state], now=now)
    before = await debits.written(engine, user)
    debit = debits.usage(user, case.amount, case.reference)
    result = await debits.general(engine, debit, now=now)
    assert result.outcome is case.outcome, case.id
    assert result.crossed_low_balance is case.low, case.id
    rows = await debits.written(engine, user)
    if case.outcome is not Outcome.APPLIED:
        assert rows == before, case.id  # refused or replayed: nothing moves
        return rows
    assert result.entry is not None and result.entry.balance_after == case.after, case.id
    state = case.state
    entry = ("usage", -case.amount, case.after, case.reference, "tokens", debit.metadata, now)
    assert dataclasses.replace(rows, events=[]) == dataclasses.replace(
        before, balance=case.after, below_minimum=case.below, entries=[*before.entries, entry]
    ), case.id
    expected_events = []
    if case.low:
        assert case.after is not None
        event = events.balance_low(
            USER,
            balance=case.after,
            threshold=posting.low_balance_threshold(state.account(USER)) or 0,
            minimum=state.minimum,
            currency=state.currency,
        )
        expected_events = [(event.type, USER, event.payload, now)]
    assert rows.events == expected_events, case.id
    assert state.may_need_recharge(case.after) is case.may_need_recharge, case.id
    return rows


async def _check_fast(
    engine: AsyncEngine, case: Case, general: debits.Written, *, path: str
) -> None:
    now = utcnow()
    (user,) = await debits.create(engine, [case.state], now=now)
    before = await debits.written(engine, user)
    debit = debits.usage(user, case.amount, case.reference)
    if path == "writer":
        debited = debits.writer(engine, debit, now=now)
    else:
        debited = await debits.statement(
            engine, debit, currency=case.state.currency, now=now, alone=path == "alone"
        )
    rows = await debits.written(engine, user)
    simply_applies = case.outcome is Outcome.APPLIED and case.state.minimum is not None
    decides_alone = path in {"alone", "writer"} and case.may_need_recharge
    if not simply_applies or decides_alone:
        assert debited is None, (case.id, path)
        assert rows == before, (case.id, path)  # left to the general path, untouched
        return
    assert debited is not None, (case.id, path)
    assert (debited.balance, debited.minimum) == (case.after, case.state.minimum), case.id
    assert debited.may_need_recharge is case.may_need_recharge, (case.id, path)
    # The same rows as the general path's (whose created_at was its own ``now``).
    assert _at(rows, now) == _at(general, now), (case.id, path)


def _at(rows: debits.Written, now: object) -> debits.Written:
    return dataclasses.replace(
        rows,
        entries=[(*e[:-1], now) for e in rows.entries],
        events=[(*e[:-1], now) for e in rows.events],
    )


async def test_the_general_path_and_the_fast_path_agree_on_every_case(
    engine: AsyncEngine, backend: str
) -> None:
    fast = ["statement", "alone"] if backend == "postgresql" else ["writer"]
    for case in CASES:
        general = await _check_general(engine, case)
        for path in fast:
            await _check_fast(engine, case, general, path=path)


async def test_an_unknown_user(engine: AsyncEngine, backend: str) -> None:
    debit = debits.usage("usr_nobody", 500, "k")
    result = await debits.general(engine, debit, now=utcnow())
    assert result.outcome is Outcome.UNKNOWN_USER
    if backend == "postgresql":
        for alone in (False, True):
            assert (
                await debits.statement(engine, debit, currency="usd", now=utcnow(), alone=alone)
                is None
            )
    else:
        assert debits.writer(engine, debit, now=utcnow()) is None
    assert await debits.written(engine, "usr_nobody") == debits.Written(None, None)


def test_the_table_covers_every_outcome_but_the_unknown_user() -> None:
    assert {c.outcome for c in CASES} == set(Outcome) - {Outcome.UNKNOWN_USER}
    assert {(c.below, c.low, c.may_need_recharge) for c in CASES if c.after is not None} >= {
        (False, False, False),
        (True, True, True),
        (True, True, False),
        (True, False, True),
        (True, False, False),
        (False, True, False),
    }
    assert len({c.id for c in CASES}) == len(CASES)
