"""What must hold after any amount of chaos, checked against the database and Stripe's own
record (the sandbox, read through the official SDK as the service reads Stripe).

Each check returns the mismatches it found (empty: it holds):

- ``ledger``: every cached balance equals the sum of its ledger entries;
- ``credits``: the succeeded PaymentIntents of each customer are exactly the recharge
  credits in the ledger (minus refunds: ``refunded`` is the hook for them), amount for amount;
- ``double_charge``: no recharge record has more than one PaymentIntent;
- ``records``: every succeeded record is credited once, by its own PaymentIntent;
- ``overshoot``: no recharge credit took a balance above the target (the amount was fixed as
  target − balance when the record opened, and usage since can only lower it);
- ``daily_limit``: per user and UTC day, recharges charged plus failed manual attempts never
  exceed ``maxDailyRecharges``;
- ``usage``: the usage entries are exactly the debits the API confirmed, once each;
- ``reconcile``: the reconciliation report's differences (``reconcile`` is the hook).
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import stripe
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.store.models import BalanceConfig, LedgerEntry, RechargeRecord, User

Refunded = Callable[[str], Awaitable[int]]  # payment intent id → refunded minor units
Reconcile = Callable[[], Awaitable[list[str]]]


async def _no_refunds(_payment_intent_id: str) -> int:
    return 0


async def _no_reconciliation() -> list[str]:
    return []


def _intents(sdk: stripe.StripeClient, customer: str) -> list[Any]:
    return list(
        sdk.v1.payment_intents.list(params={"customer": customer, "limit": 100}).auto_paging_iter()
    )


async def check(
    engine: AsyncEngine,
    sdk: stripe.StripeClient,
    confirmed_debits: dict[tuple[str, str], int],
    *,
    refunded: Refunded = _no_refunds,
    reconcile: Reconcile = _no_reconciliation,
) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {
        name: []
        for name in (
            "ledger",
            "credits",
            "double_charge",
            "records",
            "overshoot",
            "daily_limit",
            "usage",
            "reconcile",
        )
    }
    async with engine.connect() as conn:
        users = (
            await conn.execute(
                select(
                    User.id,
                    User.balance,
                    User.stripe_customer_id,
                    BalanceConfig.target_balance,
                    BalanceConfig.max_daily_recharges,
                ).join(BalanceConfig, BalanceConfig.user_id == User.id)
            )
        ).all()
        sums = dict(
            (
                await conn.execute(
                    select(LedgerEntry.user_id, func.sum(LedgerEntry.amount)).group_by(
                        LedgerEntry.user_id
                    )
                )
            ).all()
        )
        entries = (
            await conn.execute(
                select(
                    LedgerEntry.user_id,
                    LedgerEntry.kind,
                    LedgerEntry.reference,
                    LedgerEntry.amount,
                    LedgerEntry.balance_after,
                )
            )
        ).all()
        records = (await conn.execute(select(RechargeRecord.__table__))).all()

    by_user_entries: dict[str, list[Any]] = defaultdict(list)
    for entry in entries:
        by_user_entries[entry.user_id].append(entry)
    by_user_records: dict[str, list[Any]] = defaultdict(list)
    for record in records:
        by_user_records[record.user_id].append(record)

    for user in users:
        total = int(sums.get(user.id) or 0)
        if user.balance != total:
            found["ledger"].append(f"{user.id}: balance {user.balance} != entries {total}")

        credits = {e.reference: e for e in by_user_entries[user.id] if str(e.kind) == "recharge"}
        mine = by_user_records[user.id]
        intents = (
            await asyncio.to_thread(_intents, sdk, user.stripe_customer_id)
            if user.stripe_customer_id
            else []
        )
        succeeded = {i.id: i for i in intents if i.status == "succeeded"}
        for pi_id, intent in succeeded.items():
            credit = credits.get(pi_id)
            net = intent.amount - await refunded(pi_id)
            if credit is None and net > 0:
                found["credits"].append(f"{user.id}: {pi_id} succeeded, never credited")
        for reference in credits:
            if reference not in succeeded:
                found["credits"].append(f"{user.id}: credit {reference} has no succeeded charge")

        per_record = Counter(
            str(i.metadata.to_dict().get("recharge_id") if i.metadata else None) for i in intents
        )
        for record_id, count in per_record.items():
            if count > 1:
                found["double_charge"].append(f"{user.id}: record {record_id}: {count} intents")

        by_intent = {r.payment_intent_id: r for r in mine if r.payment_intent_id}
        for record in mine:
            if str(record.status) == "succeeded":
                credit = credits.get(str(record.payment_intent_id))
                intent = succeeded.get(str(record.payment_intent_id))
                if credit is None or intent is None:
                    found["records"].append(f"{user.id}: succeeded {record.id} without credit/PI")
                elif credit.amount != record.amount or intent.amount != record.total_charge:
                    found["records"].append(
                        f"{user.id}: {record.id}: credit {credit.amount}/{record.amount},"
                        f" charge {intent.amount}/{record.total_charge}"
                    )
            elif str(record.status) not in {"failed", "canceled"}:
                found["records"].append(f"{user.id}: {record.id} still {record.status}")
        for reference, credit in credits.items():
            if reference not in by_intent:
                found["records"].append(f"{user.id}: credit {reference} matches no record")
            if credit.balance_after > user.target_balance:
                found["overshoot"].append(
                    f"{user.id}: credit {reference} left {credit.balance_after}"
                    f" > target {user.target_balance}"
                )

        per_day: Counter[str] = Counter()
        for record in mine:
            counted = str(record.status) == "succeeded" or (
                str(record.status) == "failed" and str(record.triggered_by) == "manual"
            )
            if counted:
                per_day[record.created_at.date().isoformat()] += 1
        for day, count in per_day.items():
            if count > user.max_daily_recharges:
                found["daily_limit"].append(
                    f"{user.id}: {count} on {day} > {user.max_daily_recharges}"
                )

        usage = {e.reference: -e.amount for e in by_user_entries[user.id] if str(e.kind) == "usage"}
        expected = {
            key: amount for (uid, key), amount in confirmed_debits.items() if uid == user.id
        }
        if usage != expected:
            missing = sorted(set(expected) - set(usage))[:5]
            extra = sorted(set(usage) - set(expected))[:5]
            wrong = sorted(k for k in set(usage) & set(expected) if usage[k] != expected[k])[:5]
            found["usage"].append(f"{user.id}: missing {missing} extra {extra} wrong {wrong}")

    found["reconcile"] = await reconcile()
    return found
