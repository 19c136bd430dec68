"""Small helpers for driving the sandbox through the SDK."""

from __future__ import annotations

from typing import Any

import httpx
import stripe

from stripe_sandbox import RunningSandbox

from .receiver import Receiver

# What the gateway sends: card-like methods only, so that no confirmation needs a return_url
# (docs.stripe.com/changelog/2023-08-16/automatic-payment-methods).
NO_REDIRECTS: stripe.params.PaymentIntentCreateParamsAutomaticPaymentMethods = {
    "enabled": True,
    "allow_redirects": "never",
}


def authenticate(
    sandbox: RunningSandbox,
    intent: stripe.SetupIntent | stripe.PaymentIntent,
    outcome: str = "complete",
) -> dict[str, object]:
    """What the Stripe.js stand-in's dialog does when the customer clicks Complete / Fail."""
    assert intent.client_secret is not None
    r = httpx.post(
        f"{sandbox.base_url}/_sandbox/authenticate/{intent.id}",
        data={"client_secret": intent.client_secret, "outcome": outcome},
    )
    r.raise_for_status()
    result: dict[str, object] = r.json()
    return result


def saved_card(
    client: stripe.StripeClient,
    sandbox: RunningSandbox,
    test_pm: str,
) -> tuple[str, str]:
    """A customer with a card set up for off-session use (authenticating when asked)."""
    customer = client.v1.customers.create()
    si = client.v1.setup_intents.create(
        params={
            "customer": customer.id,
            "payment_method": test_pm,
            "confirm": True,
            "usage": "off_session",
            "automatic_payment_methods": NO_REDIRECTS,
        }
    )
    if si.status == "requires_action":
        authenticate(sandbox, si)
        si = client.v1.setup_intents.retrieve(si.id)
    assert si.status == "succeeded"
    assert isinstance(si.payment_method, str)
    return customer.id, si.payment_method


def pay(
    client: stripe.StripeClient, payment_method: str = "pm_card_visa", amount: int = 1000
) -> stripe.PaymentIntent:
    """An on-session payment, confirmed at once, created as the gateway creates intents."""
    return client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "payment_method": payment_method,
            "confirm": True,
            "automatic_payment_methods": NO_REDIRECTS,
        }
    )


def charge_off_session(
    client: stripe.StripeClient, customer: str, pm: str, amount: int = 1000
) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "customer": customer,
            "payment_method": pm,
            "confirm": True,
            "off_session": True,
            "metadata": {"recharge": "r1"},
            "automatic_payment_methods": NO_REDIRECTS,
        }
    )


def listen(client: stripe.StripeClient, receiver: Receiver, events: list[str]) -> str:
    """A webhook endpoint for ``events`` delivering to ``receiver``; its signing secret."""
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": events}
    )
    assert endpoint.secret is not None
    return endpoint.secret


def received(receiver: Receiver, secret: str, count: int) -> list[stripe.Event]:
    """The first ``count`` events delivered, each verified against its signature."""
    assert receiver.wait_for(count), f"{len(receiver.ok())} of {count} events delivered"
    return [
        stripe.Webhook.construct_event(d.body.decode(), d.headers["Stripe-Signature"], secret)
        for d in receiver.ok()
    ]


def by_type(events: list[stripe.Event]) -> dict[str, list[dict[str, Any]]]:
    """Delivered events' objects (as plain JSON) grouped by type, in delivery order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        payload = event.to_dict()
        out.setdefault(event.type, []).append(payload["data"])
    return out
