"""The money rules, including the original's worked example to the cent."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from balance_manager.domain import money, policy

USD = money.currency("usd")
JPY = money.currency("jpy")
KWD = money.currency("kwd")
FEE = policy.FeeRule(rate=Decimal("0.029"))


def test_worked_example_from_the_original() -> None:
    calc = policy.calculate_recharge(
        balance=money.to_minor("-50", USD, allow_negative=True),
        target=money.to_minor(600, USD),
        max_amount=money.to_minor(10000, USD),
        fee_rule=FEE,
    )
    assert calc is not None
    assert money.to_major(calc.recharge_amount, USD) == Decimal("650")
    assert money.to_major(calc.fee, USD) == Decimal("18.85")
    assert money.to_major(calc.total_charge, USD) == Decimal("668.85")
    assert money.to_major(calc.new_balance, USD) == Decimal("600")
    assert not calc.capped


@pytest.mark.parametrize(
    ("code", "exponent"), [("usd", 2), ("USD", 2), ("jpy", 0), ("krw", 0), ("kwd", 3), ("eur", 2)]
)
def test_currency_exponents(code: str, exponent: int) -> None:
    assert money.currency(code).exponent == exponent


@pytest.mark.parametrize("code", ["xxx", "", "usdd", "12"])
def test_unknown_currency_is_rejected(code: str) -> None:
    with pytest.raises(money.MoneyError) as err:
        money.currency(code)
    assert err.value.rule == "unsupported_currency"


@pytest.mark.parametrize(
    ("value", "cur", "minor"),
    [
        (Decimal("18.85"), USD, 1885),
        ("0.01", USD, 1),
        (650, USD, 65000),
        (Decimal("1E+2"), USD, 10000),
        ("1000", JPY, 1000),
        (Decimal("1.500"), KWD, 1500),
        (Decimal("12.50"), USD, 1250),
    ],
)
def test_to_minor(value: object, cur: money.Currency, minor: int) -> None:
    assert money.to_minor(value, cur) == minor


@pytest.mark.parametrize(
    ("value", "cur", "rule"),
    [
        ("18.855", USD, "too_many_decimals"),
        ("1.5", JPY, "too_many_decimals"),
        ("0.0001", KWD, "too_many_decimals"),
        ("NaN", USD, "invalid_amount"),
        ("Infinity", USD, "invalid_amount"),
        ("-Infinity", USD, "invalid_amount"),
        ("abc", USD, "invalid_amount"),
        ("", USD, "invalid_amount"),
        (18.85, USD, "invalid_amount"),
        (True, USD, "invalid_amount"),
        (None, USD, "invalid_amount"),
        ("-1", USD, "negative_amount"),
        ("1e12", USD, "amount_too_large"),
        ("-1e15", USD, "amount_too_large"),
    ],
)
def test_to_minor_rejects(value: object, cur: money.Currency, rule: str) -> None:
    with pytest.raises(money.MoneyError) as err:
        money.to_minor(value, cur)
    assert err.value.rule == rule


def test_zero_and_negative_flags() -> None:
    assert money.to_minor("-50", USD, allow_negative=True) == -5000
    with pytest.raises(money.MoneyError, match="greater than zero"):
        money.to_minor("0", USD, allow_zero=False)


def test_round_half_up_is_half_up() -> None:
    assert money.round_half_up(Decimal("0.5")) == 1
    assert money.round_half_up(Decimal("1.5")) == 2
    assert money.round_half_up(Decimal("2.5")) == 3  # not banker's rounding
    assert money.round_half_up(Decimal("2.4999")) == 2


def test_fee_rounds_half_up_on_a_tie() -> None:
    # 50 cents × 0.029 = 1.45 cents → 1; 150 × 0.03 = 4.5 → 5 (a tie goes up)
    assert money.fee(50, Decimal("0.029")) == 1
    assert money.fee(150, Decimal("0.03")) == 5


def test_gross_up_nets_the_amount() -> None:
    # $100 with 2.9 % + 30c: total = (100 + 0.30) / 0.971 = 103.30 → fee 3.30
    assert money.gross_up(10000, Decimal("0.029"), 30) == 330


def test_json_number_keeps_digits() -> None:
    assert money.json_number(Decimal("650")) == 650
    assert isinstance(money.json_number(Decimal("650.00")), int)
    assert repr(money.json_number(Decimal("18.85"))) == "18.85"


minor_usd = st.integers(min_value=-(10**14) + 1, max_value=10**14 - 1)


@given(minor_usd)
def test_minor_major_round_trip(minor: int) -> None:
    assert money.to_minor(money.to_major(minor, USD), USD, allow_negative=True) == minor


@given(
    st.sampled_from([USD, JPY, KWD]),
    st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1),
)
def test_json_rendering_is_exact_for_every_admitted_amount(cur: money.Currency, minor: int) -> None:
    # Every amount to_minor admits (< 10^12 major units) survives the JSON float carrier.
    major = money.to_major(minor // 10 ** (3 - cur.exponent), cur)
    assert Decimal(repr(money.json_number(major))) == major


@given(
    st.integers(min_value=0, max_value=10**14), st.decimals(min_value=0, max_value="0.49", places=4)
)
def test_fee_is_nearest_cent_and_never_negative(amount: int, rate: Decimal) -> None:
    fee = money.fee(amount, rate)
    exact = Decimal(amount) * rate
    assert fee >= 0
    assert abs(Decimal(fee) - exact) <= Decimal("0.5")
    if exact - int(exact) == Decimal("0.5"):
        assert fee == int(exact) + 1


@given(
    balance=st.integers(min_value=-(10**12), max_value=10**12),
    minimum=st.integers(min_value=0, max_value=10**12),
    span=st.integers(min_value=1, max_value=10**12),
    cap=st.integers(min_value=1, max_value=10**13),
)
def test_recharge_never_overshoots_target_or_cap(
    balance: int, minimum: int, span: int, cap: int
) -> None:
    target = minimum + span
    calc = policy.calculate_recharge(balance=balance, target=target, max_amount=cap, fee_rule=FEE)
    if balance >= target:
        assert calc is None
        return
    assert calc is not None
    assert 0 < calc.recharge_amount <= cap
    assert calc.new_balance <= target
    assert calc.new_balance == balance + calc.recharge_amount
    assert calc.total_charge == calc.recharge_amount + calc.fee
    assert calc.capped == (calc.new_balance < target)
