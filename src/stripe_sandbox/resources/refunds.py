"""Refunds (``/v1/refunds``) of a succeeded PaymentIntent's charge, full or partial.

Events as Stripe sends them for a card refund: ``refund.created`` and ``charge.refunded`` (the
charge with its new ``amount_refunded`` / ``refunded`` / ``refunds``) when it is made;
``refund.updated`` and ``charge.refund.updated`` when it changes (metadata, or failing);
``refund.failed`` when the bank returns it (``/_sandbox/refunds/{id}/fail``), which gives the
amount back to the charge. A disputed charge cannot be refunded (``charge_disputed``).
"""

from __future__ import annotations

import copy

from ..params import INT, META, STR, Enum, Spec
from ..routing import Call, Route, list_params, paginate, where
from ..state import RequestContext, SandboxState, random_id
from ..wire import JSON, invalid_request
from . import balance_transactions
from ._common import apply_metadata, previous, require

CREATE: dict[str, Spec] = {
    "charge": STR,
    "payment_intent": STR,
    "amount": INT,
    "reason": Enum(("duplicate", "fraudulent", "requested_by_customer")),
    "metadata": META,
}
FAILURE_REASONS = (
    "charge_for_pending_refund_disputed",
    "declined",
    "expired_or_canceled_card",
    "insufficient_funds",
    "lost_or_stolen_card",
    "merchant_request",
    "unknown",
)


def _charge_to_refund(state: SandboxState, p: JSON) -> JSON:
    if p.get("payment_intent"):
        pi = require(state, p["payment_intent"], "payment_intent", param="payment_intent")
        if pi["status"] != "succeeded" or not pi["latest_charge"]:
            raise invalid_request(
                f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        charge = require(state, pi["latest_charge"], "charge", param="payment_intent")
    elif p.get("charge"):
        charge = require(state, p["charge"], "charge", param="charge")
    else:
        raise invalid_request(
            "One of `charge` or `payment_intent` is required.", code="parameter_missing"
        )
    if p.get("charge") and p.get("payment_intent") and charge["id"] != p["charge"]:
        raise invalid_request("The charge and payment_intent do not match.", param="charge")
    if charge["status"] != "succeeded":
        raise invalid_request(f"Charge {charge['id']} has not succeeded.", param="charge")
    dispute_id = state.private_of(charge["id"]).get("dispute")
    dispute = state.get(dispute_id, "dispute") if dispute_id else None
    if dispute is not None and dispute["status"] != "won" and not dispute["is_charge_refundable"]:
        raise invalid_request(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.",
            code="charge_disputed",
        )
    return charge


def create(call: Call) -> JSON:
    state, p = call.state, call.params
    charge = _charge_to_refund(state, p)
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        raise invalid_request(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    amount = p.get("amount")
    if amount is None:
        amount = remaining
    if amount <= 0:
        raise invalid_request("Refund amount must be positive.", param="amount")
    if amount > remaining:
        raise invalid_request(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            param="amount",
            code="amount_too_large",
        )
    re_id = random_id("re")
    txn = balance_transactions.new(
        state,
        amount=-amount,
        currency=charge["currency"],
        source=re_id,
        type_="refund",
        reporting_category="refund",
        description="REFUND FOR CHARGE"
        + (f" ({charge['description']})" if charge["description"] else ""),
    )
    refund: JSON = {
        "id": re_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": txn["id"],
        "charge": charge["id"],
        "created": state.now(),
        "currency": charge["currency"],
        "customer": charge["customer"],
        "customer_account": None,
        "destination_details": {
            "card": {
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "payment_method": charge["payment_method"],
        "reason": p.get("reason"),
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    apply_metadata(refund, p)
    state.add(refund)
    before = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    before["refunds"] = copy.deepcopy(charge["refunds"])
    sync_charge_refunds(state, charge)
    state.touch()
    state.emit("refund.created", refund, call.ctx)
    state.emit("charge.refunded", charge, call.ctx, previous(before, charge))
    return refund


def sync_charge_refunds(state: SandboxState, charge: JSON) -> None:
    """The charge's embedded ``refunds`` list, newest first, as its refunds now are."""
    mine = [
        state.objects[i]
        for i in reversed(state.ids_of("refund"))
        if state.objects[i]["charge"] == charge["id"]
    ]
    charge["refunds"] = {
        "object": "list",
        "data": copy.deepcopy(mine[:10]),
        "has_more": len(mine) > 10,
        "url": f"/v1/charges/{charge['id']}/refunds",
    }


def _changed(state: SandboxState, refund: JSON, before: JSON, ctx: RequestContext | None) -> None:
    """``refund.updated`` and ``charge.refund.updated`` for a changed refund."""
    changes = previous(before, refund)
    if not changes:
        return
    charge = require(state, refund["charge"], "charge")
    sync_charge_refunds(state, charge)
    state.touch()
    state.emit("refund.updated", refund, ctx, changes)
    state.emit("charge.refund.updated", refund, ctx, changes)


def fail(state: SandboxState, refund: JSON, reason: str, ctx: RequestContext | None) -> JSON:
    """The bank returned a succeeded (or pending) refund: the money goes back to the balance
    and the charge is no longer refunded by that amount (``/_sandbox/refunds/{id}/fail``)."""
    if refund["status"] not in ("succeeded", "pending"):
        raise invalid_request(
            f"Refund {refund['id']} has a status of {refund['status']} and cannot fail.",
            param="refund",
        )
    if reason not in FAILURE_REASONS:
        raise invalid_request(
            f"Invalid failure_reason: must be one of {', '.join(FAILURE_REASONS)}",
            param="failure_reason",
        )
    charge = require(state, refund["charge"], "charge")
    txn = balance_transactions.new(
        state,
        amount=refund["amount"],
        currency=refund["currency"],
        source=refund["id"],
        type_="refund_failure",
        reporting_category="refund_failure",
        description="REFUND FAILURE",
    )
    before = copy.deepcopy(refund)
    refund.update(status="failed", failure_reason=reason, failure_balance_transaction=txn["id"])
    charge["amount_refunded"] -= refund["amount"]
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    state.emit("refund.failed", refund, ctx)
    _changed(state, refund, before, ctx)
    return refund


def retrieve(call: Call) -> JSON:
    return require(call.state, call.id(), "refund")


def update(call: Call) -> JSON:
    refund = require(call.state, call.id(), "refund")
    before = copy.deepcopy(refund)
    apply_metadata(refund, call.params)
    _changed(call.state, refund, before, call.ctx)
    return refund


def _list(call: Call, charge: str | None, url: str) -> JSON:
    keep = where(charge=charge, payment_intent=call.params.get("payment_intent"))
    return paginate(call.state, "refund", url, call.params, keep)


def list_(call: Call) -> JSON:
    return _list(call, call.params.get("charge"), "/v1/refunds")


def list_for_charge(call: Call) -> JSON:
    charge = require(call.state, call.id(), "charge")
    return _list(call, charge["id"], f"/v1/charges/{charge['id']}/refunds")


ROUTES = [
    Route("POST", "/v1/refunds", create, CREATE),
    Route("GET", "/v1/refunds", list_, list_params({"charge": STR, "payment_intent": STR})),
    Route("GET", "/v1/refunds/{id}", retrieve, {}),
    Route("POST", "/v1/refunds/{id}", update, {"metadata": META}),
    Route("GET", "/v1/charges/{id}/refunds", list_for_charge, list_params(created=False)),
]
