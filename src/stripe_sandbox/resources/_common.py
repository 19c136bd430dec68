"""Small helpers shared by the resource modules."""

from __future__ import annotations

import secrets
from typing import Any

from ..state import SandboxState, random_id
from ..wire import JSON, invalid_request, not_found

LABELS = {
    "customer": "customer",
    "payment_method": "PaymentMethod",
    "setup_intent": "setupintent",
    "payment_intent": "payment_intent",
    "charge": "charge",
    "refund": "refund",
    "dispute": "dispute",
    "balance_transaction": "balance transaction",
    "event": "event",
    "webhook_endpoint": "webhook endpoint",
    "customer_balance_transaction": "customer balance transaction",
    "billing_portal.session": "billing portal session",
}


def require(state: SandboxState, id_: str, kind: str, *, param: str = "id") -> JSON:
    obj = state.get(id_, kind)
    if obj is None or (kind == "customer" and id_ in state.deleted):
        raise not_found(LABELS.get(kind, kind), id_, param=param)
    return obj


def client_secret(id_: str) -> str:
    return f"{id_}_secret_{random_id('x', 25)[2:]}"


def apply_metadata(obj: JSON, params: JSON) -> None:
    """Stripe's merge: ``metadata[k]=v`` sets, ``metadata[k]=`` deletes, ``metadata=`` clears."""
    if "metadata" not in params:
        return
    meta = params["metadata"]
    if meta is None:
        obj["metadata"] = {}
        return
    current = dict(obj.get("metadata") or {})
    for k, v in meta.items():
        if v == "":
            current.pop(k, None)
        else:
            current[k] = v
    obj["metadata"] = current


def update_fields(obj: JSON, params: JSON, names: tuple[str, ...]) -> None:
    for name in names:
        if name in params:
            obj[name] = params[name]


def previous(before: JSON, after: JSON) -> JSON:
    """``previous_attributes`` of an ``*.updated`` event: old values of the changed keys."""
    out: JSON = {}
    for key, old in before.items():
        new = after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and key != "metadata":
            out[key] = previous(old, new)
        else:
            out[key] = old
    return out


def check_currency(value: str) -> str:
    cur = value.lower()
    if len(cur) != 3 or not cur.isalpha():
        raise invalid_request(f"Invalid currency: {value}.", param="currency")
    return cur


def token(n: int = 16) -> str:
    return secrets.token_urlsafe(n)


def null_address() -> JSON:
    return {k: None for k in ("city", "country", "line1", "line2", "postal_code", "state")}


def billing_details(params: Any) -> JSON:
    bd = params or {}
    address = null_address()
    address.update({k: v for k, v in (bd.get("address") or {}).items()})
    return {
        "address": address,
        "email": bd.get("email"),
        "name": bd.get("name"),
        "phone": bd.get("phone"),
        "tax_id": None,
    }
