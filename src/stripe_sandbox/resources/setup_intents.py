"""SetupIntents (``/v1/setup_intents``): save a card for later off-session charges."""

from __future__ import annotations

import copy
from typing import NoReturn

from .. import cards
from ..params import BOOL, MANDATE_DATA, META, PAYMENT_METHOD_DATA, STR, Enum, ListOf, Obj, Spec
from ..routing import Call, Route, list_params, paginate
from ..state import RequestContext, SandboxState, random_id
from ..wire import JSON, StripeError, invalid_request
from ._common import apply_metadata, client_secret, require, update_fields
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
    decline_payload,
    mark_set_up,
    payment_method_param,
    resolve_payment_method,
)

_PMO = Obj(
    {
        "card": Obj(
            {"request_three_d_secure": Enum(("automatic", "any", "challenge")), "network": STR}
        )
    }
)
_CONFIRM: dict[str, Spec] = {
    "payment_method": STR,
    "payment_method_data": PAYMENT_METHOD_DATA,
    "payment_method_options": _PMO,
    "return_url": STR,
    "use_stripe_sdk": BOOL,
    "mandate_data": MANDATE_DATA,
    "client_secret": STR,
    "allowed_payment_method_types": ListOf(STR),
}
CREATE: dict[str, Spec] = {
    **_CONFIRM,
    "customer": STR,
    "description": STR,
    "metadata": META,
    # Which one a request may use depends on its API version: intents.payment_method_types.
    "payment_method_types": ListOf(STR),
    "usage": Enum(("on_session", "off_session")),
    "confirm": BOOL,
    "automatic_payment_methods": Obj(
        {"enabled": BOOL, "allow_redirects": Enum(("always", "never"))}
    ),
    "flow_directions": ListOf(Enum(("inbound", "outbound"))),
}
UPDATE: dict[str, Spec] = {
    "customer": STR,
    "description": STR,
    "metadata": META,
    "payment_method": STR,
    "payment_method_types": ListOf(STR),
    "allowed_payment_method_types": ListOf(STR),
}


def create(call: Call) -> JSON:
    state, p = call.state, call.params
    if p.get("customer"):
        require(state, p["customer"], "customer", param="customer")
    if not p.get("confirm"):
        for name in ("return_url", "mandate_data"):
            if p.get(name) is not None:
                raise invalid_request(
                    f"You may only specify `{name}` when `confirm` is true.", param=name
                )
    types = payment_method_types(call, "setup_intent", ["card"]) or ["card"]
    pm = payment_method_param(call)
    si_id = random_id("seti")
    auto = p.get("automatic_payment_methods")
    si: JSON = {
        "id": si_id,
        "object": "setup_intent",
        "allowed_payment_method_types": p.get("allowed_payment_method_types"),
        "application": None,
        "automatic_payment_methods": (
            {
                "allow_redirects": auto.get("allow_redirects") or "always",
                "enabled": bool(auto.get("enabled")),
            }
            if auto
            else None
        ),
        "cancellation_reason": None,
        "client_secret": client_secret(si_id),
        "created": state.now(),
        "customer": p.get("customer"),
        "description": p.get("description"),
        "flow_directions": p.get("flow_directions"),
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "mandate": None,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": pm["id"] if pm else None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": types,
        "single_use_mandate": None,
        "status": "requires_confirmation" if pm else "requires_payment_method",
        "usage": p.get("usage") or "off_session",
    }
    apply_metadata(si, p)
    state.add(si)
    state.emit("setup_intent.created", si, call.ctx)
    if p.get("confirm"):
        return run_confirmation(state, si, pm, call.ctx, p.get("return_url"))
    return si


def retrieve(call: Call) -> JSON:
    si = require(call.state, call.id(), "setup_intent")
    check_client_secret(call, si)
    return si


def update(call: Call) -> JSON:
    state, p = call.state, call.params
    si = require(state, call.id(), "setup_intent")
    if si["status"] in ("succeeded", "canceled"):
        raise invalid_request(
            f"You cannot update this SetupIntent because it has a status of {si['status']}.",
            code="setup_intent_unexpected_state",
        )
    if p.get("customer"):
        require(state, p["customer"], "customer", param="customer")
    apply_payment_method_types(call, si)
    update_fields(si, p, ("customer", "description"))
    if p.get("payment_method"):
        pm = resolve_payment_method(state, p["payment_method"], call.ctx)
        si["payment_method"] = pm["id"]
        si["status"] = "requires_confirmation"
    apply_metadata(si, p)
    state.touch()
    return si


