"""PaymentIntents (``/v1/payment_intents``): charge a card, on or off session.

Confirming asks the card table what the issuer does: approve (a succeeded Charge), decline
(HTTP 402, a failed Charge, status back to ``requires_payment_method``), or ask for 3D Secure —
``requires_action`` on session; off session a 402 ``authentication_required``, the
PaymentIntent waiting in ``requires_payment_method`` for the customer to come back.
"""

from __future__ import annotations

from typing import Any, NoReturn

from .. import cards
from ..params import BOOL, INT, STR, Enum, ListOf, Req, Spec
from ..routing import Call, Route, list_route
from ..state import RequestContext, SandboxState
from ..wire import JSON, StripeError, invalid_request
from . import intents
from ._common import check_currency, require
from .charges import new_charge
from .disputes import open_dispute
from .payment_methods import card_of, decline_payload, is_set_up, payment_method_param, save_card

KIND = intents.IntentKind(
    object="payment_intent",
    label="PaymentIntent",
    id_prefix="pi",
    last_error="last_payment_error",
    failed_event="payment_intent.payment_failed",
    confirm_after_success="You cannot confirm this PaymentIntent because it has already "
    "succeeded after being previously confirmed.",
    confirm_without_method="You cannot confirm this PaymentIntent because it's missing a "
    "payment method. You can either update the PaymentIntent with a payment method and then "
    "confirm it again, or confirm it again directly with a payment method.",
    authentication_failure="The provided PaymentMethod has failed authentication. You can "
    "provide payment_method_data or a new PaymentMethod to attempt to fulfill this "
    "PaymentIntent again.",
    return_url_needed="A `return_url` must be specified because this Payment Intent is "
    "configured to automatically accept the payment methods enabled in the Dashboard, some of "
    "which may require a full page redirect to succeed. If you do not want to accept "
    "redirect-based payment methods, set `automatic_payment_methods[enabled]` to `true` and "
    "`automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and "
    "Payment Intents.",
)
CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)
MINIMUM = {"usd": 50, "eur": 50, "gbp": 30, "jpy": 50, "cad": 50, "aud": 50, "chf": 50}


class _OffSession(Spec):
    def coerce(self, value: Any, name: str) -> Any:
        if value == "":
            return None
        if value in ("true", "one_off", "recurring"):
            return value if value != "true" else True
        if value == "false":
            return False
        raise invalid_request(
            f"Invalid {name}: must be a boolean, one_off or recurring", param=name
        )


_SETUP_FUTURE_USAGE = Enum(("on_session", "off_session"))
_CONFIRM: dict[str, Spec] = {
    **intents.CONFIRM_PARAMS,
    "payment_method_options": intents.payment_method_options_param(
        setup_future_usage=Enum(("none", "off_session", "on_session"))
    ),
    "off_session": _OffSession(),
    "receipt_email": STR,
    "setup_future_usage": _SETUP_FUTURE_USAGE,
    "error_on_requires_action": BOOL,
    "excluded_payment_method_types": ListOf(STR),
    # Which one a request may use depends on its API version: intents.payment_method_types.
    "payment_method_types": ListOf(STR),
}
CREATE: dict[str, Spec] = {
    **_CONFIRM,
    **intents.CREATE_PARAMS,
    "amount": Req(INT),
    "currency": Req(STR),
    "capture_method": Enum(("automatic", "automatic_async")),
    "confirmation_method": Enum(("automatic", "manual")),
    "statement_descriptor": STR,
    "statement_descriptor_suffix": STR,
    "transfer_group": STR,
}
_UPDATABLE = (
    "amount",
    "currency",
    "customer",
    "description",
    "receipt_email",
    "setup_future_usage",
    "statement_descriptor",
    "statement_descriptor_suffix",
)
UPDATE: dict[str, Spec] = {
    **intents.UPDATE_PARAMS,
    "amount": INT,
    "currency": STR,
    "receipt_email": STR,
    "setup_future_usage": _SETUP_FUTURE_USAGE,
    "statement_descriptor": STR,
    "statement_descriptor_suffix": STR,
}


