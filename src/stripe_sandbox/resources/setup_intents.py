"""SetupIntents (``/v1/setup_intents``): save a card for later off-session charges.

Confirming asks the card table what the issuer does at setup: verify the card (attached to the
customer and marked *set up*, so that off-session charges need no 3-D Secure), decline it
(HTTP 402, back to ``requires_payment_method``), or ask for 3-D Secure first
(``requires_action``).
"""

from __future__ import annotations

from .. import cards
from ..params import STR, Enum, ListOf, Spec
from ..routing import Call, Route, list_route
from ..state import RequestContext, SandboxState
from ..wire import JSON
from . import intents
from ._common import require
from .payment_methods import card_of, decline_payload, payment_method_param, save_card

KIND = intents.IntentKind(
    object="setup_intent",
    label="SetupIntent",
    id_prefix="seti",
    last_error="last_setup_error",
    failed_event="setup_intent.setup_failed",
    confirm_after_success="You cannot confirm this SetupIntent because it has already succeeded.",
    confirm_without_method="You cannot confirm this SetupIntent because it's missing a payment "
    "method. Update the SetupIntent with a payment method and then confirm it again, or confirm "
    "it again directly with a payment method.",
    authentication_failure="The latest attempt to set up the payment method has failed because "
    "authentication failed.",
    return_url_needed="A `return_url` must be specified because this Setup Intent is "
    "configured to automatically accept the payment methods enabled in the Dashboard, some of "
    "which may require a full page redirect to succeed. If you do not want to accept "
    "redirect-based payment methods, set `automatic_payment_methods[enabled]` to `true` and "
    "`automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and "
    "Payment Intents.",
)
_CONFIRM: dict[str, Spec] = {
    **intents.CONFIRM_PARAMS,
    "payment_method_options": intents.payment_method_options_param(),
}
CREATE: dict[str, Spec] = {
    **_CONFIRM,
    **intents.CREATE_PARAMS,
    "usage": Enum(("on_session", "off_session")),
    "flow_directions": ListOf(Enum(("inbound", "outbound"))),
}
UPDATE: dict[str, Spec] = intents.UPDATE_PARAMS


def new(
    state: SandboxState,
    params: JSON,
    pm: JSON | None,
    types: list[str],
    ctx: RequestContext,
    automatic_payment_methods: JSON | None = None,
) -> JSON:
    """A new SetupIntent from create's ``params`` (also the billing portal's "add a card")."""
    return intents.new_intent(
        state,
        KIND,
        params,
        payment_method=pm,
        payment_method_types=types,
        automatic_payment_methods=automatic_payment_methods,
        ctx=ctx,
        flow_directions=params.get("flow_directions"),
        latest_attempt=None,
        mandate=None,
        payment_method_options=intents.card_options(),
        single_use_mandate=None,
        usage=params.get("usage") or "off_session",
    )


def create(call: Call) -> JSON:
    state, p = call.state, call.params
    intents.check_customer(state, p)
    intents.only_with_confirm(p, ("return_url", "mandate_data"))
    types = intents.payment_method_types(call, KIND.object, ["card"]) or ["card"]
    auto = intents.automatic_payment_methods(call)
    if p.get("confirm"):
        intents.check_return_url(KIND, auto, p)
    pm = payment_method_param(call)
    si = new(state, p, pm, types, call.ctx, auto)
    if not p.get("confirm"):
        return si
    if pm is None:  # created, but it cannot be confirmed: Stripe's error carries it
        intents.missing_payment_method(KIND, si)
    return run_confirmation(state, si, pm, call.ctx, p)


def retrieve(call: Call) -> JSON:
    return intents.retrieve(call, KIND)


def update(call: Call) -> JSON:
    si = require(call.state, call.id(), "setup_intent")
    if si["status"] in ("succeeded", "canceled"):
        raise intents.unexpected_state(KIND, si, "update")
    return intents.update(call, si, ("customer", "description"))


def confirm(call: Call) -> JSON:
    si, pm = intents.confirmable(call, KIND)
    return run_confirmation(call.state, si, pm, call.ctx, call.params)


def run_confirmation(state: SandboxState, si: JSON, pm: JSON, ctx: RequestContext, p: JSON) -> JSON:
    """Confirm ``si`` with ``pm`` under the confirmation's parameters ``p`` (``return_url``,
    ``use_stripe_sdk``, ``payment_method_options``)."""
    intents.start_attempt(KIND, si, pm)
    requested = intents.three_d_secure_requested(si, p)
    card = card_of(state, pm)
    if card.setup_decline is not None:
        intents.decline(state, KIND, si, ctx, decline_payload(card.setup_decline, pm))
    if requested or card.auth in (cards.Auth.ON_SETUP, cards.Auth.ALWAYS):
        return intents.require_action(
            state, si, ctx, p.get("return_url"), bool(p.get("use_stripe_sdk"))
        )
    return succeed(state, si, pm, ctx)


def succeed(state: SandboxState, si: JSON, pm: JSON, ctx: RequestContext) -> JSON:
    """The card is verified (after authentication if it needed it): attach and mark set up."""
    save_card(state, pm, si.get("customer"), ctx)
    si.update(status="succeeded", next_action=None, payment_method=pm["id"], last_setup_error=None)
    state.touch()
    state.emit("setup_intent.succeeded", si, ctx)
    return si


def authentication_finished(state: SandboxState, si: JSON, ok: bool, ctx: RequestContext) -> JSON:
    pm = require(state, si["payment_method"], "payment_method")
    if not ok:
        return intents.authentication_failed(state, KIND, si, pm, ctx)
    return succeed(state, si, pm, ctx)


def cancel(call: Call) -> JSON:
    si = require(call.state, call.id(), "setup_intent")
    if si["status"] in ("succeeded", "canceled"):
        raise intents.unexpected_state(KIND, si, "cancel")
    return intents.cancel(call, si)


ROUTES = [
    Route("POST", "/v1/setup_intents", create, CREATE),
    list_route("setup_intent", "/v1/setup_intents", ("customer", "payment_method")),
    Route("GET", "/v1/setup_intents/{id}", retrieve, {"client_secret": STR}, publishable=True),
    Route("POST", "/v1/setup_intents/{id}", update, UPDATE),
    Route(
        "POST",
        "/v1/setup_intents/{id}/confirm",
        confirm,
        _CONFIRM,
        publishable=True,
        publishable_params=intents.STRIPE_JS_CONFIRM,
    ),
    Route(
        "POST",
        "/v1/setup_intents/{id}/cancel",
        cancel,
        {"cancellation_reason": Enum(("abandoned", "duplicate", "requested_by_customer"))},
    ),
]
