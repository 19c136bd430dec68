"""PaymentMethods (``/v1/payment_methods``, ``/v1/customers/{id}/payment_methods``).

A PaymentMethod remembers (privately) which test card it is and whether it has been *set up*
(a SetupIntent or an on-session payment with ``setup_future_usage`` succeeded): the card table
decides what a later charge does with that.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from .. import cards
from ..cards import TestCard
from ..params import (
    ALLOW_REDISPLAY,
    BILLING_DETAILS,
    META,
    STR,
    STRIPE_JS_PAYMENT_METHOD_DATA,
    Obj,
    Req,
    Spec,
)
from ..routing import Call, Route, list_params, paginate, where
from ..state import RequestContext, SandboxState, random_id
from ..wire import JSON, StripeError, card_error, invalid_request, missing_parameter, not_found
from ._common import apply_metadata, billing_details, previous, require

CREATE: dict[str, Spec] = {
    **STRIPE_JS_PAYMENT_METHOD_DATA.fields,  # type, card, billing_details, metadata, …
    "customer": STR,
    "payment_method": STR,
}
UPDATE: dict[str, Spec] = {
    "billing_details": BILLING_DETAILS,
    "metadata": META,
    "card": Obj({"exp_month": STR, "exp_year": STR}),
    "allow_redisplay": ALLOW_REDISPLAY,
}


def card_of(state: SandboxState, pm: JSON) -> TestCard:
    priv = state.private_of(pm["id"])
    card = cards.card_by_name(priv.get("card", "visa"))
    if card is None:
        card = cards.card_for_number(priv.get("number", "4242424242424242"))
    return card


def is_set_up(state: SandboxState, pm_id: str) -> bool:
    return bool(state.private_of(pm_id).get("set_up"))


def mark_set_up(state: SandboxState, pm_id: str) -> None:
    state.private_of(pm_id)["set_up"] = True


def new_payment_method(
    state: SandboxState,
    card: TestCard,
    *,
    exp_month: int | None = None,
    exp_year: int | None = None,
    cvc_checked: bool = False,
    details: JSON | None = None,
    metadata: JSON | None = None,
    allow_redisplay: str | None = None,
) -> JSON:
    year = datetime.now(UTC).year
    pm_id = random_id("pm")
    pm: JSON = {
        "id": pm_id,
        "object": "payment_method",
        "allow_redisplay": allow_redisplay or "unspecified",
        "billing_details": billing_details(details),
        "card": {
            "brand": card.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass" if cvc_checked else None,
            },
            "country": card.country,
            "display_brand": card.brand,
            "exp_month": exp_month or 12,
            "exp_year": exp_year or year + 3,
            "fingerprint": card.fingerprint,
            "funding": card.funding,
            "generated_from": None,
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": state.now(),
        "customer": None,
        "customer_account": None,
        "livemode": False,
        "metadata": dict(metadata or {}),
        "type": "card",
    }
    state.add(pm)
    priv = state.private_of(pm_id)
    priv["card"] = card.name
    if card.name == "live":
        priv["number"] = card.number
    return pm


def from_card_data(state: SandboxState, data: JSON, *, param: str = "card") -> JSON:
    """A PaymentMethod from ``card[number]…`` or ``card[token]`` (Stripe's test tokens)."""
    token = data.get("token")
    if token:
        card = cards.BY_TOKEN.get(token)
        if card is None:
            raise not_found("token", token, param=f"{param}[token]")
        return new_payment_method(state, card)
    number = data.get("number")
    if not number:
        raise missing_parameter(f"{param}[number]")
    for field in ("exp_month", "exp_year"):
        if data.get(field) is None:
            raise missing_parameter(f"{param}[{field}]")
    try:
        card = cards.card_for_number(number)
    except cards.CardNumberError:
        raise card_error(
            "Your card number is incorrect.", code="incorrect_number", param=f"{param}[number]"
        ) from None
    month, year = int(data["exp_month"]), int(data["exp_year"])
    if year < 100:
        year += 2000
    if not 1 <= month <= 12:
        raise card_error(
            "Your card's expiration month is invalid.",
            code="invalid_expiry_month",
            param=f"{param}[exp_month]",
        )
    now = datetime.now(UTC)
    if (year, month) < (now.year, now.month):
        raise card_error(
            "Your card's expiration year is invalid.",
            code="invalid_expiry_year",
            param=f"{param}[exp_year]",
        )
    cvc = data.get("cvc")
    if cvc is not None and not (cvc.isdigit() and len(cvc) in (3, 4)):
        raise card_error(
            "Your card's security code is invalid.", code="invalid_cvc", param=f"{param}[cvc]"
        )
    return new_payment_method(
        state, card, exp_month=month, exp_year=year, cvc_checked=cvc is not None
    )


def resolve_payment_method(
    state: SandboxState, pm_id: str, ctx: RequestContext, *, param: str = "payment_method"
) -> JSON:
    """An existing PaymentMethod, or a fresh one for a test id such as ``pm_card_visa``."""
    test_card = cards.BY_PM_ID.get(pm_id)
    if test_card is not None:
        return new_payment_method(state, test_card)
    pm = state.get(pm_id, "payment_method")
    if pm is None:
        raise not_found("PaymentMethod", pm_id, param=param)
    return pm


def payment_method_param(call: Call) -> JSON | None:
    """The card an intent call names: ``payment_method`` (an id or a test id such as
    ``pm_card_visa``) or inline ``payment_method_data``; None when neither is sent."""
    p = call.params
    if p.get("payment_method"):
        return resolve_payment_method(call.state, p["payment_method"], call.ctx)
    if p.get("payment_method_data"):
        return payment_method_from_data(call.state, p["payment_method_data"], "payment_method_data")
    return None


def payment_method_from_data(state: SandboxState, data: JSON, param: str) -> JSON:
    """``payment_method_data[type]=card&payment_method_data[card][…]`` on a confirm."""
    if data.get("type") not in (None, "card"):
        raise invalid_request(
            f"The payment method type provided: {data.get('type')} is invalid.",
            param=f"{param}[type]",
        )
    pm = from_card_data(state, data.get("card") or {}, param=f"{param}[card]")
    pm["billing_details"] = billing_details(data.get("billing_details"))
    apply_metadata(pm, data)
    return pm


def decline_payload(decline: cards.Decline, pm: JSON, *, charge: str | None = None) -> StripeError:
    """Stripe's card error for ``decline`` of ``pm`` (and the failed ``charge``, if any)."""
    err = card_error(decline.message, code=decline.code, decline_code=decline.decline_code)
    if charge is not None:
        err.error["charge"] = charge
    err.error["payment_method"] = copy.deepcopy(pm)
    return err


def attach_to(state: SandboxState, pm: JSON, customer: JSON, ctx: RequestContext) -> JSON:
    """Attach, verifying the card as Stripe does (cards that decline at setup refuse)."""
    if pm.get("customer") == customer["id"]:
        return pm
    if pm.get("customer") is not None or state.private_of(pm["id"]).get("consumed"):
        raise invalid_request(
            "This PaymentMethod was previously used without being attached to a Customer or "
            "was detached from a Customer, and may not be used again."
            if pm.get("customer") is None
            else "The payment method you provided has already been attached to a customer.",
            param="payment_method",
        )
    decline = card_of(state, pm).setup_decline
    if decline is not None:
        raise decline_payload(decline, pm)
    pm["customer"] = customer["id"]
    state.touch()
    state.emit("payment_method.attached", pm, ctx)
    return pm


def save_card(state: SandboxState, pm: JSON, customer_id: str | None, ctx: RequestContext) -> None:
    """A succeeded setup, or a payment with ``setup_future_usage``: the card is attached to the
    customer (if any) and *set up*, so that later off-session charges need no 3-D Secure."""
    if customer_id:
        attach_to(state, pm, require(state, customer_id, "customer", param="customer"), ctx)
    mark_set_up(state, pm["id"])


def detach(state: SandboxState, pm: JSON, ctx: RequestContext) -> JSON:
    if pm.get("customer") is None:
        raise invalid_request(
            "The payment method you provided is not attached to a customer so detachment is "
            "impossible.",
            param="payment_method",
        )
    customer = state.get(pm["customer"], "customer")
    if customer and customer["invoice_settings"]["default_payment_method"] == pm["id"]:
        customer["invoice_settings"]["default_payment_method"] = None
        state.emit(
            "customer.updated",
            customer,
            ctx,
            {"invoice_settings": {"default_payment_method": pm["id"]}},
        )
    previous_customer = pm["customer"]
    pm["customer"] = None
    state.private_of(pm["id"])["consumed"] = True
    state.touch()
    state.emit("payment_method.detached", pm, ctx, {"customer": previous_customer})
    return pm


# --------------------------------------------------------------------------- handlers


def create(call: Call) -> JSON:
    state, p = call.state, call.params
    if p.get("payment_method"):
        # Stripe: clone a customer's PaymentMethod (Connect); here, a test id → new object.
        pm = resolve_payment_method(state, p["payment_method"], call.ctx)
        return pm
    if p.get("type") is None:
        raise missing_parameter("type")
    if p["type"] != "card":
        raise invalid_request(
            f"The payment method type provided: {p['type']} is invalid. This sandbox "
            "emulates card PaymentMethods only.",
            param="type",
        )
    if not p.get("card"):
        raise missing_parameter("card")
    pm = from_card_data(state, p["card"])
    pm["billing_details"] = billing_details(p.get("billing_details"))
    if p.get("allow_redisplay"):
        pm["allow_redisplay"] = p["allow_redisplay"]
    apply_metadata(pm, p)
    return pm


def retrieve(call: Call) -> JSON:
    return resolve_payment_method(call.state, call.id(), call.ctx, param="id")


def update(call: Call) -> JSON:
    state, p = call.state, call.params
    pm = require(state, call.id(), "payment_method")
    before = copy.deepcopy(pm)
    if p.get("billing_details") is not None:
        merged = billing_details(p["billing_details"])
        for k, v in merged.items():
            if k == "address":
                pm["billing_details"]["address"].update(
                    {ak: av for ak, av in v.items() if av is not None}
                )
            elif v is not None:
                pm["billing_details"][k] = v
    if p.get("card"):
        for k in ("exp_month", "exp_year"):
            if p["card"].get(k) is not None:
                pm["card"][k] = int(p["card"][k])
    if p.get("allow_redisplay"):
        pm["allow_redisplay"] = p["allow_redisplay"]
    apply_metadata(pm, p)
    state.touch()
    prev = previous(before, pm)
    if prev:
        state.emit("payment_method.updated", pm, call.ctx, prev)
    return pm


def attach(call: Call) -> JSON:
    state = call.state
    pm = resolve_payment_method(state, call.id(), call.ctx, param="id")
    customer = require(state, call.params["customer"], "customer", param="customer")
    return attach_to(state, pm, customer, call.ctx)


def detach_handler(call: Call) -> JSON:
    pm = require(call.state, call.id(), "payment_method")
    return detach(call.state, pm, call.ctx)


def list_(call: Call) -> JSON:
    p = call.params
    customer = p.get("customer")
    if customer:
        require(call.state, customer, "customer", param="customer")
    return _list(call, customer, "/v1/payment_methods")


def list_for_customer(call: Call) -> JSON:
    customer = require(call.state, call.id(), "customer")
    return _list(call, customer["id"], f"/v1/customers/{customer['id']}/payment_methods")


def _list(call: Call, customer: str | None, url: str) -> JSON:
    keep = where(customer=customer, type=call.params.get("type"))
    return paginate(call.state, "payment_method", url, call.params, keep)


def retrieve_for_customer(call: Call) -> JSON:
    customer = require(call.state, call.id(), "customer")
    pm = require(call.state, call.id("pm"), "payment_method", param="payment_method")
    if pm.get("customer") != customer["id"]:
        raise not_found("PaymentMethod", pm["id"], param="payment_method")
    return pm


_LIST = list_params(
    {"customer": STR, "type": STR, "allow_redisplay": ALLOW_REDISPLAY}, created=False
)

ROUTES = [
    Route("POST", "/v1/payment_methods", create, CREATE, publishable=True),
    Route("GET", "/v1/payment_methods", list_, _LIST),
    Route("GET", "/v1/payment_methods/{id}", retrieve, {}),
    Route("POST", "/v1/payment_methods/{id}", update, UPDATE),
    Route("POST", "/v1/payment_methods/{id}/attach", attach, {"customer": Req(STR)}),
    Route("POST", "/v1/payment_methods/{id}/detach", detach_handler, {}),
    Route(
        "GET",
        "/v1/customers/{id}/payment_methods",
        list_for_customer,
        list_params({"type": STR, "allow_redisplay": ALLOW_REDISPLAY}, created=False),
    ),
    Route("GET", "/v1/customers/{id}/payment_methods/{pm}", retrieve_for_customer, {}),
]
