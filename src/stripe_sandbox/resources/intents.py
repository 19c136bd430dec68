"""What SetupIntents and PaymentIntents share: client secrets, 3D Secure next actions, errors."""

from __future__ import annotations

import copy
from urllib.parse import urlencode

from .. import versions
from ..routing import Call
from ..state import RequestContext, random_id
from ..wire import JSON, StripeError, invalid_request, unknown_parameter


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


def error_for_intent(err: StripeError, intent: JSON) -> StripeError:
    """Stripe puts the intent, as it now is, into the error body."""
    err.error[intent["object"]] = copy.deepcopy(intent)
    return err


def authentication_url(ctx: RequestContext, intent: JSON, return_url: str | None) -> str:
    query = {"client_secret": intent["client_secret"]}
    if return_url:
        query["return_url"] = return_url
    return f"{ctx.base_url}/_sandbox/authenticate/{intent['id']}?{urlencode(query)}"


def authentication_action(ctx: RequestContext, intent: JSON, return_url: str | None) -> JSON:
    """``next_action`` for a 3D Secure challenge: ``redirect_to_url`` when a ``return_url`` was
    given, else ``use_stripe_sdk`` (Stripe.js shows the challenge)."""
    url = authentication_url(ctx, intent, return_url)
    if return_url:
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
    """An update or confirm: set the intent's types from the call (see above)."""
    types = payment_method_types(call, intent["object"])
    if types is not None:
        intent["payment_method_types"] = types
    if call.params.get("allowed_payment_method_types") is not None:
        intent["allowed_payment_method_types"] = call.params["allowed_payment_method_types"]
