"""Users, their balance configs and their ledger: create, read, configure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager.domain import charge_limits, ids, money, policy, posting
from balance_manager.domain.amounts import parse_amount, parse_currency
from balance_manager.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from balance_manager.domain.states import LedgerKind
from balance_manager.settings import Settings
from balance_manager.store import ledger
from balance_manager.store.db import retry_on_disconnect
from balance_manager.store.models import BalanceConfig, LedgerEntry, User, utcnow
from balance_manager.store.paging import Page
from balance_manager.telemetry import tracing
from balance_manager.usecases.services import Services

# Deliberately simple: the operator's application owns address verification; this only
# catches values that cannot be an address at all (control characters, NUL and lone
# surrogates included: the database cannot store those).
_ADDRESS_CHAR = "[^@\\s\x00-\x1f\x7f\ud800-\udfff]"
_EMAIL = re.compile(f"^{_ADDRESS_CHAR}{{1,64}}@{_ADDRESS_CHAR}+\\.{_ADDRESS_CHAR}{{2,}}$")
DEFAULT_MAX_DAILY_RECHARGES = 5
DEFAULT_MAX_RECHARGE_MAJOR = Decimal(10000)
OPENING_BALANCE_REFERENCE = "opening-balance"


def check_user_id(user_id: str, *, field: str = "userId") -> str:
    if not ids.is_valid_user_id(user_id):
        raise InvalidInput(
            f"{field} must be 1-64 characters of letters, digits, '_', '-', '.', ':'",
            code="invalid_user_id",
            field=field,
        )
    return user_id


def check_email(email: str) -> str:
    """The address normalized (trimmed, lower case), or InvalidInput."""
    normalized = email.strip().lower()
    if not _EMAIL.fullmatch(normalized) or len(normalized) > 320:
        raise InvalidInput("email is not a valid address", code="invalid_email", field="email")
    return normalized


async def get_user(session: AsyncSession, user_id: str) -> User:
    user = await session.get(User, check_user_id(user_id))
    if user is None:
        raise NotFound(f"user {user_id} not found", code="user_not_found", field="userId")
    return user


async def get_config(session: AsyncSession, user_id: str) -> tuple[User, BalanceConfig]:
    user = await get_user(session, user_id)
    config = await session.get(BalanceConfig, user_id)
    if config is None:  # created together with the user; absent only if someone deleted it
        raise NotFound(f"user {user_id} has no balance config", code="config_not_found")
    return user, config


@retry_on_disconnect
@tracing.traced("accounts.user")
async def user(svc: Services, user_id: str) -> User:
    async with svc.reads.begin() as session:
        return await get_user(session, user_id)


@dataclass(frozen=True, slots=True)
class NewUser:
    """A user to create, amounts in major units as received."""

    email: str
    user_id: str | None = None
    currency: str | None = None
    minimum_balance: object = None
    target_balance: object = None
    initial_balance: object = None
    auto_recharge_enabled: bool = True
    max_daily_recharges: int | None = None
    max_recharge_amount: object = None
    balance_floor: object = None


@tracing.traced("accounts.create_user")
async def create_user(svc: Services, new: NewUser) -> tuple[User, BalanceConfig]:
    async with svc.sessions.begin() as session:
        return await create_user_in(session, svc.settings, new)


async def create_user_in(
    session: AsyncSession, settings: Settings, new: NewUser
) -> tuple[User, BalanceConfig]:
    """Create a user with its balance config (and opening balance) in the caller's
    transaction."""
    email = check_email(new.email)
    if new.user_id is not None:
        check_user_id(new.user_id, field="id")
    cur = parse_currency(new.currency or settings.default_currency)
    config = _validated_config(
        cur,
        settings.fee_rule,
        minimum=parse_amount(
            settings.default_minimum_balance
            if new.minimum_balance is None
            else new.minimum_balance,
            cur,
            field="minimumBalance",
        ),
        target=parse_amount(
            settings.default_target_balance if new.target_balance is None else new.target_balance,
            cur,
            field="targetBalance",
        ),
        max_daily=DEFAULT_MAX_DAILY_RECHARGES
        if new.max_daily_recharges is None
        else new.max_daily_recharges,
        max_amount=parse_amount(
            DEFAULT_MAX_RECHARGE_MAJOR
            if new.max_recharge_amount is None
            else new.max_recharge_amount,
            cur,
            field="maxRechargeAmount",
        ),
        floor=None
        if new.balance_floor is None
        else parse_amount(new.balance_floor, cur, field="balanceFloor", allow_negative=True),
        low_balance=None,
    )
    opening = (
        0
        if new.initial_balance is None
        else parse_amount(new.initial_balance, cur, field="initialBalance", allow_negative=True)
    )

    if await session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with email {email} exists", code="email_taken", field="email")
    new_user_id = new.user_id or ids.new_id()
    if new.user_id is not None and await session.get(User, new.user_id) is not None:
        raise Conflict(f"user {new.user_id} exists", code="user_exists", field="id")

    user = User(
        id=new_user_id,
        email=email,
        currency=cur.code,
        balance=0,
        below_minimum=policy.needs_recharge(0, config.minimum),
    )
    balance_config = BalanceConfig(
        user_id=new_user_id,
        minimum_balance=config.minimum,
        target_balance=config.target,
        auto_recharge_enabled=new.auto_recharge_enabled,
        max_daily_recharges=config.max_daily,
        max_recharge_amount=config.max_amount,
        balance_floor=config.floor,
        consecutive_failures=0,
    )
    session.add(user)
    try:
        await session.flush()  # the user row must exist before its config (foreign key)
        session.add(balance_config)
        await session.flush()
    except IntegrityError:
        # Lost a race with a concurrent create of the same email or id.
        raise Conflict("a user with this email or id exists", code="user_exists") from None
    if opening:
        posted = await ledger.post(
            await session.connection(),
            [
                posting.Posting(
                    user_id=new_user_id,
                    kind=LedgerKind.ADJUSTMENT,
                    amount=opening,
                    reference=OPENING_BALANCE_REFERENCE,
                    description="opening balance",
                )
            ],
            now=utcnow(),
        )
        await session.refresh(user)
        assert posted.results[0].ok
    return user, balance_config


@dataclass(frozen=True, slots=True)
class _Config:
    minimum: int
    target: int
    max_daily: int
    max_amount: int
    floor: int | None
    low_balance: int | None
    warnings: list[str]


def _validated_config(
    cur: money.Currency,
    fee_rule: policy.FeeRule,
    *,
    minimum: int,
    target: int,
    max_daily: int,
    max_amount: int,
    floor: int | None,
    low_balance: int | None,
) -> _Config:
    """The rules a config must satisfy as a whole; the first broken one names its field."""
    if minimum < 0:
        raise InvalidInput(
            "minimumBalance must not be negative", code="negative_amount", field="minimumBalance"
        )
    if target <= minimum:
        raise InvalidInput(
            "targetBalance must be greater than minimumBalance",
            code="target_not_above_minimum",
            field="targetBalance",
        )
    if isinstance(max_daily, bool) or not 1 <= max_daily <= 100:
        raise InvalidInput(
            "maxDailyRecharges must be an integer from 1 to 100",
            code="out_of_range",
            field="maxDailyRecharges",
        )
    if max_amount <= 0:
        raise InvalidInput(
            "maxRechargeAmount must be greater than zero",
            code="zero_amount",
            field="maxRechargeAmount",
        )
    if floor is not None and floor >= minimum:
        raise InvalidInput(
            "balanceFloor must be below minimumBalance",
            code="floor_not_below_minimum",
            field="balanceFloor",
        )
    if low_balance is not None and floor is not None and low_balance <= floor:
        raise InvalidInput(
            "lowBalanceThreshold must be above balanceFloor (the balance never goes below it)",
            code="threshold_not_above_floor",
            field="lowBalanceThreshold",
        )
    _check_chargeable(cur, fee_rule, minimum=minimum, target=target, max_amount=max_amount)
    warnings = []
    if not policy.full_top_up_possible(minimum=minimum, target=target, max_amount=max_amount):
        gap = money.to_major(target - minimum, cur)
        warnings.append(
            f"maxRechargeAmount {money.to_major(max_amount, cur)} is below targetBalance - "
            f"minimumBalance ({gap}): one recharge cannot bring the balance to the target"
        )
    return _Config(minimum, target, max_daily, max_amount, floor, low_balance, warnings)


def _check_chargeable(
    cur: money.Currency, fee_rule: policy.FeeRule, *, minimum: int, target: int, max_amount: int
) -> None:
    """Every automatic recharge the config can make must be a charge Stripe accepts: the
    smallest (balance just below the minimum, up to the target) not below Stripe's minimum
    for the currency, the largest (``maxRechargeAmount`` plus its fee) not above its maximum.
    """
    limits = charge_limits.limits_for(cur.code)
    smallest = policy.smallest_automatic_recharge(
        minimum=minimum, target=target, max_amount=max_amount, fee_rule=fee_rule
    )
    if limits.violation(smallest.total_charge) is charge_limits.Violation.BELOW_MINIMUM:
        assert limits.minimum is not None
        # The gap is what the customer chose; a too-small cap is the operator's.
        field = "maxRechargeAmount" if smallest.capped else "targetBalance"
        raise InvalidInput(
            f"the smallest automatic recharge would charge "
            f"{money.to_major(smallest.total_charge, cur)} {cur.code.upper()}, below Stripe's "
            f"minimum charge of {money.to_major(limits.minimum, cur)} {cur.code.upper()}: "
            "raise targetBalance - minimumBalance"
            + (" and maxRechargeAmount" if smallest.capped else ""),
            code=charge_limits.Violation.BELOW_MINIMUM.value,
            field=field,
            params={
                "total": str(money.to_major(smallest.total_charge, cur)),
                "minimum": str(money.to_major(limits.minimum, cur)),
                "currency": cur.code.upper(),
            },
        )
    largest = policy.largest_recharge(max_amount=max_amount, fee_rule=fee_rule)
    if limits.violation(largest) is charge_limits.Violation.ABOVE_MAXIMUM:
        raise InvalidInput(
            f"a recharge of maxRechargeAmount would charge {money.to_major(largest, cur)} "
            f"{cur.code.upper()}, above Stripe's maximum charge of "
            f"{money.to_major(limits.maximum, cur)} {cur.code.upper()}",
            code=charge_limits.Violation.ABOVE_MAXIMUM.value,
            field="maxRechargeAmount",
            params={
                "total": str(money.to_major(largest, cur)),
                "maximum": str(money.to_major(limits.maximum, cur)),
                "currency": cur.code.upper(),
            },
        )


@dataclass(frozen=True, slots=True)
class ConfigChanges:
    """A partial update in major units as received; None means "leave as is"."""

    minimum_balance: object = None
    target_balance: object = None
    auto_recharge_enabled: bool | None = None
    max_daily_recharges: int | None = None
    max_recharge_amount: object = None
    balance_floor: object = None
    clear_balance_floor: bool = False
    low_balance_threshold: object = None
    clear_low_balance_threshold: bool = False


@dataclass(frozen=True, slots=True)
class ConfigResult:
    config: BalanceConfig
    currency: money.Currency
    warnings: list[str] = field(default_factory=list)


@retry_on_disconnect
@tracing.traced("accounts.config")
async def config(svc: Services, user_id: str) -> ConfigResult:
    async with svc.reads.begin() as session:
        user, found = await get_config(session, user_id)
        return ConfigResult(found, money.currency(user.currency))


class Actor(StrEnum):
    """Who asks for a change: the operator (an API key, the CLI) or the customer (a token
    for their own user). Some fields are the operator's alone."""

    OPERATOR = "operator"
    CUSTOMER = "customer"


