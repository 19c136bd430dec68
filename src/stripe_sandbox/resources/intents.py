"""What SetupIntents and PaymentIntents share: their common parameters and fields, retrieve,
update, confirm (the payment method, 3-D Secure, failure), cancel, and the version rules of
``payment_method_types``.

An intent's life, the same for both kinds: created (``requires_payment_method``, or
``requires_confirmation`` with a payment method) → confirmed with a payment method → the card
asks for 3-D Secure (``requires_action`` with a ``next_action``), fails (back to
``requires_payment_method`` with the last error) or succeeds; each module says what success
means (a charge, a saved card) and what its card asks at that step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlencode

from .. import versions
from ..params import (
    BOOL,
    MANDATE_DATA,
    META,
    PAYMENT_METHOD_DATA,
    STR,
    STRIPE_JS_PAYMENT_METHOD_DATA,
    Enum,
    ListOf,
    Obj,
    Req,
    Spec,
)
from ..routing import Call
from ..state import RequestContext, SandboxState, random_id
from ..wire import JSON, StripeError, invalid_request, unknown_parameter
from ._common import apply_metadata, client_secret, require, update_fields
from .payment_methods import payment_method_param, resolve_payment_method


@dataclass(frozen=True)
class IntentKind:
    """Where the two kinds differ in name and wording."""

    object: str  # "payment_intent"
    label: str  # "PaymentIntent", as Stripe's messages name it
    id_prefix: str
    last_error: str  # the field that holds the last failure
    failed_event: str
    # Stripe's messages
    confirm_after_success: str
    confirm_without_method: str
    authentication_failure: str
    return_url_needed: str


# --------------------------------------------------------------------------- parameters

AUTOMATIC_PAYMENT_METHODS = Obj(
    {"enabled": Req(BOOL), "allow_redirects": Enum(("always", "never"))}
)


def payment_method_options_param(**card: Spec) -> Obj:
    """``payment_method_options[card][…]``: what both kinds take, and a kind's own."""
    return Obj(
        {
            "card": Obj(
                {
                    "request_three_d_secure": Enum(("automatic", "any", "challenge")),
                    **card,
                    "network": STR,
                }
            )
        }
    )


CONFIRM_PARAMS: dict[str, Spec] = {
    "payment_method": STR,
    "payment_method_data": PAYMENT_METHOD_DATA,
    "return_url": STR,
    "use_stripe_sdk": BOOL,
    "mandate_data": MANDATE_DATA,
    "allowed_payment_method_types": ListOf(STR),
}
# Stripe.js confirms with the publishable key and the intent's client secret, and may send
# the card itself.
STRIPE_JS_CONFIRM: dict[str, Spec] = {
    "client_secret": STR,
    "payment_method_data": STRIPE_JS_PAYMENT_METHOD_DATA,
}
CREATE_PARAMS: dict[str, Spec] = {
    "customer": STR,
    "description": STR,
    "metadata": META,
    "confirm": BOOL,
    "automatic_payment_methods": AUTOMATIC_PAYMENT_METHODS,
    # Which of the two a request may use depends on its API version: payment_method_types below.
    "payment_method_types": ListOf(STR),
    "excluded_payment_method_types": ListOf(STR),
}
UPDATE_PARAMS: dict[str, Spec] = {
    "customer": STR,
    "description": STR,
    "metadata": META,
    "payment_method": STR,
    "payment_method_types": ListOf(STR),
    "allowed_payment_method_types": ListOf(STR),
    "excluded_payment_method_types": ListOf(STR),
}


def only_with_confirm(params: JSON, names: tuple[str, ...]) -> None:
    """Parameters that mean something only to a confirmation are refused on a bare create."""
    if params.get("confirm"):
        return
    for name in names:
        if params.get(name) not in (None, False):
            raise invalid_request(
                f"You may only specify `{name}` when `confirm` is true.", param=name
            )


def automatic_payment_methods(call: Call) -> JSON | None:
    """The new intent's ``automatic_payment_methods``: as given; or, when the call names no
    payment method types, Stripe's default since 2023-08-16 — the Dashboard's payment methods,
    redirects allowed (docs.stripe.com/changelog/2023-08-16/automatic-payment-methods)."""
    p = call.params
    auto = p.get("automatic_payment_methods")
    if auto is not None:
        return {
            "allow_redirects": auto.get("allow_redirects") or "always",
            "enabled": auto["enabled"],
        }
    if p.get("payment_method_types") or p.get("allowed_payment_method_types"):
        return None
    if versions.automatic_payment_methods_by_default(call.ctx.api_version):
        return {"allow_redirects": "always", "enabled": True}
    return None


