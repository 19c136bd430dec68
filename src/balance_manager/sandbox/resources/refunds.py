"""Refunds (``/v1/refunds``) of a succeeded PaymentIntent's charge."""

from __future__ import annotations

import copy

from ..params import INT, META, STR, Enum, Spec
from ..routing import Call, Route, list_params, paginate
from ..state import random_id
from ..wire import JSON, invalid_request
from ._common import apply_metadata, require

CREATE: dict[str, Spec] = {
    "charge": STR,
    "payment_intent": STR,
    "amount": INT,
    "reason": Enum(("duplicate", "fraudulent", "requested_by_customer")),
    "metadata": META,
}


def create(call: Call) -> JSON:
    state, p = call.state, call.params
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
    refund: JSON = {
        "id": random_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": random_id("txn"),
        "charge": charge["id"],
        "created": state.now(),
        "currency": charge["currency"],
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
        "reason": p.get("reason"),
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    apply_metadata(refund, p)
    state.add(refund)
    prev = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    refunds = charge["refunds"]
    refunds["data"] = [copy.deepcopy(refund), *refunds["data"]][:10]
    refunds["total_count"] = refunds.get("total_count", 0) + 1
    state.touch()
    state.emit("refund.created", refund, call.ctx)
    state.emit(
        "charge.refunded", charge, call.ctx, {k: v for k, v in prev.items() if charge[k] != v}
    )
    return refund


def retrieve(call: Call) -> JSON:
    return require(call.state, call.id(), "refund")


def update(call: Call) -> JSON:
    refund = require(call.state, call.id(), "refund")
    apply_metadata(refund, call.params)
    call.state.touch()
    return refund


def list_(call: Call) -> JSON:
    charge, pi = call.params.get("charge"), call.params.get("payment_intent")

    def keep(o: JSON) -> bool:
        return (charge is None or o["charge"] == charge) and (
            pi is None or o["payment_intent"] == pi
        )

    return paginate(call.state, "refund", "/v1/refunds", call.params, keep)


ROUTES = [
    Route("POST", "/v1/refunds", create, CREATE),
    Route("GET", "/v1/refunds", list_, list_params({"charge": STR, "payment_intent": STR})),
    Route("GET", "/v1/refunds/{id}", retrieve, {}),
    Route("POST", "/v1/refunds/{id}", update, {"metadata": META}),
]
