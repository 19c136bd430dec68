"""Balances and amounts stay within what a JSON client reading doubles gets back exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from balance_manager.domain import money, posting
from balance_manager.domain.states import LedgerKind


@pytest.mark.parametrize("code", sorted(money.SUPPORTED_CURRENCIES))
def test_the_bound_and_a_credit_past_it_stay_json_exact(code: str) -> None:
    cur = money.currency(code)
    bound = money.max_minor(cur)
    # The furthest a balance can get: just inside the bound, plus one recharge credit (an
    # amount, itself inside the bound) that is never refused.
    furthest = 2 * (bound - 1)
    assert furthest < 2**52 <= money.JSON_EXACT_MINOR
    # …and its rendering survives a double, digit for digit.
    major = money.to_major(furthest, cur)
    assert Decimal(repr(float(major))) == major or major == int(major)
    assert money.balance_in_range(bound - 1, cur) and money.balance_in_range(1 - bound, cur)
    assert not money.balance_in_range(bound, cur) and not money.balance_in_range(-bound, cur)


def _account(balance: int) -> dict[str, posting.Account]:
    return {"u": posting.Account("u", balance, minimum=0, floor=None, currency="usd")}


def test_postings_the_service_may_refuse_stop_at_the_bound() -> None:
    bound = money.max_minor(money.currency("usd"))
    grant = posting.Posting("u", LedgerKind.ADJUSTMENT, 2, "a", enforce_bounds=True)
    plan = posting.apply(_account(bound - 2), {}, [grant])
    assert plan.results[0].outcome is posting.Outcome.OUT_OF_RANGE and not plan.new_entries
    # Back towards zero is allowed even from beyond the bound.
    debit = posting.Posting("u", LedgerKind.USAGE, -1, "d", enforce_bounds=True)
    assert posting.apply(_account(bound + 5), {}, [debit]).results[0].ok


def test_money_that_moved_at_stripe_is_never_refused() -> None:
    bound = money.max_minor(money.currency("usd"))
    credit = posting.Posting("u", LedgerKind.RECHARGE, bound - 1, "pi_1")
    plan = posting.apply(_account(bound - 1), {}, [credit])
    assert plan.results[0].outcome is posting.Outcome.APPLIED
    assert plan.balances["u"] == 2 * (bound - 1)
