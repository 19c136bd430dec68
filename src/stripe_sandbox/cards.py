"""Stripe's test cards and their documented behaviour (docs.stripe.com/testing).

Each card is reachable as a number (``card[number]``), a test PaymentMethod id
(``pm_card_visa``) and a test token (``tok_visa``). What happens to it is decided here, in one
table, so the resources only ask: "what does this card do at setup / on this charge?"
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class Decline:
    code: str
    message: str
    decline_code: str | None = None


GENERIC = Decline("card_declined", "Your card was declined.", "generic_decline")
INSUFFICIENT = Decline("card_declined", "Your card has insufficient funds.", "insufficient_funds")
PROCESSING = Decline(
    "processing_error", "An error occurred while processing your card. Try again in a little bit."
)
EXPIRED = Decline("expired_card", "Your card has expired.", "expired_card")
INCORRECT_CVC = Decline("incorrect_cvc", "Your card's security code is incorrect.", "incorrect_cvc")
AUTH_REQUIRED = Decline(
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
    "authentication_required",
)
LIVE_CARD = Decline(
    "card_declined",
    "Your card was declined. Your request was in test mode, but used a non test (live) card. "
    "For a list of valid test cards, visit: https://stripe.com/docs/testing.",
    "test_mode_live_card",
)


class Auth(Enum):
    """When the issuer asks for 3D Secure."""

    NEVER = "never"
    ON_SETUP = "on_setup"  # setup and one-time payments; saved + set up → off-session ok
    ALWAYS = "always"  # every payment, so off-session charges fail authentication_required


@dataclass(frozen=True)
class TestCard:
    number: str
    name: str  # Stripe's test id suffix: pm_card_<name>, tok_<name>
    brand: str
    funding: str = "credit"
    country: str = "US"
    setup_decline: Decline | None = None  # also refuses attach (Stripe verifies the card)
    charge_decline: Decline | None = None
    auth: Auth = Auth.NEVER
    dispute: str | None = None  # the charge succeeds, then is disputed for this reason

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.number.encode()).hexdigest()[:16]


CARDS: tuple[TestCard, ...] = (
    TestCard("4242424242424242", "visa", "visa"),
    TestCard("4000056655665556", "visa_debit", "visa", funding="debit"),
    TestCard("5555555555554444", "mastercard", "mastercard"),
    TestCard("378282246310005", "amex", "amex"),
    TestCard(
        "4000000000000002", "chargeDeclined", "visa", setup_decline=GENERIC, charge_decline=GENERIC
    ),
    TestCard(
        "4000000000009995",
        "chargeDeclinedInsufficientFunds",
        "visa",
        setup_decline=INSUFFICIENT,
        charge_decline=INSUFFICIENT,
    ),
    TestCard("4000000000000341", "chargeCustomerFail", "visa", charge_decline=GENERIC),
    TestCard(
        "4000000000000119",
        "chargeDeclinedProcessingError",
        "visa",
        setup_decline=PROCESSING,
        charge_decline=PROCESSING,
    ),
    TestCard(
        "4000000000000069",
        "chargeDeclinedExpiredCard",
        "visa",
        setup_decline=EXPIRED,
        charge_decline=EXPIRED,
    ),
    TestCard(
        "4000000000000127",
        "chargeDeclinedIncorrectCvc",
        "visa",
        setup_decline=INCORRECT_CVC,
        charge_decline=INCORRECT_CVC,
    ),
    TestCard("4000000000000259", "createDispute", "visa", dispute="fraudulent"),
    TestCard(
        "4000000000002685",
        "createDisputeProductNotReceived",
        "visa",
        dispute="product_not_received",
    ),
    TestCard("4000002500003155", "authenticationRequiredOnSetup", "visa", auth=Auth.ON_SETUP),
    TestCard("4000002760003184", "authenticationRequired", "visa", auth=Auth.ALWAYS),
    TestCard("4000000000003220", "threeDSecure2Required", "visa", auth=Auth.ALWAYS),
)

BY_NUMBER = {c.number: c for c in CARDS}
BY_PM_ID = {f"pm_card_{c.name}": c for c in CARDS}
BY_TOKEN = {f"tok_{c.name}": c for c in CARDS}


class CardNumberError(Exception):
    """The number is not a card number at all (``incorrect_number``)."""


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or number[:1] == "2":
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    return "unknown"


def card_for_number(number: str) -> TestCard:
    """The test card for a number; a valid non-test number behaves like a live card (declined)."""
    number = number.replace(" ", "").replace("-", "")
    known = BY_NUMBER.get(number)
    if known is not None:
        return known
    if not luhn_ok(number):
        raise CardNumberError(number)
    return TestCard(
        number, "live", brand_of(number), setup_decline=LIVE_CARD, charge_decline=LIVE_CARD
    )


def card_by_name(name: str) -> TestCard | None:
    for c in CARDS:
        if c.name == name:
            return c
    return None
