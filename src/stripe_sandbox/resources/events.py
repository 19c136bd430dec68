"""Events (``/v1/events``): every change the sandbox makes is recorded as one."""

from __future__ import annotations

import fnmatch

from ..params import BOOL, STR, ListOf
from ..routing import Call, Route, list_params, paginate
from ..state import SandboxState
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


def record_delivery(
    state: SandboxState, event_id: str, endpoint_id: str, *, succeeded: bool
) -> None:
    """An endpoint gave up on the event (every attempt failed), or a resend reached it: kept in
    the event's private data (so the state file keeps it) for ``delivery_success``."""
    if succeeded:
        failed = state.private.get(event_id, {}).get("failed_endpoints", [])
        if endpoint_id in failed:
            failed.remove(endpoint_id)
            state.touch()
        return
    failed = state.private_of(event_id).setdefault("failed_endpoints", [])
    if endpoint_id not in failed:
        failed.append(endpoint_id)
        state.touch()


def delivered(state: SandboxState, event: JSON) -> bool:
    """Stripe's ``delivery_success``: every webhook of the event reached its endpoint — none
    pending, none given up on (an event no endpoint wanted counts as delivered)."""
    failed = state.private.get(event["id"], {}).get("failed_endpoints")
    return event["pending_webhooks"] == 0 and not failed


def retrieve(call: Call) -> JSON:
    return require(call.state, call.id(), "event")


def list_(call: Call) -> JSON:
    type_ = call.params.get("type")
    types = call.params.get("types")
    success = call.params.get("delivery_success")

    def keep(o: JSON) -> bool:
        if type_ and not type_matches(type_, o["type"]):
            return False
        if success is not None and delivered(call.state, o) != success:
            return False
        return not types or o["type"] in types

    return paginate(call.state, "event", "/v1/events", call.params, keep)


ROUTES = [
    Route(
        "GET",
        "/v1/events",
        list_,
        list_params({"type": STR, "types": ListOf(STR), "delivery_success": BOOL}),
    ),
    Route("GET", "/v1/events/{id}", retrieve, {}),
]
