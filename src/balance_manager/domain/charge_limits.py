"""What Stripe will charge: its minimum and maximum charge amount per currency. Pure.

Stripe refuses a PaymentIntent below a per-currency minimum (``amount_too_small``) or above
a maximum (``amount_too_large``). A recharge outside these bounds can never succeed, so the
service refuses the configuration that would produce one (``usecases.accounts``) and
``policy.decide`` never opens one; and when Stripe says so anyway, it is not the card's
fault (no decline count, no pause: ``charging.settle_in``).

Minimums: Stripe's published table ("Minimum and maximum charge amounts",
docs.stripe.com/currencies), in minor units as this service counts them (``money``):
USD 0.50, AED 2.00, AUD 0.50, BGN 1.00, BRL 0.50, CAD 0.50, CHF 0.50, CZK 15.00,
DKK 2.50, EUR 0.50, GBP 0.30, HKD 4.00, HUF 175.00, INR 0.50, JPY 50, MXN 10, MYR 2,
NOK 3.00, NZD 0.50, PLN 2.00, RON 2.00, SEK 3.00, SGD 0.50, THB 10. For other currencies
Stripe publishes no figure (its rule is "the equivalent of 0.50 USD in the settlement
currency", which needs an exchange rate): no minimum is enforced here and Stripe's answer
decides.

Maximum: 99,999,999 minor units (eight digits, e.g. 999,999.99 USD) for every currency
except IDR (twelve digits). Where Stripe allows more, this is the safe side.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MINIMUM_CHARGE: dict[str, int] = {
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
}
DEFAULT_MAXIMUM_CHARGE = 99_999_999
MAXIMUM_CHARGE: dict[str, int] = {"idr": 999_999_999_999}

# Stripe's error codes for an amount outside these bounds: a refusal of the amount, never of
# the card, so they do not count towards backoff or the pause.
AMOUNT_ERROR_CODES = frozenset({"amount_too_small", "amount_too_large"})


class Violation(StrEnum):
    """Which bound a charge breaks (also the API's error code)."""

    BELOW_MINIMUM = "below_stripe_minimum_charge"
    ABOVE_MAXIMUM = "above_stripe_maximum_charge"


@dataclass(frozen=True, slots=True)
class ChargeLimits:
    """Stripe's bounds for one currency, in its minor units (``minimum`` None: unknown)."""

    currency: str
    minimum: int | None
    maximum: int

    def violation(self, total_charge: int) -> Violation | None:
        """Whether Stripe would refuse a charge of ``total_charge``, and why."""
        if self.minimum is not None and total_charge < self.minimum:
            return Violation.BELOW_MINIMUM
        if total_charge > self.maximum:
            return Violation.ABOVE_MAXIMUM
        return None


def limits_for(currency: str) -> ChargeLimits:
    code = currency.lower()
    return ChargeLimits(
        currency=code,
        minimum=MINIMUM_CHARGE.get(code),
        maximum=MAXIMUM_CHARGE.get(code, DEFAULT_MAXIMUM_CHARGE),
    )


def is_amount_refusal(failure_code: str | None) -> bool:
    """Stripe refused the amount (not the card)."""
    return failure_code in AMOUNT_ERROR_CODES
