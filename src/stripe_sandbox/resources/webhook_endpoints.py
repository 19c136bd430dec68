"""Webhook endpoints (``/v1/webhook_endpoints``); delivery itself is ``webhooks.py``."""

from __future__ import annotations

import secrets

from .. import versions
from ..params import BOOL, META, STR, ListOf, Req, Spec
from ..routing import Call, Route, list_route
from ..state import random_id
from ..wire import JSON, invalid_request
from ._common import apply_metadata, require, update_fields
from .event_types import STRIPE_EVENT_TYPES

CREATE: dict[str, Spec] = {
    "url": Req(STR),
    "enabled_events": Req(ListOf(STR)),
    "description": STR,
    "metadata": META,
    "api_version": STR,
    "connect": BOOL,
}
UPDATE: dict[str, Spec] = {
    "url": STR,
    "enabled_events": ListOf(STR),
    "description": STR,
    "metadata": META,
    "disabled": BOOL,
}


def _check(params: JSON) -> None:
    url = params.get("url")
    if url is not None and not url.startswith(("http://", "https://")):
        raise invalid_request(f"Invalid URL: {url}", param="url", code="url_invalid")
    # Any of Stripe's event types, emitted here or not (Stripe takes no prefix wildcard).
    for i, name in enumerate(params.get("enabled_events") or []):
        if name != "*" and name not in STRIPE_EVENT_TYPES:
            raise invalid_request(
                f"Invalid enabled_events[{i}]: {name} is not one of Stripe's event types",
                param=f"enabled_events[{i}]",
            )


def create(call: Call) -> JSON:
    state, p = call.state, call.params
    _check(p)
    if p.get("api_version") is not None:
        versions.check(p["api_version"], param="api_version")
    if not p["enabled_events"]:
        raise invalid_request("enabled_events must not be empty", param="enabled_events")
    endpoint: JSON = {
        "id": random_id("we"),
        "object": "webhook_endpoint",
        "api_version": p.get("api_version"),
        "application": None,
        "created": state.now(),
        "description": p.get("description"),
        "enabled_events": p["enabled_events"],
        "livemode": False,
        "metadata": {},
        "status": "enabled",
        "url": p["url"],
    }
    apply_metadata(endpoint, p)
    state.add(endpoint)
    secret = "whsec_" + secrets.token_hex(16)
    state.private_of(endpoint["id"])["secret"] = secret
    return {**endpoint, "secret": secret}


def retrieve(call: Call) -> JSON:
    return require(call.state, call.id(), "webhook_endpoint")


def update(call: Call) -> JSON:
    state, p = call.state, call.params
    endpoint = require(state, call.id(), "webhook_endpoint")
    _check(p)
    update_fields(endpoint, p, ("url", "description"))
    if p.get("enabled_events"):
        endpoint["enabled_events"] = p["enabled_events"]
    if p.get("disabled") is not None:
        endpoint["status"] = "disabled" if p["disabled"] else "enabled"
    apply_metadata(endpoint, p)
    state.touch()
    return endpoint


def delete(call: Call) -> JSON:
    state = call.state
    endpoint = require(state, call.id(), "webhook_endpoint")
    state.deleted.add(endpoint["id"])
    del state.objects[endpoint["id"]]
    state.order["webhook_endpoint"].remove(endpoint["id"])
    state.touch()
    return {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}


ROUTES = [
    Route("POST", "/v1/webhook_endpoints", create, CREATE),
    list_route("webhook_endpoint", "/v1/webhook_endpoints", created=False),
    Route("GET", "/v1/webhook_endpoints/{id}", retrieve, {}),
    Route("POST", "/v1/webhook_endpoints/{id}", update, UPDATE),
    Route("DELETE", "/v1/webhook_endpoints/{id}", delete, {}),
]
