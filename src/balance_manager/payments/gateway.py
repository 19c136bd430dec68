"""The one funnel to Stripe. Every Stripe call in the service goes through ``StripeGateway``.

Exception tree (callers catch ``GatewayError``)::

    GatewayError                  message, stripe_code?
     ├── StripeUnavailable        network error / 5xx / 429 still failing after retries
     ├── StripeRejected           Stripe refused the request (invalid params, auth): a bug or
     │                             a configuration problem, not worth retrying
     └── StripeNotFound           the object does not exist (or belongs to no one we know)

A declined or authentication-needing charge is *not* an exception: it is a ``ChargeResult``
value with ``outcome`` DECLINED or REQUIRES_ACTION.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class GatewayError(Exception):
    def __init__(self, message: str, *, stripe_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.stripe_code = stripe_code


class StripeUnavailable(GatewayError):
    pass


class StripeRejected(GatewayError):
    pass


class StripeNotFound(GatewayError):
    pass


class ChargeOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    PROCESSING = "processing"  # wait for the webhook
    REQUIRES_ACTION = "requires_action"  # the customer must authenticate on-session
    DECLINED = "declined"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class ChargeResult:
    outcome: ChargeOutcome
    payment_intent_id: str | None
    amount: int | None = None  # minor units, as Stripe reports them
    currency: str | None = None
    payment_method_id: str | None = None
    client_secret: str | None = None  # for the on-session authentication flow
    failure_code: str | None = None  # Stripe's decline_code or code
    failure_message: str | None = None
    metadata: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class CardSummary:
    id: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None


class StripeGateway:
    """Async wrapper over ``stripe.StripeClient`` (implemented in the payments slice)."""
