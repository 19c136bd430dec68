"""Each user's Stripe customer, and keeping our default card in step with Stripe's cards.

- ``ensure_customer_id``: the user's customer, created lazily and at most once (the gateway
  keys the create by our user id; the first stored id wins a race).
- ``refresh_default``: after anything that may have changed the customer's cards (the
  Customer Portal, a SetupIntent, a detach), make ``default_payment_method_id`` point at a card
  the customer still has: our current default if it is still attached, else Stripe's
  ``invoice_settings.default_payment_method``, else the newest card, else none. Changes go
  through ``accounts.set_default_payment_method`` (a new card resumes a paused auto-recharge).

Stripe is never called inside a transaction that holds a write: reads first, then a short
write.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager.accounts import service as accounts
from balance_manager.errors import NotFound
from balance_manager.payments.gateway import CardSummary, StripeGateway, StripeNotFound
from balance_manager.store.db import SessionFactory
from balance_manager.store.models import BalanceConfig, User


async def ensure_customer_id(sessions: SessionFactory, gateway: StripeGateway, user_id: str) -> str:
    """The user's Stripe customer id, creating the customer on first use."""
    async with sessions.begin() as session:
        user = await accounts.get_user(session, user_id)
        if user.stripe_customer_id:
            return user.stripe_customer_id
        email = user.email
    customer_id = await gateway.ensure_customer(user_id=user_id, email=email)
    async with sessions.begin() as session:
        locked = await session.get(User, user_id, with_for_update=True, populate_existing=True)
        if locked is None:
            raise NotFound(f"user {user_id} not found", code="user_not_found", field="userId")
        if locked.stripe_customer_id is None:
            locked.stripe_customer_id = customer_id
        return locked.stripe_customer_id


def chosen_default(
    cards: list[CardSummary],
    current: str | None,
    stripe_default: str | None,
    preferred: str | None = None,
) -> str | None:
    """Which card recharges should use, given the customer's cards (newest first): the
    current default while it exists, else the card just saved (``preferred``), else Stripe's
    default, else the newest."""
    ids = [card.id for card in cards]
    if current in ids:
        return current
    if preferred in ids:
        return preferred
    if stripe_default in ids:
        return stripe_default
    return ids[0] if ids else None


@dataclass(frozen=True, slots=True)
class Refreshed:
    cards: list[CardSummary]
    default_payment_method_id: str | None
    changed: bool


async def apply_default(
    session: AsyncSession,
    user_id: str,
    cards: list[CardSummary],
    stripe_default: str | None,
    *,
    preferred: str | None = None,
) -> Refreshed:
    """Bring our default in line with the cards Stripe listed (no Stripe call)."""
    _user, config = await accounts.get_config(session, user_id)
    current = config.default_payment_method_id
    new = chosen_default(cards, current, stripe_default, preferred)
    if new != current:
        await accounts.set_default_payment_method(session, user_id, new)
    return Refreshed(cards=cards, default_payment_method_id=new, changed=new != current)


async def refresh_default(
    session: AsyncSession, gateway: StripeGateway, user: User, *, preferred: str | None = None
) -> str:
    """Read the customer's cards from Stripe and fix our default; returns an outcome.

    A customer Stripe no longer knows is forgotten (the user gets a new one when needed)."""
    if user.stripe_customer_id is None:
        return "no_customer"
    try:
        cards, stripe_default = await gateway.list_cards(user.stripe_customer_id)
    except StripeNotFound:
        await forget_customer(session, user)
        return "customer_forgotten"
    refreshed = await apply_default(session, user.id, cards, stripe_default, preferred=preferred)
    return "default_changed" if refreshed.changed else "default_unchanged"


async def forget_customer(session: AsyncSession, user: User) -> None:
    """The Stripe customer is gone: drop its id and the default card it held."""
    user.stripe_customer_id = None
    await accounts.set_default_payment_method(session, user.id, None)


async def user_by_customer(session: AsyncSession, customer_id: str | None) -> User | None:
    if not customer_id:
        return None
    result: User | None = await session.scalar(
        select(User).where(User.stripe_customer_id == customer_id)
    )
    return result


async def users_with_default(session: AsyncSession, payment_method_id: str) -> list[User]:
    rows = await session.scalars(
        select(User)
        .join(BalanceConfig, BalanceConfig.user_id == User.id)
        .where(BalanceConfig.default_payment_method_id == payment_method_id)
    )
    return list(rows)
