"""Recharge policy: whether a recharge may start, when a balance needs topping up and by
how much. Pure, no I/O: :func:`decide` is the one recharge decision.

All amounts are integer minor units of one currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from balance_manager.domain import charge_limits, money
from balance_manager.domain.states import TriggeredBy


class FeeMode(StrEnum):
    """How the customer's card fee is computed."""

    PERCENTAGE = "percentage"  # fee = amount × rate (the original's rule)
    GROSS_UP = "gross_up"  # fee such that the net after Stripe's cut is exactly the amount


@dataclass(frozen=True, slots=True)
class FeeRule:
    rate: Decimal
    mode: FeeMode = FeeMode.PERCENTAGE
    fixed: int = 0  # minor units, gross-up mode only

    def fee_for(self, amount: int) -> int:
        if self.mode is FeeMode.GROSS_UP:
            return money.gross_up(amount, self.rate, self.fixed)
        return money.fee(amount, self.rate)


@dataclass(frozen=True, slots=True)
class RechargeRules:
    """The engine's configuration: the fee, and how declines and dead workers are handled."""

    fee_rule: FeeRule
    max_consecutive_failures: int = 3
    backoff_seconds: int = 300
    processing_timeout_seconds: int = 120

    def backoff_after(self, consecutive_failures: int) -> int:
        """Seconds to wait after the n-th decline in a row: doubling from ``backoff_seconds``."""
        return int(self.backoff_seconds * 2 ** max(consecutive_failures - 1, 0))


@dataclass(frozen=True, slots=True)
class RechargeCalculation:
    """What a recharge would do. ``capped`` is true when maxRechargeAmount cut it short."""

    recharge_amount: int
    fee: int
    total_charge: int
    new_balance: int
    capped: bool
    uncapped_amount: int


def needs_recharge(balance: int, minimum: int | None) -> bool:
    """Automatic recharges start strictly below the minimum, as in the original (a user
    without a minimum, i.e. without a config, never needs one).

    The one definition. ``users.below_minimum`` (the sweep's index flag) caches it; SQL
    restates it where a statement must decide on its own (``store.ledger``: the PostgreSQL
    debit and ``refresh_below_minimum``), and ``tests/integration/test_sql_rules_agree.py``
    holds the SQL to this function."""
    return minimum is not None and balance < minimum


def may_need_recharge(
    *, balance: int, minimum: int | None, auto_enabled: bool, paused: bool, has_card: bool
) -> bool:
    """Whether :func:`decide` could open an automatic recharge for this account, judged from
    the user's own row alone: the balance needs one and none of the checks that the row
    answers (a card, auto-recharge on, not paused) refuses it. When False the decision need
    not be asked: the fast debit paths (the PostgreSQL statement, the SQLite writer) then
    commit on their own; when True the decision (which reads more, under the lock) joins the
    debit's transaction. The PostgreSQL debit restates it in SQL (see :func:`needs_recharge`)."""
    return has_card and auto_enabled and not paused and needs_recharge(balance, minimum)


def calculate_recharge(
    *, balance: int, target: int, max_amount: int, fee_rule: FeeRule
) -> RechargeCalculation | None:
    """Top up to the target, capped at ``max_amount``; None when nothing is needed."""
    wanted = target - balance
    if wanted <= 0:
        return None
    amount = min(wanted, max_amount)
    fee = fee_rule.fee_for(amount)
    return RechargeCalculation(
        recharge_amount=amount,
        fee=fee,
        total_charge=amount + fee,
        new_balance=balance + amount,
        capped=amount < wanted,
        uncapped_amount=wanted,
    )


def full_top_up_possible(*, minimum: int, target: int, max_amount: int) -> bool:
    """Whether a balance just below the minimum can reach the target in one recharge."""
    return max_amount >= target - minimum


class BlockedReason(StrEnum):
    """Why no recharge is opened, in the order :func:`decide` checks them."""

    NO_PAYMENT_METHOD = "no_payment_method"
    AUTO_RECHARGE_DISABLED = "auto_recharge_disabled"
    PAUSED = "auto_recharge_paused"
    RECHARGE_IN_FLIGHT = "recharge_in_progress"
    BACKING_OFF = "backing_off_after_failure"
    DAILY_LIMIT = "daily_limit_reached"
    ABOVE_MINIMUM = "above_minimum"  # automatic only: nothing is needed yet
    NOTHING_TO_RECHARGE = "nothing_to_recharge"  # manual, no amount, at or above the target
    # The charge (amount + fee) is one Stripe refuses for the currency (``charge_limits``).
    BELOW_STRIPE_MINIMUM = charge_limits.Violation.BELOW_MINIMUM.value
    ABOVE_STRIPE_MAXIMUM = charge_limits.Violation.ABOVE_MAXIMUM.value

    @property
    def about_the_account(self) -> bool:
        """True for reasons that refuse any recharge now, whatever the amount."""
        return self not in _ABOUT_THE_AMOUNT


