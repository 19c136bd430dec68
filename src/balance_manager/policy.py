"""Recharge policy: when a balance needs topping up and by how much. Pure, no I/O.

All amounts are integer minor units of one currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from balance_manager import money


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
class RechargeCalculation:
    """What a recharge would do. ``capped`` is true when maxRechargeAmount cut it short."""

    recharge_amount: int
    fee: int
    total_charge: int
    new_balance: int
    capped: bool
    uncapped_amount: int


def needs_recharge(balance: int, minimum: int) -> bool:
    """Automatic recharges start strictly below the minimum, as in the original."""
    return balance < minimum


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
    """Why a recharge cannot be charged right now, in the order they are checked."""

    NO_PAYMENT_METHOD = "no_payment_method"
    PAUSED = "auto_recharge_paused"
    RECHARGE_IN_FLIGHT = "recharge_in_progress"
    DAILY_LIMIT = "daily_limit_reached"
    BACKING_OFF = "backing_off_after_failure"


def recharge_blocked_reason(
    *,
    has_payment_method: bool,
    paused: bool,
    in_flight: bool,
    daily_limit_reached: bool = False,
    backing_off: bool = False,
) -> BlockedReason | None:
    if not has_payment_method:
        return BlockedReason.NO_PAYMENT_METHOD
    if paused:
        return BlockedReason.PAUSED
    if in_flight:
        return BlockedReason.RECHARGE_IN_FLIGHT
    if daily_limit_reached:
        return BlockedReason.DAILY_LIMIT
    if backing_off:
        return BlockedReason.BACKING_OFF
    return None
