"""Manual recharges (trigger 3) and the on-session completion of charges that need the
customer (SCA)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, Path

from balance_manager import money
from balance_manager.accounts import service as accounts
from balance_manager.api import presenters, schemas
from balance_manager.api.auth import Context, UserId
from balance_manager.api.errors import ApiError
from balance_manager.api.jsonbody import DecimalJSONRoute
from balance_manager.errors import NotFound
from balance_manager.payments.gateway import ChargeResult, GatewayError
from balance_manager.recharge import service
from balance_manager.recharge.worker import notify
from balance_manager.store.models import (
    IN_FLIGHT_STATUSES,
    RechargeRecord,
    RechargeStatus,
    User,
    utcnow,
)

router = APIRouter(prefix="/api/balance/recharge", tags=["recharge"], route_class=DecimalJSONRoute)
RechargeId = Annotated[str, Path(alias="rechargeId", max_length=64)]
_WAIT_FOR_WORKER_SECONDS = 15.0


def _payments(ctx: Context) -> None:
    if ctx.gateway is None or ctx.worker is None:
        raise ApiError(
            503, "payments_not_configured", "Stripe is not configured (STRIPE_SECRET_KEY)"
        )


@router.post("/{userId}", response_model=schemas.RechargeOut)
async def recharge_now(
    user_id: UserId, ctx: Context, body: schemas.RechargeIn | None = None
) -> schemas.RechargeOut:
    """Charge the saved card now: up to the target, or by ``amount``. Goes through the same
    record and claim as automatic recharges, so it can never double-charge alongside one;
    while another recharge is in flight this answers 409."""
    _payments(ctx)
    assert ctx.worker is not None
    async with ctx.sessions.begin() as session:
        await accounts.get_user(session, user_id)
        user, config = await service.lock_user(session, user_id)
        amount = service.manual_amount(body.amount if body else None, user=user, config=config)
        opened = await service.open_recharge(
            session,
            user=user,
            config=config,
            rules=service.rules_from_settings(ctx.settings),
            triggered_by="manual",
            trigger_detail="manual",
            now=utcnow(),
            amount=amount,
        )
        if isinstance(opened, service.Skip):
            raise service.skip_error(opened)
        record_id = opened.id
        await notify(session)
    if not await ctx.worker.claim_and_execute(record_id):
        await _wait_until_settled(ctx, record_id)
    async with ctx.sessions.begin() as session:
        record = await session.get(RechargeRecord, record_id)
        user_now = await session.get(User, user_id)
        assert record is not None
        assert user_now is not None
        cur = money.currency(record.currency)
        return schemas.RechargeOut(
            success=record.status == RechargeStatus.SUCCEEDED,
            amount=money.to_major(record.amount, cur),
            fee=money.to_major(record.fee, cur),
            total_charge=money.to_major(record.total_charge, cur),
            payment_intent_id=record.payment_intent_id,
            new_balance=money.to_major(user_now.balance, cur),
            recharge_id=record.id,
            status=record.status,
            failure_code=record.failure_code,
            failure_message=record.failure_message,
        )


async def _wait_until_settled(ctx: Context, record_id: str) -> None:
    """Another worker claimed the record first: give it a moment to finish."""
    deadline = asyncio.get_running_loop().time() + _WAIT_FOR_WORKER_SECONDS
    while asyncio.get_running_loop().time() < deadline:
        async with ctx.sessions.begin() as session:
            record = await session.get(RechargeRecord, record_id)
            if record is None or record.status not in {
                RechargeStatus.PENDING,
                RechargeStatus.PROCESSING,
            }:
                return
        await asyncio.sleep(0.1)


async def _record(ctx: Context, user_id: str, recharge_id: str) -> RechargeRecord:
    async with ctx.sessions.begin() as session:
        await accounts.get_user(session, user_id)
        record = await session.get(RechargeRecord, recharge_id)
    if record is None or record.user_id != user_id:
        raise NotFound(
            f"recharge {recharge_id} not found", code="recharge_not_found", field="rechargeId"
        )
    return record


@router.get("/{userId}/{rechargeId}", response_model=schemas.RechargeActionOut)
async def get_recharge(
    user_id: UserId, recharge_id: RechargeId, ctx: Context
) -> schemas.RechargeActionOut:
    """A recharge and, when it waits for the customer (``requires_action``), the
    PaymentIntent's client secret for ``stripe.confirmCardPayment`` / ``handleNextAction``."""
    record = await _record(ctx, user_id, recharge_id)
    waiting = record.status == RechargeStatus.REQUIRES_ACTION
    client_secret = None
    if waiting and record.payment_intent_id and ctx.gateway is not None:
        try:
            client_secret = (
                await ctx.gateway.retrieve_payment_intent(record.payment_intent_id)
            ).client_secret
        except GatewayError as exc:
            raise ApiError(502, "stripe_unavailable", exc.message) from None
    return schemas.RechargeActionOut(
        recharge=presenters.recharge_record(record, money.currency(record.currency)),
        requires_action=waiting,
        payment_intent_id=record.payment_intent_id,
        client_secret=client_secret,
        publishable_key=ctx.settings.stripe_publishable_key if waiting else None,
    )


@router.post("/{userId}/{rechargeId}/refresh", response_model=schemas.RechargeActionOut)
async def refresh_recharge(
    user_id: UserId, recharge_id: RechargeId, ctx: Context
) -> schemas.RechargeActionOut:
    """Read the PaymentIntent from Stripe and settle the record now (what the page calls after
    the customer authenticates, so the credit does not wait for the webhook)."""
    _payments(ctx)
    assert ctx.gateway is not None
    record = await _record(ctx, user_id, recharge_id)
    if record.payment_intent_id and record.status in {str(s) for s in IN_FLIGHT_STATUSES}:
        await _settle_with(
            ctx, record.id, ctx.gateway.retrieve_payment_intent(record.payment_intent_id)
        )
    return await get_recharge(user_id, recharge_id, ctx)


async def _settle_with(ctx: Context, record_id: str, stripe_call: Awaitable[ChargeResult]) -> None:
    """Ask Stripe (refresh, cancel), then settle the record with the answer."""
    try:
        result = await stripe_call
    except GatewayError as exc:
        raise ApiError(502, "stripe_unavailable", exc.message) from None
    async with ctx.sessions.begin() as session:
        await service.settle(
            session,
            record_id,
            result,
            rules=service.rules_from_settings(ctx.settings),
            now=utcnow(),
        )


@router.post("/{userId}/{rechargeId}/cancel", response_model=schemas.RechargeActionOut)
async def cancel_recharge(
    user_id: UserId, recharge_id: RechargeId, ctx: Context
) -> schemas.RechargeActionOut:
    """Give up on a recharge that waits for the customer to authenticate: the PaymentIntent is
    canceled at Stripe and the record becomes ``canceled``, so automatic recharges can start
    again. Should the customer have completed it meanwhile, it is credited instead."""
    _payments(ctx)
    assert ctx.gateway is not None
    record = await _record(ctx, user_id, recharge_id)
    if record.status != RechargeStatus.REQUIRES_ACTION:
        raise ApiError(
            409,
            "recharge_not_waiting",
            f"only a recharge in requires_action can be canceled (this one is {record.status})",
        )
    assert record.payment_intent_id is not None
    await _settle_with(ctx, record.id, ctx.gateway.cancel_payment_intent(record.payment_intent_id))
    return await get_recharge(user_id, recharge_id, ctx)