def check_return_url(kind: IntentKind, auto: JSON | None, params: JSON) -> None:
    """Since 2023-08-16, an intent that may use redirect-based payment methods is confirmed with
    a ``return_url`` (a PaymentIntent off session needs none); ``allow_redirects=never`` lifts
    it."""
    if not auto or not auto["enabled"] or auto["allow_redirects"] != "always":
        return
    if params.get("return_url") or (kind.object == "payment_intent" and params.get("off_session")):
        return
    raise invalid_request(kind.return_url_needed)


def check_customer(state: SandboxState, params: JSON) -> None:
    if params.get("customer"):
        require(state, params["customer"], "customer", param="customer")


# --------------------------------------------------------------------------- the object


def card_options(**own: Any) -> JSON:
    """The intent's ``payment_method_options``: Stripe's defaults; of the parameter, only
    ``card[request_three_d_secure]`` is kept (see ``three_d_secure_requested``)."""
    card = {"mandate_options": None, "network": None, "request_three_d_secure": "automatic", **own}
    return {"card": dict(sorted(card.items()))}


def new_intent(
    state: SandboxState,
    kind: IntentKind,
    params: JSON,
    *,
    payment_method: JSON | None,
    payment_method_types: list[str],
    automatic_payment_methods: JSON | None,
    ctx: RequestContext,
    **own: Any,
) -> JSON:
    """Create an intent from create's ``params`` with the fields both kinds have and the kind's
    ``own``, store it and emit ``….created``."""
    intent_id = random_id(kind.id_prefix)
    fields: JSON = {
        "allowed_payment_method_types": params.get("allowed_payment_method_types"),
        "excluded_payment_method_types": params.get("excluded_payment_method_types") or None,
        "application": None,
        "automatic_payment_methods": automatic_payment_methods,
        "cancellation_reason": None,
        "client_secret": client_secret(intent_id),
        "created": state.now(),
        "customer": params.get("customer"),
        "description": params.get("description"),
        kind.last_error: None,
        "livemode": False,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": payment_method["id"] if payment_method else None,
        "payment_method_configuration_details": None,
        "payment_method_types": payment_method_types,
        "status": "requires_confirmation" if payment_method else "requires_payment_method",
        **own,
    }
    intent: JSON = {"id": intent_id, "object": kind.object, **dict(sorted(fields.items()))}
    three_d_secure_requested(intent, params)  # kept from create on
    apply_metadata(intent, params)
    state.add(intent)
    state.emit(f"{kind.object}.created", intent, ctx)
    return intent


# --------------------------------------------------------------------------- retrieve, update


def check_client_secret(call: Call, intent: JSON) -> None:
    """With a publishable key, the intent's ``client_secret`` is the credential (as Stripe.js)."""
    if not call.ctx.publishable:
        return
    if call.params.get("client_secret") != intent["client_secret"]:
        kind = "SetupIntent" if intent["object"] == "setup_intent" else "PaymentIntent"
        raise invalid_request(
            f"The client_secret provided does not match any associated {kind} on this account.",
            param="client_secret",
            code="resource_missing",
        )


def retrieve(call: Call, kind: IntentKind) -> JSON:
    intent = require(call.state, call.id(), kind.object)
    check_client_secret(call, intent)
    return intent


def update(call: Call, intent: JSON, fields: tuple[str, ...]) -> JSON:
    """An update the intent's state allows: customer, types, ``fields``, a new payment method
    (which makes it ``requires_confirmation``), metadata."""
    state, p = call.state, call.params
    check_customer(state, p)
    apply_payment_method_types(call, intent)
    update_fields(intent, p, fields)
    if p.get("payment_method"):
        pm = resolve_payment_method(state, p["payment_method"], call.ctx)
        intent["payment_method"] = pm["id"]
        intent["status"] = "requires_confirmation"
    apply_metadata(intent, p)
    state.touch()
    return intent


# --------------------------------------------------------------------------- confirm

CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")


def error_for_intent(err: StripeError, intent: JSON) -> StripeError:
    """Stripe puts the intent, as it now is, into the error body."""
    err.error[intent["object"]] = copy.deepcopy(intent)
    return err


def unexpected_state(kind: IntentKind, intent: JSON, action: str, more: str = "") -> StripeError:
    """Stripe's refusal to ``action`` the intent in the status it has."""
    return invalid_request(
        f"You cannot {action} this {kind.label} because it has a status of "
        f"{intent['status']}.{more}",
        code=f"{kind.object}_unexpected_state",
    )


