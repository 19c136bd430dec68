"""The sandbox's responses match Stripe's own schema for the pinned API version.

``stripe_schema/stripe-objects.schema.json`` holds JSON Schemas of the objects the sandbox
returns, generated (``stripe_schema/generate.js``) from the type definitions Stripe ships in its
``stripe`` npm package for the same API version as the pinned stripe-python — the same
OpenAPI spec, with the distinction stripe-python's types lack: a required field (present,
perhaps ``null``) versus an optional one (may be absent). Every field is checked: required
ones present, no field Stripe does not have, types, enums, nested objects. The file is in the
repository, so the check runs offline; the first test holds it to the installed SDK, so a new
stripe-python without a regenerated schema fails here instead of passing quietly.

A sample of the sandbox's answers is validated: every object kind in its states (succeeded,
declined — the intent inside the error —, requiring authentication, canceled, refunded, failed
refund, disputed, won and lost, deleted), lists, expansions and every event.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import stripe

from stripe_sandbox import RunningSandbox

from .helpers import NO_REDIRECTS, authenticate, charge_off_session, saved_card

SCHEMA = json.loads(
    (Path(__file__).parent / "stripe_schema/stripe-objects.schema.json").read_text()
)
SDK_CLASSES: dict[str, type] = {
    "payment_intent": stripe.PaymentIntent,
    "setup_intent": stripe.SetupIntent,
    "charge": stripe.Charge,
    "refund": stripe.Refund,
    "dispute": stripe.Dispute,
    "payment_method": stripe.PaymentMethod,
    "customer": stripe.Customer,
    "customer_balance_transaction": stripe.CustomerBalanceTransaction,
    "balance_transaction": stripe.BalanceTransaction,
    "event": stripe.Event,
    "webhook_endpoint": stripe.WebhookEndpoint,
    "billing_portal.session": stripe.billing_portal.Session,
}


def _validator(definition: str) -> Any:
    return jsonschema_rs.Draft202012Validator(
        {"$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{definition}"}
    )


VALIDATORS = {name: _validator(name) for name in SCHEMA["$defs"]}


def _definition(obj: dict[str, Any]) -> str:
    kind = str(obj["object"])
    return f"deleted_{kind}" if obj.get("deleted") else kind


def _problems(obj: dict[str, Any]) -> list[str]:
    """Where ``obj`` (and, for an event, the object in it) differs from Stripe's schema."""
    validator = VALIDATORS[_definition(obj)]
    found = [
        f"{obj['object']} {obj.get('id')} at /{'/'.join(map(str, e.instance_path))}: {e.message}"
        for e in validator.iter_errors(obj)
    ]
    if obj["object"] == "event":
        found += _problems(obj["data"]["object"])
    return found


class Sample:
    """Every object the sandbox answered with, as the JSON it sent."""

    def __init__(self) -> None:
        self.objects: list[dict[str, Any]] = []

    def add(self, body: dict[str, Any]) -> None:
        if body.get("object") == "list":
            self.objects += body["data"]
        elif "error" in body:  # the intent, PaymentMethod … a refusal carries
            error = body["error"]
            self.objects += [
                error[k] for k in ("payment_intent", "setup_intent", "payment_method") if k in error
            ]
        else:
            self.objects.append(body)

    def answer(self, obj: Any) -> Any:
        """Record an SDK result's raw JSON; return the result."""
        self.add(json.loads(obj.last_response.body))
        return obj

    def refusal(self, info: pytest.ExceptionInfo[stripe.StripeError]) -> None:
        assert info.value.json_body is not None
        self.add(info.value.json_body)


def test_the_schema_is_the_pinned_sdks() -> None:
    assert SCHEMA["x-stripe-api-version"] == stripe.api_version
    for definition, sdk_class in SDK_CLASSES.items():
        fields = {
            name
            for klass in sdk_class.__mro__
            for name in getattr(klass, "__annotations__", {})
            if not name.startswith("_") and name != "OBJECT_NAME"
        }
        assert set(SCHEMA["$defs"][definition]["properties"]) == fields, definition


