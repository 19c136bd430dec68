"""Whether a PaymentIntent is a recharge's own (``matching``): every rule, in order. Pure."""

from __future__ import annotations

import dataclasses

from balance_manager.domain.matching import Claimant, Intent, Mismatch, mismatch

RECORD = Claimant(payment_intent_id=None, customer_id="cus_b", total_charge=66885, currency="usd")
INTENT = Intent(id="pi_1", customer_id="cus_b", amount=66885, currency="usd")


def test_the_records_own_payment_intent_matches() -> None:
    assert mismatch(RECORD, INTENT) is None
    assert mismatch(RECORD, dataclasses.replace(INTENT, currency="USD")) is None


def test_the_issues_case_another_customer_naming_the_record() -> None:
    foreign = Intent(id="pi_a", customer_id="cus_a", amount=50, currency="usd")
    assert mismatch(RECORD, foreign) is Mismatch.CUSTOMER


def test_each_rule_in_order() -> None:
    bound = dataclasses.replace(RECORD, payment_intent_id="pi_other")
    assert mismatch(bound, INTENT) is Mismatch.PAYMENT_INTENT
    assert mismatch(RECORD, dataclasses.replace(INTENT, customer_id=None)) is Mismatch.CUSTOMER
    assert mismatch(RECORD, dataclasses.replace(INTENT, amount=66884)) is Mismatch.AMOUNT
    assert mismatch(RECORD, dataclasses.replace(INTENT, amount=None)) is Mismatch.AMOUNT
    assert mismatch(RECORD, dataclasses.replace(INTENT, currency="eur")) is Mismatch.CURRENCY
    assert mismatch(RECORD, dataclasses.replace(INTENT, currency=None)) is Mismatch.CURRENCY


def test_once_bound_the_customer_is_not_asked_again() -> None:
    """Our own charge call returned this PaymentIntent; the customer may be gone since."""
    bound = dataclasses.replace(RECORD, payment_intent_id="pi_1", customer_id=None)
    assert mismatch(bound, INTENT) is None
    assert mismatch(bound, dataclasses.replace(INTENT, amount=1)) is Mismatch.AMOUNT
