"""Customers and their balance transactions (``/v1/customers``)."""

from __future__ import annotations

import copy
import secrets

from ..params import ADDRESS, INT, META, STR, ListOf, Obj, Req, Spec
from ..routing import Call, Route, list_params, list_route, paginate
from ..state import SandboxState, random_id
from ..wire import JSON, invalid_request
from ._common import apply_metadata, check_currency, previous, require, update_fields

_FIELDS = ("email", "name", "description", "phone", "address", "preferred_locales")

_WRITABLE: dict[str, Spec] = {
    "email": STR,
    "name": STR,
    "description": STR,
    "phone": STR,
    "address": ADDRESS,
    "metadata": META,
    "balance": INT,
    "preferred_locales": ListOf(STR),
    "invoice_settings": Obj({"default_payment_method": STR, "footer": STR, "custom_fields": STR}),
}
CREATE: dict[str, Spec] = {**_WRITABLE, "payment_method": STR}
UPDATE: dict[str, Spec] = dict(_WRITABLE)


def _check_email(params: JSON) -> None:
    email = params.get("email")
    if email is not None and ("@" not in email or len(email) > 512):
        raise invalid_request(
            f"Invalid email address: {email}", param="email", code="email_invalid"
        )


def _set_default_pm(state: SandboxState, customer: JSON, pm_id: str | None) -> None:
    if pm_id is not None:
        pm = state.get(pm_id, "payment_method")
        if pm is None or pm.get("customer") != customer["id"]:
            raise invalid_request(
                f"No such PaymentMethod: '{pm_id}'"
                if pm is None
                else f"The customer does not have a payment method with the ID {pm_id}. The "
                "payment method must be attached to the customer.",
                param="invoice_settings[default_payment_method]",
                code="resource_missing",
            )
    customer["invoice_settings"]["default_payment_method"] = pm_id


def create(call: Call) -> JSON:
    from .payment_methods import attach_to, resolve_payment_method

    state, p = call.state, call.params
    _check_email(p)
    cus_id = random_id("cus", 14)
    obj: JSON = {
        "id": cus_id,
        "object": "customer",
        "address": None,
        "balance": p.get("balance") or 0,
        "created": state.now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    update_fields(obj, p, _FIELDS)
    if obj["preferred_locales"] is None:
        obj["preferred_locales"] = []
    apply_metadata(obj, p)
    pm = None
    if p.get("payment_method"):
        pm = resolve_payment_method(state, p["payment_method"], call.ctx, param="payment_method")
    settings = p.get("invoice_settings") or {}
    state.add(obj)
    if pm is not None:
        attach_to(state, pm, obj, call.ctx)
    if settings.get("default_payment_method"):
        _set_default_pm(state, obj, settings["default_payment_method"])
    if settings.get("footer") is not None:
        obj["invoice_settings"]["footer"] = settings["footer"]
    state.emit("customer.created", obj, call.ctx)
    return obj


def retrieve(call: Call) -> JSON:
    cus_id = call.id()
    if cus_id in call.state.deleted and call.state.get(cus_id, "customer"):
        return {"id": cus_id, "object": "customer", "deleted": True}
    return require(call.state, cus_id, "customer")


def update(call: Call) -> JSON:
    state, p = call.state, call.params
    obj = require(state, call.id(), "customer")
    _check_email(p)
    before = copy.deepcopy(obj)
    update_fields(obj, p, _FIELDS)
    if "preferred_locales" in p and obj["preferred_locales"] is None:
        obj["preferred_locales"] = []
    if "balance" in p:
        obj["balance"] = p["balance"] or 0
    apply_metadata(obj, p)
    settings = p.get("invoice_settings")
    if settings is None and "invoice_settings" in p:
        settings = {"default_payment_method": None}
    if settings:
        if "default_payment_method" in settings:
            _set_default_pm(state, obj, settings["default_payment_method"])
        if "footer" in settings:
            obj["invoice_settings"]["footer"] = settings["footer"]
    prev = previous(before, obj)
    state.touch()
    if prev:
        state.emit("customer.updated", obj, call.ctx, prev)
    return obj


def delete(call: Call) -> JSON:
    state = call.state
    obj = require(state, call.id(), "customer")
    state.deleted.add(obj["id"])
    state.touch()
    state.emit("customer.deleted", obj, call.ctx)
    return {"id": obj["id"], "object": "customer", "deleted": True}


# --------------------------------------------------------------------------- balance


def create_balance_txn(call: Call) -> JSON:
    state, p = call.state, call.params
    customer = require(state, call.id(), "customer")
    currency = check_currency(p["currency"])
    amount: int = p["amount"]
    if customer["currency"] not in (None, currency):
        raise invalid_request(
            f"The currency {currency} does not match the customer's currency "
            f"{customer['currency']}.",
            param="currency",
        )
    before = {"balance": customer["balance"], "currency": customer["currency"]}
    customer["currency"] = currency
    customer["balance"] = customer["balance"] + amount
    txn: JSON = {
        "id": random_id("cbtxn"),
        "object": "customer_balance_transaction",
        "amount": amount,
        "checkout_session": None,
        "created": state.now(),
        "credit_note": None,
        "currency": currency,
        "customer": customer["id"],
        "customer_account": None,
        "description": p.get("description"),
        "ending_balance": customer["balance"],
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "type": "adjustment",
    }
    apply_metadata(txn, p)
    state.add(txn)
    prev = {k: v for k, v in before.items() if customer[k] != v}
    if prev:
        state.emit("customer.updated", customer, call.ctx, prev)
    return txn


def _balance_txn(call: Call) -> JSON:
    customer = require(call.state, call.id(), "customer")
    txn = require(call.state, call.id("txn"), "customer_balance_transaction")
    if txn["customer"] != customer["id"]:
        raise invalid_request(
            f"No such customer balance transaction: '{txn['id']}'",
            param="id",
            code="resource_missing",
            status=404,
        )
    return txn


def retrieve_balance_txn(call: Call) -> JSON:
    return _balance_txn(call)


def update_balance_txn(call: Call) -> JSON:
    txn = _balance_txn(call)
    update_fields(txn, call.params, ("description",))
    apply_metadata(txn, call.params)
    call.state.touch()
    return txn


def list_balance_txns(call: Call) -> JSON:
    customer = require(call.state, call.id(), "customer")
    return paginate(
        call.state,
        "customer_balance_transaction",
        f"/v1/customers/{customer['id']}/balance_transactions",
        call.params,
        lambda o: o["customer"] == customer["id"],
    )


ROUTES = [
    Route("POST", "/v1/customers", create, CREATE),
    list_route("customer", "/v1/customers", ("email",)),
    Route("GET", "/v1/customers/{id}", retrieve, {}),
    Route("POST", "/v1/customers/{id}", update, UPDATE),
    Route("DELETE", "/v1/customers/{id}", delete, {}),
    Route(
        "POST",
        "/v1/customers/{id}/balance_transactions",
        create_balance_txn,
        {"amount": Req(INT), "currency": Req(STR), "description": STR, "metadata": META},
    ),
    Route("GET", "/v1/customers/{id}/balance_transactions", list_balance_txns, list_params()),
    Route("GET", "/v1/customers/{id}/balance_transactions/{txn}", retrieve_balance_txn, {}),
    Route(
        "POST",
        "/v1/customers/{id}/balance_transactions/{txn}",
        update_balance_txn,
        {"description": STR, "metadata": META},
    ),
]
