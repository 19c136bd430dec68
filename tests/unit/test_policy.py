from __future__ import annotations

from decimal import Decimal

from balance_manager.domain import policy


def test_needs_recharge_is_strictly_below_minimum() -> None:
    assert policy.needs_recharge(14999, 15000)
    assert not policy.needs_recharge(15000, 15000)


def test_cap_is_applied_and_reported() -> None:
    calc = policy.calculate_recharge(
        balance=-5000, target=60000, max_amount=10000, fee_rule=policy.FeeRule(Decimal("0.029"))
    )
    assert calc is not None
    assert (calc.recharge_amount, calc.fee, calc.total_charge) == (10000, 290, 10290)
    assert calc.capped and calc.uncapped_amount == 65000


def test_full_top_up_possible() -> None:
    assert policy.full_top_up_possible(minimum=150, target=600, max_amount=450)
    assert not policy.full_top_up_possible(minimum=150, target=600, max_amount=449)


def test_gross_up_mode() -> None:
    rule = policy.FeeRule(Decimal("0.029"), policy.FeeMode.GROSS_UP, fixed=30)
    assert rule.fee_for(10000) == 330
