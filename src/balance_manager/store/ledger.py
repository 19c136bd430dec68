"""The ledger in SQL: lock balances, find existing keys, write what ``posting.apply`` decided.

Never commits: the use case owns the transaction. Every posting path runs the same three
steps with a constant number of statements whatever the batch size:

1. ``lock_accounts`` — the users' rows in id order (``FOR UPDATE`` on PostgreSQL; on SQLite
   the transaction already holds the database's write lock), so concurrent batches cannot
   deadlock and the idempotency check made next is authoritative;
2. ``find_entries`` — entries that already carry the postings' keys, each found through the
   unique ``(user_id, kind, reference)`` index whatever the table statistics say;
3. ``write`` — the new entries, the cached balances (and ``below_minimum``, the sweep's
   index flag: ``policy.needs_recharge``) and any ``balance.low`` events
   (``posting.crosses_low_balance``, ``events.balance_low``).

``debit_one`` is PostgreSQL's fast path for one usage debit: steps 1–3 in one statement,
which restates those rules in SQL; ``tests/integration/test_sql_rules_agree.py`` holds it to
them, and ``tests/integration/test_debit_parity.py`` holds all three debit paths to one
table of outcomes and rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, insert, select, text, tuple_, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.selectable import ScalarSelect

from balance_manager.domain import events, policy, posting
from balance_manager.store import outbox
from balance_manager.store.models import BalanceConfig, LedgerEntry, User
from balance_manager.store.paging import Page, paginate
from balance_manager.store.sql import is_postgres, one_of

_USERS = cast(Table, User.__table__)
_CONFIGS = cast(Table, BalanceConfig.__table__)
_ENTRIES = cast(Table, LedgerEntry.__table__)


def _accounts_query() -> Select[Any]:
    """Users with their thresholds, locked (``FOR UPDATE`` of the users' rows) in id order."""
    return (
        select(
            _USERS.c.id,
            _USERS.c.balance,
            _USERS.c.currency,
            _CONFIGS.c.minimum_balance,
            _CONFIGS.c.balance_floor,
            _CONFIGS.c.low_balance_threshold,
        )
        .select_from(_USERS.outerjoin(_CONFIGS, _CONFIGS.c.user_id == _USERS.c.id))
        .order_by(_USERS.c.id)
        .with_for_update(of=_USERS)
    )


def _account(row: Row[Any]) -> posting.Account:
    return posting.Account(
        row.id,
        row.balance,
        row.minimum_balance,
        row.balance_floor,
        row.currency,
        low_balance=row.low_balance_threshold,
    )


async def lock_accounts(
    conn: AsyncConnection, user_ids: Iterable[str]
) -> dict[str, posting.Account]:
    wanted = sorted(set(user_ids))
    rows = await conn.execute(_accounts_query().where(one_of(conn, _USERS.c.id, wanted)))
    return {r.id: _account(r) for r in rows}


async def lock_account_of(
    conn: AsyncConnection, owned: ScalarSelect[str]
) -> dict[str, posting.Account]:
    """Lock the user that ``owned`` (a scalar subquery, e.g. a record's ``user_id``) names,
    in the same round trip as finding it."""
    rows = await conn.execute(_accounts_query().where(_USERS.c.id == owned))
    return {r.id: _account(r) for r in rows}


FIND_ENTRIES_PG = text(
    "SELECT k.user_id, k.kind, k.reference, e.id, e.amount, e.balance_after, e.created_at"
    " FROM unnest(CAST(:user_ids AS varchar[]), CAST(:kinds AS varchar[]),"
    " CAST(:refs AS varchar[])) AS k(user_id, kind, reference)"
    " CROSS JOIN LATERAL (SELECT id, amount, balance_after, created_at"
    " FROM ledger_entries WHERE user_id = k.user_id AND kind = k.kind"
    " AND reference = k.reference) AS e"
)


async def find_entries(
    conn: AsyncConnection, keys: Sequence[posting.Key]
) -> dict[posting.Key, posting.Entry]:
    if not keys:
        return {}
    unique = sorted(set(keys))
    if is_postgres(conn):
        # One probe of the unique index per key (LATERAL on the full unique key), never a
        # scan of a user's history: the only other index on user_id is partial on ``id > 0``,
        # which this query cannot use, so the plan does not depend on fresh statistics.
        rows = await conn.execute(
            FIND_ENTRIES_PG,
            {
                "user_ids": [k[0] for k in unique],
                "kinds": [k[1] for k in unique],
                "refs": [k[2] for k in unique],
            },
        )
    else:
        rows = await conn.execute(
            select(
                _ENTRIES.c.user_id,
                _ENTRIES.c.kind,
                _ENTRIES.c.reference,
                _ENTRIES.c.id,
                _ENTRIES.c.amount,
                _ENTRIES.c.balance_after,
                _ENTRIES.c.created_at,
            ).where(tuple_(_ENTRIES.c.user_id, _ENTRIES.c.kind, _ENTRIES.c.reference).in_(unique))
        )
    return {
        (r.user_id, str(r.kind), r.reference): posting.Entry(
            r.amount, r.balance_after, r.id, r.created_at
        )
        for r in rows
    }


@dataclass(frozen=True, slots=True)
class Posted:
    """The outcome of each posting (entries carry their ids) and the locked accounts with
    their final balances."""

    results: list[posting.Result]
    accounts: dict[str, posting.Account]


async def post(
    conn: AsyncConnection,
    postings: Sequence[posting.Posting],
    *,
    now: datetime,
    locked: dict[str, posting.Account] | None = None,
) -> Posted:
    """Lock, check, decide (``posting.apply``) and write a batch of postings. ``locked``:
    the caller already holds these users' locks (from :func:`lock_accounts`)."""
    accounts = (
        locked if locked is not None else await lock_accounts(conn, (p.user_id for p in postings))
    )
    existing = await find_entries(conn, [p.key for p in postings if p.user_id in accounts])
    plan = posting.apply(accounts, existing, postings)
    stored = await _write(conn, plan, postings, accounts, now=now)
    results = []
    for index, result in enumerate(plan.results):
        if result.outcome is posting.Outcome.APPLIED:
            result = _with_entry(result, stored[index])
        elif result.replay_of is not None:
            result = _with_entry(result, stored[result.replay_of])
        results.append(result)
    return Posted(results, accounts)


def _with_entry(result: posting.Result, entry: posting.Entry) -> posting.Result:
    return posting.Result(
        result.posting,
        result.outcome,
        entry=entry,
        replay_of=result.replay_of,
        crossed_low_balance=result.crossed_low_balance,
    )


_INSERT_ENTRIES_PG = text(
    "INSERT INTO ledger_entries (user_id, kind, amount, balance_after, reference, description,"
    " metadata, created_at)"
    " SELECT e.user_id, e.kind, e.amount, e.balance_after, e.reference, e.description,"
    " CAST(e.metadata AS json), :now"
    " FROM unnest(CAST(:user_ids AS varchar[]), CAST(:kinds AS varchar[]),"
    " CAST(:amounts AS bigint[]), CAST(:afters AS bigint[]), CAST(:refs AS varchar[]),"
    " CAST(:descriptions AS text[]), CAST(:metadata AS text[]))"
    " AS e(user_id, kind, amount, balance_after, reference, description, metadata)"
    " RETURNING id, user_id, kind, reference"
)


async def _write(
    conn: AsyncConnection,
    plan: posting.Plan,
    postings: Sequence[posting.Posting],
    accounts: dict[str, posting.Account],
    *,
    now: datetime,
) -> dict[int, posting.Entry]:
    if not plan.new_entries:
        return {}
    indexes = sorted(plan.new_entries)
    new = [postings[i] for i in indexes]
    # RETURNING the key rather than relying on row order: "in parameter order" would make
    # SQLite insert one row per statement.
    if is_postgres(conn):
        # One statement over arrays: a thousand rows are eight parameters, not eight
        # thousand for SQLAlchemy to render into a VALUES list on every batch.
        inserted = await conn.execute(
            _INSERT_ENTRIES_PG,
            {
                "user_ids": [p.user_id for p in new],
                "kinds": [str(p.kind) for p in new],
                "amounts": [p.amount for p in new],
                "afters": [plan.new_entries[i].balance_after for i in indexes],
                "refs": [p.reference for p in new],
                "descriptions": [p.description for p in new],
                "metadata": [None if p.metadata is None else json.dumps(p.metadata) for p in new],
                "now": now,
            },
        )
    else:
        inserted = await conn.execute(
            insert(_ENTRIES).returning(
                _ENTRIES.c.id, _ENTRIES.c.user_id, _ENTRIES.c.kind, _ENTRIES.c.reference
            ),
            [
                {
                    "user_id": postings[i].user_id,
                    "kind": postings[i].kind,
                    "amount": postings[i].amount,
                    "balance_after": plan.new_entries[i].balance_after,
                    "reference": postings[i].reference,
                    "description": postings[i].description,
                    "metadata": postings[i].metadata,
                    "created_at": now,
                }
                for i in indexes
            ],
        )
    ids_by_key = {(r.user_id, str(r.kind), r.reference): r.id for r in inserted}
    stored = {
        i: posting.Entry(
            plan.new_entries[i].amount,
            plan.new_entries[i].balance_after,
            ids_by_key[postings[i].key],
            now,
        )
        for i in indexes
    }
    await set_balances(
        conn,
        {
            user_id: (balance, policy.needs_recharge(balance, accounts[user_id].minimum))
            for user_id, balance in plan.balances.items()
        },
        now=now,
    )
    await outbox.add(
        conn,
        [
            balance_low(accounts[r.posting.user_id], stored[i].balance_after)
            for i, r in enumerate(plan.results)
            if r.crossed_low_balance
        ],
        now=now,
    )
    return stored


def balance_low(account: posting.Account, balance: int) -> events.Event:
    """The ``balance.low`` event of a debit that crossed ``account``'s threshold."""
    threshold = posting.low_balance_threshold(account)
    assert threshold is not None  # only a user with a threshold crosses it
    return events.balance_low(
        account.user_id,
        balance=balance,
        threshold=threshold,
        minimum=account.minimum,
        currency=account.currency,
    )


async def set_balances(
    conn: AsyncConnection, balances: dict[str, tuple[int, bool]], *, now: datetime
) -> None:
    """Write cached balances and their ``below_minimum`` flags (user id → (balance, below))."""
    if not balances:
        return
    if is_postgres(conn):
        await conn.execute(
            text(
                "UPDATE users SET balance = v.balance, below_minimum = v.below, updated_at = :now"
                " FROM unnest(CAST(:ids AS varchar[]), CAST(:balances AS bigint[]),"
                " CAST(:below AS boolean[])) AS v(id, balance, below) WHERE users.id = v.id"
            ),
            {
                "ids": list(balances),
                "balances": [b for b, _ in balances.values()],
                "below": [below for _, below in balances.values()],
                "now": now,
            },
        )
        return
    await conn.execute(
        update(_USERS)
        .where(_USERS.c.id == bindparam("user_id_"))
        .values(
            balance=bindparam("balance_"),
            below_minimum=bindparam("below_"),
            updated_at=now,
        ),
        [{"user_id_": u, "balance_": b, "below_": below} for u, (b, below) in balances.items()],
    )


async def refresh_below_minimum(conn: AsyncConnection, user_id: str, *, minimum: int) -> None:
    """After the minimum changed: recompute the user's sweep flag (``policy.needs_recharge``
    in SQL, on the balance as the row has it now)."""
    await conn.execute(
        update(_USERS)
        .where(_USERS.c.id == user_id)
        .values(below_minimum=_USERS.c.balance < minimum)
    )


# --------------------------------------------------------------------- PostgreSQL fast path

# Parameters: $1 user id, $2 amount (negative), $3 reference, $4 description,
# $5 metadata (JSON text), $6 now, $7 the currency's balance bound (``money.max_minor``:
# a debit that would take the balance to -$7 or below is left to the general path, which
# refuses it as ``balance_out_of_range``), $8 alone (see below). Sent through asyncpg
# directly: for one statement SQLAlchemy's execution machinery would cost more CPU than the
# statement itself.
#
# The rules it restates, each named where it stands (and held to the Python by
# tests/integration/test_sql_rules_agree.py and test_debit_parity.py):
# ``posting.apply`` (the key, the floor, the bounds; anything it would not simply apply is
# left to the general path), ``policy.needs_recharge`` (the below_minimum flag),
# ``policy.may_need_recharge`` ($8), ``posting.crosses_low_balance`` and
# ``events.balance_low`` (the event and its payload).
_DEBIT_ONE = """
WITH debited AS (
    UPDATE users AS u
       SET balance = u.balance + $2,
           below_minimum = u.balance + $2 < c.minimum_balance,  -- policy.needs_recharge
           updated_at = $6
      FROM balance_configs AS c
     WHERE u.id = $1 AND c.user_id = u.id
       -- posting.apply: a key already used (replayed or reused: the general path says which)
       AND NOT EXISTS (SELECT 1 FROM ledger_entries AS e
                        WHERE e.user_id = $1 AND e.kind = 'usage' AND e.reference = $3)
       -- posting.apply: the floor, the bounds
       AND (c.balance_floor IS NULL OR u.balance + $2 >= c.balance_floor)
       AND u.balance + $2 > -($7::bigint)
       -- $8 ("alone"): write nothing if this debit calls for the recharge decision
       -- (policy.may_need_recharge), which must then run in the debit's transaction
       -- (``usage._debit_one``).
       AND NOT ($8::boolean AND u.balance + $2 < c.minimum_balance AND c.auto_recharge_enabled
                AND c.paused_reason IS NULL AND c.default_payment_method_id IS NOT NULL)
 RETURNING u.id, u.balance, u.currency, c.minimum_balance, c.auto_recharge_enabled,
           c.paused_reason IS NULL AS not_paused,
           c.default_payment_method_id IS NOT NULL AS has_card,
           -- posting.low_balance_threshold
           COALESCE(c.low_balance_threshold, c.minimum_balance) AS low_balance
), entry AS (
    INSERT INTO ledger_entries (user_id, kind, amount, balance_after, reference, description,
                                metadata, created_at)
    SELECT id, 'usage', $2, balance, $3, $4, $5::json, $6
      FROM debited
 RETURNING id
), low AS (
    -- posting.crosses_low_balance, in SQL, with the payload of events.balance_low.
    INSERT INTO outbox_events (event_id, type, user_id, payload, created_at)
    SELECT replace(gen_random_uuid()::text, '-', ''), 'balance.low', id,
           json_build_object('userId', id, 'balanceMinor', balance, 'thresholdMinor', low_balance,
                             'minimumBalanceMinor', minimum_balance, 'currency', currency),
           $6
      FROM debited
     WHERE balance - $2 >= low_balance AND balance < low_balance
)
SELECT entry.id, d.balance, d.minimum_balance, d.auto_recharge_enabled, d.not_paused, d.has_card
  FROM entry, debited AS d
"""


@dataclass(frozen=True, slots=True)
class Debited:
    entry_id: int
    balance: int
    minimum: int
    # All true: the recharge decision is worth asking (it reads more, under the lock).
    auto_enabled: bool
    not_paused: bool
    has_card: bool

    @property
    def may_need_recharge(self) -> bool:
        return policy.may_need_recharge(
            balance=self.balance,
            minimum=self.minimum,
            auto_enabled=self.auto_enabled,
            paused=not self.not_paused,
            has_card=self.has_card,
        )


async def debit_one(
    pg: Any,
    *,
    user_id: str,
    amount: int,
    reference: str,
    description: str | None,
    metadata: dict[str, Any] | None,
    now: datetime,
    bound: int,
    alone: bool = False,
) -> Debited | None:
    """One usage debit (``amount`` < 0) in one statement on an asyncpg connection (``pg``),
    under the user's row lock (the UPDATE takes it). None when nothing was written: the key
    exists, the floor refused it, or the user does not exist, or the balance would leave its
    bounds (``bound``) — the caller then asks the general path, which says which — or, with
    ``alone`` (the statement commits by itself, outside a transaction), the debit would
    leave the user below the minimum with auto-recharge able to run, so the recharge
    decision must join the debit's transaction.

    A concurrent request with the same key that commits while this one waits for the lock
    makes the INSERT fail on the unique key (``UniqueViolationError``); the caller then takes
    the general path, which replays.
    """
    row = await pg.fetchrow(
        _DEBIT_ONE,
        user_id,
        amount,
        reference,
        description,
        None if metadata is None else json.dumps(metadata),
        now,
        bound,
        alone,
    )
    if row is None:
        return None
    return Debited(
        entry_id=row["id"],
        balance=row["balance"],
        minimum=row["minimum_balance"],
        auto_enabled=row["auto_recharge_enabled"],
        not_paused=row["not_paused"],
        has_card=row["has_card"],
    )


async def currency_of(pg: Any, user_id: str) -> str | None:
    """A user's currency code, on an asyncpg connection (the fast path's first sight)."""
    code: str | None = await pg.fetchval("SELECT currency FROM users WHERE id = $1", user_id)
    return code


# --------------------------------------------------------------------- reads


async def list_entries(
    session: AsyncSession, user_id: str, *, page: int, limit: int
) -> Page[LedgerEntry]:
    """Newest first."""
    query = (
        select(LedgerEntry)
        # ``id > 0`` (always true) opts in to ix_ledger_entries_user_id_id, a partial index.
        .where(LedgerEntry.user_id == user_id, LedgerEntry.id > 0)
        .order_by(LedgerEntry.id.desc())
    )
    return await paginate(session, query, page=page, limit=limit)


async def entries_sum(conn: AsyncConnection | AsyncSession, user_id: str) -> int:
    """Sum of the user's entries: equals ``users.balance`` by construction."""
    total = await conn.scalar(
        select(func.coalesce(func.sum(_ENTRIES.c.amount), 0)).where(_ENTRIES.c.user_id == user_id)
    )
    return int(total or 0)