def _check_amount(amount: int, currency: str) -> None:
    minimum = MINIMUM.get(currency, 50)
    if amount < minimum:
        raise invalid_request(
            f"Amount must be at least {minimum} {currency} minor units.",
            param="amount",
            code="amount_too_small",
        )
    if amount > 99_999_999:
        raise invalid_request(
            "Amount must be no more than 99999999 minor units.",
            param="amount",
            code="amount_too_large",
        )


def _check_pm_customer(pm: JSON, customer: str | None) -> None:
    owner = pm.get("customer")
    if owner is None or owner == customer:
        return
    if customer is None:
        raise invalid_request(
            f"The provided PaymentMethod ({pm['id']}) is attached to a Customer. To use it, "
            "pass that Customer in the `customer` parameter.",
            param="payment_method",
        )
    raise invalid_request(
        f"The provided PaymentMethod belongs to a different Customer ({owner}) than the one "
        f"given ({customer}).",
        param="payment_method",
    )


def create(call: Call) -> JSON:
    state, p = call.state, call.params
    currency = check_currency(p["currency"])
    _check_amount(p["amount"], currency)
    intents.only_with_confirm(
        p, ("off_session", "return_url", "error_on_requires_action", "mandate_data")
    )
    intents.check_customer(state, p)
    types = intents.payment_method_types(call, KIND.object, ["card"]) or ["card"]
    auto = intents.automatic_payment_methods(call)
    if p.get("confirm"):
        intents.check_return_url(KIND, auto, p)
    pm = payment_method_param(call)
    if pm is not None:
        _check_pm_customer(pm, p.get("customer"))
    pi = intents.new_intent(
        state,
        KIND,
        p,
        payment_method=pm,
        payment_method_types=types,
        automatic_payment_methods=auto,
        ctx=call.ctx,
        amount=p["amount"],
        amount_capturable=0,
        amount_details={"tip": {}},
        amount_received=0,
        application_fee_amount=None,
        canceled_at=None,
        capture_method=p.get("capture_method") or "automatic_async",
        confirmation_method=p.get("confirmation_method") or "automatic",
        currency=currency,
        customer_account=None,
        latest_charge=None,
        managed_payments=None,
        payment_method_options=intents.card_options(installments=None),
        payment_record=None,
        processing=None,
        receipt_email=p.get("receipt_email"),
        review=None,
        setup_future_usage=p.get("setup_future_usage"),
        shipping=None,
        source=None,
        statement_descriptor=p.get("statement_descriptor"),
        statement_descriptor_suffix=p.get("statement_descriptor_suffix"),
        transfer_data=None,
        transfer_group=p.get("transfer_group"),
    )
    if not p.get("confirm"):
        return pi
    if pm is None:  # created, but it cannot be confirmed: Stripe's error carries it
        intents.missing_payment_method(KIND, pi)
    return _confirm(state, pi, pm, call.ctx, p)


def retrieve(call: Call) -> JSON:
    return intents.retrieve(call, KIND)


def update(call: Call) -> JSON:
    state, p = call.state, call.params
    pi = require(state, call.id(), "payment_intent")
    if pi["status"] in ("succeeded", "canceled", "processing"):
        if "amount" in p:
            raise invalid_request(
                "This PaymentIntent's amount could not be updated because it has a status of "
                f"{pi['status']}.",
                code="payment_intent_unexpected_state",
            )
        raise intents.unexpected_state(KIND, pi, "update")
    if p.get("currency"):
        p["currency"] = check_currency(p["currency"])
    if p.get("amount") is not None:
        _check_amount(p["amount"], p.get("currency") or pi["currency"])
    return intents.update(call, pi, _UPDATABLE)


def confirm(call: Call) -> JSON:
    p = call.params
    pi, pm = intents.confirmable(call, KIND)
    _check_pm_customer(pm, pi["customer"])
    for name in ("receipt_email", "setup_future_usage"):
        if p.get(name) is not None:
            pi[name] = p[name]
    return _confirm(call.state, pi, pm, call.ctx, p)