def confirmable(call: Call, kind: IntentKind) -> tuple[JSON, JSON]:
    """The intent a confirm call names and the payment method to confirm it with (the call's,
    else the one already on the intent), or Stripe's refusal."""
    state = call.state
    intent = require(state, call.id(), kind.object)
    check_client_secret(call, intent)
    if intent["status"] not in CONFIRMABLE:
        refusal = (
            invalid_request(kind.confirm_after_success, code=f"{kind.object}_unexpected_state")
            if intent["status"] == "succeeded"
            else unexpected_state(kind, intent, "confirm")
        )
        raise error_for_intent(refusal, intent)
    types = payment_method_types(call, intent["object"])  # refuses a parameter first
    check_return_url(kind, intent["automatic_payment_methods"], call.params)
    pm = payment_method_param(call)
    if pm is None and intent["payment_method"]:
        pm = require(state, intent["payment_method"], "payment_method")
    if pm is None:
        missing_payment_method(kind, intent)
    set_payment_method_types(call, intent, types)
    return intent, pm


def missing_payment_method(kind: IntentKind, intent: JSON) -> NoReturn:
    """Stripe's refusal to confirm an intent that has no payment method to confirm with."""
    raise error_for_intent(
        invalid_request(kind.confirm_without_method, code=f"{kind.object}_unexpected_state"),
        intent,
    )


def three_d_secure_requested(intent: JSON, params: JSON) -> bool:
    """``payment_method_options[card][request_three_d_secure]`` = ``any`` or ``challenge``
    (this call's, else the intent's): the caller asks for 3-D Secure whatever the card's own
    rules — on session the customer is challenged, off session the payment needs them
    (``authentication_required``). The sandbox's challenge is the same for both values."""
    options = intent["payment_method_options"]["card"]
    asked = ((params.get("payment_method_options") or {}).get("card") or {}).get(
        "request_three_d_secure"
    )
    if asked is not None:
        options["request_three_d_secure"] = asked
    return options["request_three_d_secure"] in ("any", "challenge")


def start_attempt(kind: IntentKind, intent: JSON, pm: JSON) -> None:
    """A confirmation with ``pm`` begins: the previous attempt's error is forgotten."""
    intent["payment_method"] = pm["id"]
    intent[kind.last_error] = None


def authentication_url(ctx: RequestContext, intent: JSON, return_url: str | None) -> str:
    query = {"client_secret": intent["client_secret"]}
    if return_url:
        query["return_url"] = return_url
    return f"{ctx.base_url}/_sandbox/authenticate/{intent['id']}?{urlencode(query)}"


def authentication_action(
    ctx: RequestContext, intent: JSON, return_url: str | None, use_stripe_sdk: bool
) -> JSON:
    """``next_action`` for a 3D Secure challenge: ``redirect_to_url`` when a ``return_url`` was
    given, else — or when the caller is Stripe.js (``use_stripe_sdk``), which shows the
    challenge itself — ``use_stripe_sdk``."""
    url = authentication_url(ctx, intent, return_url)
    if return_url and not use_stripe_sdk:
        return {
            "type": "redirect_to_url",
            "redirect_to_url": {"return_url": return_url, "url": url},
        }
    return {
        "type": "use_stripe_sdk",
        "use_stripe_sdk": {
            "type": "three_d_secure_redirect",
            "stripe_js": url,
            "source": random_id("src"),
        },
    }


def require_action(
    state: SandboxState,
    intent: JSON,
    ctx: RequestContext,
    return_url: str | None,
    use_stripe_sdk: bool = False,
) -> JSON:
    """The card asks for 3-D Secure: ``requires_action`` until the challenge page answers."""
    intent["status"] = "requires_action"
    intent["next_action"] = authentication_action(ctx, intent, return_url, use_stripe_sdk)
    state.touch()
    state.emit(f"{intent['object']}.requires_action", intent, ctx)
    return intent


def _back_to_requires_payment_method(
    state: SandboxState,
    kind: IntentKind,
    intent: JSON,
    ctx: RequestContext,
    error: JSON,
    **fields: Any,
) -> None:
    intent[kind.last_error] = error
    intent.update(status="requires_payment_method", payment_method=None, next_action=None, **fields)
    state.touch()
    state.emit(kind.failed_event, intent, ctx)