def _operator_only(
    merged: _Config, found: BalanceConfig, changes: ConfigChanges
) -> tuple[str, str] | None:
    """The first operator-only field this update would change, with its API name. Sending
    the value a field already has is not a change (a client may PUT back what it read)."""
    if changes.max_daily_recharges is not None and merged.max_daily != found.max_daily_recharges:
        return "maxDailyRecharges", "the most recharges a day"
    if changes.max_recharge_amount is not None and merged.max_amount != found.max_recharge_amount:
        return "maxRechargeAmount", "the largest single recharge"
    floor_sent = changes.balance_floor is not None or changes.clear_balance_floor
    if floor_sent and merged.floor != found.balance_floor:
        return "balanceFloor", "the balance floor"
    return None


def _check_customer_bounds(
    cur: money.Currency, merged: _Config, found: BalanceConfig, changes: ConfigChanges
) -> None:
    """A customer may change the minimum, the target and auto-recharge, but not so that the
    operator's limits stop being limits: spending limits and the floor stay as they are, and
    the customer may not widen ``target - minimum`` beyond ``maxRechargeAmount`` (else every
    automatic recharge would be capped, and the cap — the operator's safety limit — would
    become the amount charged). A wider range the operator set stays: the customer may move
    it or narrow it."""
    forbidden = _operator_only(merged, found, changes)
    if forbidden is not None:
        name, what = forbidden
        raise Forbidden(
            f"{name} ({what}) can only be changed by the operator",
            code="operator_only",
            field=name,
        )
    target_changed = merged.target != found.target_balance
    widened = merged.target - merged.minimum > found.target_balance - found.minimum_balance
    if widened and not policy.full_top_up_possible(
        minimum=merged.minimum, target=merged.target, max_amount=merged.max_amount
    ):
        gap = money.to_major(merged.target - merged.minimum, cur)
        raise Forbidden(
            f"targetBalance - minimumBalance ({gap}) may not exceed maxRechargeAmount "
            f"({money.to_major(merged.max_amount, cur)}), the operator's limit on one "
            "recharge; ask the operator for a wider range",
            code="beyond_operator_limit",
            field="targetBalance" if target_changed else "minimumBalance",
            params={
                "gap": str(gap),
                "maximum": str(money.to_major(merged.max_amount, cur)),
                "currency": cur.code.upper(),
            },
        )


