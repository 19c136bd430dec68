"""Cards: each user's Stripe customer, saving cards (SetupIntent, Customer Portal), choosing
the one recharges use, removing cards — and keeping our default in step with Stripe's.

Stripe is never called inside a transaction: read from Stripe first, then one short write.
Our default card changes only through :func:`set_default_in`, which applies
``settlement.new_default_card``: a different card is a new chance — the declines are
forgotten, the pause is lifted, the backoff ends and, when the balance is below the minimum,
the recharge opens at once (the card is what it was waiting for).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager.domain import settlement
from balance_manager.domain.errors import Conflict, InvalidInput, NotFound
from balance_manager.payments.gateway import StripeGateway, StripeNotFound
from balance_manager.payments.stripe_objects import CardSummary
from balance_manager.store import ledger
from balance_manager.store import recharges as records
from balance_manager.store.models import BalanceConfig, User
from balance_manager.telemetry import tracing
from balance_manager.usecases.accounts import get_config, get_user
from balance_manager.usecases.recharges import open_automatic
from balance_manager.usecases.services import Services, require_gateway


@dataclass(frozen=True, slots=True)
class Cards:
    cards: list[CardSummary]
    customer_id: str | None
    default_payment_method_id: str | None


@dataclass(frozen=True, slots=True)
class DefaultChange:
    payment_method_id: str | None
    default_payment_method_id: str | None
    changed: bool = False


def chosen_default(
    cards: Sequence[CardSummary],
    current: str | None,
    stripe_default: str | None,
    preferred: str | None = None,
    *,
    follow_stripe: bool = False,
) -> str | None:
    """Which card recharges should use, given the customer's cards (newest first): the
    current default while it exists, else the card just saved (``preferred``), else Stripe's
    default, else the newest. ``follow_stripe``: the customer chose Stripe's default
    themselves (the Customer Portal's "make default"), so it wins over ours."""
    ids = [card.id for card in cards]
    if follow_stripe and stripe_default in ids:
        return stripe_default
    if current in ids:
        return current
    if preferred in ids:
        return preferred
    if stripe_default in ids:
        return stripe_default
    return ids[0] if ids else None


# ------------------------------------------------------------------ the default card


async def set_default_in(
    svc: Services,
    session: AsyncSession,
    user_id: str,
    payment_method_id: str | None,
    brand: str | None = None,
) -> bool:
    """Record the card recharges use (and its brand, for the statistics), in the caller's
    transaction; True when it changed. A *different* card is a new chance
    (``settlement.new_default_card``): declines forgotten, pause lifted, backoff ended and,
    below the minimum, the recharge opened now."""
    conn = await session.connection()
    await ledger.lock_accounts(conn, [user_id])
    config = await session.scalar(
        select(BalanceConfig)
        .where(BalanceConfig.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    if config is None:
        raise NotFound(f"user {user_id} not found", code="user_not_found", field="userId")
    if payment_method_id == config.default_payment_method_id:
        if brand is not None and config.default_card_brand != brand:
            config.default_card_brand = brand
        return False
    chance = settlement.new_default_card(
        before=config.default_payment_method_id, after=payment_method_id, now=svc.clock()
    )
    config.default_card_brand = brand
    config.default_payment_method_id = payment_method_id
    if chance is not None:
        config.consecutive_failures = chance.failures.consecutive_failures
        config.paused_reason = chance.failures.paused_reason
        config.paused_at = chance.failures.paused_at
        await records.end_backoff(conn, user_id, at=chance.backoff_ends_at)
    await session.flush()
    if chance is not None:
        opened = await open_automatic(svc, conn, [user_id], source=chance.trigger)
        if any(o.record_id for o in opened.values()):
            svc.wake_after_commit(session)
    return True


async def _apply_listed(
    svc: Services,
    session: AsyncSession,
    user_id: str,
    cards: Sequence[CardSummary],
    stripe_default: str | None,
    *,
    preferred: str | None = None,
    follow_stripe: bool = False,
) -> DefaultChange:
    """Bring our default in line with the cards Stripe listed (no Stripe call)."""
    _user, config = await get_config(session, user_id)
    current = config.default_payment_method_id
    new = chosen_default(cards, current, stripe_default, preferred, follow_stripe=follow_stripe)
    brand = next((card.brand for card in cards if card.id == new), None)
    if new != current:
        changed = await set_default_in(svc, session, user_id, new, brand)
    else:
        changed = False
        if new is not None and brand is not None and config.default_card_brand != brand:
            config.default_card_brand = brand  # learnt now (set before the brand was kept)
    return DefaultChange(preferred, new, changed)


async def _forget_customer(svc: Services, session: AsyncSession, user: User) -> None:
    """The Stripe customer is gone: drop its id and the default card it held."""
    user.stripe_customer_id = None
    await set_default_in(svc, session, user.id, None)


# ------------------------------------------------------------------ customers


async def _customer_id(svc: Services, user_id: str) -> str | None:
    async with svc.sessions.begin() as session:
        return (await get_user(session, user_id)).stripe_customer_id


async def ensure_customer_id(svc: Services, user_id: str) -> str:
    """The user's Stripe customer id, creating the customer on first use (at most once: the
    gateway keys the create by our user id, and the first stored id wins a race)."""
    gateway = require_gateway(svc)
    async with svc.sessions.begin() as session:
        user = await get_user(session, user_id)
        if user.stripe_customer_id:
            return user.stripe_customer_id
        email = user.email
    customer_id = await gateway.ensure_customer(user_id=user_id, email=email)
    async with svc.sessions.begin() as session:
        locked = await session.get(User, user_id, with_for_update=True, populate_existing=True)
        if locked is None:
            raise NotFound(f"user {user_id} not found", code="user_not_found", field="userId")
        if locked.stripe_customer_id is None:
            locked.stripe_customer_id = customer_id
        return locked.stripe_customer_id


# ------------------------------------------------------------------ the payment-method API


@tracing.traced("cards.list_cards")
async def list_cards(svc: Services, user_id: str) -> Cards:
    """The user's saved cards, read from Stripe. Reading also repairs our default: if the
    default card is gone (removed in the Customer Portal) or the user has none while cards
    exist, the default becomes Stripe's default card, else the newest card, else none."""
    gateway = require_gateway(svc)
    customer_id = await _customer_id(svc, user_id)
    if customer_id is None:
        async with svc.sessions.begin() as session:
            _user, config = await get_config(session, user_id)
            return Cards([], None, config.default_payment_method_id)
    try:
        cards, stripe_default = await gateway.list_cards(customer_id)
    except StripeNotFound:  # the customer was deleted in Stripe
        async with svc.sessions.begin() as session:
            user = await get_user(session, user_id)
            if user.stripe_customer_id == customer_id:
                await _forget_customer(svc, session, user)
        return Cards([], None, None)
    async with svc.sessions.begin() as session:
        change = await _apply_listed(svc, session, user_id, cards, stripe_default)
    return Cards(cards, customer_id, change.default_payment_method_id)


@tracing.traced("cards.create_setup_intent")
async def create_setup_intent(svc: Services, user_id: str) -> tuple[str, str]:
    """A SetupIntent to save a card for off-session recharges → (id, client secret)."""
    gateway = require_gateway(svc)
    customer_id = await ensure_customer_id(svc, user_id)
    return await gateway.create_setup_intent(customer_id=customer_id)


@tracing.traced("cards.complete_setup_intent")
async def complete_setup_intent(svc: Services, user_id: str, setup_intent_id: str) -> DefaultChange:
    """What the success page reports. Verified against Stripe: the SetupIntent must belong
    to this user's customer (else 404) and have succeeded (else 409); then its card becomes
    the default if the user has none (the same happens on ``setup_intent.succeeded``)."""
    gateway = require_gateway(svc)
    customer_id = await _customer_id(svc, user_id)
    not_found = NotFound(
        f"setup intent {setup_intent_id} is not this user's",
        code="setup_intent_not_found",
        field="setupIntentId",
    )
    if customer_id is None:
        raise not_found
    try:
        info = await gateway.retrieve_setup_intent(setup_intent_id)
    except StripeNotFound:
        raise not_found from None
    if info.customer_id != customer_id:
        raise not_found
    if info.status != "succeeded" or info.payment_method_id is None:
        raise Conflict(
            f"setup intent {info.id} has status {info.status}",
            code="setup_intent_not_succeeded",
            field="setupIntentId",
            params={"status": info.status},
        )
    cards, stripe_default = await gateway.list_cards(customer_id)
    async with svc.sessions.begin() as session:
        return await _apply_listed(
            svc, session, user_id, cards, stripe_default, preferred=info.payment_method_id
        )


def normalized_return_url(url: str, allowed: frozenset[str]) -> str:
    """The portal's return URL as it will be sent to Stripe: an http(s) URL on an allowed
    origin, normalised (scheme and host lower-case), never the raw input."""
    parts = urlsplit(url.strip())
    scheme, netloc = parts.scheme.lower(), parts.netloc.lower()
    if scheme not in {"http", "https"} or not netloc or f"{scheme}://{netloc}" not in allowed:
        raise InvalidInput(
            "returnUrl must be an http(s) URL on an allowed origin: " + ", ".join(sorted(allowed)),
            code="invalid_return_url",
            field="returnUrl",
            params={"origins": ", ".join(sorted(allowed))},
        )
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, parts.fragment))


@tracing.traced("cards.create_portal")
async def create_portal(svc: Services, user_id: str, return_url: str | None) -> str:
    """A Stripe Customer Portal link returning to an allowed origin (the service's own
    page by default)."""
    gateway = require_gateway(svc)
    url = normalized_return_url(
        return_url or svc.settings.public_base_url, svc.settings.return_origins
    )
    customer_id = await ensure_customer_id(svc, user_id)
    return await gateway.create_portal_session(customer_id=customer_id, return_url=url)


async def _owned_card(gateway: StripeGateway, customer_id: str | None, pm_id: str) -> CardSummary:
    """The card, if attached to this user's customer; else 404 (whoever else owns it)."""
    not_found = NotFound(
        f"payment method {pm_id} is not one of this user's cards",
        code="payment_method_not_found",
        field="paymentMethodId",
    )
    if customer_id is None:
        raise not_found
    try:
        card, owner = await gateway.retrieve_card(pm_id)
    except StripeNotFound:
        raise not_found from None
    if owner != customer_id:
        raise not_found
    return card


@tracing.traced("cards.remove_card")
async def remove_card(svc: Services, user_id: str, payment_method_id: str) -> DefaultChange:
    """Detach a card. Removing the default does not leave auto-recharge without a card when
    another exists: the default becomes Stripe's default card if one remains, else the
    newest remaining card, else none."""
    gateway = require_gateway(svc)
    customer_id = await _customer_id(svc, user_id)
    await _owned_card(gateway, customer_id, payment_method_id)
    assert customer_id is not None
    await gateway.detach_card(payment_method_id)
    cards, stripe_default = await gateway.list_cards(customer_id)
    async with svc.sessions.begin() as session:
        change = await _apply_listed(svc, session, user_id, cards, stripe_default)
    new_default = change.default_payment_method_id
    if change.changed and new_default is not None and new_default != stripe_default:
        await gateway.set_customer_default(customer_id=customer_id, payment_method_id=new_default)
    return DefaultChange(payment_method_id, new_default, change.changed)


@tracing.traced("cards.make_default")
async def make_default(svc: Services, user_id: str, payment_method_id: str) -> DefaultChange:
    """Make this card the one recharges use (and the customer's default in Stripe, so the
    Customer Portal agrees)."""
    gateway = require_gateway(svc)
    customer_id = await _customer_id(svc, user_id)
    card = await _owned_card(gateway, customer_id, payment_method_id)
    assert customer_id is not None
    await gateway.set_customer_default(customer_id=customer_id, payment_method_id=payment_method_id)
    async with svc.sessions.begin() as session:
        changed = await set_default_in(svc, session, user_id, payment_method_id, card.brand)
    return DefaultChange(payment_method_id, payment_method_id, changed)


# ------------------------------------------------------------------ from Stripe's events


async def user_by_customer(session: AsyncSession, customer_id: str | None) -> User | None:
    if not customer_id:
        return None
    found: User | None = await session.scalar(
        select(User).where(User.stripe_customer_id == customer_id)
    )
    return found


async def users_with_default(session: AsyncSession, payment_method_id: str) -> list[User]:
    rows = await session.scalars(
        select(User)
        .join(BalanceConfig, BalanceConfig.user_id == User.id)
        .where(BalanceConfig.default_payment_method_id == payment_method_id)
    )
    return list(rows)


async def sync_listed(
    svc: Services,
    session: AsyncSession,
    user: User,
    listed: tuple[list[CardSummary], str | None] | None,
    *,
    preferred: str | None = None,
    follow_stripe: bool = False,
) -> str:
    """Apply a card list read from Stripe before the transaction (None: Stripe no longer
    knows the customer); returns an outcome for the event log."""
    if listed is None:
        await _forget_customer(svc, session, user)
        return "customer_forgotten"
    change = await _apply_listed(
        svc,
        session,
        user.id,
        listed[0],
        listed[1],
        preferred=preferred,
        follow_stripe=follow_stripe,
    )
    return "default_changed" if change.changed else "default_unchanged"


async def forget_customer(svc: Services, session: AsyncSession, user: User) -> None:
    await _forget_customer(svc, session, user)
