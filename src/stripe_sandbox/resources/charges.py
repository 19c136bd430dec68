"""Charges (``/v1/charges``), created by PaymentIntents; balance transactions for them."""

from __future__ import annotations

import copy
import uuid

from ..cards import Decline
from ..routing import Call, Route, list_route
from ..state import SandboxState, random_id
from ..wire import JSON
from . import balance_transactions
from ._common import require


def new_charge(
    state: SandboxState,
    pi: JSON,
    pm: JSON,
    decline: Decline | None,
    *,
    three_d_secure: bool = False,
) -> JSON:
    ch_id = random_id("ch")
    ok = decline is None
    failure_code = decline.code if decline else None
    failure_message = decline.message if decline else None
    reason = decline.decline_code if decline else None
    card = pm["card"]
    # The Electronic Commerce Indicator of a 3-D Secure authenticated payment (Visa's "05",
    # Mastercard's "02"); the network returns none for the others.
    eci = ("02" if card["brand"] == "mastercard" else "05") if three_d_secure else None
    charge: JSON = {
        "id": ch_id,
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": pi["amount"] if ok else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": None,
        "billing_details": copy.deepcopy(pm["billing_details"]),
        "calculated_statement_descriptor": "SANDBOX",
        "captured": ok,
        "created": state.now(),
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": failure_code,
        "failure_message": failure_message,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(pi["metadata"]),
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network" if ok else "declined_by_network",
            "reason": reason,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": "Payment complete."
            if ok
            else "The bank did not return any further details with this decline.",
            "type": "authorized" if ok else "issuer_declined",
        },
        "paid": ok,
        "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": {
            "card": {
                "amount_authorized": pi["amount"] if ok else None,
                "authorization_code": "000000" if ok else None,
                "brand": card["brand"],
                "checks": copy.deepcopy(card["checks"]),
                "country": card["country"],
                "electronic_commerce_indicator": eci,
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
                "fingerprint": card["fingerprint"],
                "funding": card["funding"],
                "installments": None,
                "last4": card["last4"],
                "mandate": None,
                "network": card["brand"],
                "network_token": {"used": False},
                "network_transaction_id": random_id("ntx")[4:19] if ok else None,
                "regulated_status": "unregulated",
                "three_d_secure": (
                    {
                        "authentication_flow": "challenge",
                        "electronic_commerce_indicator": eci,
                        "exemption_indicator": None,
                        "result": "authenticated",
                        "result_reason": None,
                        "transaction_id": str(uuid.uuid4()),
                        "version": "2.2.0",
                    }
                    if three_d_secure
                    else None
                ),
                "transaction_link_id": None,
                "wallet": None,
            },
            "type": "card",
        },
        "receipt_email": pi.get("receipt_email"),
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "refunds": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/charges/{ch_id}/refunds",
        },
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": pi.get("statement_descriptor"),
        "statement_descriptor_suffix": pi.get("statement_descriptor_suffix"),
        "status": "succeeded" if ok else "failed",
        "transfer_data": None,
        "transfer_group": None,
    }
    if ok:
        fee = balance_transactions.stripe_fee(charge["amount"])
        txn = balance_transactions.new(
            state,
            amount=charge["amount"],
            currency=charge["currency"],
            source=ch_id,
            type_="charge",
            reporting_category="charge",
            description=charge["description"],
            fee=fee,
        )
        charge["balance_transaction"] = txn["id"]
    state.add(charge)
    return charge


def retrieve(call: Call) -> JSON:
    return require(call.state, call.id(), "charge")


ROUTES = [
    list_route("charge", "/v1/charges", ("customer", "payment_intent")),
    Route("GET", "/v1/charges/{id}", retrieve, {}),
]
