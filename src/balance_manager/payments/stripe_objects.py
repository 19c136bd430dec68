"""Stripe's objects read into our values: what the gateway's calls, the Stripe webhook events
and reconciliation turn SDK objects (or the dicts of an event payload) into. Pure: no call
to Stripe — that is ``gateway``, the one funnel, which returns these values.

    ChargeResult        a PaymentIntent as it is now (``intent_result``), or a charge's 402
                        (``card_error_result``): declines and authentication are values
    RefundInfo, DisputeInfo, PaymentReversals   refunds and disputes (``refund_info``,
                        ``dispute_info``)
    CardSummary, SetupIntentInfo                a saved card, a SetupIntent
    WebhookEndpointInfo                         a Stripe webhook endpoint (never its secret)
    stripe_field, stripe_id, metadata           reading fields that may be absent (localstripe
                        omits many), ids that may come expanded, metadata as strings

``ChargeOutcome`` and ``ChargeResult`` are the domain's (``domain.charges``: settlement reads
them); they are also importable from ``gateway``, whose answers they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import stripe

from balance_manager.domain.charges import ChargeOutcome, ChargeResult


@dataclass(frozen=True, slots=True)
class RefundInfo:
    id: str
    payment_intent_id: str | None
    charge_id: str | None
    amount: int
    currency: str
    status: str
    reason: str | None
    created: int | None


@dataclass(frozen=True, slots=True)
class DisputeInfo:
    id: str
    payment_intent_id: str | None
    charge_id: str | None
    amount: int
    currency: str
    status: str
    reason: str | None
    created: int | None
    # From its balance transactions (None: Stripe gave none): the disputed funds were
    # taken from the account, and given back (won).
    withdrawn: bool | None = None
    reinstated: bool | None = None


@dataclass(frozen=True, slots=True)
class PaymentReversals:
    """A PaymentIntent as it is now, with its refunds and disputes."""

    intent: ChargeResult
    refunds: list[RefundInfo] = field(default_factory=list)
    disputes: list[DisputeInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CardSummary:
    id: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None


@dataclass(frozen=True, slots=True)
class SetupIntentInfo:
    id: str
    status: str
    customer_id: str | None
    payment_method_id: str | None


@dataclass(frozen=True, slots=True)
class WebhookEndpointInfo:
    """A webhook endpoint of the Stripe account. ``api_version`` None: its events come in the
    account's default version."""

    id: str
    url: str
    api_version: str | None
    enabled_events: frozenset[str]
    enabled: bool


# --------------------------------------------------------------------- reading fields


def stripe_field(obj: object, name: str) -> Any:
    """A field of a Stripe object or dict, None when absent (localstripe omits many)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    try:
        return getattr(obj, name, None)
    except (AttributeError, KeyError):
        return None


def stripe_id(value: object) -> str | None:
    """Stripe fields that hold an id or, when expanded, the object."""
    if value is None or isinstance(value, str):
        return value or None
    found = stripe_field(value, "id")
    return found if isinstance(found, str) else None


def metadata(obj: object) -> dict[str, str]:
    """An object's metadata as plain strings (empty when it has none)."""
    meta = stripe_field(obj, "metadata")
    if meta is None:
        return {}
    items = meta.items() if isinstance(meta, dict) else meta.to_dict().items()
    return {str(k): str(v) for k, v in items}


# --------------------------------------------------------------------- PaymentIntents


_STATUS_OUTCOME = {
    "succeeded": ChargeOutcome.SUCCEEDED,
    "processing": ChargeOutcome.PROCESSING,
    "requires_action": ChargeOutcome.REQUIRES_ACTION,
    "canceled": ChargeOutcome.CANCELED,
    # Not final and not expected after confirm=true: treat as "wait and look again".
    "requires_confirmation": ChargeOutcome.PROCESSING,
    "requires_capture": ChargeOutcome.PROCESSING,
}


def intent_result(intent: object) -> ChargeResult:
    """A PaymentIntent as it is now. ``requires_payment_method`` means the last attempt
    failed: REQUIRES_ACTION when it failed for want of authentication (the customer can still
    complete it on-session), else DECLINED with the error's codes."""
    error = stripe_field(intent, "last_payment_error")
    outcome = _STATUS_OUTCOME.get(stripe_field(intent, "status"))
    failure_code = failure_message = None
    if outcome is None:  # requires_payment_method
        code = stripe_field(error, "code")
        outcome = (
            ChargeOutcome.REQUIRES_ACTION
            if code == "authentication_required"
            else ChargeOutcome.DECLINED
        )
    if error is not None and outcome is not ChargeOutcome.SUCCEEDED:
        failure_code = stripe_field(error, "decline_code") or stripe_field(error, "code")
        failure_message = stripe_field(error, "message")
    if outcome is ChargeOutcome.REQUIRES_ACTION and failure_code is None:
        failure_code = "authentication_required"
    payment_method = stripe_id(stripe_field(intent, "payment_method")) or stripe_id(
        stripe_field(error, "payment_method")
    )
    return ChargeResult(
        outcome=outcome,
        payment_intent_id=stripe_id(intent),
        amount=stripe_field(intent, "amount"),
        currency=stripe_field(intent, "currency"),
        payment_method_id=payment_method,
        client_secret=stripe_field(intent, "client_secret"),
        failure_code=failure_code,
        failure_message=failure_message,
        metadata=metadata(intent),
        customer_id=stripe_id(stripe_field(intent, "customer")),
        created=stripe_field(intent, "created"),
    )


