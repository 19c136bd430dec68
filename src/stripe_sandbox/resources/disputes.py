"""Disputes (``/v1/disputes``): a cardholder's chargeback of a succeeded charge.

Opened by the test cards ``createDispute`` / ``createDisputeProductNotReceived`` (as in Stripe's
test mode) or by ``POST /_sandbox/disputes``. Opening withdraws the disputed amount plus
Stripe's dispute fee (``charge.dispute.created``, ``charge.dispute.funds_withdrawn``; status
``needs_response``). Evidence (``POST /v1/disputes/{id}``) moves it to ``under_review``
(``charge.dispute.updated``); Stripe's test-mode evidence ``uncategorized_text`` =
``winning_evidence`` / ``losing_evidence`` decides it at once, as do
``/_sandbox/disputes/{id}/win|lose``. Won: the amount and the fee come back
(``charge.dispute.closed``, ``charge.dispute.funds_reinstated``). Lost, or accepted with
``POST /v1/disputes/{id}/close``: ``charge.dispute.closed``, the money stays withdrawn.
"""

from __future__ import annotations

import copy

from ..params import BOOL, META, STR, Obj, Spec
from ..routing import Call, Route, list_route
from ..state import RequestContext, SandboxState, random_id
from ..wire import JSON, invalid_request
from . import balance_transactions
from ._common import apply_metadata, previous, require

REASONS = (
    "bank_cannot_process",
    "check_returned",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "noncompliant",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
)
# Visa reason codes for the reasons a test card can produce (others: none given).
_NETWORK_REASON = {
    "fraudulent": "10.4",
    "product_not_received": "13.1",
    "duplicate": "12.6.1",
    "credit_not_processed": "13.6",
}
EVIDENCE_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)
EVIDENCE_DAYS = 7

UPDATE: dict[str, Spec] = {
    "evidence": Obj(dict.fromkeys(EVIDENCE_FIELDS, STR)),
    "metadata": META,
    "submit": BOOL,
}


def open_dispute(
    state: SandboxState,
    charge: JSON,
    *,
    amount: int | None = None,
    reason: str = "fraudulent",
    ctx: RequestContext | None = None,
) -> JSON:
    """The cardholder disputes ``charge``: withdraw the amount and the fee, tell the account."""
    if charge["status"] != "succeeded":
        raise invalid_request(f"Charge {charge['id']} has not succeeded.", param="charge")
    if state.private_of(charge["id"]).get("dispute"):
        raise invalid_request(f"Charge {charge['id']} has already been disputed.", param="charge")
    disputable = charge["amount"] - charge["amount_refunded"]
    if disputable <= 0:
        raise invalid_request(
            f"Charge {charge['id']} has been fully refunded and cannot be disputed.",
            param="charge",
        )
    if amount is None:
        amount = disputable
    if not 0 < amount <= disputable:
        raise invalid_request(
            f"The dispute amount must be between 1 and {disputable} (the unrefunded amount).",
            param="amount",
        )
    if reason not in REASONS:
        raise invalid_request(
            f"Invalid reason: must be one of {', '.join(REASONS)}", param="reason"
        )
    du_id = random_id("du")
    withdrawal = balance_transactions.new(
        state,
        amount=-amount,
        currency=charge["currency"],
        source=du_id,
        type_="adjustment",
        reporting_category="dispute",
        description=f"Chargeback withdrawal for {charge['id']}",
        fee=balance_transactions.DISPUTE_FEE,
        fee_description="Dispute fee",
    )
    card = charge["payment_method_details"]["card"]
    network_reason = _NETWORK_REASON.get(reason)
    created = state.now()
    dispute: JSON = {
        "id": du_id,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [copy.deepcopy(withdrawal)],
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {**dict.fromkeys(EVIDENCE_FIELDS), "enhanced_evidence": {}},
        "intended_submission_method": None,
        "evidence_details": {
            "due_by": created + EVIDENCE_DAYS * 86400,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "submission_method": "not_submitted",
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "network_reason_code": network_reason,
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "card": {
                "brand": card["brand"],
                "case_type": "chargeback",
                "network": card["network"],
                "network_reason_code": network_reason,
            },
            "type": "card",
        },
        "reason": reason,
        "status": "needs_response",
    }
    state.add(dispute)
    state.private_of(charge["id"])["dispute"] = du_id
    charge["disputed"] = True
    state.touch()
    state.emit("charge.dispute.created", dispute, ctx)
    state.emit("charge.dispute.funds_withdrawn", dispute, ctx)
    return dispute


