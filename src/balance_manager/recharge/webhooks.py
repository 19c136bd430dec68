"""Stripe webhook handlers for PaymentIntent events: settle the recharge they belong to.

Registered in ``HANDLERS`` (event type → handler) and merged by the webhook route with
``payments.webhooks.HANDLERS``. The event's PaymentIntent is mapped to a charge outcome and
goes through ``service.settle``, the same function the worker uses, so the credit lands once
whichever arrives first; stale or duplicate events cannot move a settled record back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager.payments.gateway import intent_result, stripe_field, stripe_id
from balance_manager.recharge import service
from balance_manager.store.models import RechargeRecord, utcnow


async def settle_from_event(session: AsyncSession, event: Any, ctx: Any) -> str:
    intent = stripe_field(stripe_field(event, "data"), "object")
    record_id = stripe_field(stripe_field(intent, "metadata"), "recharge_id")
    if record_id is None:
        record_id = await session.scalar(
            select(RechargeRecord.id).where(RechargeRecord.payment_intent_id == stripe_id(intent))
        )
    if record_id is None:
        return "not_a_recharge"
    return await service.settle(
        session,
        record_id,
        intent_result(intent),
        rules=service.rules_from_settings(ctx.settings),
        now=utcnow(),
    )


HANDLERS: dict[str, Any] = {
    "payment_intent.succeeded": settle_from_event,
    "payment_intent.payment_failed": settle_from_event,
    "payment_intent.requires_action": settle_from_event,
    "payment_intent.canceled": settle_from_event,
    "payment_intent.processing": settle_from_event,
}