def decline(
    state: SandboxState,
    kind: IntentKind,
    intent: JSON,
    ctx: RequestContext,
    err: StripeError,
    **fields: Any,
) -> NoReturn:
    """The attempt failed with ``err``: the intent waits for another payment method, the account
    is told, and the caller gets ``err`` with the intent in it."""
    _back_to_requires_payment_method(state, kind, intent, ctx, copy.deepcopy(err.error), **fields)
    raise error_for_intent(err, intent)


def authentication_failed(
    state: SandboxState, kind: IntentKind, intent: JSON, pm: JSON, ctx: RequestContext
) -> JSON:
    """The customer failed (or refused) the 3-D Secure challenge."""
    slug = kind.object.replace("_", "-")
    _back_to_requires_payment_method(
        state,
        kind,
        intent,
        ctx,
        {
            "code": f"{kind.object}_authentication_failure",
            "doc_url": f"https://docs.stripe.com/error-codes/{slug}-authentication-failure",
            "message": kind.authentication_failure,
            "payment_method": copy.deepcopy(pm),
            "type": "invalid_request_error",
        },
    )
    return intent


# --------------------------------------------------------------------------- cancel


def cancel(call: Call, intent: JSON, **fields: Any) -> JSON:
    """Cancel an intent whose state allows it (the caller checked)."""
    intent.update(
        status="canceled",
        **fields,
        next_action=None,
        cancellation_reason=call.params.get("cancellation_reason"),
    )
    call.state.touch()
    call.state.emit(f"{intent['object']}.canceled", intent, call.ctx)
    return intent


# --------------------------------------------------------------------------- payment method types

SUPPORTED_TYPES = ("card",)  # what the sandbox can emulate


def payment_method_types(
    call: Call, kind: str, current: list[str] | None = None
) -> list[str] | None:
    """The intent's ``payment_method_types`` after this call's parameters, as the request's API
    version reads them (None: the call does not change them).

    ``allowed_payment_method_types`` exists since 2026-07-29 (older versions: unknown
    parameter); it filters silently to what can be used and excludes ``payment_method_types``
    and ``automatic_payment_methods``. ``payment_method_types`` is refused from 2026-09-30
    (``payment_method_types_no_longer_supported``).
    """
    p, version = call.params, call.ctx.api_version
    if "card" in (p.get("excluded_payment_method_types") or ()):
        raise invalid_request(
            "Excluding `card` leaves no payment method type to use here (the sandbox emulates "
            f"{', '.join(SUPPORTED_TYPES)} only).",
            param="excluded_payment_method_types",
            code=f"{kind}_invalid_parameter",
        )
    allowed = p.get("allowed_payment_method_types")
    explicit = p.get("payment_method_types")
    if "allowed_payment_method_types" in p and not versions.accepts_allowed_payment_method_types(
        version
    ):
        raise unknown_parameter("allowed_payment_method_types")
    if "payment_method_types" in p and versions.refuses_payment_method_types(version):
        raise invalid_request(
            "The `payment_method_types` parameter is no longer supported on this API version "
            f"({version}). Use dynamic payment methods, `excluded_payment_method_types` or "
            "`allowed_payment_method_types` instead.",
            param="payment_method_types",
            code="payment_method_types_no_longer_supported",
        )
    if allowed is not None:
        others = [n for n in ("payment_method_types", "automatic_payment_methods") if n in p]
        if others:
            names = ", ".join(["allowed_payment_method_types", *others])
            raise invalid_request(
                f"You may only specify one of these parameters: {names}.",
                param="allowed_payment_method_types",
                code="parameters_exclusive",
            )
        usable = [t for t in allowed if t in SUPPORTED_TYPES]
        if not usable:
            raise invalid_request(
                "None of the payment method types in `allowed_payment_method_types` can be used "
                f"here (the sandbox emulates {', '.join(SUPPORTED_TYPES)} only).",
                param="allowed_payment_method_types",
                code=f"{kind}_invalid_parameter",
            )
        return usable
    if explicit:
        if any(t not in SUPPORTED_TYPES for t in explicit):
            raise invalid_request(
                "The sandbox emulates the card payment method type only.",
                param="payment_method_types",
            )
        return list(explicit)
    return current


def apply_payment_method_types(call: Call, intent: JSON) -> None:
    """An update: set the intent's types from the call (see above)."""
    set_payment_method_types(call, intent, payment_method_types(call, intent["object"]))


def set_payment_method_types(call: Call, intent: JSON, types: list[str] | None) -> None:
    if types is not None:
        intent["payment_method_types"] = types
    for name in ("allowed_payment_method_types", "excluded_payment_method_types"):
        if name in call.params and name in intent:
            intent[name] = call.params[name] or None