def decide(state: SandboxState, dispute: JSON, *, won: bool, ctx: RequestContext | None) -> JSON:
    """The issuer's decision on an open or reviewed dispute (won: the money comes back)."""
    if dispute["status"] not in ("needs_response", "under_review"):
        raise invalid_request(
            f"This dispute is already closed (status {dispute['status']}).",
            param="dispute",
        )
    before = copy.deepcopy(dispute)
    if won:
        reinstated = balance_transactions.new(
            state,
            amount=dispute["amount"],
            currency=dispute["currency"],
            source=dispute["id"],
            type_="adjustment",
            reporting_category="dispute_reversal",
            description=f"Chargeback reversal for {dispute['charge']}",
            fee=-balance_transactions.DISPUTE_FEE,
            fee_description="Dispute fee refund",
        )
        dispute["balance_transactions"].append(copy.deepcopy(reinstated))
    dispute["status"] = "won" if won else "lost"
    state.touch()
    state.emit("charge.dispute.closed", dispute, ctx, previous(before, dispute))
    if won:
        state.emit("charge.dispute.funds_reinstated", dispute, ctx)
    return dispute


def retrieve(call: Call) -> JSON:
    return require(call.state, call.id(), "dispute")


def update(call: Call) -> JSON:
    state, p = call.state, call.params
    dispute = require(state, call.id(), "dispute")
    evidence = p.get("evidence")
    submit = p.get("submit", True) if evidence is not None else bool(p.get("submit"))
    if (evidence is not None or submit) and dispute["status"] != "needs_response":
        raise invalid_request(
            "This dispute's evidence can no longer be changed: it has a status of "
            f"{dispute['status']}.",
            param="evidence",
        )
    before = copy.deepcopy(dispute)
    apply_metadata(dispute, p)
    for name, value in (evidence or {}).items():
        dispute["evidence"][name] = value
    details = dispute["evidence_details"]
    details["has_evidence"] = any(dispute["evidence"][name] is not None for name in EVIDENCE_FIELDS)
    if submit:
        details["submission_count"] += 1
        details["submission_method"] = "manual"
        dispute["status"] = "under_review"
    changes = previous(before, dispute)
    if changes:
        state.touch()
        state.emit("charge.dispute.updated", dispute, call.ctx, changes)
    # Stripe's test mode decides a dispute from these evidence texts.
    outcome = dispute["evidence"]["uncategorized_text"] if submit else None
    if outcome in ("winning_evidence", "losing_evidence"):
        decide(state, dispute, won=outcome == "winning_evidence", ctx=call.ctx)
    return dispute


def close(call: Call) -> JSON:
    """Accept the dispute: it is lost, and the money stays withdrawn."""
    state = call.state
    dispute = require(state, call.id(), "dispute")
    if dispute["status"] != "needs_response":
        raise invalid_request(
            f"This dispute cannot be closed: it has a status of {dispute['status']}.",
            param="dispute",
        )
    before = copy.deepcopy(dispute)
    dispute["status"] = "lost"
    state.touch()
    state.emit("charge.dispute.closed", dispute, call.ctx, previous(before, dispute))
    return dispute


ROUTES = [
    list_route("dispute", "/v1/disputes", ("charge", "payment_intent")),
    Route("GET", "/v1/disputes/{id}", retrieve, {}),
    Route("POST", "/v1/disputes/{id}", update, UPDATE),
    Route("POST", "/v1/disputes/{id}/close", close, {}),
]
