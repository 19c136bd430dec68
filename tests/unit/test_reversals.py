"""The refund and dispute rule (``reversals``): the credit's share of the money given back,
on the running total, so splits add up exactly. Pure."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from balance_manager.domain import policy
from balance_manager.domain.reversals import credit_share, dispute_takes_money, refund_takes_money

WORKED = {"amount": 65000, "total": 66885}  # 650.00 + 18.85


def test_the_worked_example() -> None:
    assert credit_share(10000, **WORKED) == 9718  # refund 100.00 → 97.18
    assert credit_share(66885, **WORKED) - credit_share(10000, **WORKED) == 55282
    assert credit_share(66885, **WORKED) == 65000  # a full refund takes back the credit
    assert credit_share(0, **WORKED) == 0


def test_halves_round_up_and_out_of_range_is_clamped() -> None:
    assert credit_share(1, amount=1, total=2) == 1  # 0.5 → 1
    assert credit_share(-5, **WORKED) == 0
    assert credit_share(10**9, **WORKED) == 65000
    assert credit_share(5, amount=0, total=0) == 0


@st.composite
def charges(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    """A recharge (amount, total with the 2.9 % fee) and a split of its charge into parts."""
    amount = draw(st.integers(1, 10**8))
    total = amount + policy.FeeRule(Decimal("0.029")).fee_for(amount)
    cuts = sorted(draw(st.lists(st.integers(0, total), max_size=8)))
    edges = [0, *cuts, total]
    return amount, total, [b - a for a, b in itertools.pairwise(edges)]


@given(charges())
def test_any_split_of_a_full_refund_takes_back_exactly_the_credit(
    case: tuple[int, int, list[int]],
) -> None:
    amount, total, parts = case
    given_back = 0
    taken = 0
    for part in parts:
        before = credit_share(given_back, amount=amount, total=total)
        given_back += part
        step = credit_share(given_back, amount=amount, total=total) - before
        assert 0 <= step <= part  # never more credit than money given back
        taken += step
    assert taken == amount


@given(st.integers(1, 10**8), st.integers(0, 10**6), st.integers(0, 10**9))
def test_the_share_never_exceeds_the_money_nor_the_credit(amount: int, fee: int, part: int) -> None:
    share = credit_share(part, amount=amount, total=amount + fee)
    assert 0 <= share <= min(max(part, 0), amount)


def test_which_states_hold_the_money() -> None:
    assert [refund_takes_money(s) for s in ("pending", "succeeded", "failed", "canceled")] == [
        True,
        True,
        False,
        False,
    ]
    # From the balance transactions when Stripe gives them…
    assert dispute_takes_money("needs_response", withdrawn=True, reinstated=False)
    assert not dispute_takes_money("won", withdrawn=True, reinstated=True)
    assert not dispute_takes_money("warning_needs_response", withdrawn=False, reinstated=False)
    # …else from the status: an inquiry withdraws nothing, a lost dispute keeps the money.
    assert dispute_takes_money("lost", withdrawn=None, reinstated=None)
    assert not dispute_takes_money("warning_under_review", withdrawn=None, reinstated=None)
    assert not dispute_takes_money("won", withdrawn=None, reinstated=None)
    assert refund_takes_money("requires_action")
