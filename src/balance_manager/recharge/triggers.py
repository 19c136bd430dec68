"""Trigger (1): a usage debit that leaves the balance below the minimum opens the recharge in
the same transaction (the user's row is already locked by the ledger posting)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager.ledger.service import PostingResult
from balance_manager.recharge import service
from balance_manager.store.models import RechargeRecord


async def after_usage(
    session: AsyncSession,
    results: Iterable[PostingResult],
    *,
    rules: service.EngineRules,
    now: datetime,
) -> list[RechargeRecord]:
    """Open an automatic recharge for every user the postings left below their minimum."""
    debited = sorted(
        {
            r.posting.user_id
            for r in results
            if r.ok and r.entry is not None and not r.replayed and r.posting.amount < 0
        }
    )
    opened = []
    for user_id in debited:
        outcome = await service.open_automatic(
            session, user_id, rules=rules, trigger_detail="usage", now=now
        )
        if isinstance(outcome, RechargeRecord):
            opened.append(outcome)
    return opened
