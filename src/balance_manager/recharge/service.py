"""The recharge use cases: open a record, claim it, settle the outcome. Never commits.

The story, one recharge at a time:

1. **Open** (``open_recharge``) — under the user's row lock, in the transaction that noticed
   the need (a usage debit, the sweep, a manual request). Guard clauses decide, in order,
   whether a recharge may start; amount and fee are fixed on a ``pending`` record. The partial
   unique index allows one in-flight record per user, whatever the application does.
2. **Claim** (``claim_due``) — a worker moves due records to ``processing`` and commits,
   with ``FOR UPDATE SKIP LOCKED`` so several workers share the queue.
3. **Charge** — outside any transaction, through the gateway, with the record id as the
   Stripe idempotency key (``worker.py``).
4. **Settle** (``settle``) — in one transaction: mark the record and, on success, credit the
   ledger, keyed by the PaymentIntent id so a credit lands once whichever path (the API
   response, a webhook, reconciliation) gets there first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager import ids, money, policy
from balance_manager.errors import Conflict, InvalidInput, NotFound, Unprocessable
from balance_manager.ledger import service as ledger
from balance_manager.payments.gateway import ChargeOutcome, ChargeResult
from balance_manager.settings import Settings
from balance_manager.store.models import (
    IN_FLIGHT_STATUSES,
    BalanceConfig,
    LedgerKind,
    OutboxEvent,
    RechargeRecord,
    RechargeStatus,
    User,
)

# Statuses that count against maxDailyRecharges: charged, or possibly about to be.
_COUNTED = (*IN_FLIGHT_STATUSES, RechargeStatus.SUCCEEDED)
_TERMINAL = (RechargeStatus.SUCCEEDED, RechargeStatus.FAILED, RechargeStatus.CANCELED)


@dataclass(frozen=True, slots=True)
class EngineRules:
    fee_rule: policy.FeeRule
    max_consecutive_failures: int = 3
    backoff_seconds: int = 300
    processing_timeout_seconds: int = 120


def rules_from_settings(settings: Settings) -> EngineRules:
    return EngineRules(
        fee_rule=settings.fee_rule,
        max_consecutive_failures=settings.recharge_max_consecutive_failures,
        backoff_seconds=settings.recharge_retry_backoff_seconds,
        processing_timeout_seconds=settings.recharge_processing_timeout_seconds,
    )


@dataclass(frozen=True, slots=True)
class Skip:
    """Why no recharge was opened (a value, not an error: the caller decides)."""

    reason: str
    record: RechargeRecord | None = None


def _day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def lock_user(session: AsyncSession, user_id: str) -> tuple[User, BalanceConfig]:
    """Take the user's row lock (the same lock the ledger takes) and read fresh state."""
    user = await session.scalar(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    config = await session.scalar(
        select(BalanceConfig)
        .where(BalanceConfig.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    if user is None or config is None:
        raise NotFound(f"user {user_id} not found", code="user_not_found", field="userId")
    return user, config


async def backing_off(session: AsyncSession, user_id: str, *, now: datetime) -> bool:
    """A recent decline's backoff has not run out (automatic recharges wait for it)."""
    until = await session.scalar(
        select(func.max(RechargeRecord.next_attempt_at)).where(
            RechargeRecord.user_id == user_id,
            RechargeRecord.status == RechargeStatus.FAILED,
        )
    )
    return until is not None and until > now


async def charged_today(session: AsyncSession, user_id: str, *, now: datetime) -> int:
    """Recharges that charged or may charge today (UTC): what maxDailyRecharges counts."""
    count = await session.scalar(
        select(func.count())
        .select_from(RechargeRecord)
        .where(
            RechargeRecord.user_id == user_id,
            RechargeRecord.created_at >= _day_start(now),
            RechargeRecord.status.in_([str(s) for s in _COUNTED]),
        )
    )
    return int(count or 0)


async def in_flight_record(session: AsyncSession, user_id: str) -> RechargeRecord | None:
    return await session.scalar(
        select(RechargeRecord).where(
            RechargeRecord.user_id == user_id,
            RechargeRecord.status.in_([str(s) for s in IN_FLIGHT_STATUSES]),
        )
    )


async def open_recharge(
    session: AsyncSession,
    *,
    user: User,
    config: BalanceConfig,
    rules: EngineRules,
    triggered_by: str,
    trigger_detail: str,
    now: datetime,
    amount: int | None = None,
) -> RechargeRecord | Skip:
    """Open a pending recharge if the rules allow it. The caller holds the user's lock."""
    manual = triggered_by == "manual"
    if config.default_payment_method_id is None:
        return Skip(str(policy.BlockedReason.NO_PAYMENT_METHOD))
    if not manual and not config.auto_recharge_enabled:
        return Skip("auto_recharge_disabled")
    if not manual and config.paused_reason is not None:
        return Skip(str(policy.BlockedReason.PAUSED))
    if not manual and not policy.needs_recharge(user.balance, config.minimum_balance):
        return Skip("above_minimum")
    existing = await in_flight_record(session, user.id)
    if existing is not None:
        return Skip(str(policy.BlockedReason.RECHARGE_IN_FLIGHT), existing)
    if not manual and await backing_off(session, user.id, now=now):
        return Skip(str(policy.BlockedReason.BACKING_OFF))
    if await charged_today(session, user.id, now=now) >= config.max_daily_recharges:
        return Skip(str(policy.BlockedReason.DAILY_LIMIT))

    if amount is None:
        calc = policy.calculate_recharge(
            balance=user.balance,
            target=config.target_balance,
            max_amount=config.max_recharge_amount,
            fee_rule=rules.fee_rule,
        )
        if calc is None:
            return Skip("at_or_above_target")
        amount, fee, capped = calc.recharge_amount, calc.fee, calc.capped
    else:
        fee, capped = rules.fee_rule.fee_for(amount), False

    record = RechargeRecord(
        id=ids.new_id(),
        user_id=user.id,
        amount=amount,
        fee=fee,
        total_charge=amount + fee,
        currency=user.currency,
        status=RechargeStatus.PENDING,
        triggered_by=triggered_by,
        trigger_detail=trigger_detail,
        capped=capped,
        payment_method_id=config.default_payment_method_id,
        attempt_count=0,
        created_at=now,
        updated_at=now,
    )
    session.add(record)
    await session.flush()
    return record


async def open_automatic(
    session: AsyncSession, user_id: str, *, rules: EngineRules, trigger_detail: str, now: datetime
) -> RechargeRecord | Skip:
    """An automatic recharge for one user (usage or sweep), decided under the user's lock."""
    user, config = await lock_user(session, user_id)
    return await open_recharge(
        session,
        user=user,
        config=config,
        rules=rules,
        triggered_by="auto",
        trigger_detail=trigger_detail,
        now=now,
    )


def manual_amount(value: object, *, user: User, config: BalanceConfig) -> int | None:
    """The amount of a manual recharge: explicit (validated) or None for "up to the target"."""
    from balance_manager.amounts import parse_amount

    cur = money.currency(user.currency)
    if value is None:
        if user.balance >= config.target_balance:
            raise Unprocessable(
                "the balance is already at or above the target; send an amount to top up anyway",
                code="nothing_to_recharge",
            )
        return None
    amount = parse_amount(value, cur, field="amount", allow_zero=False)
    if amount > config.max_recharge_amount:
        raise InvalidInput(
            "amount must not exceed maxRechargeAmount "
            f"({money.to_major(config.max_recharge_amount, cur)})",
            code="above_max_recharge_amount",
            field="amount",
        )
    return amount


def skip_error(skip: Skip) -> Conflict | Unprocessable:
    """A manual request that cannot be opened, as the error the API returns."""
    messages = {
        "no_payment_method": "the user has no saved card; add one first",
        "recharge_in_progress": "a recharge is already in progress for this user",
        "daily_limit_reached": "maxDailyRecharges reached for today",
        "backing_off_after_failure": "waiting after a declined charge",
    }
    message = messages.get(skip.reason, skip.reason.replace("_", " "))
    if skip.reason in {"recharge_in_progress", "daily_limit_reached"}:
        return Conflict(message, code=skip.reason)
    return Unprocessable(message, code=skip.reason)


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    rules: EngineRules,
    limit: int = 10,
    record_id: str | None = None,
) -> list[RechargeRecord]:
    """Move due records to ``processing`` (the caller commits before charging).

    Due: ``pending`` whose time has come, or ``processing`` untouched for longer than the
    processing timeout (its worker died; it is re-driven with the same idempotency key).
    """
    stale = now - timedelta(seconds=rules.processing_timeout_seconds)
    query = (
        select(RechargeRecord)
        .where(
            or_(
                (RechargeRecord.status == RechargeStatus.PENDING)
                & (
                    RechargeRecord.next_attempt_at.is_(None)
                    | (RechargeRecord.next_attempt_at <= now)
                ),
                (RechargeRecord.status == RechargeStatus.PROCESSING)
                & (RechargeRecord.updated_at < stale),
            )
        )
        .order_by(RechargeRecord.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if record_id is not None:
        query = query.where(RechargeRecord.id == record_id)
    records = list((await session.scalars(query)).all())
    for record in records:
        record.status = RechargeStatus.PROCESSING
        record.attempt_count += 1
        record.updated_at = now
    await session.flush()
    return records


def _outbox(kind: str, record: RechargeRecord, **extra: object) -> OutboxEvent:
    return OutboxEvent(
        event_id=ids.new_id(),
        type=kind,
        user_id=record.user_id,
        payload={
            "rechargeId": record.id,
            "userId": record.user_id,
            "amountMinor": record.amount,
            "feeMinor": record.fee,
            "totalChargeMinor": record.total_charge,
            "currency": record.currency,
            "status": record.status,
            "paymentIntentId": record.payment_intent_id,
            **extra,
        },
        attempts=0,
    )


async def settle(
    session: AsyncSession,
    record_id: str,
    result: ChargeResult,
    *,
    rules: EngineRules,
    now: datetime,
) -> str:
    """Apply a charge outcome to a record, once. Returns what happened (for logs and tests).

    A succeeded PaymentIntent is credited whatever the record's status says (a customer may
    complete authentication on a PaymentIntent we had given up on): money taken is never lost.
    Anything else never moves a record out of a terminal status, so late or duplicate events
    are harmless.
    """
    record = await session.get(RechargeRecord, record_id)
    if record is None:
        return "unknown_record"
    _user, config = await lock_user(session, record.user_id)
    record = await session.scalar(
        select(RechargeRecord)
        .where(RechargeRecord.id == record_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert record is not None
    if result.payment_intent_id and record.payment_intent_id is None:
        record.payment_intent_id = result.payment_intent_id
    if result.payment_intent_id and record.payment_intent_id != result.payment_intent_id:
        return "payment_intent_mismatch"
    record.updated_at = now

    if result.outcome is ChargeOutcome.SUCCEEDED:
        if record.status == RechargeStatus.SUCCEEDED:
            return "already_succeeded"
        credited = await ledger.post_one(
            session,
            ledger.Posting(
                user_id=record.user_id,
                kind=LedgerKind.RECHARGE,
                amount=record.amount,
                reference=str(record.payment_intent_id),
                description=f"recharge {record.id}",
            ),
        )
        record.status = RechargeStatus.SUCCEEDED
        record.completed_at = now
        record.failure_code = None
        record.failure_message = None
        config.consecutive_failures = 0
        session.add(
            _outbox(
                "recharge.succeeded",
                record,
                balanceMinor=credited.entry.balance_after if credited.entry else None,
            )
        )
        return "credited"

    if RechargeStatus(record.status) in _TERMINAL:
        return f"ignored_{record.status}"

    if result.outcome is ChargeOutcome.PROCESSING:
        record.status = RechargeStatus.PROCESSING
        return "processing"
    if result.outcome is ChargeOutcome.REQUIRES_ACTION:
        record.status = RechargeStatus.REQUIRES_ACTION
        record.failure_code = result.failure_code or "authentication_required"
        record.failure_message = (
            result.failure_message or "the customer must authenticate this payment"
        )
        session.add(_outbox("recharge.requires_action", record))
        return "requires_action"
    if result.outcome is ChargeOutcome.CANCELED:
        record.status = RechargeStatus.CANCELED
        record.completed_at = now
        return "canceled"

    # Declined: back off, and pause after too many in a row.
    record.status = RechargeStatus.FAILED
    record.completed_at = now
    record.failure_code = result.failure_code or "card_declined"
    record.failure_message = result.failure_message or "the card was declined"
    config.consecutive_failures += 1
    record.next_attempt_at = now + timedelta(
        seconds=rules.backoff_seconds * 2 ** (config.consecutive_failures - 1)
    )
    session.add(_outbox("recharge.failed", record, failureCode=record.failure_code))
    if (
        config.consecutive_failures >= rules.max_consecutive_failures
        and config.paused_reason is None
    ):
        config.paused_reason = (
            f"{config.consecutive_failures} consecutive failed recharges "
            f"(last: {record.failure_code})"
        )
        config.paused_at = now
        session.add(_outbox("auto_recharge.paused", record, reason=config.paused_reason))
        return "failed_paused"
    return "failed"


async def release_for_retry(
    session: AsyncSession, record_id: str, *, now: datetime, delay_seconds: float, error: str
) -> None:
    """Stripe could not be reached: back to ``pending`` for another attempt with the same
    idempotency key (so a charge that did happen is replayed, not repeated)."""
    await session.execute(
        update(RechargeRecord)
        .where(RechargeRecord.id == record_id, RechargeRecord.status == RechargeStatus.PROCESSING)
        .values(
            status=RechargeStatus.PENDING,
            next_attempt_at=now + timedelta(seconds=delay_seconds),
            failure_message=error[:500],
            updated_at=now,
        )
    )
