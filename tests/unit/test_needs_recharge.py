""" "Needs a recharge" has one definition (``policy.needs_recharge``), and the fast paths'
shortcut (``policy.may_need_recharge``) never skips a recharge the decision would open.
The SQL that restates them is held to them in ``tests/integration/test_sql_rules_agree.py``."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from balance_manager.domain import policy
from balance_manager.domain.policy import AccountState, RechargeRequest
from balance_manager.domain.states import TriggeredBy

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
FEE = policy.FeeRule(Decimal("0.029"))


def test_strictly_below_the_minimum_and_never_without_one() -> None:
    assert policy.needs_recharge(14999, 15000)
    assert not policy.needs_recharge(15000, 15000)
    assert policy.needs_recharge(-1, 0) and not policy.needs_recharge(0, 0)
    assert not policy.needs_recharge(-(10**12), None)  # no config: never due


def test_may_need_recharge_asks_the_row_only() -> None:
    ready = {"balance": 100, "minimum": 15000, "auto_enabled": True, "paused": False}
    assert policy.may_need_recharge(**ready, has_card=True)
    assert not policy.may_need_recharge(**ready, has_card=False)
    assert not policy.may_need_recharge(**{**ready, "auto_enabled": False}, has_card=True)
    assert not policy.may_need_recharge(**{**ready, "paused": True}, has_card=True)
    assert not policy.may_need_recharge(**{**ready, "balance": 15000}, has_card=True)
    assert not policy.may_need_recharge(**{**ready, "minimum": None}, has_card=True)


STATES = st.builds(
    AccountState,
    balance=st.integers(-100_000, 100_000),
    minimum=st.integers(0, 50_000),
    target=st.just(60_000),
    max_amount=st.integers(1, 1_000_000),
    currency=st.just("usd"),
    max_daily=st.integers(1, 5),
    auto_enabled=st.booleans(),
    paused=st.booleans(),
    has_payment_method=st.booleans(),
    in_flight=st.booleans(),
    backoff_until=st.one_of(st.none(), st.just(NOW + timedelta(seconds=1))),
    attempts_today=st.integers(0, 5),
)


@given(STATES)
def test_the_shortcut_never_skips_an_automatic_recharge(state: AccountState) -> None:
    """Where the fast debit paths commit without asking the decision (the shortcut says
    no), the decision would not have opened a recharge either."""
    shortcut = policy.may_need_recharge(
        balance=state.balance,
        minimum=state.minimum,
        auto_enabled=state.auto_enabled,
        paused=state.paused,
        has_card=state.has_payment_method,
    )
    decision = policy.decide(state, RechargeRequest(TriggeredBy.AUTO), now=NOW, fee_rule=FEE)
    if decision.opens:
        assert shortcut
    # With nothing else in the way, the shortcut is exactly the decision's own checks.
    clear = dataclasses.replace(
        state, in_flight=False, backoff_until=None, attempts_today=0, max_amount=1_000_000
    )
    clear_decision = policy.decide(clear, RechargeRequest(TriggeredBy.AUTO), now=NOW, fee_rule=FEE)
    assert clear_decision.opens is shortcut
