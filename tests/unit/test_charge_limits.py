"""Stripe's minimum and maximum charge per currency (``charge_limits``). Pure."""

from __future__ import annotations

from decimal import Decimal

import pytest

from balance_manager.domain import money, policy
from balance_manager.domain.charge_limits import (
    MINIMUM_CHARGE,
    Violation,
    is_amount_refusal,
    limits_for,
)


@pytest.mark.parametrize(
    ("currency", "major"),
    [("usd", "0.50"), ("gbp", "0.30"), ("jpy", "50"), ("huf", "175.00"), ("czk", "15.00")],
)
def test_the_published_minimums_in_minor_units(currency: str, major: str) -> None:
    limits = limits_for(currency.upper())
    assert limits.minimum == money.to_minor(Decimal(major), money.currency(currency))
    assert limits.violation(limits.minimum) is None
    assert limits.violation(limits.minimum - 1) is Violation.BELOW_MINIMUM


def test_every_listed_currency_is_one_the_service_supports() -> None:
    assert set(MINIMUM_CHARGE) <= money.SUPPORTED_CURRENCIES


def test_the_maximum_and_unknown_minimums() -> None:
    usd = limits_for("usd")
    assert usd.violation(99_999_999) is None
    assert usd.violation(100_000_000) is Violation.ABOVE_MAXIMUM
    assert limits_for("idr").violation(100_000_000) is None
    krw = limits_for("krw")  # no published minimum: Stripe's answer decides
    assert krw.minimum is None
    assert krw.violation(1) is None


def test_the_smallest_automatic_recharge_of_the_issues_configuration() -> None:
    fee = policy.FeeRule(Decimal("0.029"))
    tiny = policy.smallest_automatic_recharge(
        minimum=1000, target=1010, max_amount=10**6, fee_rule=fee
    )
    assert (tiny.recharge_amount, tiny.total_charge) == (11, 11)
    assert limits_for("usd").violation(tiny.total_charge) is Violation.BELOW_MINIMUM
    enough = policy.smallest_automatic_recharge(
        minimum=1000, target=1048, max_amount=10**6, fee_rule=fee
    )
    assert enough.total_charge == 50  # 49 + round_half_up(1.421) = 50


def test_amount_refusals_are_not_declines() -> None:
    assert is_amount_refusal("amount_too_small")
    assert is_amount_refusal("amount_too_large")
    assert not is_amount_refusal("card_declined")
    assert not is_amount_refusal(None)