def confirm(call: Call) -> JSON:
    state = call.state
    si = require(state, call.id(), "setup_intent")
    check_client_secret(call, si)
    if si["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
        verb = (
            "already succeeded" if si["status"] == "succeeded" else (f"a status of {si['status']}")
        )
        raise error_for_intent(
            invalid_request(
                f"You cannot confirm this SetupIntent because it has {verb}.",
                code="setup_intent_unexpected_state",
            ),
            si,
        )
    apply_payment_method_types(call, si)
    pm = payment_method_param(call)
    if pm is None and si["payment_method"]:
        pm = require(state, si["payment_method"], "payment_method")
    if pm is None:
        raise error_for_intent(
            invalid_request(
                "You cannot confirm this SetupIntent because it's missing a payment method. "
                "Update the SetupIntent with a payment method and then confirm it again, or "
                "confirm it again directly with a payment method.",
                code="setup_intent_unexpected_state",
            ),
            si,
        )
    return run_confirmation(state, si, pm, call.ctx, call.params.get("return_url"))


def run_confirmation(
    state: SandboxState, si: JSON, pm: JSON | None, ctx: RequestContext, return_url: str | None
) -> JSON:
    if pm is None:
        return si
    si["payment_method"] = pm["id"]
    si["last_setup_error"] = None
    card = card_of(state, pm)
    if card.setup_decline is not None:
        _fail(state, si, pm, ctx, decline_payload(card.setup_decline, pm))
    if card.auth in (cards.Auth.ON_SETUP, cards.Auth.ALWAYS):
        si["status"] = "requires_action"
        si["next_action"] = authentication_action(ctx, si, return_url)
        state.touch()
        state.emit("setup_intent.requires_action", si, ctx)
        return si
    return succeed(state, si, pm, ctx)


def succeed(state: SandboxState, si: JSON, pm: JSON, ctx: RequestContext) -> JSON:
    """The card is verified (after authentication if it needed it): attach and mark set up."""
    if si.get("customer"):
        customer = require(state, si["customer"], "customer", param="customer")
        attach_to(state, pm, customer, ctx)
    mark_set_up(state, pm["id"])
    si.update(status="succeeded", next_action=None, payment_method=pm["id"], last_setup_error=None)
    state.touch()
    state.emit("setup_intent.succeeded", si, ctx)
    return si


def _fail(
    state: SandboxState, si: JSON, pm: JSON, ctx: RequestContext, err: StripeError
) -> NoReturn:
    si["last_setup_error"] = copy.deepcopy(err.error)
    si.update(status="requires_payment_method", payment_method=None, next_action=None)
    state.touch()
    state.emit("setup_intent.setup_failed", si, ctx)
    raise error_for_intent(err, si)


def authentication_finished(state: SandboxState, si: JSON, ok: bool, ctx: RequestContext) -> JSON:
    pm = require(state, si["payment_method"], "payment_method")
    if ok:
        return succeed(state, si, pm, ctx)
    si["last_setup_error"] = {
        "code": "setup_intent_authentication_failure",
        "doc_url": "https://docs.stripe.com/error-codes/setup-intent-authentication-failure",
        "message": "The latest attempt to set up the payment method has failed because "
        "authentication failed.",
        "payment_method": copy.deepcopy(pm),
        "type": "invalid_request_error",
    }
    si.update(status="requires_payment_method", payment_method=None, next_action=None)
    state.touch()
    state.emit("setup_intent.setup_failed", si, ctx)
    return si


def cancel(call: Call) -> JSON:
    state = call.state
    si = require(state, call.id(), "setup_intent")
    if si["status"] in ("succeeded", "canceled"):
        raise invalid_request(
            f"You cannot cancel this SetupIntent because it has a status of {si['status']}.",
            code="setup_intent_unexpected_state",
        )
    si.update(
        status="canceled",
        next_action=None,
        cancellation_reason=call.params.get("cancellation_reason"),
    )
    state.touch()
    state.emit("setup_intent.canceled", si, call.ctx)
    return si


def list_(call: Call) -> JSON:
    customer = call.params.get("customer")
    pm = call.params.get("payment_method")

    def keep(o: JSON) -> bool:
        return (customer is None or o["customer"] == customer) and (
            pm is None or o["payment_method"] == pm
        )

    return paginate(call.state, "setup_intent", "/v1/setup_intents", call.params, keep)


ROUTES = [
    Route("POST", "/v1/setup_intents", create, CREATE),
    Route("GET", "/v1/setup_intents", list_, list_params({"customer": STR, "payment_method": STR})),
    Route("GET", "/v1/setup_intents/{id}", retrieve, {"client_secret": STR}, publishable=True),
    Route("POST", "/v1/setup_intents/{id}", update, UPDATE),
    Route("POST", "/v1/setup_intents/{id}/confirm", confirm, _CONFIRM, publishable=True),
    Route(
        "POST",
        "/v1/setup_intents/{id}/cancel",
        cancel,
        {"cancellation_reason": Enum(("abandoned", "duplicate", "requested_by_customer"))},
    ),
]
