"""Stripe's webhook events, once verified: deduplicate by event id, then act.

Each event id is processed once: its row in ``stripe_events`` is written in the same
transaction as the handler's effects, so a duplicate (or a concurrent redelivery) either
sees the row and answers ``"duplicate"``, or loses on the primary key and is rolled back
whole. A handler that raises rolls everything back and the route answers 5xx, so Stripe
delivers the event again.

Handlers never call Stripe inside the event's transaction: what they need from Stripe is
read first (``_PREFETCH``), then re-checked against the rows they lock.

- ``payment_intent.*`` → :func:`charging.settle_in`, the function the worker uses, so a
  credit lands once whichever arrives first; stale or duplicate events cannot move a settled
  record back. A succeeded PaymentIntent that settles no recharge (it claims one that is not
  its own, or charged one of our customers without naming one) becomes a payment anomaly.
- ``charge.refunded``, ``charge.refund.updated``, ``refund.*``, ``charge.dispute.*`` → the
  PaymentIntent's refunds and disputes as Stripe has them now (read first) through
  :func:`refunds.apply_in`: each moves the ledger once, whichever event (or the refund API's
  own answer) gets there first.
- ``setup_intent.succeeded``, ``payment_method.attached|detached`` → our default card follows
  the customer's current cards (Stripe's list, not the event's story, so order and repeats
  don't matter); a new default below the minimum opens the recharge at once.
- ``customer.updated`` that changed ``invoice_settings.default_payment_method`` (the Customer
  Portal's "make default") → ours follows Stripe's current default.
- ``customer.deleted`` → forget the customer and its card.

These are :data:`HANDLED_EVENT_TYPES`, the event types the Stripe webhook endpoint is set up
with. Each event's ``api_version`` is kept with its row: ``/health/ready`` warns when events
arrive in another version than the one the service is written against.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager.domain.states import AnomalyKind
from balance_manager.payments.gateway import ChargeOutcome, StripeNotFound
from balance_manager.payments.stripe_objects import (
    CardSummary,
    PaymentReversals,
    intent_result,
    stripe_field,
    stripe_id,
)
from balance_manager.store.db import retry_on_disconnect
from balance_manager.store.models import RechargeRecord, StripeEvent, User
from balance_manager.telemetry import metrics, tracing
from balance_manager.usecases import anomalies, cards, charging, refunds
from balance_manager.usecases.services import Services

log = structlog.get_logger(__name__)

CardLists = dict[str, tuple[list[CardSummary], str | None] | None]


@dataclass(slots=True)
class Prefetched:
    """What a handler needs from Stripe, read before the event's transaction."""

    cards: CardLists = field(default_factory=dict)
    reversals: PaymentReversals | None = None


Handler = Callable[[Services, AsyncSession, Any, Prefetched], Awaitable[str]]

_PAYMENT_INTENT = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.requires_action",
        "payment_intent.canceled",
        "payment_intent.processing",
    }
)
_CARD_EVENTS = frozenset(
    {
        "setup_intent.succeeded",
        "payment_method.attached",
        "payment_method.detached",
        "customer.updated",
    }
)
_REVERSAL_EVENTS = frozenset(
    {
        "charge.refunded",
        "charge.refund.updated",
        "refund.created",
        "refund.updated",
        "refund.failed",
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
    }
)


def _object(event: Any) -> Any:
    return stripe_field(stripe_field(event, "data"), "object")


async def settle_payment_intent(
    svc: Services, session: AsyncSession, event: Any, _pre: Prefetched
) -> str:
    """The recharge a PaymentIntent event belongs to, settled with the intent's state."""
    result = intent_result(_object(event))
    record_id = result.recharge_id
    if record_id is None:
        record_id = await session.scalar(
            select(RechargeRecord.id).where(
                RechargeRecord.payment_intent_id == result.payment_intent_id
            )
        )
    if record_id is not None:
        outcome = await charging.settle_in(
            session, record_id, result, rules=svc.rules, now=svc.clock()
        )
        if outcome is not charging.Settled.UNKNOWN_RECORD:
            return str(outcome)
    if result.outcome is not ChargeOutcome.SUCCEEDED or result.payment_intent_id is None:
        return "not_a_recharge" if record_id is None else str(charging.Settled.UNKNOWN_RECORD)
    # Money was taken and no recharge is settled by it: ours to show if it names a recharge
    # or charged one of our customers.
    if record_id is None and await cards.user_by_customer(session, result.customer_id) is None:
        return "not_a_recharge"
    await anomalies.record_payment(
        await session.connection(),
        result,
        kind=AnomalyKind.UNMATCHED_PAYMENT,
        detail="succeeded PaymentIntent of one of our customers that settles no recharge"
        if record_id is None
        else f"succeeded PaymentIntent names recharge {record_id}, which does not exist",
        recharge_id=record_id,
        now=svc.clock(),
    )
    return str(charging.Settled.ANOMALY)