def _confirm(state: SandboxState, pi: JSON, pm: JSON, ctx: RequestContext, p: JSON) -> JSON:
    intents.start_attempt(KIND, pi, pm)
    requested = intents.three_d_secure_requested(pi, p)
    card = card_of(state, pm)
    off_session = bool(p.get("off_session"))
    needs_auth = (
        requested
        or card.auth is cards.Auth.ALWAYS
        or (card.auth is cards.Auth.ON_SETUP and not (off_session and is_set_up(state, pm["id"])))
    )
    if needs_auth:
        if off_session or p.get("error_on_requires_action"):
            _decline(state, pi, pm, ctx, cards.AUTH_REQUIRED)
        return intents.require_action(
            state, pi, ctx, p.get("return_url"), bool(p.get("use_stripe_sdk"))
        )
    return charge(state, pi, pm, ctx)


def charge(
    state: SandboxState, pi: JSON, pm: JSON, ctx: RequestContext, *, authenticated: bool = False
) -> JSON:
    """The issuer's answer to an (authenticated, if it had to be) payment."""
    decline = card_of(state, pm).charge_decline
    if decline is not None:
        _decline(state, pi, pm, ctx, decline, authenticated=authenticated)
    ch = new_charge(state, pi, pm, None, three_d_secure=authenticated)
    if pi["setup_future_usage"]:
        save_card(state, pm, pi["customer"], ctx)
    pi.update(
        status="succeeded",
        amount_received=pi["amount"],
        latest_charge=ch["id"],
        next_action=None,
        last_payment_error=None,
    )
    state.touch()
    state.emit("charge.succeeded", ch, ctx)
    state.emit("payment_intent.succeeded", pi, ctx)
    dispute_reason = card_of(state, pm).dispute
    if dispute_reason is not None:  # the cardholder disputes it (not part of this request)
        open_dispute(state, ch, reason=dispute_reason)
    return pi


def _decline(
    state: SandboxState,
    pi: JSON,
    pm: JSON,
    ctx: RequestContext,
    decline: cards.Decline,
    *,
    authenticated: bool = False,
) -> NoReturn:
    """A failed Charge, then the PaymentIntent back to ``requires_payment_method``."""
    ch = new_charge(state, pi, pm, decline, three_d_secure=authenticated)
    state.emit("charge.failed", ch, ctx)
    err = decline_payload(decline, pm, charge=ch["id"])
    intents.decline(state, KIND, pi, ctx, err, latest_charge=ch["id"])


def authentication_finished(state: SandboxState, pi: JSON, ok: bool, ctx: RequestContext) -> JSON:
    pm = require(state, pi["payment_method"], "payment_method")
    if not ok:
        return intents.authentication_failed(state, KIND, pi, pm, ctx)
    try:
        return charge(state, pi, pm, ctx, authenticated=True)
    except StripeError:
        return pi


def cancel(call: Call) -> JSON:
    pi = require(call.state, call.id(), "payment_intent")
    if pi["status"] not in CANCELABLE:
        only = f" Only a {KIND.label} with one of the following statuses may be canceled: "
        raise intents.error_for_intent(
            intents.unexpected_state(KIND, pi, "cancel", only + ", ".join(CANCELABLE) + "."), pi
        )
    return intents.cancel(call, pi, canceled_at=call.state.now())


ROUTES = [
    Route("POST", "/v1/payment_intents", create, CREATE),
    list_route("payment_intent", "/v1/payment_intents", ("customer",)),
    Route("GET", "/v1/payment_intents/{id}", retrieve, {"client_secret": STR}, publishable=True),
    Route("POST", "/v1/payment_intents/{id}", update, UPDATE),
    Route(
        "POST",
        "/v1/payment_intents/{id}/confirm",
        confirm,
        _CONFIRM,
        publishable=True,
        publishable_params=intents.STRIPE_JS_CONFIRM,
    ),
    Route(
        "POST",
        "/v1/payment_intents/{id}/cancel",
        cancel,
        {
            "cancellation_reason": Enum(
                ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
            )
        },
    ),
]
