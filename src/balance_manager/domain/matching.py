"""Does a PaymentIntent belong to a recharge record? Pure.

A PaymentIntent's ``metadata.recharge_id`` is only a claim: anyone with the account's key
(or a bug) can create one naming any record. Settlement credits a record only with a
PaymentIntent that is the record's own, checked in this order — the first that fails is the
answer:

1. the record's PaymentIntent, once known, is this one;
2. it charges the record's customer (not checked once the record holds this PaymentIntent:
   our own charge call returned it, and the customer may have been deleted since);
3. its amount is the record's total charge;
4. its currency is the record's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Mismatch(StrEnum):
    PAYMENT_INTENT = "payment_intent"  # the record is bound to another PaymentIntent
    CUSTOMER = "customer"
    AMOUNT = "amount"
    CURRENCY = "currency"


@dataclass(frozen=True, slots=True)
class Claimant:
    """What we know of the record (and its user's Stripe customer)."""

    payment_intent_id: str | None
    customer_id: str | None
    total_charge: int
    currency: str


@dataclass(frozen=True, slots=True)
class Intent:
    """What Stripe says about the PaymentIntent."""

    id: str
    customer_id: str | None
    amount: int | None
    currency: str | None


def mismatch(record: Claimant, intent: Intent) -> Mismatch | None:
    """Why ``intent`` is not ``record``'s PaymentIntent, or None when it is."""
    own = record.payment_intent_id == intent.id
    if record.payment_intent_id is not None and not own:
        return Mismatch.PAYMENT_INTENT
    if not own and (intent.customer_id is None or intent.customer_id != record.customer_id):
        return Mismatch.CUSTOMER
    if intent.amount != record.total_charge:
        return Mismatch.AMOUNT
    if (intent.currency or "").lower() != record.currency.lower():
        return Mismatch.CURRENCY
    return None