def _payment_intent_of(event: Any) -> str | None:
    """The PaymentIntent a refund, dispute or charge event is about."""
    return stripe_id(stripe_field(_object(event), "payment_intent"))


async def _prefetch_reversals(svc: Services, event: Any) -> Prefetched:
    """Before the event's transaction: the PaymentIntent with its refunds and disputes."""
    payment_intent_id = _payment_intent_of(event)
    if svc.gateway is None or payment_intent_id is None:
        return Prefetched()
    try:
        return Prefetched(reversals=await svc.gateway.retrieve_reversals(payment_intent_id))
    except StripeNotFound:
        return Prefetched()


async def apply_reversals(
    svc: Services, session: AsyncSession, _event: Any, pre: Prefetched
) -> str:
    """Refunds and disputes of a recharge's charge, applied as Stripe has them now."""
    if pre.reversals is None:
        return "not_a_recharge"
    applied = await refunds.apply_in(session, pre.reversals, svc=svc, now=svc.clock())
    return applied.outcome


async def _affected_users(session: AsyncSession, event: Any) -> list[User]:
    """The users a card event concerns. A detached card no longer names its customer:
    Stripe gives the old one in ``previous_attributes``, and users holding the card as their
    default are found either way."""
    obj = _object(event)
    kind = stripe_field(event, "type")
    if kind == "customer.updated":
        return [u] if (u := await cards.user_by_customer(session, stripe_id(obj))) else []
    if kind == "payment_method.detached":
        pm_id = stripe_id(obj)
        users = await cards.users_with_default(session, pm_id) if pm_id else []
        previous = stripe_field(stripe_field(event, "data"), "previous_attributes")
        owner = await cards.user_by_customer(session, stripe_id(stripe_field(previous, "customer")))
        if owner is not None and owner.id not in {u.id for u in users}:
            users.append(owner)
        return users
    user = await cards.user_by_customer(session, stripe_id(stripe_field(obj, "customer")))
    return [] if user is None else [user]


async def _prefetch_cards(svc: Services, event: Any) -> Prefetched:
    """Before the event's transaction: the affected customers' cards, read from Stripe."""
    if svc.gateway is None or stripe_field(event, "type") not in _CARD_EVENTS:
        return Prefetched()
    if stripe_field(event, "type") == "customer.updated" and not _default_changed(event):
        return Prefetched()
    async with svc.sessions.begin() as session:
        customer_ids = {u.stripe_customer_id for u in await _affected_users(session, event)}
    lists: CardLists = {}
    for customer_id in sorted(c for c in customer_ids if c):
        try:
            lists[customer_id] = await svc.gateway.list_cards(customer_id)
        except StripeNotFound:
            lists[customer_id] = None
    return Prefetched(cards=lists)


async def sync_cards(svc: Services, session: AsyncSession, event: Any, pre: Prefetched) -> str:
    """Make each affected user's default a card the customer has now."""
    lists = pre.cards
    kind = stripe_field(event, "type")
    obj = _object(event)
    preferred = None
    if kind == "setup_intent.succeeded":
        preferred = stripe_id(stripe_field(obj, "payment_method"))
    elif kind == "payment_method.attached":
        preferred = stripe_id(obj)
    follow_stripe = kind == "customer.updated"
    if follow_stripe and not _default_changed(event):
        return "default_not_changed_in_stripe"
    users = await _affected_users(session, event)
    if not users:
        return "unknown_payment_method" if kind == "payment_method.detached" else "unknown_customer"
    outcomes: set[str] = set()
    for user in users:
        customer_id = user.stripe_customer_id
        if customer_id is None:
            outcomes.add("no_customer")
        elif customer_id not in lists:
            # The user's customer changed since the prefetch; the next read repairs it.
            outcomes.add("customer_changed")
        else:
            outcomes.add(
                await cards.sync_listed(
                    svc,
                    session,
                    user,
                    lists[customer_id],
                    preferred=preferred,
                    follow_stripe=follow_stripe,
                )
            )
    return ",".join(sorted(outcomes))


