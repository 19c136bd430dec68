"""Balance transactions (``/v1/balance_transactions``): the money each charge, refund and
dispute moves in the account's balance, with Stripe's fees. Integer minor units throughout."""

from __future__ import annotations

from ..routing import Call, Route, list_route
from ..state import SandboxState, random_id
from ..wire import JSON
from ._common import require

DISPUTE_FEE = 1500  # Stripe's US dispute fee, $15.00; used for every currency here


def stripe_fee(amount: int) -> int:
    """Stripe's US card fee, 2.9 % + 30, rounded half up — integers only."""
    return (amount * 29 + 500) // 1000 + 30


def new(
    state: SandboxState,
    *,
    amount: int,
    currency: str,
    source: str,
    type_: str,
    reporting_category: str,
    description: str | None,
    fee: int = 0,
    fee_description: str = "Stripe processing fees",
) -> JSON:
    """Record one movement (``amount`` signed: > 0 into the balance) and return it."""
    txn: JSON = {
        "id": random_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": state.now() + 2 * 86400,
        "balance_type": "payments",
        "created": state.now(),
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": (
            [
                {
                    "amount": fee,
                    "application": None,
                    "currency": currency,
                    "description": fee_description,
                    "type": "stripe_fee",
                }
            ]
            if fee
            else []
        ),
        "net": amount - fee,
        "reporting_category": reporting_category,
        "source": source,
        "status": "pending",
        "type": type_,
    }
    return state.add(txn)


def retrieve(call: Call) -> JSON:
    return require(call.state, call.id(), "balance_transaction")


ROUTES = [
    list_route("balance_transaction", "/v1/balance_transactions", ("source", "type", "currency")),
    Route("GET", "/v1/balance_transactions/{id}", retrieve, {}),
]
