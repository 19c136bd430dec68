"""Charging a recharge record: claim it, charge the card, settle the outcome.

The story of one recharge, after it was opened (``usecases.recharges``):

1. **Claim** (:func:`claim`) — move due records to ``processing`` and commit
   (``FOR UPDATE SKIP LOCKED``: several workers share the queue). A manual recharge is opened
   already claimed.
2. **Charge** (:func:`charge`) — outside any transaction, through the gateway, with the
   record id as the Stripe idempotency key and in the PaymentIntent's metadata.
3. **Settle** (:func:`settle`) — in one transaction: lock the record and its user, ask
   ``domain.settlement`` what Stripe's answer means (the PaymentIntent must be the record's
   own — its ``metadata.recharge_id`` is only a claim —, the new status, the credit keyed by
   the PaymentIntent id, backoff and pause, the events) and write exactly that, so the
   credit lands once whichever path (the charge's response, a webhook, refresh,
   reconciliation) gets there first. A succeeded PaymentIntent that is not the record's own
   is never dropped: it becomes a payment anomaly for the operator (``usecases.anomalies``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager.domain import policy, posting, settlement
from balance_manager.domain.charges import ChargeOutcome, ChargeResult
from balance_manager.domain.settlement import Settled as Settled
from balance_manager.payments.gateway import GatewayError, StripeGateway, StripeUnavailable
from balance_manager.store import ledger, outbox
from balance_manager.store import recharges as records
from balance_manager.store.models import BalanceConfig, RechargeRecord, User
from balance_manager.telemetry import metrics, tracing
from balance_manager.usecases import anomalies
from balance_manager.usecases.services import Services

log = structlog.get_logger(__name__)

# Stripe keeps idempotency keys for 24 hours; past this age a re-drive reconciles by looking
# the PaymentIntent up instead of creating one with a key Stripe may have forgotten.
IDEMPOTENCY_SAFE_AGE = timedelta(hours=23)
RETRY_DELAY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Charge:
    """What charging a claimed record needs, read before leaving the claim's transaction."""

    record_id: str
    user_id: str
    customer_id: str | None
    payment_method_id: str | None
    payment_intent_id: str | None
    total_charge: int
    currency: str
    created_at: datetime
    attempt_count: int
    trace_parent: str | None = None  # the span that opened the record (tracing on)

    @classmethod
    def of(cls, record: RechargeRecord, customer_id: str | None) -> Charge:
        return cls(
            record_id=record.id,
            user_id=record.user_id,
            customer_id=customer_id,
            payment_method_id=record.payment_method_id,
            payment_intent_id=record.payment_intent_id,
            total_charge=record.total_charge,
            currency=record.currency,
            created_at=record.created_at,
            attempt_count=record.attempt_count,
            trace_parent=record.trace_parent,
        )


@tracing.traced("recharge.claim")
async def claim(svc: Services, *, limit: int = 10, record_id: str | None = None) -> list[Charge]:
    """Claim due records (or one given record) and commit: they are this caller's to charge."""
    now = svc.clock()
    async with svc.sessions.begin() as session:
        claimed = await records.claim_due(
            session,
            now=now,
            stale_before=now - timedelta(seconds=svc.rules.processing_timeout_seconds),
            limit=limit,
            record_id=record_id,
        )
        if not claimed:
            return []
        rows = await session.execute(
            select(User.id, User.stripe_customer_id).where(
                User.id.in_({r.user_id for r in claimed})
            )
        )
        customers = {user_id: customer_id for user_id, customer_id in rows}
        return [Charge.of(r, customers.get(r.user_id)) for r in claimed]


async def execute(svc: Services, job: Charge) -> Settled:
    """Charge a claimed record and settle the outcome. Stripe unreachable → the record goes
    back to ``pending`` for another try with the same idempotency key.

    Traced as a trace of its own, linked to the span that opened the record (the debit)."""
    with tracing.span(
        "recharge.charge",
        attributes={"recharge.id": job.record_id, "user.id": job.user_id},
        links=tracing.links_to(job.trace_parent),
        new_trace=True,
    ) as span:
        outcome = await _execute(svc, job)
        if span is not None:
            span.set_attribute("recharge.outcome", str(outcome))
    metrics.charge_settled(str(outcome))
    return outcome


async def _execute(svc: Services, job: Charge) -> Settled:
    assert svc.gateway is not None, "charging needs Stripe"
    try:
        result = await charge(svc.gateway, job, now=svc.clock())
    except StripeUnavailable as exc:
        async with svc.engine.begin() as conn:
            await records.release_for_retry(
                conn,
                job.record_id,
                now=svc.clock(),
                delay_seconds=RETRY_DELAY_SECONDS * job.attempt_count,
                error=exc.message,
            )
        log.warning("recharge_retry_later", record_id=job.record_id, error=exc.message)
        return Settled.RETRY_LATER
    except GatewayError as exc:
        result = ChargeResult(
            outcome=ChargeOutcome.DECLINED,
            payment_intent_id=None,
            failure_code=exc.stripe_code or "stripe_error",
            failure_message=exc.message,
        )
    outcome = await settle(svc, job.record_id, result)
    log.info("recharge_settled", record_id=job.record_id, outcome=str(outcome))
    return outcome


