"""Opening recharges, manual recharges, and what a customer sees of them (status, history,
one recharge, completing or giving up on one that waits for authentication).

Every opening — a usage debit, the sweep, a new card, a manual request — goes through
:func:`open_for` under the users' row locks, and every "may a recharge start now?" is
:func:`policy.decide`; the status view asks the same function, so it says what a manual
request would do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from balance_manager.domain import charge_limits, money, policy
from balance_manager.domain.amounts import parse_amount
from balance_manager.domain.errors import Conflict, InvalidInput, NotFound, Unprocessable
from balance_manager.domain.states import IN_FLIGHT, RechargeStatus, TriggeredBy, TriggerSource
from balance_manager.store import ledger
from balance_manager.store import recharges as records
from balance_manager.store.db import retry_on_disconnect
from balance_manager.store.models import BalanceConfig, RechargeRecord, User
from balance_manager.store.paging import Page
from balance_manager.store.wakeups import notify
from balance_manager.telemetry import metrics, tracing
from balance_manager.usecases import charging
from balance_manager.usecases.accounts import check_user_id, get_user
from balance_manager.usecases.services import Services, require_gateway


@dataclass(frozen=True, slots=True)
class Opened:
    decision: policy.Decision
    record_id: str | None = None


async def open_for(
    conn: AsyncConnection,
    user_ids: Sequence[str],
    *,
    rules: policy.RechargeRules,
    request: policy.RechargeRequest,
    source: TriggerSource,
    now: datetime,
    status: RechargeStatus = RechargeStatus.PENDING,
) -> dict[str, Opened]:
    """Decide and open recharges for users whose row locks the caller holds; NOTIFY the
    workers when any opened (delivered at commit)."""
    found = await records.accounts(conn, user_ids, now=now)
    decisions = {
        user_id: policy.decide(account.state, request, now=now, fee_rule=rules.fee_rule)
        for user_id, account in found.items()
    }
    openings = [
        records.Opening(found[u], d.calculation, request.trigger, source)
        for u, d in decisions.items()
        if d.calculation is not None
    ]
    opened_ids = await records.open_records(
        conn, openings, now=now, status=status, trace_parent=tracing.traceparent()
    )
    metrics.recharge_opened(source.value, len(opened_ids))
    if opened_ids and status is RechargeStatus.PENDING:
        await notify(conn)
    by_user = dict(zip((o.account.user_id for o in openings), opened_ids, strict=True))
    return {u: Opened(d, by_user.get(u)) for u, d in decisions.items()}


async def open_automatic(
    svc: Services, conn: AsyncConnection, user_ids: Sequence[str], *, source: TriggerSource
) -> dict[str, Opened]:
    """Automatic recharges for locked users that may need one (nothing without Stripe)."""
    if not svc.payments_enabled or not user_ids:
        return {}
    return await open_for(
        conn,
        user_ids,
        rules=svc.rules,
        request=policy.RechargeRequest(TriggeredBy.AUTO),
        source=source,
        now=svc.clock(),
    )


# ------------------------------------------------------------------ manual recharges


@dataclass(frozen=True, slots=True)
class ManualOutcome:
    record: RechargeRecord
    balance: int
    currency: money.Currency


_REFUSALS = {
    policy.BlockedReason.NO_PAYMENT_METHOD: "the user has no saved card; add one first",
    policy.BlockedReason.PAUSED: "auto-recharge is paused after repeated declines; "
    "update the card or re-enable auto-recharge first",
    policy.BlockedReason.RECHARGE_IN_FLIGHT: "a recharge is already in progress for this user",
    policy.BlockedReason.BACKING_OFF: "waiting after a declined charge",
    policy.BlockedReason.DAILY_LIMIT: "maxDailyRecharges reached for today",
    policy.BlockedReason.NOTHING_TO_RECHARGE: "the balance is already at or above the target; "
    "send an amount to top up anyway",
    policy.BlockedReason.BELOW_STRIPE_MINIMUM: "the recharge would charge less than Stripe's "
    "minimum charge for the currency; send a larger amount",
    policy.BlockedReason.ABOVE_STRIPE_MAXIMUM: "the recharge would charge more than Stripe's "
    "maximum charge for the currency; send a smaller amount",
}
_CONFLICTS = {policy.BlockedReason.RECHARGE_IN_FLIGHT, policy.BlockedReason.DAILY_LIMIT}


def refusal(reason: policy.BlockedReason, cur: money.Currency) -> Conflict | Unprocessable:
    """A manual request that may not start, as the error the API returns (a bound of
    Stripe's, in ``cur``, travels in its params)."""
    message = _REFUSALS.get(reason, reason.value.replace("_", " "))
    if reason in _CONFLICTS:
        return Conflict(message, code=reason.value)
    return Unprocessable(message, code=reason.value, params=_bound_params(reason, cur))


def _bound_params(reason: policy.BlockedReason, cur: money.Currency) -> dict[str, str] | None:
    limits = charge_limits.limits_for(cur.code)
    if reason is policy.BlockedReason.BELOW_STRIPE_MINIMUM and limits.minimum is not None:
        return {"minimum": str(money.to_major(limits.minimum, cur)), "currency": cur.code.upper()}
    if reason is policy.BlockedReason.ABOVE_STRIPE_MAXIMUM:
        return {"maximum": str(money.to_major(limits.maximum, cur)), "currency": cur.code.upper()}
    return None


# Safe to repeat after a dead connection: a record that the first attempt opened (and maybe
# charged) is in flight, so the second attempt is refused by the one-in-flight index and the
# stale-``processing`` re-drive settles the first — never a second charge.
@retry_on_disconnect
@tracing.traced("recharges.request_manual")
async def request_manual(
    svc: Services, user_id: str, *, amount: object = None, override_holds: bool = False
) -> ManualOutcome:
    """Charge the saved card now, up to the target or by ``amount``, and wait for the answer.

    The record is opened already claimed (``processing``), so no worker races this request
    for it; should this process die before settling, the stale-``processing`` re-drive
    finishes it with the same idempotency key.
    """
    require_gateway(svc)
    cur = await svc.currencies.of(check_user_id(user_id))
    now = svc.clock()
    async with svc.sessions.begin() as session:
        conn = await session.connection()
        locked = await ledger.lock_accounts(conn, [user_id])
        if user_id not in locked:
            raise NotFound(f"user {user_id} not found", code="user_not_found", field="userId")
        max_amount = await session.scalar(
            select(BalanceConfig.max_recharge_amount).where(BalanceConfig.user_id == user_id)
        )
        explicit = _manual_amount(amount, cur, max_amount=max_amount, fee_rule=svc.rules.fee_rule)
        opened = (
            await open_for(
                conn,
                [user_id],
                rules=svc.rules,
                request=policy.RechargeRequest(
                    TriggeredBy.MANUAL, amount=explicit, override_holds=override_holds
                ),
                source=TriggerSource.MANUAL,
                now=now,
                status=RechargeStatus.PROCESSING,
            )
        )[user_id]
        if opened.record_id is None:
            assert opened.decision.blocked is not None
            raise refusal(opened.decision.blocked, cur)
        record = await session.get(RechargeRecord, opened.record_id)
        customer_id = await session.scalar(
            select(User.stripe_customer_id).where(User.id == user_id)
        )
        assert record is not None
        job = charging.Charge.of(record, customer_id)
    await charging.execute(svc, job)
    async with svc.sessions.begin() as session:
        record = await session.get(RechargeRecord, job.record_id)
        balance = await session.scalar(select(User.balance).where(User.id == user_id))
        assert record is not None
        assert balance is not None
        return ManualOutcome(record, balance, cur)


def _manual_amount(
    value: object, cur: money.Currency, *, max_amount: int | None, fee_rule: policy.FeeRule
) -> int | None:
    """The amount of a manual recharge: explicit (validated) or None for "up to the target"."""
    if value is None:
        return None
    amount = parse_amount(value, cur, field="amount", allow_zero=False)
    if max_amount is not None and amount > max_amount:
        raise InvalidInput(
            f"amount must not exceed maxRechargeAmount ({money.to_major(max_amount, cur)})",
            code="above_max_recharge_amount",
            field="amount",
            params={"maximum": str(money.to_major(max_amount, cur)), "currency": cur.code.upper()},
        )
    total = amount + fee_rule.fee_for(amount)
    limits = charge_limits.limits_for(cur.code)
    violation = limits.violation(total)
    if violation is not None:
        below = violation is charge_limits.Violation.BELOW_MINIMUM
        bound = limits.minimum if below and limits.minimum is not None else limits.maximum
        what = "below Stripe's minimum" if below else "above Stripe's maximum"
        raise InvalidInput(
            f"a recharge of {money.to_major(amount, cur)} would charge "
            f"{money.to_major(total, cur)} {cur.code.upper()}, {what} charge of "
            f"{money.to_major(bound, cur)} {cur.code.upper()}",
            code=violation.value,
            field="amount",
            params={
                "amount": str(money.to_major(amount, cur)),
                "total": str(money.to_major(total, cur)),
                "minimum" if below else "maximum": str(money.to_major(bound, cur)),
                "currency": cur.code.upper(),
            },
        )
    return amount


# ------------------------------------------------------------------ what the customer sees


@dataclass(frozen=True, slots=True)
class BalanceStatus:
    user: User
    config: BalanceConfig
    currency: money.Currency
    needs_recharge: bool
    calculation: policy.RechargeCalculation | None  # the automatic recharge's, when needed
    blocked_reason: policy.BlockedReason | None  # why a manual recharge would be refused
    in_flight: RechargeRecord | None
    # When the reason ends by itself: the backoff after a decline.
    blocked_until: datetime | None = None

    @property
    def can_recharge(self) -> bool:
        return self.blocked_reason is None


@retry_on_disconnect
@tracing.traced("recharges.status")
async def status(svc: Services, user_id: str) -> BalanceStatus:
    """The original's balance status, decided by the same function a request would use."""
    now = svc.clock()
    async with svc.reads.begin() as session:
        user = await get_user(session, user_id)
        config = await session.get(BalanceConfig, user_id)
        if config is None:
            raise NotFound(f"user {user_id} has no balance config", code="config_not_found")
        conn = await session.connection()
        account = (await records.accounts(conn, [user_id], now=now))[user_id]
        in_flight = (
            await records.in_flight_record(session, user_id) if account.state.in_flight else None
        )
    manual = policy.decide(
        account.state,
        policy.RechargeRequest(TriggeredBy.MANUAL),
        now=now,
        fee_rule=svc.rules.fee_rule,
    )
    below = policy.needs_recharge(user.balance, config.minimum_balance)
    calculation = (
        policy.calculate_recharge(
            balance=user.balance,
            target=config.target_balance,
            max_amount=config.max_recharge_amount,
            fee_rule=svc.rules.fee_rule,
        )
        if below
        else None
    )
    blocked = manual.blocked
    return BalanceStatus(
        user=user,
        config=config,
        currency=money.currency(user.currency),
        needs_recharge=below,
        calculation=calculation,
        blocked_reason=blocked if blocked is not None and blocked.about_the_account else None,
        in_flight=in_flight,
        blocked_until=account.state.backoff_until
        if blocked is policy.BlockedReason.BACKING_OFF
        else None,
    )


@retry_on_disconnect
@tracing.traced("recharges.history")
async def history(
    svc: Services, user_id: str, *, page: int, limit: int
) -> tuple[money.Currency, Page[RechargeRecord]]:
    """The user's currency and one page of recharge records, newest first."""
    async with svc.reads.begin() as session:
        user = await get_user(session, user_id)
        return money.currency(user.currency), await records.history(
            session, user_id, page=page, limit=limit
        )


@dataclass(frozen=True, slots=True)
class RechargeView:
    record: RechargeRecord
    client_secret: str | None  # while the customer must authenticate on-session

    @property
    def requires_action(self) -> bool:
        return self.record.status is RechargeStatus.REQUIRES_ACTION


@retry_on_disconnect
async def _record(svc: Services, user_id: str, recharge_id: str) -> RechargeRecord:
    async with svc.reads.begin() as session:
        await get_user(session, user_id)
        record = await session.get(RechargeRecord, recharge_id)
    if record is None or record.user_id != user_id:
        raise NotFound(
            f"recharge {recharge_id} not found", code="recharge_not_found", field="rechargeId"
        )
    return record


@tracing.traced("recharges.get")
async def get(svc: Services, user_id: str, recharge_id: str) -> RechargeView:
    """A recharge and, when it waits for the customer, the PaymentIntent's client secret."""
    record = await _record(svc, user_id, recharge_id)
    client_secret = None
    if (
        record.status is RechargeStatus.REQUIRES_ACTION
        and record.payment_intent_id
        and svc.gateway is not None
    ):
        intent = await svc.gateway.retrieve_payment_intent(record.payment_intent_id)
        client_secret = intent.client_secret
    return RechargeView(record, client_secret)


@tracing.traced("recharges.refresh")
async def refresh(svc: Services, user_id: str, recharge_id: str) -> RechargeView:
    """Read the PaymentIntent from Stripe and settle now (after the customer authenticated,
    so the credit does not wait for the webhook)."""
    gateway = require_gateway(svc)
    record = await _record(svc, user_id, recharge_id)
    if record.payment_intent_id and record.status in IN_FLIGHT:
        intent = await gateway.retrieve_payment_intent(record.payment_intent_id)
        await charging.settle(svc, record.id, intent)
    return await get(svc, user_id, recharge_id)


@tracing.traced("recharges.cancel")
async def cancel(svc: Services, user_id: str, recharge_id: str) -> RechargeView:
    """Give up on a recharge that waits for the customer: the PaymentIntent is canceled at
    Stripe and the record becomes ``canceled``, so automatic recharges can start again.
    Should the customer have completed it meanwhile, it is credited instead."""
    gateway = require_gateway(svc)
    record = await _record(svc, user_id, recharge_id)
    if record.status is not RechargeStatus.REQUIRES_ACTION:
        raise Conflict(
            f"only a recharge in requires_action can be canceled (this one is {record.status})",
            code="recharge_not_waiting",
            params={"status": str(record.status)},
        )
    assert record.payment_intent_id is not None
    canceled = await gateway.cancel_payment_intent(record.payment_intent_id)
    await charging.settle(
        svc,
        record.id,
        charging.canceled_because(
            canceled, "canceled_on_request", "canceled on request before it was authenticated"
        ),
    )
    return await get(svc, user_id, recharge_id)
