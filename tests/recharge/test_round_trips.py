"""Database round trips per request: they must not grow.

The figures are the budget of the hot paths; a change that adds a round trip must change
this file, on purpose. See ``counted`` for what one round trip is on each database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.store.sqlite_writer import SqliteWriter
from tests.conftest import UserMaker
from tests.recharge.conftest import Engine


@dataclass
class Trips:
    statements: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.statements)


# asyncpg learns a type the first time a connection meets it (and caches it on the connection):
# per connection, like preparing, not per request.
_INTROSPECTION = (
    "SELECT current_setting('jit')",
    "WITH RECURSIVE typeinfo_tree",
    "SELECT set_config('jit'",
)


class _CountingProtocol:
    """asyncpg's protocol object, counting the calls that are one round trip each."""

    # Preparing a statement is a round trip too, but once per statement and connection
    # (asyncpg caches them): the steady state is what is budgeted.
    ROUND_TRIPS = frozenset({"query", "bind_execute", "bind_execute_many", "bind"})

    def __init__(self, protocol: Any, trips: list[Trips]) -> None:
        self._protocol = protocol
        self._trips = trips

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._protocol, name)
        if name not in self.ROUND_TRIPS or not callable(attr):
            return attr

        def counted_call(*args: Any, **kwargs: Any) -> Any:
            first = kwargs.get("state", args[0] if args else None)
            text = first if isinstance(first, str) else getattr(first, "query", name)
            text = " ".join(str(text).split())
            if not text.startswith(_INTROSPECTION):
                for trips in self._trips:
                    trips.statements.append(text[:120])
            return attr(*args, **kwargs)

        return counted_call


@contextmanager
def counted(engine: AsyncEngine, writer: SqliteWriter | None = None) -> Iterator[Trips]:
    """Round trips to the database while the block runs.

    PostgreSQL: every call asyncpg makes to the server (BEGIN and COMMIT, statements,
    prepares), whether through SQLAlchemy or on the driver directly — counted on each pooled
    connection's protocol. SQLite (in-process): every statement SQLAlchemy executes (its
    BEGIN IMMEDIATE included) plus COMMIT, and every statement of the usage debit's own
    connection (``writer``), run as one call on its thread."""
    trips = Trips()
    sync = engine.sync_engine
    active: list[Trips] = [trips]
    if engine.dialect.name == "postgresql":

        def wrap(dbapi_conn: Any, *_args: Any) -> None:
            driver = dbapi_conn.driver_connection
            if not isinstance(driver._protocol, _CountingProtocol):
                driver._protocol = _CountingProtocol(driver._protocol, active)
            else:
                driver._protocol._trips = active

        event.listen(sync, "checkout", wrap)
        try:
            yield trips
        finally:
            active.clear()
            event.remove(sync, "checkout", wrap)
        return

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        trips.statements.append(" ".join(statement.split())[:120])

    def on_commit(_conn: Any) -> None:
        trips.statements.append("COMMIT")

    event.listen(sync, "before_cursor_execute", on_execute)
    event.listen(sync, "commit", on_commit)
    if writer is not None:
        writer.trace = lambda statement: trips.statements.append("writer: " + statement[:112])
    try:
        yield trips
    finally:
        event.remove(sync, "before_cursor_execute", on_execute)
        event.remove(sync, "commit", on_commit)
        if writer is not None:
            writer.trace = None


async def _warm(client: httpx.AsyncClient, user: str, operator: dict[str, str]) -> None:
    """The first request of a process verifies the key and learns the user's currency."""
    response = await client.post(
        f"/api/balance/usage/{user}", json={"amount": 1, "idempotencyKey": "warm"}, headers=operator
    )
    assert response.status_code == 200, response.text


# PostgreSQL: the one-statement debit, committed on its own. SQLite (in-process, no network): one
# call on the writer's thread: BEGIN IMMEDIATE, the account, the key, insert, update, COMMIT.
USAGE_BUDGET = {"postgresql": 1, "sqlite": 6}


async def test_one_usage_debit(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str], backend: str
) -> None:
    e = engine_app
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=1000)
    await e.give_card(user)
    await _warm(e.client, user, operator)
    with counted(e.ctx.engine, e.svc.sqlite_writer) as trips:
        response = await e.usage(user, 5, "u1", operator)
    assert response.status_code == 200
    assert trips.total == USAGE_BUDGET[backend], trips.statements


async def test_a_usage_debit_that_opens_a_recharge(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str], backend: str
) -> None:
    """Below the minimum: the decision's read and the record's insert join the debit's
    transaction — on PostgreSQL the statement on its own writes nothing, then BEGIN, the
    statement, SAVEPOINT, read, insert, NOTIFY, RELEASE, COMMIT;
    on SQLite the writer's call finds the balance below the minimum and rolls back (BEGIN
    IMMEDIATE, account, key, ROLLBACK), then the general path debits, reads, inserts the
    record and the balance.low event the crossing writes."""
    e = engine_app
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=1000)
    await e.give_card(user)
    await _warm(e.client, user, operator)
    with counted(e.ctx.engine, e.svc.sqlite_writer) as trips:
        response = await e.usage(user, 950, "u1", operator)
    assert response.json()["rechargeId"] is not None
    assert trips.total == USAGE_BUDGET[backend] + {"postgresql": 8, "sqlite": 7}[backend], trips


@pytest.mark.parametrize("size", [1, 1000])
async def test_a_batch_costs_the_same_statements_whatever_its_size(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str], size: int
) -> None:
    e = engine_app
    users = [await make_user(initial_balance=10_000) for _ in range(10)]
    await _warm(e.client, users[0], operator)
    await e.client.post(  # learn every user's currency
        "/api/balance/usage",
        json={"events": [{"userId": u, "amount": 1, "idempotencyKey": "w-" + u} for u in users]},
        headers=operator,
    )
    events = [
        {"userId": users[i % 10], "amount": 1, "idempotencyKey": f"b{size}-{i}"}
        for i in range(size)
    ]
    with counted(e.ctx.engine) as trips:
        response = await e.client.post(
            "/api/balance/usage", json={"events": events}, headers=operator
        )
    assert response.json()["applied"] == size
    # Lock, look up the keys, insert the entries, update the balances (+ BEGIN, COMMIT).
    assert trips.total == 6, trips.statements


async def test_a_webhook_credit(
    engine_app: Engine, worked_example_user: str, operator: dict[str, str], backend: str
) -> None:
    """``payment_intent.succeeded`` for a charged record: one transaction that checks the
    event id, locks, credits and records the event."""
    from balance_manager.usecases import charging, stripe_events

    e, user = engine_app, worked_example_user
    await e.usage(user, 50, "u1", operator)
    (job,) = await charging.claim(e.svc)
    assert e.ctx.gateway is not None
    result = await charging.charge(e.ctx.gateway, job, now=e.clock())
    intent = e.stripe.v1.payment_intents.retrieve(str(result.payment_intent_id))
    event = stripe_events_event("payment_intent.succeeded", intent.to_dict())
    with counted(e.ctx.engine) as trips:
        handled = await stripe_events.handle(e.svc, event)
    assert handled.outcome == "credited"
    assert trips.total == {"postgresql": 10, "sqlite": 10}[backend], "\n".join(trips.statements)


def stripe_events_event(kind: str, obj: dict[str, Any]) -> Any:
    import stripe

    return stripe.Event.construct_from(
        {"id": "evt_trips", "object": "event", "type": kind, "data": {"object": obj}}, "sk_test"
    )