def _default_changed(event: Any) -> bool:
    """Whether a ``customer.updated`` changed the customer's default payment method."""
    previous = stripe_field(stripe_field(event, "data"), "previous_attributes")
    settings = stripe_field(previous, "invoice_settings")
    if settings is None:
        return False
    keys = settings.keys() if isinstance(settings, dict) else settings.to_dict().keys()
    return "default_payment_method" in keys


async def customer_deleted(
    svc: Services, session: AsyncSession, event: Any, _pre: Prefetched
) -> str:
    """The customer is gone: forget it and its default card (a new one is made when needed)."""
    user = await cards.user_by_customer(session, stripe_id(_object(event)))
    if user is None:
        return "unknown_customer"
    await cards.forget_customer(svc, session, user)
    return "customer_forgotten"


# Each event type the service acts on, and its handler: the one list, from which the Stripe
# webhook endpoint's ``enabled_events`` are made (``balance-manager stripe webhook-setup``).
_HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(_PAYMENT_INTENT, settle_payment_intent),
    **dict.fromkeys(_CARD_EVENTS, sync_cards),
    **dict.fromkeys(_REVERSAL_EVENTS, apply_reversals),
    "customer.deleted": customer_deleted,
}
HANDLED_EVENT_TYPES: frozenset[str] = frozenset(_HANDLERS)


def handler_for(event_type: str) -> Handler | None:
    return _HANDLERS.get(event_type)


# Handlers that read Stripe first, outside the event's transaction.
_PREFETCH: dict[Handler, Callable[[Services, Any], Awaitable[Prefetched]]] = {
    sync_cards: _prefetch_cards,
    apply_reversals: _prefetch_reversals,
}


@dataclass(frozen=True, slots=True)
class Handled:
    event_id: str
    type: str
    outcome: str


class _Duplicate(Exception):
    pass


@retry_on_disconnect  # exactly once by the event's id: safe to run again
@tracing.traced("stripe_event.handle")
async def handle(svc: Services, event: Any) -> Handled:
    """Handle a verified event exactly once: ``"duplicate"`` for one already processed,
    ``"ignored"`` for types we don't handle, else the handler's outcome."""
    event_id, kind = str(event.id), str(event.type)
    handler = handler_for(kind)
    pre = Prefetched()
    prefetch = _PREFETCH.get(handler) if handler is not None else None
    if prefetch is not None:
        async with svc.sessions.begin() as session:
            if await session.get(StripeEvent, event_id) is not None:
                return _duplicate(event_id, kind)
        pre = await prefetch(svc, event)
    try:
        async with svc.sessions.begin() as session:
            # No look-up first: a duplicate re-runs an idempotent handler, then loses on the
            # event id's primary key and is rolled back whole.
            outcome = "ignored" if handler is None else await handler(svc, session, event, pre)
            session.add(
                StripeEvent(
                    id=event_id,
                    type=kind,
                    processed_at=svc.clock(),
                    outcome=outcome[:255],
                    api_version=_api_version(event),
                )
            )
            try:
                await session.flush()
            except IntegrityError:  # this event was processed already (or is, concurrently)
                raise _Duplicate from None
    except _Duplicate:
        return _duplicate(event_id, kind)
    log.info("stripe_event", event_id=event_id, type=kind, outcome=outcome)
    metrics.stripe_webhook_event(kind, outcome)
    return Handled(event_id, kind, outcome)


def _api_version(event: Any) -> str | None:
    """The version Stripe rendered the event in (``/health/ready`` compares it with ours)."""
    version = stripe_field(event, "api_version")
    return version[:64] if isinstance(version, str) and version else None


def _duplicate(event_id: str, kind: str) -> Handled:
    log.info("stripe_event_duplicate", event_id=event_id, type=kind)
    metrics.stripe_webhook_event(kind, "duplicate")
    return Handled(event_id, kind, "duplicate")


async def record_malformed(
    svc: Services, *, key: str, event_type: str, reason: str, claimed_id: str | None
) -> Handled:
    """Keep a signed but malformed payload in ``stripe_events`` (outcome
    ``malformed:<reason>``, keyed by the payload's digest) so the operator sees it; nothing
    else changes. The endpoint then answers 200: Stripe retries anything else for days, and
    the same payload would be just as malformed each time."""
    outcome = f"malformed:{reason}"[:255]
    try:
        async with svc.sessions.begin() as session:
            session.add(
                StripeEvent(id=key, type=event_type, processed_at=svc.clock(), outcome=outcome)
            )
            await session.flush()
    except IntegrityError:  # the same payload again
        return _duplicate(key, event_type)
    log.warning(
        "stripe_event_malformed", key=key, claimed_id=claimed_id, type=event_type, reason=reason
    )
    return Handled(key, event_type, outcome)
