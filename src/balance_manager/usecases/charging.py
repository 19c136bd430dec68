"""Charging a recharge record: claim it, charge the card, settle the outcome.

The story of one recharge, after it was opened (``usecases.recharges``):

1. **Claim** (:func:`claim`) — move due records to ``processing`` and commit
   (``FOR UPDATE SKIP LOCKED``: several workers share the queue). A manual recharge is opened
   already claimed.
2. **Charge** (:func:`charge`) — outside any transaction, through the gateway, with the
   record id as the Stripe idempotency key and in the PaymentIntent's metadata.
3. **Settle** (:func:`settle`) — in one transaction: check that the PaymentIntent is the
   record's own (``matching``: customer, amount, currency, the record's PaymentIntent once
   known — its ``metadata.recharge_id`` is only a claim), mark the record and, on success,
   credit the ledger keyed by the PaymentIntent id, so the credit lands once whichever path
   (the charge's response, a webhook, refresh, reconciliation) gets there first. A succeeded
   PaymentIntent that is not the record's own is never dropped: it becomes a payment anomaly
   for the operator (``usecases.anomalies``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager.domain import charge_limits, matching, policy, posting
from balance_manager.domain.states import AnomalyKind, EventType, LedgerKind, RechargeStatus
from balance_manager.payments.gateway import (
    ChargeOutcome,
    ChargeResult,
    GatewayError,
    StripeGateway,
    StripeUnavailable,
)
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


class Settled(StrEnum):
    """What settling did (kept in logs and in ``stripe_events.outcome``)."""

    CREDITED = "credited"
    ALREADY_SUCCEEDED = "already_succeeded"
    PROCESSING = "processing"
    REQUIRES_ACTION = "requires_action"
    CANCELED = "canceled"
    FAILED = "failed"
    FAILED_PAUSED = "failed_paused"
    IGNORED_TERMINAL = "ignored_terminal"
    # Not the record's PaymentIntent: nothing changes (and, had it taken money, an anomaly).
    PAYMENT_INTENT_MISMATCH = "payment_intent_mismatch"
    ANOMALY = "anomaly_recorded"
    UNKNOWN_RECORD = "unknown_record"
    RETRY_LATER = "retry_later"


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
    """Apply a charge outcome to a locked record.

    Only the record's own PaymentIntent settles it (:func:`matching.mismatch`); another one
    changes nothing, and when it took money it is recorded as a payment anomaly. A succeeded
    PaymentIntent is credited whatever the record's status says (a customer may complete
    authentication on a PaymentIntent we had given up on): money taken is never lost.
    Anything else never moves a record out of a terminal status, so late or duplicate events
    are harmless. Stripe refusing the *amount* (``amount_too_small`` / ``amount_too_large``)
    is not a decline of the card: it neither counts towards the pause nor doubles the backoff.
    """
    conn = await session.connection()
    record, config, customer_id = locked.record, locked.config, locked.customer_id
    if result.payment_intent_id:
        problem = matching.mismatch(
            matching.Claimant(
                record.payment_intent_id, customer_id, record.total_charge, record.currency
            ),
            matching.Intent(
                result.payment_intent_id, result.customer_id, result.amount, result.currency
            ),
        )
        if problem is not None:
            log.warning(
                "payment_intent_mismatch",
                record_id=record.id,
                payment_intent_id=result.payment_intent_id,
                mismatch=str(problem),
                outcome=str(result.outcome),
            )
            if result.outcome is not ChargeOutcome.SUCCEEDED:
                return Settled.PAYMENT_INTENT_MISMATCH
            await anomalies.record_payment(
                conn,
                result,
                kind=AnomalyKind.PAYMENT_MISMATCH,
                detail=f"succeeded PaymentIntent names recharge {record.id} but its "
                f"{problem} does not match the recharge's",
                recharge_id=record.id,
                now=now,
            )
            return Settled.ANOMALY
        record.payment_intent_id = result.payment_intent_id
    record.updated_at = now

    if result.outcome is ChargeOutcome.SUCCEEDED:
        if record.status is RechargeStatus.SUCCEEDED:
            return Settled.ALREADY_SUCCEEDED
        posted = await ledger.post(
            conn,
            [
                posting.Posting(
                    user_id=record.user_id,
                    kind=LedgerKind.RECHARGE,
                    amount=record.amount,
                    reference=str(record.payment_intent_id),
                    description=f"recharge {record.id}",
                )
            ],
            now=now,
            locked=locked.accounts,
        )
        entry = posted.results[0].entry
        record.status = RechargeStatus.SUCCEEDED
        record.completed_at = now
        record.failure_code = None
        record.failure_message = None
        if config.consecutive_failures:
            config.consecutive_failures = 0
        await _event(
            session,
            EventType.RECHARGE_SUCCEEDED,
            record,
            now,
            balanceMinor=entry.balance_after if entry else None,
        )
        return Settled.CREDITED

    if record.status.terminal:
        return Settled.IGNORED_TERMINAL

    if result.outcome is ChargeOutcome.PROCESSING:
        record.status = RechargeStatus.PROCESSING
        return Settled.PROCESSING
    if result.outcome is ChargeOutcome.REQUIRES_ACTION:
        record.status = RechargeStatus.REQUIRES_ACTION
        record.failure_code = result.failure_code or "authentication_required"
        record.failure_message = (
            result.failure_message or "the customer must authenticate this payment"
        )
        await _event(session, EventType.RECHARGE_REQUIRES_ACTION, record, now)
        return Settled.REQUIRES_ACTION
    if result.outcome is ChargeOutcome.CANCELED:
        record.status = RechargeStatus.CANCELED
        record.completed_at = now
        # The record says why (canceled_because); a bare cancel seen at Stripe says so.
        record.failure_code = result.failure_code or "canceled"
        record.failure_message = result.failure_message or "the PaymentIntent was canceled"
        await _event(session, EventType.RECHARGE_CANCELED, record, now, reason=record.failure_code)
        return Settled.CANCELED

    record.status = RechargeStatus.FAILED
    record.completed_at = now
    record.failure_code = result.failure_code or "card_declined"
    record.failure_message = result.failure_message or "the card was declined"
    if charge_limits.is_amount_refusal(record.failure_code):
        # Stripe refused the amount, not the card: no decline counted, no pause. The record
        # still waits the base backoff once, so that a currency whose limits we do not know
        # is not asked again at every usage event.
        record.next_attempt_at = now + timedelta(seconds=rules.backoff_seconds)
        await _event(
            session, EventType.RECHARGE_FAILED, record, now, failureCode=record.failure_code
        )
        return Settled.FAILED

    # Declined: back off, and pause after too many in a row.
    config.consecutive_failures += 1
    record.next_attempt_at = now + timedelta(
        seconds=rules.backoff_after(config.consecutive_failures)
    )
    await _event(session, EventType.RECHARGE_FAILED, record, now, failureCode=record.failure_code)
    if (
        config.consecutive_failures >= rules.max_consecutive_failures
        and config.paused_reason is None
    ):
        config.paused_reason = (
            f"{config.consecutive_failures} consecutive failed recharges "
            f"(last: {record.failure_code})"
        )
        config.paused_at = now
        await _event(
            session, EventType.AUTO_RECHARGE_PAUSED, record, now, reason=config.paused_reason
        )
        return Settled.FAILED_PAUSED
    return Settled.FAILED


async def _event(
    session: AsyncSession, kind: str, record: RechargeRecord, now: datetime, **extra: object
) -> None:
    await outbox.add(
        await session.connection(),
        [
            outbox.Event(
                kind,
                record.user_id,
                {
                    "rechargeId": record.id,
                    "userId": record.user_id,
                    "amountMinor": record.amount,
                    "feeMinor": record.fee,
                    "totalChargeMinor": record.total_charge,
                    "currency": record.currency,
                    "status": str(record.status),
                    "paymentIntentId": record.payment_intent_id,
                    **extra,
                },
            )
        ],
        now=now,
    )