async def charge(gateway: StripeGateway, job: Charge, *, now: datetime) -> ChargeResult:
    """Ask Stripe for the money (or, for a re-drive, what became of the earlier ask)."""
    if job.payment_intent_id is not None:
        # A re-drive of a charge Stripe already knows: read it, never create again.
        return await gateway.retrieve_payment_intent(job.payment_intent_id)
    if now - job.created_at > IDEMPOTENCY_SAFE_AGE:
        found = await gateway.find_payment_intent(
            customer_id=job.customer_id or "",
            metadata_key="recharge_id",
            metadata_value=job.record_id,
        )
        if found is not None:
            return found
        return ChargeResult(
            outcome=ChargeOutcome.CANCELED,
            payment_intent_id=None,
            failure_code="expired",
            failure_message="not charged within 23 hours; a new recharge will be opened",
        )
    if job.customer_id is None or job.payment_method_id is None:
        raise GatewayError(
            "the user has no Stripe customer or card", stripe_code="no_payment_method"
        )
    return await gateway.charge_off_session(
        idempotency_key=job.record_id,
        customer_id=job.customer_id,
        payment_method_id=job.payment_method_id,
        amount=job.total_charge,
        currency=job.currency,
        metadata={"recharge_id": job.record_id, "user_id": job.user_id},
        description=f"Balance recharge {job.record_id}",
    )


def canceled_because(result: ChargeResult, code: str, message: str) -> ChargeResult:
    """``result`` carrying the reason we canceled, when it is a cancellation; any other
    outcome (the customer completed the payment meanwhile) is left as it is."""
    if result.outcome is not ChargeOutcome.CANCELED:
        return result
    return replace(result, failure_code=code, failure_message=message)


@tracing.traced("recharge.settle")
async def settle(svc: Services, record_id: str, result: ChargeResult) -> Settled:
    """Apply a charge outcome to a record, in a transaction of its own."""
    async with svc.sessions.begin() as session:
        return await settle_in(session, record_id, result, rules=svc.rules, now=svc.clock())


@dataclass(slots=True)
class LockedRecord:
    """A record locked for settling, with its user's locked account (for ledger postings in
    the same transaction), config and Stripe customer."""

    accounts: dict[str, posting.Account]
    record: RechargeRecord
    config: BalanceConfig
    customer_id: str | None


async def lock_record(session: AsyncSession, record_id: str) -> LockedRecord | None:
    """Lock a record's user (then the record) once, for everything this transaction does to
    them; None when there is no such record."""
    conn = await session.connection()
    accounts = await ledger.lock_account_of(
        conn,
        select(RechargeRecord.user_id).where(RechargeRecord.id == record_id).scalar_subquery(),
    )
    if not accounts:
        return None
    record, config, customer_id = (
        await session.execute(
            select(RechargeRecord, BalanceConfig, User.stripe_customer_id)
            .join(BalanceConfig, BalanceConfig.user_id == RechargeRecord.user_id)
            .join(User, User.id == RechargeRecord.user_id)
            .where(RechargeRecord.id == record_id)
            .with_for_update(of=RechargeRecord)
            .execution_options(populate_existing=True)
        )
    ).one()
    return LockedRecord(accounts, record, config, customer_id)


async def settle_in(
    session: AsyncSession,
    record_id: str,
    result: ChargeResult,
    *,
    rules: policy.RechargeRules,
    now: datetime,
) -> Settled:
    """Apply a charge outcome to a record, once, inside the caller's transaction."""
    locked = await lock_record(session, record_id)
    if locked is None:
        return Settled.UNKNOWN_RECORD
    return await settle_locked(session, locked, result, rules=rules, now=now)


async def settle_locked(
    session: AsyncSession,
    locked: LockedRecord,
    result: ChargeResult,
    *,
    rules: policy.RechargeRules,
    now: datetime,
) -> Settled:
    """Apply a charge outcome to a locked record: ``settlement.settle`` decides, this writes
    what it says (the anomaly, the credit, the record, the pause, the events)."""
    record, config = locked.record, locked.config
    step = settlement.settle(
        _recharge(record),
        settlement.Failures(config.consecutive_failures, config.paused_reason, config.paused_at),
        result,
        customer_id=locked.customer_id,
        rules=rules,
        now=now,
    )
    conn = await session.connection()
    if step.mismatch is not None:
        log.warning(
            "payment_intent_mismatch",
            record_id=record.id,
            payment_intent_id=result.payment_intent_id,
            mismatch=str(step.mismatch),
            outcome=str(result.outcome),
        )
    if step.anomaly is not None:
        await anomalies.record_payment(
            conn,
            result,
            kind=step.anomaly.kind,
            detail=step.anomaly.detail,
            recharge_id=record.id,
            now=now,
        )
    balance = None
    if step.credit is not None:
        posted = await ledger.post(conn, [step.credit], now=now, locked=locked.accounts)
        entry = posted.results[0].entry
        balance = entry.balance_after if entry else None
    after, failures = step.recharge, step.failures
    record.status = after.status
    record.payment_intent_id = after.payment_intent_id
    record.failure_code = after.failure_code
    record.failure_message = after.failure_message
    record.next_attempt_at = after.next_attempt_at
    record.completed_at = after.completed_at
    record.updated_at = after.updated_at
    config.consecutive_failures = failures.consecutive_failures
    config.paused_reason = failures.paused_reason
    config.paused_at = failures.paused_at
    await outbox.add(conn, step.events(balance_after_credit=balance), now=now)
    return step.settled


def _recharge(record: RechargeRecord) -> settlement.Recharge:
    return settlement.Recharge(
        id=record.id,
        user_id=record.user_id,
        status=record.status,
        amount=record.amount,
        fee=record.fee,
        total_charge=record.total_charge,
        currency=record.currency,
        payment_intent_id=record.payment_intent_id,
        updated_at=record.updated_at,
        failure_code=record.failure_code,
        failure_message=record.failure_message,
        next_attempt_at=record.next_attempt_at,
        completed_at=record.completed_at,
    )
