"""PaymentIntents (``/v1/payment_intents``): charge a card, on or off session.

Confirming asks the card table what the issuer does: approve (a succeeded Charge), decline
(HTTP 402, a failed Charge, status back to ``requires_payment_method``), or ask for 3D Secure —
``requires_action`` on session; off session a 402 ``authentication_required``, the
PaymentIntent waiting in ``requires_payment_method`` for the customer to come back.
"""

from __future__ import annotations

import copy
from typing import Any, NoReturn

from .. import cards
from ..params import (
    BOOL,
    INT,
    MANDATE_DATA,
    META,
    PAYMENT_METHOD_DATA,
    STR,
    Enum,
    ListOf,
    Obj,
    Req,
    Spec,
)
from ..routing import Call, Route, list_params, paginate
from ..state import RequestContext, SandboxState, random_id
from ..wire import JSON, StripeError, card_error, invalid_request
from ._common import apply_metadata, check_currency, client_secret, require, update_fields
from .charges import new_charge
from .disputes import open_dispute
from .intents import (
    apply_payment_method_types,
    authentication_action,
    check_client_secret,
    error_for_intent,
    payment_method_types,
)
from .payment_methods import (
    attach_to,
    card_of,
    is_set_up,
    mark_set_up,
    payment_method_param,
    resolve_payment_method,
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


_PMO = Obj(
    {
        "card": Obj(
            {
                "request_three_d_secure": Enum(("automatic", "any", "challenge")),
                "setup_future_usage": Enum(("none", "off_session", "on_session")),
                "network": STR,
            }
        )
    }
)
_CONFIRM: dict[str, Spec] = {
    "payment_method": STR,
    "payment_method_data": PAYMENT_METHOD_DATA,
    "payment_method_options": _PMO,
    "off_session": _OffSession(),
    "return_url": STR,
    "receipt_email": STR,
    "setup_future_usage": Enum(("on_session", "off_session")),
    "error_on_requires_action": BOOL,
    "use_stripe_sdk": BOOL,
    "mandate_data": MANDATE_DATA,
    "client_secret": STR,
    # Which one a request may use depends on its API version: intents.payment_method_types.
    "payment_method_types": ListOf(STR),
    "allowed_payment_method_types": ListOf(STR),
}
CREATE: dict[str, Spec] = {
    **{k: v for k, v in _CONFIRM.items() if k != "client_secret"},
    "amount": Req(INT),
    "currency": Req(STR),
    "customer": STR,
    "description": STR,
    "metadata": META,
    "confirm": BOOL,
    "automatic_payment_methods": Obj(
        {"enabled": BOOL, "allow_redirects": Enum(("always", "never"))}
    ),
    "capture_method": Enum(("automatic", "automatic_async")),
    "confirmation_method": Enum(("automatic", "manual")),
    "statement_descriptor": STR,
    "statement_descriptor_suffix": STR,
    "transfer_group": STR,
}
UPDATE: dict[str, Spec] = {
    "amount": INT,
    "currency": STR,
    "customer": STR,
    "description": STR,
    "metadata": META,
    "payment_method": STR,
    "receipt_email": STR,
    "setup_future_usage": Enum(("on_session", "off_session")),
    "statement_descriptor": STR,
    "statement_descriptor_suffix": STR,
    "payment_method_types": ListOf(STR),
    "allowed_payment_method_types": ListOf(STR),
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
    if not p.get("confirm"):
        for name in ("off_session", "return_url", "error_on_requires_action", "mandate_data"):
            if p.get(name) not in (None, False):
                raise invalid_request(
                    f"You may only specify `{name}` when `confirm` is true.", param=name
                )
    if p.get("customer"):
        require(state, p["customer"], "customer", param="customer")
    types = payment_method_types(call, "payment_intent", ["card"]) or ["card"]
    pm = payment_method_param(call)
    if pm is not None:
        _check_pm_customer(pm, p.get("customer"))
    pi_id = random_id("pi")
    auto = p.get("automatic_payment_methods")
    pi: JSON = {
        "id": pi_id,
        "object": "payment_intent",
        "allowed_payment_method_types": p.get("allowed_payment_method_types"),
        "amount": p["amount"],
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": (
            {
                "allow_redirects": auto.get("allow_redirects") or "always",
                "enabled": bool(auto.get("enabled")),
            }
            if auto
            else None
        ),
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": p.get("capture_method") or "automatic_async",
        "client_secret": client_secret(pi_id),
        "confirmation_method": p.get("confirmation_method") or "automatic",
        "created": state.now(),
        "currency": currency,
        "customer": p.get("customer"),
        "description": p.get("description"),
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": pm["id"] if pm else None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": types,
        "processing": None,
        "receipt_email": p.get("receipt_email"),
        "review": None,
        "setup_future_usage": p.get("setup_future_usage"),
        "shipping": None,
        "source": None,
        "statement_descriptor": p.get("statement_descriptor"),
        "statement_descriptor_suffix": p.get("statement_descriptor_suffix"),
        "status": "requires_confirmation" if pm else "requires_payment_method",
        "transfer_data": None,
        "transfer_group": p.get("transfer_group"),
    }
    apply_metadata(pi, p)
    state.add(pi)
    state.emit("payment_intent.created", pi, call.ctx)
    if p.get("confirm"):
        return _confirm(state, pi, pm, call.ctx, p)
    return pi


def retrieve(call: Call) -> JSON:
    pi = require(call.state, call.id(), "payment_intent")
    check_client_secret(call, pi)
    return pi


def update(call: Call) -> JSON:
    state, p = call.state, call.params
    pi = require(state, call.id(), "payment_intent")
    if pi["status"] in ("succeeded", "canceled", "processing"):
        raise invalid_request(
            f"This PaymentIntent's amount could not be updated because it has a status of "
            f"{pi['status']}."
            if "amount" in p
            else f"You cannot update this PaymentIntent because it has a status of {pi['status']}.",
            code="payment_intent_unexpected_state",
        )
    if p.get("currency"):
        p["currency"] = check_currency(p["currency"])
    if p.get("amount") is not None:
        _check_amount(p["amount"], p.get("currency") or pi["currency"])
    if p.get("customer"):
        require(state, p["customer"], "customer", param="customer")
    apply_payment_method_types(call, pi)
    update_fields(
        pi,
        p,
        (
            "amount",
            "currency",
            "customer",
            "description",
            "receipt_email",
            "setup_future_usage",
            "statement_descriptor",
            "statement_descriptor_suffix",
        ),
    )
    if p.get("payment_method"):
        pm = resolve_payment_method(state, p["payment_method"], call.ctx)
        pi["payment_method"] = pm["id"]
        pi["status"] = "requires_confirmation"
    apply_metadata(pi, p)
    state.touch()
    return pi


def confirm(call: Call) -> JSON:
    state, p = call.state, call.params
    pi = require(state, call.id(), "payment_intent")
    check_client_secret(call, pi)
    if pi["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
        message = (
            "You cannot confirm this PaymentIntent because it has already succeeded after "
            "being previously confirmed."
            if pi["status"] == "succeeded"
            else f"You cannot confirm this PaymentIntent because it has a status of {pi['status']}."
        )
        raise error_for_intent(invalid_request(message, code="payment_intent_unexpected_state"), pi)
    apply_payment_method_types(call, pi)
    pm = payment_method_param(call)
    if pm is None and pi["payment_method"]:
        pm = require(state, pi["payment_method"], "payment_method")
    if pm is None:
        raise error_for_intent(
            invalid_request(
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "To confirm the PaymentIntent, pass a payment_method.",
                code="payment_intent_unexpected_state",
            ),
            pi,
        )
    _check_pm_customer(pm, pi["customer"])
    for name in ("receipt_email", "setup_future_usage"):
        if p.get(name) is not None:
            pi[name] = p[name]
    return _confirm(state, pi, pm, call.ctx, p)


def _confirm(state: SandboxState, pi: JSON, pm: JSON | None, ctx: RequestContext, p: JSON) -> JSON:
    if pm is None:
        return pi
    pi["payment_method"] = pm["id"]
    pi["last_payment_error"] = None
    card = card_of(state, pm)
    off_session = bool(p.get("off_session"))
    needs_auth = card.auth is cards.Auth.ALWAYS or (
        card.auth is cards.Auth.ON_SETUP and not (off_session and is_set_up(state, pm["id"]))
    )
    if needs_auth:
        if off_session or p.get("error_on_requires_action"):
            _decline(state, pi, pm, ctx, cards.AUTH_REQUIRED)
        pi["status"] = "requires_action"
        pi["next_action"] = authentication_action(ctx, pi, p.get("return_url"))
        state.touch()
        state.emit("payment_intent.requires_action", pi, ctx)
        return pi
    return charge(state, pi, pm, ctx)


def charge(
    state: SandboxState, pi: JSON, pm: JSON, ctx: RequestContext, *, authenticated: bool = False
) -> JSON:
    """The issuer's answer to an (authenticated, if it had to be) payment."""
    decline = card_of(state, pm).charge_decline
    if decline is not None:
        _decline(state, pi, pm, ctx, decline, authenticated=authenticated)
    ch = new_charge(state, pi, pm, None, three_d_secure=authenticated)
    if pi["setup_future_usage"] and pi["customer"]:
        customer = require(state, pi["customer"], "customer", param="customer")
        attach_to(state, pm, customer, ctx)
        mark_set_up(state, pm["id"])
    elif pi["setup_future_usage"]:
        mark_set_up(state, pm["id"])
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
    ch = new_charge(state, pi, pm, decline, three_d_secure=authenticated)
    err = card_error(decline.message, code=decline.code, decline_code=decline.decline_code)
    err.error["charge"] = ch["id"]
    err.error["payment_method"] = copy.deepcopy(pm)
    pi["last_payment_error"] = copy.deepcopy(err.error)
    pi.update(
        status="requires_payment_method",
        payment_method=None,
        next_action=None,
        latest_charge=ch["id"],
    )
    state.touch()
    state.emit("charge.failed", ch, ctx)
    state.emit("payment_intent.payment_failed", pi, ctx)
    raise error_for_intent(err, pi)


def authentication_finished(state: SandboxState, pi: JSON, ok: bool, ctx: RequestContext) -> JSON:
    pm = require(state, pi["payment_method"], "payment_method")
    if ok:
        try:
            return charge(state, pi, pm, ctx, authenticated=True)
        except StripeError:
            return pi
    pi["last_payment_error"] = {
        "code": "payment_intent_authentication_failure",
        "doc_url": "https://docs.stripe.com/error-codes/payment-intent-authentication-failure",
        "message": "The provided PaymentMethod has failed authentication. You can provide "
        "payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent "
        "again.",
        "payment_method": copy.deepcopy(pm),
        "type": "invalid_request_error",
    }
    pi.update(status="requires_payment_method", payment_method=None, next_action=None)
    state.touch()
    state.emit("payment_intent.payment_failed", pi, ctx)
    return pi


def cancel(call: Call) -> JSON:
    state = call.state
    pi = require(state, call.id(), "payment_intent")
    if pi["status"] not in CANCELABLE:
        raise error_for_intent(
            invalid_request(
                "You cannot cancel this PaymentIntent because it has a status of "
                f"{pi['status']}. Only a PaymentIntent with one of the following statuses may "
                f"be canceled: {', '.join(CANCELABLE)}.",
                code="payment_intent_unexpected_state",
            ),
            pi,
        )
    pi.update(
        status="canceled",
        canceled_at=state.now(),
        next_action=None,
        cancellation_reason=call.params.get("cancellation_reason"),
    )
    state.touch()
    state.emit("payment_intent.canceled", pi, call.ctx)
    return pi


def list_(call: Call) -> JSON:
    customer = call.params.get("customer")
    return paginate(
        call.state,
        "payment_intent",
        "/v1/payment_intents",
        call.params,
        (lambda o: o["customer"] == customer) if customer else None,
    )


ROUTES = [
    Route("POST", "/v1/payment_intents", create, CREATE),
    Route("GET", "/v1/payment_intents", list_, list_params({"customer": STR})),
    Route("GET", "/v1/payment_intents/{id}", retrieve, {"client_secret": STR}, publishable=True),
    Route("POST", "/v1/payment_intents/{id}", update, UPDATE),
    Route("POST", "/v1/payment_intents/{id}/confirm", confirm, _CONFIRM, publishable=True),
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
