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
- No Stripe call inside the transaction (on SQLite every transaction holds the write lock,
  on PostgreSQL row locks): a handler that needs Stripe state registers a ``Prefetch``
  (``async def prefetch(event, ctx) -> object``) in ``PREFETCH`` under the same event type;
  ``process_event`` runs it after a duplicate check and before the transaction, and the
  handler reads its result with :func:`prefetched`. Re-check what you prefetched against
  the rows you then lock (they may have moved meanwhile).

Registration: this module's ``HANDLERS`` (cards, customers) merged with
``balance_manager.recharge.webhooks.HANDLERS`` (``payment_intent.*``), and ``PREFETCH`` with
``balance_manager.recharge.webhooks.PREFETCH`` if it defines one; see :func:`handlers`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import stripe
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager.payments import customers
from balance_manager.payments.gateway import CardSummary, StripeNotFound, stripe_field, stripe_id
from balance_manager.store.models import StripeEvent, User, utcnow

if TYPE_CHECKING:
    from balance_manager.api.context import AppContext

log = structlog.get_logger(__name__)

Handler = Callable[[AsyncSession, stripe.Event, "AppContext"], Awaitable[str]]
Prefetch = Callable[[stripe.Event, "AppContext"], Awaitable[object]]
_PREFETCHED: ContextVar[object | None] = ContextVar("stripe_event_prefetched", default=None)


def _object(event: stripe.Event) -> Any:
    return stripe_field(stripe_field(event, "data"), "object")


@dataclass(frozen=True, slots=True)
class CardLists:
    """What a card handler's prefetch read from Stripe: customer id → (cards, Stripe's
    default card), or None when Stripe no longer knows the customer."""

    by_customer: dict[str, tuple[list[CardSummary], str | None] | None]


async def _affected_users(session: AsyncSession, event: stripe.Event) -> list[User]:
    """The users a card event concerns. A detached card no longer names its customer:
    Stripe gives the old one in ``previous_attributes``, and users holding the card as their
    default are found either way."""
    obj = _object(event)
    if event.type == "payment_method.detached":
        pm_id = stripe_id(obj)
        users = await customers.users_with_default(session, pm_id) if pm_id else []
        previous = stripe_field(stripe_field(event, "data"), "previous_attributes")
        owner = await customers.user_by_customer(
            session, stripe_id(stripe_field(previous, "customer"))
        )
        if owner is not None and owner.id not in {u.id for u in users}:
            users.append(owner)
        return users
    user = await customers.user_by_customer(session, stripe_id(stripe_field(obj, "customer")))
    return [] if user is None else [user]


async def prefetch_cards(event: stripe.Event, ctx: AppContext) -> CardLists:
    """Before the event's transaction: the affected customers' cards, read from Stripe."""
    if ctx.gateway is None:
        return CardLists({})
    async with ctx.sessions.begin() as session:
        ids = {u.stripe_customer_id for u in await _affected_users(session, event)}
    lists: dict[str, tuple[list[CardSummary], str | None] | None] = {}
    for customer_id in sorted(i for i in ids if i):
        try:
            lists[customer_id] = await ctx.gateway.list_cards(customer_id)
        except StripeNotFound:
            lists[customer_id] = None
    return CardLists(lists)


async def _refresh_cards(
    session: AsyncSession, event: stripe.Event, ctx: AppContext, preferred: str | None
) -> str:
    """Make each affected user's default a card the customer has now (Stripe's current
    list, not the event's story, so order and repeats don't matter)."""
    users = await _affected_users(session, event)
    if not users:
        return (
            "unknown_payment_method"
            if event.type == "payment_method.detached"
            else "unknown_customer"
        )
    lists = prefetched()
    outcomes: set[str] = set()
    for user in users:
        customer_id = user.stripe_customer_id
        if customer_id is None:
            outcomes.add("no_customer")
        elif isinstance(lists, CardLists) and customer_id in lists.by_customer:
            listed = lists.by_customer[customer_id]
            if listed is None:
                await customers.forget_customer(session, user)
                outcomes.add("customer_forgotten")
            else:
                refreshed = await customers.apply_default(
                    session, user.id, listed[0], listed[1], preferred=preferred
                )
                outcomes.add("default_changed" if refreshed.changed else "default_unchanged")
        elif ctx.gateway is not None:  # not prefetched (the customer changed meanwhile)
            outcomes.add(
                await customers.refresh_default(session, ctx.gateway, user, preferred=preferred)
            )
        else:
            outcomes.add("payments_not_configured")
    return ",".join(sorted(outcomes))


async def on_setup_intent_succeeded(
    session: AsyncSession, event: stripe.Event, ctx: AppContext
) -> str:
    """A card was saved: it becomes the default if the user has none (checked against the
    customer's current cards, so a card detached since is not picked)."""
    return await _refresh_cards(
        session, event, ctx, stripe_id(stripe_field(_object(event), "payment_method"))
    )


async def on_payment_method_attached(
    session: AsyncSession, event: stripe.Event, ctx: AppContext
) -> str:
    """A card was added (Customer Portal, Payment Element): default if the user has none."""
    return await _refresh_cards(session, event, ctx, stripe_id(_object(event)))


async def on_payment_method_detached(
    session: AsyncSession, event: stripe.Event, ctx: AppContext
) -> str:
    """A card was removed: if it was a default, the default becomes another of the
    customer's cards (Stripe's default, else the newest) or none."""
    return await _refresh_cards(session, event, ctx, None)


async def on_customer_deleted(session: AsyncSession, event: stripe.Event, ctx: AppContext) -> str:
    """The customer is gone: forget it and its default card (a new one is made when needed)."""
    user = await customers.user_by_customer(session, stripe_id(_object(event)))
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


PREFETCH: dict[str, Prefetch] = {
    "setup_intent.succeeded": prefetch_cards,
    "payment_method.attached": prefetch_cards,
    "payment_method.detached": prefetch_cards,
}


def handlers() -> dict[str, Handler]:
    """Every handler: these and the recharge engine's ``payment_intent.*`` ones."""
    from balance_manager.recharge import webhooks as recharge_webhooks

    merged: dict[str, Handler] = dict(HANDLERS)
    merged.update(recharge_webhooks.HANDLERS)
    return merged


def prefetchers() -> dict[str, Prefetch]:
    from balance_manager.recharge import webhooks as recharge_webhooks

    merged: dict[str, Prefetch] = dict(PREFETCH)
    merged.update(getattr(recharge_webhooks, "PREFETCH", {}))
    return merged


def prefetched() -> object | None:
    """Inside a handler: what the event type's ``Prefetch`` returned (None if it has none)."""
    return _PREFETCHED.get()


class _Duplicate(Exception):
    pass


async def process_event(ctx: AppContext, event: stripe.Event) -> str:
    """Handle a verified event exactly once; returns its outcome (``"duplicate"``,
    ``"ignored"`` for types we don't handle, or the handler's)."""
    handler = handlers().get(event.type)
    prefetch = prefetchers().get(event.type) if handler is not None else None
    if prefetch is not None:
        async with ctx.sessions.begin() as session:
            if await session.get(StripeEvent, event.id) is not None:
                log.info("stripe_event_duplicate", event_id=event.id, type=event.type)
                return "duplicate"
        token = _PREFETCHED.set(await prefetch(event, ctx))
    else:
        token = _PREFETCHED.set(None)
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
    finally:
        _PREFETCHED.reset(token)
    log.info("stripe_event", event_id=event.id, type=event.type, outcome=outcome)
    return outcome
