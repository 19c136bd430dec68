"""The one recharge decision (``policy.decide``): every reason, and the order they are
checked in. Pure: no database, no clock but the one given."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from balance_manager.domain import policy
from balance_manager.domain.policy import AccountState, BlockedReason, RechargeRequest
from balance_manager.domain.states import TriggeredBy

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
FEE = policy.FeeRule(Decimal("0.029"))
AUTO = RechargeRequest(TriggeredBy.AUTO)
MANUAL = RechargeRequest(TriggeredBy.MANUAL)

# The worked example: balance -50, minimum 150, target 600, a card, nothing else going on.
READY = AccountState(
    balance=-5000,
    minimum=15000,
    target=60000,
    max_amount=1_000_000,
    currency="usd",
    max_daily=5,
    auto_enabled=True,
    paused=False,
    has_payment_method=True,
    in_flight=False,
    backoff_until=None,
    attempts_today=0,
)

# Each blocking condition, applied on its own, in the documented order.
CONDITIONS: list[tuple[BlockedReason, dict[str, object]]] = [
    (BlockedReason.NO_PAYMENT_METHOD, {"has_payment_method": False}),
    (BlockedReason.AUTO_RECHARGE_DISABLED, {"auto_enabled": False}),
    (BlockedReason.PAUSED, {"paused": True}),
    (BlockedReason.RECHARGE_IN_FLIGHT, {"in_flight": True}),
    (BlockedReason.BACKING_OFF, {"backoff_until": NOW + timedelta(seconds=1)}),
    (BlockedReason.DAILY_LIMIT, {"attempts_today": 5}),
    (BlockedReason.ABOVE_MINIMUM, {"balance": 15000}),
]


def decide(state: AccountState, request: RechargeRequest = AUTO) -> policy.Decision:
    return policy.decide(state, request, now=NOW, fee_rule=FEE)


def test_the_worked_example_opens_650_plus_18_85() -> None:
    decision = decide(READY)
    assert decision.opens and decision.blocked is None
    calc = decision.calculation
    assert calc is not None
    assert (calc.recharge_amount, calc.fee, calc.total_charge, calc.new_balance) == (
        65000,
        1885,
        66885,
        60000,
    )


@pytest.mark.parametrize(("reason", "change"), CONDITIONS, ids=[r.value for r, _ in CONDITIONS])
def test_each_reason_alone_blocks_an_automatic_recharge(
    reason: BlockedReason, change: dict[str, object]
) -> None:
    decision = decide(dataclasses.replace(READY, **change))  # type: ignore[arg-type]
    assert decision.blocked is reason
    assert decision.calculation is None and not decision.opens


@given(st.sets(st.sampled_from(range(len(CONDITIONS))), min_size=1))
def test_with_several_reasons_the_first_in_order_is_the_answer(chosen: set[int]) -> None:
    state = READY
    for i in chosen:
        state = dataclasses.replace(state, **CONDITIONS[i][1])  # type: ignore[arg-type]
    assert decide(state).blocked is CONDITIONS[min(chosen)][0]


def test_a_backoff_that_has_run_out_does_not_block() -> None:
    assert decide(dataclasses.replace(READY, backoff_until=NOW)).opens


def test_manual_ignores_auto_recharge_being_off_and_the_minimum() -> None:
    off_and_above = dataclasses.replace(READY, auto_enabled=False, balance=20000)
    decision = decide(off_and_above, MANUAL)
    assert decision.opens and decision.calculation is not None
    assert decision.calculation.recharge_amount == 40000  # up to the target


@pytest.mark.parametrize(
    "change",
    [{"paused": True}, {"backoff_until": NOW + timedelta(hours=1)}],
    ids=["paused", "backing_off"],
)
def test_manual_is_held_like_automatic_unless_the_operator_overrides(
    change: dict[str, object],
) -> None:
    held = dataclasses.replace(READY, **change)  # type: ignore[arg-type]
    assert decide(held, MANUAL).blocked is decide(held, AUTO).blocked
    override = RechargeRequest(TriggeredBy.MANUAL, override_holds=True)
    assert decide(held, override).opens


@pytest.mark.parametrize(
    ("reason", "change"),
    [
        (BlockedReason.NO_PAYMENT_METHOD, {"has_payment_method": False}),
        (BlockedReason.RECHARGE_IN_FLIGHT, {"in_flight": True}),
        (BlockedReason.DAILY_LIMIT, {"attempts_today": 5}),
    ],
)
def test_the_operator_override_never_lifts_the_hard_limits(
    reason: BlockedReason, change: dict[str, object]
) -> None:
    state = dataclasses.replace(READY, **change)  # type: ignore[arg-type]
    assert decide(state, RechargeRequest(TriggeredBy.MANUAL, override_holds=True)).blocked is reason


def test_manual_without_an_amount_at_the_target_has_nothing_to_do() -> None:
    at_target = dataclasses.replace(READY, balance=60000)
    decision = decide(at_target, MANUAL)
    assert decision.blocked is BlockedReason.NOTHING_TO_RECHARGE
    assert not BlockedReason.NOTHING_TO_RECHARGE.about_the_account


def test_manual_with_an_amount_charges_exactly_it_with_its_fee() -> None:
    decision = decide(
        dataclasses.replace(READY, balance=60000), RechargeRequest(TriggeredBy.MANUAL, 2550)
    )
    calc = decision.calculation
    assert calc is not None
    assert (calc.recharge_amount, calc.fee, calc.total_charge, calc.capped) == (
        2550,
        74,
        2624,
        False,
    )


def test_the_cap_is_applied_and_reported() -> None:
    decision = decide(dataclasses.replace(READY, max_amount=10000))
    calc = decision.calculation
    assert calc is not None
    assert (calc.recharge_amount, calc.capped, calc.uncapped_amount) == (10000, True, 65000)


@given(
    balance=st.integers(-(10**9), 10**9),
    minimum=st.integers(0, 10**9),
    gap=st.integers(1, 10**9),
    max_amount=st.integers(1, 10**9),
)
def test_an_automatic_recharge_never_overshoots_the_target_or_the_cap(
    balance: int, minimum: int, gap: int, max_amount: int
) -> None:
    state = dataclasses.replace(
        READY, balance=balance, minimum=minimum, target=minimum + gap, max_amount=max_amount
    )
    decision = decide(state)
    if balance >= minimum:
        assert decision.blocked is BlockedReason.ABOVE_MINIMUM
        return
    if decision.blocked in {BlockedReason.BELOW_STRIPE_MINIMUM, BlockedReason.ABOVE_STRIPE_MAXIMUM}:
        # Refused only when Stripe would refuse the charge (USD: 0.50 to 999,999.99).
        refused = policy.calculate_recharge(
            balance=balance, target=state.target, max_amount=max_amount, fee_rule=FEE
        )
        assert refused is not None
        assert not 50 <= refused.total_charge <= 99_999_999
        assert decision.calculation is None
        return
    calc = decision.calculation
    assert calc is not None
    assert 50 <= calc.total_charge <= 99_999_999
    assert 0 < calc.recharge_amount <= max_amount
    assert calc.new_balance <= state.target
    assert calc.total_charge == calc.recharge_amount + calc.fee


def test_a_charge_stripe_would_refuse_is_never_opened() -> None:
    """Minimum 10, target 10.10 (the issue's case): the recharge would charge 0.11 USD, below
    Stripe's 0.50; a manual amount too small or too large is refused the same way."""
    tiny = dataclasses.replace(READY, balance=999, minimum=1000, target=1010)
    assert decide(tiny).blocked is BlockedReason.BELOW_STRIPE_MINIMUM
    assert decide(tiny, MANUAL).blocked is BlockedReason.BELOW_STRIPE_MINIMUM
    assert not BlockedReason.BELOW_STRIPE_MINIMUM.about_the_account
    assert decide(dataclasses.replace(READY, balance=999, minimum=1000, target=1049)).opens
    small = RechargeRequest(TriggeredBy.MANUAL, amount=48)  # 48 + 1 fee = 49 < 50
    assert decide(READY, small).blocked is BlockedReason.BELOW_STRIPE_MINIMUM
    assert decide(READY, RechargeRequest(TriggeredBy.MANUAL, amount=49)).opens  # 49 + 1
    huge = RechargeRequest(TriggeredBy.MANUAL, amount=99_000_000)  # + 2.9 % > 99,999,999
    assert decide(READY, huge).blocked is BlockedReason.ABOVE_STRIPE_MAXIMUM
    yen = dataclasses.replace(READY, currency="jpy", balance=0, minimum=100, target=149)
    assert decide(dataclasses.replace(yen, balance=99)).blocked is None  # 50 + 1 fee yen
    gbp = dataclasses.replace(READY, currency="gbp", balance=999, minimum=1000, target=1029)
    assert decide(gbp).opens  # 30 + 1 = 31 pence ≥ 30
    unknown = dataclasses.replace(READY, currency="krw", balance=0, minimum=1, target=2)
    assert decide(unknown).opens  # no published minimum: Stripe decides
