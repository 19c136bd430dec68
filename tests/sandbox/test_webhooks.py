"""Webhook endpoints and signed, retried, logged, resendable deliveries."""

from __future__ import annotations

import json

import httpx
import pytest
import stripe

from stripe_sandbox import RunningSandbox

from .helpers import NO_REDIRECTS
from .receiver import Receiver


def _endpoint(
    client: stripe.StripeClient, receiver: Receiver, events: list[str] | None = None
) -> stripe.WebhookEndpoint:
    return client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": events or ["*"]}
    )


def test_endpoint_crud_and_secret(stripe_client: stripe.StripeClient, receiver: Receiver) -> None:
    we = _endpoint(stripe_client, receiver, ["customer.created", "payment_intent.succeeded"])
    assert isinstance(we, stripe.WebhookEndpoint)
    assert we.id.startswith("we_") and we.secret is not None and we.secret.startswith("whsec_")
    got = stripe_client.v1.webhook_endpoints.retrieve(we.id)
    assert got.to_dict().get("secret") is None  # as Stripe: shown once, at creation
    assert got.enabled_events == ["customer.created", "payment_intent.succeeded"]
    updated = stripe_client.v1.webhook_endpoints.update(we.id, params={"disabled": True})
    assert updated.status == "disabled"
    assert [w.id for w in stripe_client.v1.webhook_endpoints.list().data] == [we.id]
    assert stripe_client.v1.webhook_endpoints.delete(we.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["not.an.event"]}
        )


def test_events_are_delivered_signed(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox, receiver: Receiver
) -> None:
    we = _endpoint(
        stripe_client,
        receiver,
        [
            "customer.created",
            "payment_intent.created",
            "payment_intent.succeeded",
            "charge.succeeded",
        ],
    )
    assert we.secret is not None
    customer = stripe_client.v1.customers.create(params={"email": "w@x.io"})
    stripe_client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "automatic_payment_methods": NO_REDIRECTS,
        }
    )
    assert receiver.wait_for(4)
    types = set()
    for delivery in receiver.ok():
        event = stripe.Webhook.construct_event(
            delivery.body.decode(), delivery.headers["Stripe-Signature"], we.secret
        )
        assert isinstance(event, stripe.Event)
        types.add(event.type)
    assert types == {
        "customer.created",
        "payment_intent.created",
        "payment_intent.succeeded",
        "charge.succeeded",
    }
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            receiver.ok()[0].body.decode(),
            receiver.ok()[0].headers["Stripe-Signature"],
            "whsec_wrong",
        )
    sandbox.wait_for_webhooks()
    first = stripe_client.v1.events.list(params={"type": "customer.created"}).data[0]
    assert first.pending_webhooks == 0


def test_failed_deliveries_are_retried_with_backoff_and_logged(
    stripe_client: stripe.StripeClient,
    sandbox: RunningSandbox,
    control: httpx.Client,
) -> None:
    with Receiver(fail_first=2) as receiver:
        _endpoint(stripe_client, receiver, ["customer.created"])
        customer = stripe_client.v1.customers.create()
        assert receiver.wait_for(1)
        event = json.loads(receiver.ok()[0].body)
        assert event["data"]["object"]["id"] == customer.id
        sandbox.wait_for_webhooks()
        log = control.get("/_sandbox/webhooks/deliveries", params={"event": event["id"]}).json()[
            "data"
        ]
        assert [(a["attempt"], a["status"], a["succeeded"]) for a in log] == [
            (1, 500, False),
            (2, 500, False),
            (3, 200, True),
        ]
        # backing off: after each failed attempt ends, the base (0.05 s) then twice it; lower
        # bounds only, so that a slow attempt on a loaded machine cannot fail this
        waits = [log[i + 1]["at"] - log[i]["at"] - log[i]["duration_ms"] / 1000 for i in (0, 1)]
        assert waits[0] >= 0.05 - 0.002 and waits[1] >= 0.1 - 0.002, waits


def test_resend_delivers_again(
    stripe_client: stripe.StripeClient,
    receiver: Receiver,
    control: httpx.Client,
    sandbox: RunningSandbox,
) -> None:
    we = _endpoint(stripe_client, receiver, ["customer.created"])
    stripe_client.v1.customers.create()
    assert receiver.wait_for(1)
    event_id = json.loads(receiver.ok()[0].body)["id"]
    r = control.post(f"/_sandbox/events/{event_id}/resend", json={"endpoint": we.id})
    attempts = r.json()["data"]
    assert len(attempts) == 1 and attempts[0]["succeeded"] and attempts[0]["manual"]
    assert receiver.wait_for(2)
    assert [json.loads(d.body)["id"] for d in receiver.ok()] == [event_id, event_id]
    assert control.post("/_sandbox/events/evt_nope/resend").status_code == 404


def test_duplicate_delay_and_reorder(
    stripe_client: stripe.StripeClient,
    receiver: Receiver,
    control: httpx.Client,
    sandbox: RunningSandbox,
) -> None:
    _endpoint(stripe_client, receiver, ["customer.created"])
    control.post("/_sandbox/webhooks/config", json={"duplicate": True})
    stripe_client.v1.customers.create()
    assert receiver.wait_for(2)
    assert len({json.loads(d.body)["id"] for d in receiver.ok()}) == 1

    receiver.deliveries.clear()
    control.post("/_sandbox/webhooks/config", json={"duplicate": False, "reorder_window": 3})
    created = [stripe_client.v1.customers.create().id for _ in range(3)]
    assert receiver.wait_for(3)
    got = [json.loads(d.body)["data"]["object"]["id"] for d in receiver.ok()]
    assert got == created[::-1]

    receiver.deliveries.clear()
    control.post("/_sandbox/webhooks/config", json={"reorder_window": 0, "delay_seconds": 0.4})
    stripe_client.v1.customers.create()
    assert not receiver.wait_for(1, timeout=0.2)
    assert receiver.wait_for(1, timeout=2)


def test_events_filter_by_delivery_success(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox, control: httpx.Client
) -> None:
    def ids(success: bool) -> set[str]:
        page = stripe_client.v1.events.list(params={"delivery_success": success, "limit": 100})
        return {e.id for e in page.data}

    quiet = stripe_client.v1.customers.create()  # no endpoint wants it: delivered
    with Receiver() as healthy, Receiver(fail_first=100) as broken:
        _endpoint(stripe_client, healthy, ["customer.created", "customer.updated"])
        failing = _endpoint(stripe_client, broken, ["customer.updated"])
        assert control.post("/_sandbox/webhooks/config", json={"delay_seconds": 1}).is_success
        stripe_client.v1.customers.create()
        stripe_client.v1.customers.update(quiet.id, params={"name": "Q"})
        # the newest of each type (the list is newest first)
        events = {e.type: e.id for e in reversed(stripe_client.v1.events.list().data)}
        assert ids(False) == {events["customer.created"], events["customer.updated"]}  # pending
        sandbox.wait_for_webhooks()
        # every attempt to the broken endpoint failed: not a success until a resend gets through
        assert ids(False) == {events["customer.updated"]}
        assert events["customer.created"] in ids(True)
        first = stripe_client.v1.events.list(params={"type": "customer.created"}).data[-1]
        assert first.data.object["id"] == quiet.id and first.id in ids(True)
        broken.fail_first = 0
        r = control.post(
            f"/_sandbox/events/{events['customer.updated']}/resend", json={"endpoint": failing.id}
        )
        assert r.json()["data"][0]["succeeded"]
        assert ids(False) == set()
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.events.list(params={"delivery_success": "maybe"})  # type: ignore[typeddict-item]
    assert info.value.param == "delivery_success"
