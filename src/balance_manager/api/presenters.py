"""Domain objects to response bodies (minor units → major-unit decimals)."""

from __future__ import annotations

from typing import Any

from balance_manager.api import schemas, schemas_admin
from balance_manager.domain import money, reversals
from balance_manager.store.models import (
    BalanceConfig,
    LedgerEntry,
    RechargeRecord,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from balance_manager.store.paging import Page
from balance_manager.usecases import recharges, refunds, usage, webhooks


def user(u: User) -> schemas.UserOut:
    cur = money.currency(u.currency)
    return schemas.UserOut(
        id=u.id,
        email=u.email,
        currency=u.currency,
        balance=money.to_major(u.balance, cur),
        stripe_customer_id=u.stripe_customer_id,
        created_at=u.created_at,
    )


def user_summary(u: User, c: BalanceConfig | None) -> schemas_admin.UserSummaryOut:
    return schemas_admin.UserSummaryOut(
        **user(u).model_dump(),
        below_minimum=u.below_minimum,
        auto_recharge_enabled=None if c is None else c.auto_recharge_enabled,
        paused=c is not None and c.paused_reason is not None,
        has_payment_method=c is not None and c.default_payment_method_id is not None,
    )


def config(
    c: BalanceConfig, cur: money.Currency, warnings: list[str] | None = None
) -> schemas.ConfigOut:
    return schemas.ConfigOut(
        id=c.user_id,
        user_id=c.user_id,
        minimum_balance=money.to_major(c.minimum_balance, cur),
        target_balance=money.to_major(c.target_balance, cur),
        auto_recharge_enabled=c.auto_recharge_enabled,
        default_payment_method_id=c.default_payment_method_id,
        max_daily_recharges=c.max_daily_recharges,
        max_recharge_amount=money.to_major(c.max_recharge_amount, cur),
        balance_floor=None if c.balance_floor is None else money.to_major(c.balance_floor, cur),
        low_balance_threshold=None
        if c.low_balance_threshold is None
        else money.to_major(c.low_balance_threshold, cur),
        paused_reason=c.paused_reason,
        paused_at=c.paused_at,
        currency=cur.code,
        updated_at=c.updated_at,
        warnings=warnings or [],
    )


def recharge_record(r: RechargeRecord, cur: money.Currency) -> schemas.RechargeRecordOut:
    return schemas.RechargeRecordOut(
        id=r.id,
        amount=money.to_major(r.amount, cur),
        fee=money.to_major(r.fee, cur),
        total_charge=money.to_major(r.total_charge, cur),
        currency=r.currency,
        status=str(r.status),
        triggered_by=str(r.triggered_by),
        trigger_detail=str(r.trigger_detail),
        capped=r.capped,
        payment_intent_id=r.payment_intent_id,
        failure_code=r.failure_code,
        failure_message=r.failure_message,
        created_at=r.created_at,
        completed_at=r.completed_at,
        amount_refunded=money.to_major(r.amount_refunded, cur),
        amount_disputed=money.to_major(r.amount_disputed, cur),
        credit_reversed=money.to_major(
            reversals.credit_share(
                r.amount_refunded + r.amount_disputed, amount=r.amount, total=r.total_charge
            ),
            cur,
        ),
        dispute_status=r.dispute_status,
    )


def ledger_entry(e: LedgerEntry, cur: money.Currency) -> schemas.LedgerEntryOut:
    return schemas.LedgerEntryOut(
        id=e.id,
        kind=str(e.kind),
        amount=money.to_major(e.amount, cur),
        balance_after=money.to_major(e.balance_after, cur),
        reference=e.reference,
        description=e.description,
        metadata=e.metadata_,
        created_at=e.created_at,
    )


def pagination(page: Page[Any]) -> schemas.Pagination:
    return schemas.Pagination(
        total=page.total, page=page.page, limit=page.limit, total_pages=page.total_pages
    )


def status(st: recharges.BalanceStatus) -> schemas.StatusOut:
    cur, calc = st.currency, st.calculation
    return schemas.StatusOut(
        needs_recharge=st.needs_recharge,
        current_balance=money.to_major(st.user.balance, cur),
        minimum_balance=money.to_major(st.config.minimum_balance, cur),
        target_balance=money.to_major(st.config.target_balance, cur),
        calculation=None
        if calc is None
        else schemas.CalculationOut(
            recharge_amount=money.to_major(calc.recharge_amount, cur),
            fee=money.to_major(calc.fee, cur),
            total_charge=money.to_major(calc.total_charge, cur),
            new_balance=money.to_major(calc.new_balance, cur),
            capped=calc.capped,
        ),
        can_recharge=st.can_recharge,
        recharge_blocked_reason=None if st.blocked_reason is None else str(st.blocked_reason),
        recharge_blocked_until=st.blocked_until,
        currency=cur.code,
        auto_recharge_enabled=st.config.auto_recharge_enabled,
        pending_recharge_id=None if st.in_flight is None else st.in_flight.id,
    )


def recorded(r: usage.Recorded) -> schemas.UsageOut:
    return schemas.UsageOut(
        user_id=r.user_id,
        entry_id=r.entry_id,
        amount=money.to_major(r.amount, r.currency),
        balance=money.to_major(r.balance, r.currency),
        currency=r.currency.code,
        replayed=r.replayed,
        created_at=r.created_at,
        recharge_id=r.recharge_id,
    )


def batch_result(item: usage.BatchItem) -> schemas.BatchResult:
    base = {
        "index": item.index,
        "user_id": item.event.user_id,
        "idempotency_key": item.event.idempotency_key,
    }
    if item.error is not None:
        return schemas.BatchResult(
            **base,
            status="error",
            error=schemas.ErrorBody(
                code=item.error.code,
                message=item.error.message,
                field=item.error.field,
                params=item.error.params,
            ),
        )
    r = item.recorded
    assert r is not None
    return schemas.BatchResult(
        **base,
        status="replayed" if r.replayed else "applied",
        entry_id=r.entry_id,
        balance=money.to_major(r.balance, r.currency),
    )


def manual_recharge(outcome: recharges.ManualOutcome) -> schemas.RechargeOut:
    record, cur = outcome.record, outcome.currency
    return schemas.RechargeOut(
        success=record.status == "succeeded",
        amount=money.to_major(record.amount, cur),
        fee=money.to_major(record.fee, cur),
        total_charge=money.to_major(record.total_charge, cur),
        payment_intent_id=record.payment_intent_id,
        new_balance=money.to_major(outcome.balance, cur),
        recharge_id=record.id,
        status=str(record.status),
        failure_code=record.failure_code,
        failure_message=record.failure_message,
    )


def recharge_view(
    view: recharges.RechargeView, publishable_key: str | None
) -> schemas.RechargeActionOut:
    record = view.record
    return schemas.RechargeActionOut(
        recharge=recharge_record(record, money.currency(record.currency)),
        requires_action=view.requires_action,
        payment_intent_id=record.payment_intent_id,
        client_secret=view.client_secret,
        publishable_key=publishable_key if view.requires_action else None,
    )


def webhook_endpoint(e: WebhookEndpoint) -> schemas.WebhookEndpointOut:
    return schemas.WebhookEndpointOut(
        id=e.id,
        url=e.url,
        description=e.description,
        event_types=e.event_types,
        enabled=e.enabled,
        failing_since=e.failing_since,
        disabled_at=e.disabled_at,
        disabled_reason=e.disabled_reason,
        created_at=e.created_at,
        updated_at=e.updated_at,
    )


def created_webhook_endpoint(
    created: webhooks.CreatedEndpoint,
) -> schemas.CreatedWebhookEndpointOut:
    return schemas.CreatedWebhookEndpointOut(
        **webhook_endpoint(created.endpoint).model_dump(), secret=created.secret
    )


def webhook_delivery(d: WebhookDelivery, event_type: str) -> schemas.WebhookDeliveryOut:
    return schemas.WebhookDeliveryOut(
        id=d.id,
        event_id=d.event_id,
        event_type=event_type,
        endpoint_id=d.endpoint_id,
        status=str(d.status),
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at,
        last_attempt_at=d.last_attempt_at,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        delivered_at=d.delivered_at,
        created_at=d.created_at,
    )


def webhook_attempt(a: WebhookAttempt) -> schemas.WebhookAttemptOut:
    return schemas.WebhookAttemptOut(
        attempt=a.attempt,
        started_at=a.started_at,
        status_code=a.status_code,
        latency_ms=a.latency_ms,
        error=a.error,
    )


def webhook_delivery_log(found: webhooks.DeliveryLog) -> schemas.WebhookDeliveryLogOut:
    return schemas.WebhookDeliveryLogOut(
        **webhook_delivery(found.delivery, found.event_type).model_dump(),
        log=[webhook_attempt(a) for a in found.attempts],
    )


def refund(outcome: refunds.RefundOutcome) -> schemas.RefundOut:
    cur = outcome.currency
    return schemas.RefundOut(
        refund_id=outcome.refund.id,
        status=outcome.refund.status,
        amount=money.to_major(outcome.refund.amount, cur),
        balance_debited=money.to_major(-outcome.credit, cur),
        balance=money.to_major(outcome.balance, cur),
        currency=cur.code,
        recharge=recharge_record(outcome.record, cur),
    )