_ABOUT_THE_AMOUNT = frozenset(
    {
        BlockedReason.ABOVE_MINIMUM,
        BlockedReason.NOTHING_TO_RECHARGE,
        BlockedReason.BELOW_STRIPE_MINIMUM,
        BlockedReason.ABOVE_STRIPE_MAXIMUM,
    }
)


@dataclass(frozen=True, slots=True)
class AccountState:
    """Everything the recharge decision reads, taken under the user's row lock."""

    balance: int
    minimum: int
    target: int
    max_amount: int
    currency: str
    max_daily: int
    auto_enabled: bool
    paused: bool
    has_payment_method: bool
    in_flight: bool
    backoff_until: datetime | None
    # Recharges counted against max_daily today: charged or in flight, plus failed manual
    # attempts (so a customer token cannot be used to test cards).
    attempts_today: int


@dataclass(frozen=True, slots=True)
class RechargeRequest:
    trigger: TriggeredBy
    amount: int | None = None  # manual only: top up by exactly this much
    # Operator only: charge even while auto-recharge is paused or backing off after a decline.
    override_holds: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    blocked: BlockedReason | None
    calculation: RechargeCalculation | None = None

    @property
    def opens(self) -> bool:
        return self.blocked is None


def decide(
    state: AccountState, request: RechargeRequest, *, now: datetime, fee_rule: FeeRule
) -> Decision:
    """The one recharge decision: may a recharge start now, and for how much?

    Automatic recharges (usage, sweep, a new card), manual ones and the status view all ask
    this function. The checks, in order — the first that fails is the answer:

    1. a default card exists;
    2. automatic only: auto-recharge is enabled;
    3. auto-recharge is not paused after repeated declines (operator override for manual);
    4. no recharge is already in flight;
    5. not backing off after a decline (operator override for manual);
    6. fewer than ``max_daily`` recharges charged or in flight today (plus failed manual
       attempts), so concurrency or a customer cannot exceed the limit;
    7. the amount: automatic → only below the minimum, up to the target, capped at
       ``max_amount``; manual → up to the target (nothing if at or above it), or exactly the
       amount asked for;
    8. the charge (amount + fee) is one Stripe accepts for the currency
       (``charge_limits``): a charge Stripe must refuse is never attempted.
    """
    automatic = request.trigger is TriggeredBy.AUTO
    hold_applies = automatic or not request.override_holds
    if not state.has_payment_method:
        return Decision(BlockedReason.NO_PAYMENT_METHOD)
    if automatic and not state.auto_enabled:
        return Decision(BlockedReason.AUTO_RECHARGE_DISABLED)
    if hold_applies and state.paused:
        return Decision(BlockedReason.PAUSED)
    if state.in_flight:
        return Decision(BlockedReason.RECHARGE_IN_FLIGHT)
    if hold_applies and state.backoff_until is not None and state.backoff_until > now:
        return Decision(BlockedReason.BACKING_OFF)
    if state.attempts_today >= state.max_daily:
        return Decision(BlockedReason.DAILY_LIMIT)

    if automatic and not needs_recharge(state.balance, state.minimum):
        return Decision(BlockedReason.ABOVE_MINIMUM)
    if request.amount is not None:
        fee = fee_rule.fee_for(request.amount)
        calculation: RechargeCalculation | None = RechargeCalculation(
            recharge_amount=request.amount,
            fee=fee,
            total_charge=request.amount + fee,
            new_balance=state.balance + request.amount,
            capped=False,
            uncapped_amount=request.amount,
        )
    else:
        calculation = calculate_recharge(
            balance=state.balance,
            target=state.target,
            max_amount=state.max_amount,
            fee_rule=fee_rule,
        )
    if calculation is None:
        return Decision(BlockedReason.NOTHING_TO_RECHARGE)
    violation = charge_limits.limits_for(state.currency).violation(calculation.total_charge)
    if violation is not None:
        return Decision(BlockedReason(violation.value))
    return Decision(None, calculation)


def smallest_automatic_recharge(
    *, minimum: int, target: int, max_amount: int, fee_rule: FeeRule
) -> RechargeCalculation:
    """The smallest charge a configuration can make automatically: the balance one minor
    unit below the minimum, topped up to the target (or ``max_amount``)."""
    calculation = calculate_recharge(
        balance=minimum - 1, target=target, max_amount=max_amount, fee_rule=fee_rule
    )
    assert calculation is not None  # target > minimum > balance
    return calculation


def largest_recharge(*, max_amount: int, fee_rule: FeeRule) -> int:
    """The largest total charge any recharge of a configuration can make (automatic ones are
    capped at ``max_amount``; manual amounts are checked one by one)."""
    return max_amount + fee_rule.fee_for(max_amount)
