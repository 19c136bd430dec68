"""Events (``/v1/events``): every change the sandbox makes is recorded as one."""

from __future__ import annotations

import fnmatch

from ..params import STR, ListOf
from ..routing import Call, Route, list_params, paginate
from ..wire import JSON
from ._common import require

KNOWN_TYPES = (
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "payment_method.attached",
    "payment_method.detached",
    "payment_method.updated",
    "setup_intent.created",
    "setup_intent.succeeded",
    "setup_intent.setup_failed",
    "setup_intent.requires_action",
    "setup_intent.canceled",
    "payment_intent.created",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.requires_action",
    "payment_intent.canceled",
    "payment_intent.processing",  # bank debits; accepted in enabled_events, never emitted here
    "charge.succeeded",
    "charge.failed",
    "charge.refunded",
    "charge.refund.updated",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
    "refund.created",
    "refund.updated",
    "refund.failed",
    "billing_portal.session.created",
)


def type_matches(pattern: str, type_: str) -> bool:
    return pattern == "*" or fnmatch.fnmatchcase(type_, pattern)


def retrieve(call: Call) -> JSON:
    return require(call.state, call.id(), "event")


def list_(call: Call) -> JSON:
    type_ = call.params.get("type")
    types = call.params.get("types")

    def keep(o: JSON) -> bool:
        if type_ and not type_matches(type_, o["type"]):
            return False
        return not types or o["type"] in types

    return paginate(call.state, "event", "/v1/events", call.params, keep)


ROUTES = [
    Route(
        "GET",
        "/v1/events",
        list_,
        list_params({"type": STR, "types": ListOf(STR), "delivery_success": STR}),
    ),
    Route("GET", "/v1/events/{id}", retrieve, {}),
]
