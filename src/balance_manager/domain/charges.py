"""What Stripe answered about a charge: a PaymentIntent's outcome, as settling reads it. Pure.

The gateway (``payments.gateway``) returns these values; settlement (``settlement``) decides
what they mean for a recharge. A declined or authentication-needing charge is an answer, not
an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
    customer_id: str | None = None  # whom Stripe charged (settlement checks it is ours)
    created: int | None = None  # Unix seconds

    @property
    def recharge_id(self) -> str | None:
        """The record this PaymentIntent claims to be for (a claim, not a proof)."""
        return (self.metadata or {}).get("recharge_id")
