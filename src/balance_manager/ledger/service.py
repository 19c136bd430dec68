"""Posting to the ledger. Never commits: callers own the transaction.

Every posting locks its users' rows first, in user-id order (``SELECT … FOR UPDATE`` on
PostgreSQL, the database write lock on SQLite), so concurrent batches cannot deadlock and the
idempotency check made under the lock is authoritative. The cached ``users.balance`` moves in
the same transaction as the entry, keeping ``balance == sum(entries)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager import ids, policy
from balance_manager.errors import Conflict, NotFound, ServiceError
from balance_manager.store.models import BalanceConfig, LedgerEntry, LedgerKind, OutboxEvent, User
from balance_manager.store.paging import Page, paginate


@dataclass(frozen=True, slots=True)
class Posting:
    user_id: str
    kind: LedgerKind
    amount: int  # signed minor units: usage is negative
    reference: str
    description: str | None = None
    metadata: dict[str, Any] | None = None
    enforce_floor: bool = False


@dataclass(frozen=True, slots=True)
class PostingResult:
    posting: Posting
    entry: LedgerEntry | None = None
    replayed: bool = False
    error: ServiceError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class _Account:
    user: User
    config: BalanceConfig | None
    balance: int
    events: list[OutboxEvent] = field(default_factory=list)


async def post_batch(session: AsyncSession, postings: Sequence[Posting]) -> list[PostingResult]:
    """Post many entries for many users; one result per posting, in input order.

    A posting that fails (unknown user, idempotency conflict, floor) is reported and the
    others still apply.
    """
    user_ids = sorted({p.user_id for p in postings})
    users = (
        await session.scalars(
            select(User)
            .where(User.id.in_(user_ids))
            .order_by(User.id)
            .with_for_update()
            # The session may already hold these users from a read before the lock; their
            # balances must come from the locked rows, not from that earlier snapshot.
            .execution_options(populate_existing=True)
        )
    ).all()
    configs = {
        c.user_id: c
        for c in (
            await session.scalars(
                select(BalanceConfig)
                .where(BalanceConfig.user_id.in_(user_ids))
                .execution_options(populate_existing=True)
            )
        ).all()
    }
    accounts = {u.id: _Account(u, configs.get(u.id), u.balance) for u in users}
    existing = {
        (e.user_id, e.kind, e.reference): e
        for e in (
            await session.scalars(
                select(LedgerEntry).where(
                    tuple_(LedgerEntry.user_id, LedgerEntry.kind, LedgerEntry.reference).in_(
                        [(p.user_id, str(p.kind), p.reference) for p in postings]
                    )
                )
            )
        ).all()
    }

    results: list[PostingResult] = []
    for posting in postings:
        account = accounts.get(posting.user_id)
        if account is None:
            results.append(
                PostingResult(
                    posting,
                    error=NotFound(
                        f"user {posting.user_id} not found", code="user_not_found", field="userId"
                    ),
                )
            )
            continue
        key = (posting.user_id, str(posting.kind), posting.reference)
        prior = existing.get(key)
        if prior is not None:
            results.append(_replay(posting, prior))
            continue
        results.append(_apply(session, account, posting, existing, key))

    for account in accounts.values():
        if account.user.balance != account.balance:
            account.user.balance = account.balance
        session.add_all(account.events)
    await session.flush()
    return results


async def post_one(session: AsyncSession, posting: Posting) -> PostingResult:
    """Post a single entry; raise its error instead of returning it."""
    (result,) = await post_batch(session, [posting])
    if result.error is not None:
        raise result.error
    return result


def _replay(posting: Posting, prior: LedgerEntry) -> PostingResult:
    if prior.amount != posting.amount:
        return PostingResult(
            posting,
            error=Conflict(
                f"idempotencyKey {posting.reference!r} was already used with a different amount",
                code="idempotency_key_reused",
                field="idempotencyKey",
            ),
        )
    return PostingResult(posting, entry=prior, replayed=True)


def _apply(
    session: AsyncSession,
    account: _Account,
    posting: Posting,
    existing: dict[tuple[str, str, str], LedgerEntry],
    key: tuple[str, str, str],
) -> PostingResult:
    before = account.balance
    after = before + posting.amount
    config = account.config
    if (
        posting.enforce_floor
        and posting.amount < 0
        and config is not None
        and config.balance_floor is not None
        and after < config.balance_floor
    ):
        return PostingResult(
            posting,
            error=Conflict(
                "this usage would take the balance below the configured balanceFloor",
                code="balance_floor_reached",
                field="amount",
            ),
        )
    entry = LedgerEntry(
        user_id=posting.user_id,
        kind=str(posting.kind),
        amount=posting.amount,
        balance_after=after,
        reference=posting.reference,
        description=posting.description,
        metadata_=posting.metadata,
    )
    session.add(entry)
    existing[key] = entry  # a repeat of the key later in the same batch replays this one
    account.balance = after
    crossed = (
        config is not None
        and posting.amount < 0
        and not policy.needs_recharge(before, config.minimum_balance)
        and policy.needs_recharge(after, config.minimum_balance)
    )
    if crossed:
        account.events.append(
            OutboxEvent(
                event_id=ids.new_id(),
                type="balance.low",
                user_id=posting.user_id,
                payload={
                    "userId": posting.user_id,
                    "balanceMinor": after,
                    "minimumBalanceMinor": config.minimum_balance if config else None,
                    "currency": account.user.currency,
                },
                attempts=0,
            )
        )
    return PostingResult(posting, entry=entry)


async def list_entries(
    session: AsyncSession, user_id: str, *, page: int, limit: int
) -> Page[LedgerEntry]:
    """Newest first."""
    query = (
        select(LedgerEntry).where(LedgerEntry.user_id == user_id).order_by(LedgerEntry.id.desc())
    )
    return await paginate(session, query, page=page, limit=limit)


async def entries_sum(session: AsyncSession, user_id: str) -> int:
    """Sum of the user's entries: equals ``users.balance`` by construction."""
    total = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(LedgerEntry.user_id == user_id)
    )
    return int(total or 0)