def test_the_schema_catches_what_stripe_would_not_send() -> None:
    """The validator is not vacuous: a missing required field, a field Stripe does not have, a
    wrong type, an unknown enum value are each found."""
    event = {
        "id": "evt_1",
        "object": "event",
        "api_version": None,
        "created": 1,
        "data": {"object": {"id": "x", "object": "webhook_endpoint"}},
        "livemode": False,
        "pending_webhooks": 0,
        "request": None,
        "type": "customer.created",
    }
    assert all(p.startswith("webhook_endpoint x") for p in _problems(event))  # data.object
    assert _problems(event) != []
    assert any("pending_webhooks" in p for p in _problems({**event, "pending_webhooks": "0"}))
    assert any("colour" in p for p in _problems({**event, "colour": "red"}))
    assert any("type" in p for p in _problems({**event, "type": "customer.exploded"}))
    assert any(
        "request" in p for p in _problems({k: v for k, v in event.items() if k != "request"})
    )


def _scenario(client: stripe.StripeClient, sandbox: RunningSandbox, sample: Sample) -> None:
    """Drive the sandbox through the states of every object it emulates."""
    ok, add = sample.answer, sample.add
    customer = ok(client.v1.customers.create(params={"email": "s@x.io", "name": "S"}))
    ok(
        client.v1.customers.balance_transactions.create(
            customer.id, params={"amount": -500, "currency": "usd"}
        )
    )
    ok(client.v1.customers.balance_transactions.list(customer.id))

    # PaymentMethods and SetupIntents: succeeded, requires_action, declined
    pm = ok(
        client.v1.payment_methods.create(
            params={
                "type": "card",
                "card": {
                    "number": "4242424242424242",
                    "exp_month": 1,
                    "exp_year": 2040,
                    "cvc": "123",
                },
            }
        )
    )
    ok(client.v1.payment_methods.attach(pm.id, params={"customer": customer.id}))
    ok(client.v1.payment_methods.update(pm.id, params={"metadata": {"k": "v"}}))
    ok(
        client.v1.customers.update(
            customer.id, params={"invoice_settings": {"default_payment_method": pm.id}}
        )
    )
    ok(
        client.v1.customers.retrieve(
            customer.id, params={"expand": ["invoice_settings.default_payment_method"]}
        )
    )
    setup = {
        "customer": customer.id,
        "usage": "off_session",
        "automatic_payment_methods": NO_REDIRECTS,
    }
    ok(
        client.v1.setup_intents.create(
            params={**setup, "payment_method": "pm_card_visa", "confirm": True}
        )
    )
    action = ok(
        client.v1.setup_intents.create(
            params={**setup, "payment_method": "pm_card_authenticationRequired", "confirm": True}
        )
    )
    authenticate(sandbox, action)
    ok(client.v1.setup_intents.retrieve(action.id, params={"expand": ["payment_method"]}))
    with pytest.raises(stripe.CardError) as declined:
        client.v1.setup_intents.create(
            params={**setup, "payment_method": "pm_card_chargeDeclined", "confirm": True}
        )
    sample.refusal(declined)
    ok(client.v1.setup_intents.cancel(ok(client.v1.setup_intents.create(params=setup)).id))
    ok(client.v1.setup_intents.list())
    ok(client.v1.payment_methods.list(params={"customer": customer.id}))

    # PaymentIntents: succeeded, declined, needing authentication, canceled
    saved_customer, saved_pm = saved_card(client, sandbox, "pm_card_visa")
    paid = ok(charge_off_session(client, saved_customer, saved_pm, 5000))
    ok(client.v1.payment_intents.retrieve(paid.id, params={"expand": ["latest_charge"]}))
    with pytest.raises(stripe.CardError) as refused:
        client.v1.payment_intents.create(
            params={
                "amount": 700,
                "currency": "usd",
                "payment_method": "pm_card_chargeDeclined",
                "confirm": True,
                "automatic_payment_methods": NO_REDIRECTS,
            }
        )
    sample.refusal(refused)
    auth_customer, auth_pm = saved_card(client, sandbox, "pm_card_authenticationRequired")
    with pytest.raises(stripe.CardError) as needs_customer:
        charge_off_session(client, auth_customer, auth_pm)
    sample.refusal(needs_customer)
    assert needs_customer.value.error is not None
    assert needs_customer.value.error.payment_intent is not None
    on_session = ok(
        client.v1.payment_intents.confirm(
            needs_customer.value.error.payment_intent.id, params={"payment_method": auth_pm}
        )
    )
    assert on_session.status == "requires_action"
    authenticate(sandbox, on_session)
    ok(client.v1.payment_intents.retrieve(on_session.id))
    pending = ok(
        client.v1.payment_intents.create(
            params={"amount": 900, "currency": "usd", "automatic_payment_methods": NO_REDIRECTS}
        )
    )
    ok(client.v1.payment_intents.cancel(pending.id))
    ok(client.v1.payment_intents.list(params={"limit": 100}))

    # Charges, refunds (one failed by the bank), balance transactions
    charge = str(paid.latest_charge)
    ok(client.v1.charges.retrieve(charge))
    ok(client.v1.charges.retrieve(charge, params={"expand": ["refunds", "balance_transaction"]}))
    refund = ok(client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 1000}))
    ok(client.v1.refunds.update(refund.id, params={"metadata": {"t": "1"}}))
    r = httpx.post(f"{sandbox.base_url}/_sandbox/refunds/{refund.id}/fail", json={})
    add(r.json())
    ok(client.v1.refunds.create(params={"charge": charge}))
    ok(client.v1.refunds.list(params={"limit": 100}))
    ok(client.v1.charges.list(params={"limit": 100, "expand": ["data.refunds"]}))
    ok(client.v1.balance_transactions.list(params={"limit": 100}))

    # Disputes: opened by the test card, won with evidence; another lost by accepting it
    for _ in range(2):
        ok(
            client.v1.payment_intents.create(
                params={
                    "amount": 3000,
                    "currency": "usd",
                    "payment_method": "pm_card_createDispute",
                    "confirm": True,
                    "automatic_payment_methods": NO_REDIRECTS,
                }
            )
        )
    won, lost = client.v1.disputes.list().data
    ok(
        client.v1.disputes.update(
            won.id, params={"evidence": {"uncategorized_text": "winning_evidence"}}
        )
    )
    ok(client.v1.disputes.close(lost.id))
    ok(client.v1.disputes.list(params={"expand": ["data.charge"]}))

    # Webhook endpoints, the billing portal, a deleted customer
    endpoint = ok(
        client.v1.webhook_endpoints.create(
            params={
                "url": "https://example.test/hooks",
                "enabled_events": ["charge.succeeded"],
                "api_version": stripe.api_version,
            }
        )
    )
    ok(client.v1.webhook_endpoints.update(endpoint.id, params={"disabled": True}))
    ok(client.v1.webhook_endpoints.list())
    ok(client.v1.webhook_endpoints.delete(endpoint.id))
    ok(
        client.v1.billing_portal.sessions.create(
            params={"customer": customer.id, "return_url": "https://example.test/account"}
        )
    )
    ok(client.v1.customers.delete(ok(client.v1.customers.create()).id))

    # Every event, with the object in it
    after: str | None = None
    while True:
        page = ok(
            client.v1.events.list(
                params={"limit": 100, **({"starting_after": after} if after else {})}
            )
        )
        if not page.has_more:
            break
        after = page.data[-1].id


