"""Billing portal sessions (``/v1/billing_portal/sessions``); the page itself is ``portal.py``."""

from __future__ import annotations

import secrets

from ..params import STR, Obj, Req, Spec
from ..routing import Call, Route
from ..state import random_id
from ..wire import JSON, invalid_request
from ._common import require

DEFAULT_CONFIGURATION = "bpc_sandboxdefault"
SESSION_TTL = 5 * 60  # Stripe: a session link is short-lived

CREATE: dict[str, Spec] = {
    "customer": Req(STR),
    "return_url": STR,
    "configuration": STR,
    "locale": STR,
    "on_behalf_of": STR,
    "flow_data": Obj(
        {"type": STR, "after_completion": Obj({"type": STR, "redirect": Obj({"return_url": STR})})}
    ),
}


def create(call: Call) -> JSON:
    state, p = call.state, call.params
    customer = require(state, p["customer"], "customer", param="customer")
    return_url = p.get("return_url")
    if return_url is not None and not return_url.startswith(("http://", "https://")):
        raise invalid_request(
            f"Not a valid URL: {return_url}", param="return_url", code="url_invalid"
        )
    flow = p.get("flow_data")
    if flow and flow.get("type") not in (None, "payment_method_update"):
        raise invalid_request(
            "The sandbox portal supports the payment_method_update flow only.",
            param="flow_data[type]",
        )
    secret = secrets.token_urlsafe(24)
    session: JSON = {
        "id": random_id("bps"),
        "object": "billing_portal.session",
        "configuration": p.get("configuration") or DEFAULT_CONFIGURATION,
        "created": state.now(),
        "customer": customer["id"],
        "customer_account": None,
        "flow": {"type": flow["type"], "after_completion": {"type": "portal_homepage"}}
        if flow
        else None,
        "livemode": False,
        "locale": p.get("locale"),
        "on_behalf_of": p.get("on_behalf_of"),
        "return_url": return_url,
        "url": f"{call.ctx.base_url}/p/session/{secret}",
    }
    state.add(session)
    state.private_of(session["id"])["secret"] = secret
    state.private.setdefault("_portal_secrets", {})[secret] = session["id"]
    return session


ROUTES = [Route("POST", "/v1/billing_portal/sessions", create, CREATE)]
