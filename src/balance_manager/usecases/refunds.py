"""Refunds and disputes: the operator's refund, and Stripe's refunds and disputes applied to
the ledger.

Whatever reports a refund or dispute — the refund API's own answer, a ``charge.refunded`` /
``refund.*`` / ``charge.dispute.*`` webhook, reconciliation — applies Stripe's current state
of the PaymentIntent (:class:`PaymentReversals`, read before the transaction) through
:func:`apply_in`, so order and repeats do not matter:

1. lock the recharge the PaymentIntent belongs to and settle it first (a refund can arrive
   before the credit it takes back);
2. for each refund and dispute, move its ``charge_reversals`` row forward —
   ``none → applied`` when its money left (ledger ``refund`` / ``dispute``, a debit),
   ``applied → released`` when it came back (``refund_reversal`` / ``dispute_reversal``, a
   credit) — each entry keyed by the Stripe object's id, by the rule in ``reversals``;
3. a dispute whose money left pauses automatic recharges (the card's holder disputes our
   charges: charging it again would be the worst answer), until the card changes or the
   customer re-enables them.

Refunds and disputes of payments that match no recharge of ours become payment anomalies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager.domain import events, money, posting, reversals
from balance_manager.domain.amounts import parse_amount
from balance_manager.domain.errors import Conflict, InvalidInput, NotFound
from balance_manager.domain.states import (
    AnomalyKind,
    EventType,
    LedgerKind,
    RechargeStatus,
    ReversalEffect,
    ReversalKind,
)
from balance_manager.payments.gateway import StripeRejected
from balance_manager.payments.stripe_objects import DisputeInfo, PaymentReversals, RefundInfo
from balance_manager.store import ledger, outbox
from balance_manager.store.anomalies import Anomaly
from balance_manager.store.models import ChargeReversal, RechargeRecord, User
from balance_manager.usecases import anomalies, charging
from balance_manager.usecases.accounts import get_user
from balance_manager.usecases.services import Services, require_gateway

log = structlog.get_logger(__name__)

STRIPE_REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
# The operator's outbox event for each move.
_EVENTS = {
    LedgerKind.REFUND: EventType.RECHARGE_REFUNDED,
    LedgerKind.REFUND_REVERSAL: EventType.RECHARGE_REFUND_REVERSED,
    LedgerKind.DISPUTE: EventType.RECHARGE_DISPUTED,
    LedgerKind.DISPUTE_REVERSAL: EventType.RECHARGE_DISPUTE_REVERSED,
}
_UNSETTLED = frozenset(
    {
        charging.Settled.UNKNOWN_RECORD,
        charging.Settled.PAYMENT_INTENT_MISMATCH,
        charging.Settled.ANOMALY,
    }
)


@dataclass(frozen=True, slots=True)
class Change:
    """One move of a refund or dispute against the balance."""

    reversal_id: str
    kind: LedgerKind  # the ledger entry's kind
    recharge_id: str
    user_id: str
    amount: int  # of the charge, minor units
    credit: int  # the ledger entry's signed amount (0: the rule rounded it to nothing)
    currency: str


@dataclass(frozen=True, slots=True)
class Applied:
    outcome: str  # "applied", "unchanged", "not_a_recharge", "unmatched", "not_credited"
    changes: list[Change] = field(default_factory=list)
    recharge_id: str | None = None


def takes_money(item: RefundInfo | DisputeInfo) -> bool:
    if isinstance(item, RefundInfo):
        return reversals.refund_takes_money(item.status)
    return reversals.dispute_takes_money(
        item.status, withdrawn=item.withdrawn, reinstated=item.reinstated
    )


async def apply_in(
    session: AsyncSession, found: PaymentReversals, *, svc: Services, now: datetime
) -> Applied:
    """Apply a PaymentIntent's refunds and disputes, as Stripe has them now, inside the
    caller's transaction (see the module docstring)."""
    intent = found.intent
    items: list[RefundInfo | DisputeInfo] = sorted(
        [*found.refunds, *found.disputes], key=lambda i: (i.created or 0, i.id)
    )
    record_id = await session.scalar(
        select(RechargeRecord.id).where(
            RechargeRecord.payment_intent_id == intent.payment_intent_id
        )
    )
    record_id = record_id or intent.recharge_id
    locked = await charging.lock_record(session, record_id) if record_id else None
    settled = (
        await charging.settle_locked(session, locked, intent, rules=svc.rules, now=now)
        if locked is not None
        else charging.Settled.UNKNOWN_RECORD
    )
    if locked is None or settled in _UNSETTLED:
        return await _unmatched(session, found, items, now=now)
    record = locked.record
    if record.status is not RechargeStatus.SUCCEEDED:
        return Applied("not_credited", recharge_id=record.id)

    rows = (
        {
            r.id: r
            for r in await session.scalars(
                select(ChargeReversal).where(ChargeReversal.id.in_([i.id for i in items]))
            )
        }
        if items
        else {}
    )
    changes: list[Change] = []
    for item in items:
        row = rows.get(item.id)
        if row is None:
            row = ChargeReversal(
                id=item.id,
                kind=ReversalKind.REFUND if isinstance(item, RefundInfo) else ReversalKind.DISPUTE,
                recharge_id=record.id,
                user_id=record.user_id,
                amount=item.amount,
                currency=record.currency,
                status=item.status[:32],
                reason=(item.reason or None) and str(item.reason)[:64],
                effect=ReversalEffect.NONE,
                credit_amount=0,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            rows[item.id] = row
        elif row.recharge_id != record.id:
            continue  # another record's (cannot happen: one charge, one PaymentIntent)
        row.status = item.status[:32]
        row.updated_at = now
        if isinstance(item, DisputeInfo):
            record.dispute_status = item.status[:32]
        change = await _move(session, locked, row, taking=takes_money(item), now=now)
        if change is not None:
            changes.append(change)
    await session.flush()
    return Applied("applied" if changes else "unchanged", changes, record.id)


async def _move(
    session: AsyncSession,
    locked: charging.LockedRecord,
    row: ChargeReversal,
    *,
    taking: bool,
    now: datetime,
) -> Change | None:
    """Move one refund or dispute forward (``none → applied → released``) and post what the
    move does to the balance; None when it does not move."""
    if row.effect is ReversalEffect.NONE and taking:
        target, sign = ReversalEffect.APPLIED, 1
    elif row.effect is ReversalEffect.APPLIED and not taking:
        target, sign = ReversalEffect.RELEASED, -1
    else:
        return None
    record = locked.record
    refund = row.kind is ReversalKind.REFUND
    before = record.amount_refunded + record.amount_disputed
    if refund:
        record.amount_refunded = max(record.amount_refunded + sign * row.amount, 0)
    else:
        record.amount_disputed = max(record.amount_disputed + sign * row.amount, 0)
    after = record.amount_refunded + record.amount_disputed
    share = {"amount": record.amount, "total": record.total_charge}
    credit = reversals.credit_share(before, **share) - reversals.credit_share(after, **share)
    kind = {
        (True, ReversalEffect.APPLIED): LedgerKind.REFUND,
        (True, ReversalEffect.RELEASED): LedgerKind.REFUND_REVERSAL,
        (False, ReversalEffect.APPLIED): LedgerKind.DISPUTE,
        (False, ReversalEffect.RELEASED): LedgerKind.DISPUTE_REVERSAL,
    }[(refund, target)]
    balance = None
    if credit:
        posted = await ledger.post(
            await session.connection(),
            [
                posting.Posting(
                    user_id=record.user_id,
                    kind=kind,
                    amount=credit,
                    reference=row.id,
                    description=f"{kind.replace('_', ' ')} {row.id} of recharge {record.id}",
                    metadata={"rechargeId": record.id, "chargeAmountMinor": row.amount},
                )
            ],
            now=now,
            locked=locked.accounts,
        )
        result = posted.results[0]
        if result.outcome is not posting.Outcome.APPLIED:
            log.error("reversal_entry_exists", reversal_id=row.id, kind=str(kind))
        balance = result.entry.balance_after if result.entry else None
    row.effect = target
    row.credit_amount += credit
    await _event(session, _EVENTS[kind], locked, row, credit=credit, balance=balance, now=now)
    if not refund and target is ReversalEffect.APPLIED:
        await _pause_for_dispute(session, locked, row, now=now)
    log.info(
        "charge_reversal", reversal_id=row.id, kind=str(kind), credit=credit, recharge=record.id
    )
    return Change(row.id, kind, record.id, record.user_id, row.amount, credit, record.currency)


async def _pause_for_dispute(
    session: AsyncSession, locked: charging.LockedRecord, row: ChargeReversal, *, now: datetime
) -> None:
    config = locked.config
    if config.paused_reason is not None:
        return
    config.paused_reason = f"dispute {row.id} on recharge {row.recharge_id}"[:255]
    config.paused_at = now
    await outbox.add(
        await session.connection(),
        [events.auto_recharge_paused(locked.record, reason=config.paused_reason)],
        now=now,
    )


async def _event(
    session: AsyncSession,
    kind: EventType,
    locked: charging.LockedRecord,
    row: ChargeReversal,
    *,
    credit: int,
    balance: int | None,
    now: datetime,
) -> None:
    event = events.recharge_reversal(
        kind,
        locked.record,
        stripe_object_id=row.id,
        status=row.status,
        charge_amount=row.amount,
        credit=credit,
        balance=balance,
    )
    await outbox.add(await session.connection(), [event], now=now)


async def _unmatched(
    session: AsyncSession,
    found: PaymentReversals,
    items: Sequence[RefundInfo | DisputeInfo],
    *,
    now: datetime,
) -> Applied:
    """Refunds and disputes of a payment that settles no recharge: anomalies when the
    payment claims a recharge or charged one of our customers, else not ours at all."""
    intent = found.intent
    user_id = None
    if intent.customer_id is not None:
        user_id = await session.scalar(
            select(User.id).where(User.stripe_customer_id == intent.customer_id)
        )
    if user_id is None and intent.recharge_id is None:
        return Applied("not_a_recharge")
    conn = await session.connection()
    for item in items:
        if takes_money(item):
            await anomalies.record(
                conn,
                Anomaly(
                    kind=AnomalyKind.UNMATCHED_REVERSAL,
                    reference=item.id,
                    detail=f"{'refund' if isinstance(item, RefundInfo) else 'dispute'} "
                    f"({item.status}) of PaymentIntent {intent.payment_intent_id}, which "
                    "settles no recharge",
                    user_id=user_id,
                    recharge_id=intent.recharge_id,
                    customer_id=intent.customer_id,
                    amount=item.amount,
                    currency=item.currency,
                ),
                now=now,
            )
    return Applied("unmatched")


# ------------------------------------------------------------------ the operator's refund


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    refund: RefundInfo
    record: RechargeRecord
    balance: int
    currency: money.Currency
    credit: int  # what this refund took from the balance (signed; 0 until it applies)


def refund_key(record_id: str, amount: int | None, reason: str | None) -> str:
    """The Stripe idempotency key of a refund request: the same request (record, amount,
    reason) within Stripe's 24 hours is the same refund, never a second one."""
    digest = hashlib.sha256(f"{record_id}|{amount}|{reason}".encode()).hexdigest()[:32]
    return f"bm-refund-{digest}"


async def refund(
    svc: Services,
    user_id: str,
    recharge_id: str,
    *,
    amount: object = None,
    reason: str | None = None,
) -> RefundOutcome:
    """Refund (part of) a credited recharge's charge through Stripe and apply it now.

    ``amount`` is money back to the card, in major units of the charge's currency (at most
    what is neither refunded nor disputed yet); omitted: all of it. The balance loses the
    credit's share of it (``reversals``). Sent twice, the same request refunds once.
    """
    gateway = require_gateway(svc)
    if reason is not None and reason not in STRIPE_REFUND_REASONS:
        raise InvalidInput(
            f"reason must be one of {', '.join(STRIPE_REFUND_REASONS)}",
            code="invalid_reason",
            field="reason",
        )
    async with svc.reads.begin() as session:
        await get_user(session, user_id)
        record = await session.get(RechargeRecord, recharge_id)
    if record is None or record.user_id != user_id:
        raise NotFound(
            f"recharge {recharge_id} not found", code="recharge_not_found", field="rechargeId"
        )
    if record.status is not RechargeStatus.SUCCEEDED or record.payment_intent_id is None:
        raise Conflict(
            f"only a succeeded recharge can be refunded (this one is {record.status})",
            code="recharge_not_refundable",
        )
    cur = money.currency(record.currency)
    refundable = record.total_charge - record.amount_refunded - record.amount_disputed
    minor = None
    if amount is not None:
        minor = parse_amount(amount, cur, field="amount", allow_zero=False)
        if minor > refundable:
            raise InvalidInput(
                "amount must not exceed what is left to refund "
                f"({money.to_major(refundable, cur)})",
                code="above_refundable_amount",
                field="amount",
            )
    try:
        made = await gateway.create_refund(
            payment_intent_id=record.payment_intent_id,
            amount=minor,
            reason=reason,
            idempotency_key=refund_key(record.id, minor, reason),
            metadata={"recharge_id": record.id, "user_id": user_id},
        )
    except StripeRejected as exc:
        if exc.stripe_code in {"charge_already_refunded", "charge_disputed", "amount_too_large"}:
            raise Conflict(exc.message, code=exc.stripe_code) from None
        raise
    found = await gateway.retrieve_reversals(record.payment_intent_id)
    if made.id not in {r.id for r in found.refunds}:  # a list that lags behind the create
        found = PaymentReversals(found.intent, [*found.refunds, made], found.disputes)
    async with svc.sessions.begin() as session:
        applied = await apply_in(session, found, svc=svc, now=svc.clock())
        row = await session.get(ChargeReversal, made.id)
        current = await session.get(RechargeRecord, record.id)
        balance = await session.scalar(select(User.balance).where(User.id == user_id))
        assert current is not None
        assert balance is not None
    log.info("refund_requested", refund=made.id, recharge=record.id, outcome=applied.outcome)
    return RefundOutcome(
        refund=made,
        record=current,
        balance=balance,
        currency=cur,
        credit=row.credit_amount if row is not None else 0,
    )
