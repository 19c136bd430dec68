"""Stripe webhooks: verify → deduplicate by event id → dispatch to a handler.

The route verifies ``Stripe-Signature`` (``StripeGateway.construct_event``) before anything
is parsed, then calls :func:`process_event`. Each event id is processed once: its row in
``stripe_events`` is written in the same transaction as the handler's effects, so a
duplicate (or a concurrent redelivery) either sees the row and answers ``"duplicate"``, or
loses on the primary key and is rolled back whole. A handler that raises rolls everything
back and the route answers 500, so Stripe delivers the event again.

Handler contract (``Handler``)::

    async def handler(session: AsyncSession, event: stripe.Event, ctx: AppContext) -> str

- ``session`` is inside the event's transaction: write through it, never commit.
- Return a short outcome string (stored in ``stripe_events.outcome``, ≤ 255 chars, shown in
  the route's response), e.g. ``"credited"``, ``"already_settled"``, ``"unknown_customer"``.
- Be harmless when out of order or for objects we never saw: read current state (our rows,
  or Stripe through ``ctx.gateway``), don't trust the event's age. Expected "nothing to do"
  cases return an outcome; only raise when the event must be retried.
- Stripe reads (``ctx.gateway``) come before the handler's first write, so no lock is held
  across a network call.

Registration: this module's ``HANDLERS`` (cards, customers) merged with
``balance_manager.recharge.webhooks.HANDLERS`` (``payment_intent.*``); see :func:`handlers`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import stripe
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager.payments import customers
from balance_manager.store.models import StripeEvent, utcnow

if TYPE_CHECKING:
    from balance_manager.api.context import AppContext

log = structlog.get_logger(__name__)

Handler = Callable[[AsyncSession, stripe.Event, "AppContext"], Awaitable[str]]


def _field(obj: object, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    try:
        return getattr(obj, name, None)
    except (AttributeError, KeyError):
        return None


def _id(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    found = _field(value, "id")
    return found if isinstance(found, str) else None


def _object(event: stripe.Event) -> Any:
    return _field(_field(event, "data"), "object")


async def _refresh_customer(
    session: AsyncSession, ctx: AppContext, customer_id: str | None, card_id: str | None
) -> str:
    user = await customers.user_by_customer(session, customer_id)
    if user is None:
        return "unknown_customer"
    if ctx.gateway is None:
        return "payments_not_configured"
    return await customers.refresh_default(session, ctx.gateway, user, preferred=card_id)


async def on_setup_intent_succeeded(
    session: AsyncSession, event: stripe.Event, ctx: AppContext
) -> str:
    """A card was saved: it becomes the default if the user has none (checked against the
    customer's current cards, so a card detached since is not picked)."""
    intent = _object(event)
    return await _refresh_customer(
        session, ctx, _id(_field(intent, "customer")), _id(_field(intent, "payment_method"))
    )


async def on_payment_method_attached(
    session: AsyncSession, event: stripe.Event, ctx: AppContext
) -> str:
    """A card was added (Customer Portal, Payment Element): default if the user has none."""
    card = _object(event)
    return await _refresh_customer(session, ctx, _id(_field(card, "customer")), _id(card))


async def on_payment_method_detached(
    session: AsyncSession, event: stripe.Event, ctx: AppContext
) -> str:
    """A card was removed: if it was a default, replace it with another card or clear it.

    The detached object no longer names its customer; Stripe gives the old one in
    ``previous_attributes``. Users holding the card as default are found either way."""
    pm_id = _id(_object(event))
    previous = _field(_field(event, "data"), "previous_attributes")
    users = await customers.users_with_default(session, pm_id) if pm_id else []
    owner = await customers.user_by_customer(session, _id(_field(previous, "customer")))
    if owner is not None and owner.id not in {u.id for u in users}:
        users.append(owner)
    if not users:
        return "unknown_payment_method"
    if ctx.gateway is None:
        return "payments_not_configured"
    outcomes = [await customers.refresh_default(session, ctx.gateway, user) for user in users]
    return ",".join(sorted(set(outcomes)))


async def on_customer_deleted(session: AsyncSession, event: stripe.Event, ctx: AppContext) -> str:
    """The customer is gone: forget it and its default card (a new one is made when needed)."""
    user = await customers.user_by_customer(session, _id(_object(event)))
    if user is None:
        return "unknown_customer"
    await customers.forget_customer(session, user)
    return "customer_forgotten"


HANDLERS: dict[str, Handler] = {
    "setup_intent.succeeded": on_setup_intent_succeeded,
    "payment_method.attached": on_payment_method_attached,
    "payment_method.detached": on_payment_method_detached,
    "customer.deleted": on_customer_deleted,
}


def handlers() -> dict[str, Handler]:
    """Every handler: these and the recharge engine's ``payment_intent.*`` ones."""
    from balance_manager.recharge import webhooks as recharge_webhooks

    merged: dict[str, Handler] = dict(HANDLERS)
    merged.update(recharge_webhooks.HANDLERS)
    return merged


class _Duplicate(Exception):
    pass


async def process_event(ctx: AppContext, event: stripe.Event) -> str:
    """Handle a verified event exactly once; returns its outcome (``"duplicate"``,
    ``"ignored"`` for types we don't handle, or the handler's)."""
    handler = handlers().get(event.type)
    try:
        async with ctx.sessions.begin() as session:
            if await session.get(StripeEvent, event.id) is not None:
                raise _Duplicate
            outcome = "ignored" if handler is None else await handler(session, event, ctx)
            session.add(
                StripeEvent(
                    id=event.id, type=event.type, processed_at=utcnow(), outcome=outcome[:255]
                )
            )
            try:
                await session.flush()
            except IntegrityError:  # a concurrent delivery of the same event committed first
                raise _Duplicate from None
    except _Duplicate:
        log.info("stripe_event_duplicate", event_id=event.id, type=event.type)
        return "duplicate"
    log.info("stripe_event", event_id=event.id, type=event.type, outcome=outcome)
    return outcome
