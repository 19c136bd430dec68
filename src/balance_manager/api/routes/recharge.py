"""Manual recharges and the on-session completion of charges that need the customer (SCA).

Each route parses, calls one use case, presents.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from balance_manager.api import presenters, schemas
from balance_manager.api.auth import OperatorUserId, Principal, Svc, UserId, get_principal
from balance_manager.api.errors import ApiError
from balance_manager.api.jsonbody import DecimalJSONRoute
from balance_manager.usecases import recharges, refunds

router = APIRouter(prefix="/api/balance/recharge", tags=["recharge"], route_class=DecimalJSONRoute)
RechargeId = Annotated[str, Path(alias="rechargeId", max_length=64)]
Caller = Annotated[Principal, Depends(get_principal)]


@router.post("/{userId}", response_model=schemas.RechargeOut, operation_id="rechargeNow")
async def recharge_now(
    user_id: UserId, svc: Svc, caller: Caller, body: schemas.RechargeIn | None = None
) -> schemas.RechargeOut:
    """Charge the saved card now: up to the target, or by ``amount``. Limited like automatic
    recharges (pause, backoff after a decline, daily limit — a failed manual attempt counts
    towards it); an operator may send ``overrideHolds: true`` to charge despite a pause or
    backoff. 409 while another recharge is in flight or at the daily limit."""
    override = bool(body and body.override_holds)
    if override and caller.kind != "operator":
        raise ApiError(
            403, "forbidden", "only an operator may override holds", field="overrideHolds"
        )
    outcome = await recharges.request_manual(
        svc, user_id, amount=body.amount if body else None, override_holds=override
    )
    return presenters.manual_recharge(outcome)


@router.get(
    "/{userId}/{rechargeId}", response_model=schemas.RechargeActionOut, operation_id="getRecharge"
)
async def get_recharge(
    user_id: UserId, recharge_id: RechargeId, svc: Svc
) -> schemas.RechargeActionOut:
    """A recharge and, when it waits for the customer (``requires_action``), the
    PaymentIntent's client secret for ``stripe.confirmCardPayment`` / ``handleNextAction``."""
    return presenters.recharge_view(
        await recharges.get(svc, user_id, recharge_id), svc.settings.stripe_publishable_key
    )


@router.post(
    "/{userId}/{rechargeId}/refresh",
    response_model=schemas.RechargeActionOut,
    operation_id="refreshRecharge",
)
async def refresh_recharge(
    user_id: UserId, recharge_id: RechargeId, svc: Svc
) -> schemas.RechargeActionOut:
    """Read the PaymentIntent from Stripe and settle the record now (what the page calls after
    the customer authenticates, so the credit does not wait for the webhook)."""
    return presenters.recharge_view(
        await recharges.refresh(svc, user_id, recharge_id), svc.settings.stripe_publishable_key
    )


@router.post(
    "/{userId}/{rechargeId}/cancel",
    response_model=schemas.RechargeActionOut,
    operation_id="cancelRecharge",
)
async def cancel_recharge(
    user_id: UserId, recharge_id: RechargeId, svc: Svc
) -> schemas.RechargeActionOut:
    """Give up on a recharge that waits for the customer to authenticate: the PaymentIntent is
    canceled at Stripe and the record becomes ``canceled``, so automatic recharges can start
    again. Should the customer have completed it meanwhile, it is credited instead."""
    return presenters.recharge_view(
        await recharges.cancel(svc, user_id, recharge_id), svc.settings.stripe_publishable_key
    )


@router.post(
    "/{userId}/{rechargeId}/refund", response_model=schemas.RefundOut, operation_id="refundRecharge"
)
async def refund_recharge(
    user_id: OperatorUserId,
    recharge_id: RechargeId,
    svc: Svc,
    body: schemas.RefundIn | None = None,
) -> schemas.RefundOut:
    """Refund (part of) a succeeded recharge's charge to the card, through Stripe. Operator
    only. ``amount`` is money back to the card (default: all that is left); the balance loses
    the credit's share of it (fee share excluded), once, however often the request, Stripe's
    webhooks or reconciliation report it. The same request sent again refunds once."""
    outcome = await refunds.refund(
        svc,
        user_id,
        recharge_id,
        amount=body.amount if body else None,
        reason=body.reason if body else None,
    )
    return presenters.refund(outcome)
