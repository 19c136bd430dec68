"""What SetupIntents and PaymentIntents share: client secrets, 3D Secure next actions, errors."""

from __future__ import annotations

import copy
from urllib.parse import urlencode

from ..routing import Call
from ..state import RequestContext, random_id
from ..wire import JSON, StripeError, invalid_request


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