@retry_on_disconnect
@tracing.traced("accounts.update_config")
async def update_config(
    svc: Services, user_id: str, changes: ConfigChanges, *, actor: Actor
) -> ConfigResult:
    """Apply a partial update atomically: every rule is checked on the merged result first,
    so a rejected update changes nothing. A customer's update is also held to the
    operator's bounds (:func:`_check_customer_bounds`)."""
    async with svc.sessions.begin() as session:
        user, found = await get_config(session, user_id)
        cur = money.currency(user.currency)
        merged = _validated_config(
            cur,
            svc.rules.fee_rule,
            minimum=found.minimum_balance
            if changes.minimum_balance is None
            else parse_amount(changes.minimum_balance, cur, field="minimumBalance"),
            target=found.target_balance
            if changes.target_balance is None
            else parse_amount(changes.target_balance, cur, field="targetBalance"),
            max_daily=found.max_daily_recharges
            if changes.max_daily_recharges is None
            else changes.max_daily_recharges,
            max_amount=found.max_recharge_amount
            if changes.max_recharge_amount is None
            else parse_amount(changes.max_recharge_amount, cur, field="maxRechargeAmount"),
            floor=None
            if changes.clear_balance_floor
            else found.balance_floor
            if changes.balance_floor is None
            else parse_amount(
                changes.balance_floor, cur, field="balanceFloor", allow_negative=True
            ),
            low_balance=None
            if changes.clear_low_balance_threshold
            else found.low_balance_threshold
            if changes.low_balance_threshold is None
            else parse_amount(
                changes.low_balance_threshold,
                cur,
                field="lowBalanceThreshold",
                allow_negative=True,
            ),
        )
        if actor is Actor.CUSTOMER:
            _check_customer_bounds(cur, merged, found, changes)
        minimum_changed = merged.minimum != found.minimum_balance
        found.minimum_balance = merged.minimum
        found.target_balance = merged.target
        found.max_daily_recharges = merged.max_daily
        found.max_recharge_amount = merged.max_amount
        found.balance_floor = merged.floor
        found.low_balance_threshold = merged.low_balance
        if changes.auto_recharge_enabled is not None:
            found.auto_recharge_enabled = changes.auto_recharge_enabled
            if changes.auto_recharge_enabled:
                # Re-enabling is the customer's way to resume after a pause.
                found.paused_reason = None
                found.paused_at = None
                found.consecutive_failures = 0
        await session.flush()
        if minimum_changed:
            await ledger.refresh_below_minimum(
                await session.connection(), user_id, minimum=merged.minimum
            )
        return ConfigResult(config=found, currency=cur, warnings=merged.warnings)


async def change_email(svc: Services, user_id: str, email: str) -> User:
    """Change a user's email (operator). Validated and normalized like a new user's; another
    user's address is a 409. The Stripe customer keeps the email it was created with."""
    normalized = check_email(email)
    async with svc.sessions.begin() as session:
        found = await get_user(session, user_id)
        if found.email == normalized:
            return found
        taken = await session.scalar(
            select(User.id).where(User.email == normalized, User.id != user_id)
        )
        if taken is not None:
            raise Conflict(
                f"a user with email {normalized} exists", code="email_taken", field="email"
            )
        found.email = normalized
        try:
            await session.flush()
        except IntegrityError:
            # Lost a race with a concurrent change or create using the same address.
            raise Conflict(
                f"a user with email {normalized} exists", code="email_taken", field="email"
            ) from None
        return found


@retry_on_disconnect
@tracing.traced("accounts.ledger_page")
async def ledger_page(
    svc: Services, user_id: str, *, page: int, limit: int
) -> tuple[money.Currency, Page[LedgerEntry]]:
    """One page of the user's ledger, newest first."""
    async with svc.reads.begin() as session:
        found = await get_user(session, user_id)
        return money.currency(found.currency), await ledger.list_entries(
            session, user_id, page=page, limit=limit
        )