def test_sandbox_responses_match_stripes_schema(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox
) -> None:
    sample = Sample()
    _scenario(stripe_client, sandbox, sample)
    kinds = {_definition(o) for o in sample.objects}
    assert kinds >= set(SCHEMA["$defs"]), set(SCHEMA["$defs"]) - kinds  # every kind sampled
    assert len(sample.objects) > 100
    problems = sorted({p for obj in sample.objects for p in _problems(obj)})
    assert problems == []


def test_excluded_payment_method_types_is_taken_and_kept(
    stripe_client: stripe.StripeClient,
) -> None:
    si = stripe_client.v1.setup_intents.create(
        params={"excluded_payment_method_types": ["sepa_debit", "ideal"]}
    )
    assert si.excluded_payment_method_types == ["sepa_debit", "ideal"]
    assert si.payment_method_types == ["card"]
    si = stripe_client.v1.setup_intents.update(
        si.id, params={"excluded_payment_method_types": ["bancontact"]}
    )
    assert si.excluded_payment_method_types == ["bancontact"]
    pi = stripe_client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "excluded_payment_method_types": ["ideal"],
            "payment_method": "pm_card_visa",
            "confirm": True,
            "automatic_payment_methods": NO_REDIRECTS,
        }
    )
    assert (pi.status, pi.excluded_payment_method_types) == ("succeeded", ["ideal"])
    assert (
        stripe_client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "usd"}
        ).excluded_payment_method_types
        is None
    )
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.setup_intents.create(params={"excluded_payment_method_types": ["card"]})
    assert (info.value.code, info.value.param) == (
        "setup_intent_invalid_parameter",
        "excluded_payment_method_types",
    )
