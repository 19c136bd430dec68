"""SQLite: a usage debit as one unit of work on a thread of its own.

aiosqlite runs each statement on its thread and hands the result back to the event loop; a
debit is six statements, and under load every hand-back waits for the loop to come round
while SQLite's one write lock is held: one process recorded about 330 debits a second with
its CPU mostly idle. Here the whole transaction (``BEGIN IMMEDIATE``, the account, the key,
the entry, the balance, ``COMMIT``) runs in one call on a dedicated connection, so the lock
is held for the statements only. The rules are the general path's (``posting.apply``); only
a debit that applies and needs no recharge decision is written here. Everything else (a
replay, the floor, a user below the minimum with auto-recharge on, an unknown user) rolls
back and is answered by the general path, which opens a recharge in the debit's transaction.

SQLite's own locking (``busy_timeout``) orders this connection's writes against the pool's
and other processes'.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import sqlite as sqlite_dialect

from balance_manager.domain import ids, policy, posting
from balance_manager.store.ledger import Debited, balance_low
from balance_manager.store.models import LedgerEntry, OutboxEvent

_DIALECT = sqlite_dialect.dialect()


def _binder(column: Any) -> Callable[[Any], Any]:
    """How SQLAlchemy stores a value of ``column`` in SQLite (datetimes, JSON), so rows written
    here read back exactly like rows written through SQLAlchemy."""
    process = column.type.dialect_impl(_DIALECT).bind_processor(_DIALECT)
    return process if process is not None else (lambda value: value)


_TIME = _binder(LedgerEntry.__table__.c.created_at)
_METADATA = _binder(LedgerEntry.__table__.c.metadata)
_PAYLOAD = _binder(OutboxEvent.__table__.c.payload)

_ACCOUNT = (
    "SELECT u.balance, u.currency, c.minimum_balance, c.balance_floor, c.low_balance_threshold,"
    " c.auto_recharge_enabled, c.paused_reason IS NULL, c.default_payment_method_id IS NOT NULL"
    " FROM users AS u JOIN balance_configs AS c ON c.user_id = u.id WHERE u.id = ?"
)
_KEY_TAKEN = "SELECT 1 FROM ledger_entries WHERE user_id = ? AND kind = ? AND reference = ?"
_INSERT_ENTRY = (
    "INSERT INTO ledger_entries (user_id, kind, amount, balance_after, reference, description,"
    " metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
_SET_BALANCE = "UPDATE users SET balance = ?, below_minimum = ?, updated_at = ? WHERE id = ?"
_INSERT_EVENT = (
    "INSERT INTO outbox_events (event_id, type, user_id, payload, created_at)"
    " VALUES (?, ?, ?, ?, ?)"
)


def connect(path: str) -> sqlite3.Connection:
    """A connection set up like the engine's (``store.db._sqlite_engine``); transactions
    are begun explicitly."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA foreign_keys=ON",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA busy_timeout=30000",
    ):
        conn.execute(pragma)
    return conn


def debit(conn: sqlite3.Connection, usage: posting.Posting, *, now: datetime) -> Debited | None:
    """Apply one usage posting in one transaction; None (rolled back, nothing written) when
    it does not simply apply or when the new balance calls for the recharge decision."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        written = _debit(conn, usage, now=now)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT" if written is not None else "ROLLBACK")
    return written


def _debit(conn: sqlite3.Connection, usage: posting.Posting, *, now: datetime) -> Debited | None:
    row = conn.execute(_ACCOUNT, (usage.user_id,)).fetchone()
    if row is None:
        return None
    balance, currency, minimum, floor, low, auto_enabled, not_paused, has_card = row
    if conn.execute(_KEY_TAKEN, (usage.user_id, str(usage.kind), usage.reference)).fetchone():
        return None  # a replay, or the key reused: the general path says which
    account = posting.Account(usage.user_id, balance, minimum, floor, currency, low_balance=low)
    plan = posting.apply({usage.user_id: account}, {}, [usage])
    result = plan.results[0]
    if result.outcome is not posting.Outcome.APPLIED:  # the floor, the bounds
        return None
    after = account.balance  # posting.apply moved it
    debited = Debited(
        entry_id=0,
        balance=after,
        minimum=minimum,
        auto_enabled=bool(auto_enabled),
        not_paused=bool(not_paused),
        has_card=bool(has_card),
    )
    if debited.may_need_recharge:
        return None
    stamp = _TIME(now)
    (entry_id,) = conn.execute(
        _INSERT_ENTRY,
        (
            usage.user_id,
            str(usage.kind),
            usage.amount,
            after,
            usage.reference,
            usage.description,
            _METADATA(usage.metadata),
            stamp,
        ),
    ).fetchone()
    below = policy.needs_recharge(after, minimum)
    conn.execute(_SET_BALANCE, (after, below, stamp, usage.user_id))
    if result.crossed_low_balance:
        event = balance_low(account, after)
        conn.execute(
            _INSERT_EVENT,
            (ids.new_id(), event.type, event.user_id, _PAYLOAD(event.payload), stamp),
        )
    return dataclasses.replace(debited, entry_id=entry_id)


class SqliteWriter:
    """One connection and the one thread it is used on."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self.trace: Callable[[str], None] | None = None  # tests count statements with it

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self._path)
        self._conn.set_trace_callback(self.trace)
        return self._conn

    async def debit(self, usage: posting.Posting, *, now: datetime) -> Debited | None:
        """:func:`debit` on the writer's thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._thread, lambda: debit(self._connection(), usage, now=now)
        )

    def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._thread.submit(_close).result()
        self._thread.shutdown()