def card_error_result(
    exc: stripe.CardError, payment_method_id: str, sent_metadata: dict[str, str]
) -> ChargeResult:
    """A 402 from a charge: declined, or the issuer wants the customer to authenticate.

    Stripe puts the PaymentIntent, as it now is, into the error (localstripe does not)."""
    error = exc.error
    intent = stripe_field(error, "payment_intent")
    code = stripe_field(error, "code") or exc.code
    decline_code = stripe_field(error, "decline_code")
    message = stripe_field(error, "message") or exc.user_message
    needs_auth = "authentication_required" in (code, decline_code)
    return ChargeResult(
        outcome=ChargeOutcome.REQUIRES_ACTION if needs_auth else ChargeOutcome.DECLINED,
        payment_intent_id=stripe_id(intent),
        amount=stripe_field(intent, "amount"),
        currency=stripe_field(intent, "currency"),
        payment_method_id=payment_method_id,
        client_secret=stripe_field(intent, "client_secret") if needs_auth else None,
        failure_code="authentication_required"
        if needs_auth
        else (decline_code or code or "card_declined"),
        failure_message=message,
        metadata=metadata(intent) if intent is not None else dict(sent_metadata),
        customer_id=stripe_id(stripe_field(intent, "customer")),
        created=stripe_field(intent, "created"),
    )


# --------------------------------------------------------------------- refunds, disputes


def refund_info(refund: object) -> RefundInfo:
    """A Stripe Refund (object or event payload) as a value."""
    return RefundInfo(
        id=str(stripe_id(refund)),
        payment_intent_id=stripe_id(stripe_field(refund, "payment_intent")),
        charge_id=stripe_id(stripe_field(refund, "charge")),
        amount=int(stripe_field(refund, "amount") or 0),
        currency=str(stripe_field(refund, "currency") or ""),
        status=str(stripe_field(refund, "status") or ""),
        reason=stripe_field(refund, "reason"),
        created=stripe_field(refund, "created"),
    )


def dispute_info(dispute: object) -> DisputeInfo:
    """A Stripe Dispute as a value; ``withdrawn`` / ``reinstated`` read from the signs of
    its balance transactions (their amounts may be in another currency, the signs not)."""
    transactions = stripe_field(dispute, "balance_transactions")
    withdrawn = reinstated = None
    if transactions is not None:
        amounts = [int(stripe_field(t, "amount") or 0) for t in transactions]
        withdrawn = any(a < 0 for a in amounts)
        reinstated = any(a > 0 for a in amounts)
    return DisputeInfo(
        id=str(stripe_id(dispute)),
        payment_intent_id=stripe_id(stripe_field(dispute, "payment_intent")),
        charge_id=stripe_id(stripe_field(dispute, "charge")),
        amount=int(stripe_field(dispute, "amount") or 0),
        currency=str(stripe_field(dispute, "currency") or ""),
        status=str(stripe_field(dispute, "status") or ""),
        reason=stripe_field(dispute, "reason"),
        created=stripe_field(dispute, "created"),
        withdrawn=withdrawn,
        reinstated=reinstated,
    )


# --------------------------------------------------------------------- cards


def card_summary(pm: stripe.PaymentMethod) -> CardSummary:
    """A PaymentMethod's card, as the pages and the statistics show it."""
    card = stripe_field(pm, "card")
    return CardSummary(
        id=pm.id,
        brand=stripe_field(card, "brand"),
        last4=stripe_field(card, "last4"),
        exp_month=stripe_field(card, "exp_month"),
        exp_year=stripe_field(card, "exp_year"),
    )


def setup_intent_info(intent: stripe.SetupIntent) -> SetupIntentInfo:
    return SetupIntentInfo(
        id=intent.id,
        status=intent.status,
        customer_id=stripe_id(intent.customer),
        payment_method_id=stripe_id(intent.payment_method),
    )


def webhook_endpoint_info(endpoint: object) -> WebhookEndpointInfo:
    return WebhookEndpointInfo(
        id=str(stripe_field(endpoint, "id")),
        url=str(stripe_field(endpoint, "url")),
        api_version=stripe_field(endpoint, "api_version"),
        enabled_events=frozenset(stripe_field(endpoint, "enabled_events") or ()),
        enabled=stripe_field(endpoint, "status") != "disabled",
    )
