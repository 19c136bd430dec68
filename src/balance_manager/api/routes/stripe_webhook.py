"""``POST /api/webhooks/stripe``: Stripe's events, verified before anything is parsed.

- No Stripe configured → 503 ``payments_not_configured``; no ``STRIPE_WEBHOOK_SECRET`` → 503
  ``webhooks_not_configured`` (Stripe retries later).
- Missing or bad ``Stripe-Signature`` → 400 ``invalid_signature``; nothing changes.
- Otherwise 200 ``{received: true, eventId, type, outcome}``; ``outcome`` is ``"duplicate"``
  for an event already processed and ``"ignored"`` for types we don't handle.
- Signed but malformed (an array body, an integer ``recharge_id``, a null or over-long id,
  …): 200 with ``outcome: "malformed:<reason>"``, recorded in ``stripe_events`` under
  ``eventId`` (a digest of the payload); nothing else changes. Not a 4xx: Stripe retries
  every non-2xx answer for up to three days (and flags the endpoint as failing), and the
  same payload would be refused each time.
- A handler failure (e.g. Stripe unreachable while re-reading a card list) → 502/500 and no
  trace of the event, so Stripe's retry processes it again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request

from balance_manager.api.auth import Svc
from balance_manager.api.errors import ApiError
from balance_manager.api.schemas import OutputModel
from balance_manager.payments.gateway import MalformedEvent, WebhookSignatureError
from balance_manager.usecases import stripe_events
from balance_manager.usecases.services import require_gateway

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])


class WebhookOut(OutputModel):
    received: bool = True
    event_id: str
    type: str
    outcome: str


@router.post("/stripe", response_model=WebhookOut, operation_id="receiveStripeEvent")
async def stripe_webhook(
    request: Request,
    svc: Svc,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> WebhookOut:
    gateway = require_gateway(svc)
    if not gateway.webhook_secret:
        raise ApiError(
            503, "webhooks_not_configured", "STRIPE_WEBHOOK_SECRET is not set; cannot verify"
        )
    payload = await request.body()
    try:
        event = gateway.construct_event(payload, stripe_signature)
    except WebhookSignatureError as exc:
        raise ApiError(
            400, "invalid_signature", f"webhook not verified: {exc}", field="Stripe-Signature"
        ) from None
    except MalformedEvent as bad:
        handled = await stripe_events.record_malformed(
            svc,
            key=bad.key,
            event_type=bad.event_type,
            reason=bad.reason,
            claimed_id=bad.claimed_id,
        )
        return WebhookOut(event_id=handled.event_id, type=handled.type, outcome=handled.outcome)
    handled = await stripe_events.handle(svc, event)
    return WebhookOut(event_id=handled.event_id, type=handled.type, outcome=handled.outcome)
