"""Domain objects to response bodies (minor units → major-unit decimals)."""

from __future__ import annotations

from typing import Any

from balance_manager import money
from balance_manager.api import schemas
from balance_manager.store.models import BalanceConfig, LedgerEntry, RechargeRecord, User
from balance_manager.store.paging import Page


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
        status=r.status,
        triggered_by=r.triggered_by,
        trigger_detail=r.trigger_detail,
        capped=r.capped,
        payment_intent_id=r.payment_intent_id,
        failure_code=r.failure_code,
        failure_message=r.failure_message,
        created_at=r.created_at,
        completed_at=r.completed_at,
    )


def ledger_entry(e: LedgerEntry, cur: money.Currency) -> schemas.LedgerEntryOut:
    return schemas.LedgerEntryOut(
        id=e.id,
        kind=e.kind,
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
