"""The pinned API version (stripe-python's ``2026-10-28.endive``) and older ones: which
parameters each accepts, the version events carry, and ``request_log_url`` on errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import stripe

from stripe_sandbox import RunningSandbox

from .helpers import NO_REDIRECTS
from .receiver import Receiver

PINNED = "2026-10-28.endive"
DAHLIA = "2026-07-29.dahlia"  # allowed_payment_method_types added, payment_method_types kept
BASIL = "2025-03-31.basil"  # before allowed_payment_method_types


def _pi(**extra: Any) -> dict[str, Any]:
    return {"amount": 1000, "currency": "usd", **extra}


def test_the_sdk_pins_the_version_the_sandbox_defaults_to(
    stripe_client: stripe.StripeClient, control: httpx.Client
) -> None:
    assert stripe.api_version == PINNED
    customer = stripe_client.v1.customers.create()
    assert customer.last_response is not None
    assert customer.last_response.headers["Stripe-Version"] == PINNED
    assert control.get("/_sandbox/account").json() == {"api_version": PINNED}


def test_pinned_version_refuses_payment_method_types_everywhere(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox
) -> None:
    customer = stripe_client.v1.customers.create()
    pending = stripe_client.v1.payment_intents.create(params=_pi(customer=customer.id))
    setup = stripe_client.v1.setup_intents.create(params={"customer": customer.id})
    calls = [
        lambda: stripe_client.v1.payment_intents.create(params=_pi(payment_method_types=["card"])),
        lambda: stripe_client.v1.payment_intents.update(
            pending.id, params={"payment_method_types": ["card"]}
        ),
        lambda: stripe_client.v1.payment_intents.confirm(
            pending.id,
            params={"payment_method": "pm_card_visa", "payment_method_types": ["card"]},
        ),
        lambda: stripe_client.v1.setup_intents.create(params={"payment_method_types": ["card"]}),
        lambda: stripe_client.v1.setup_intents.update(
            setup.id, params={"payment_method_types": ["card"]}
        ),
    ]
    for call in calls:
        with pytest.raises(stripe.InvalidRequestError) as info:
            call()
        assert info.value.http_status == 400
        assert info.value.code == "payment_method_types_no_longer_supported"
        assert info.value.param == "payment_method_types"
    # refused before anything happened: one PaymentIntent, still waiting; no PaymentMethod made
    assert [p.id for p in stripe_client.v1.payment_intents.list().data] == [pending.id]
    assert stripe_client.v1.payment_intents.retrieve(pending.id).status == (
        "requires_payment_method"
    )
    assert stripe_client.v1.payment_methods.list(params={"customer": customer.id}).data == []


def test_allowed_payment_method_types_filters_to_what_can_be_used(
    stripe_client: stripe.StripeClient,
) -> None:
    pi = stripe_client.v1.payment_intents.create(
        params=_pi(
            allowed_payment_method_types=["card", "ideal"],
            payment_method="pm_card_visa",
            confirm=True,
        )
    )
    assert pi.status == "succeeded"
    assert pi.allowed_payment_method_types == ["card", "ideal"]
    assert pi.payment_method_types == ["card"]
    updated = stripe_client.v1.payment_intents.update(
        stripe_client.v1.payment_intents.create(params=_pi()).id,
        params={"allowed_payment_method_types": ["link", "card"]},
    )
    assert updated.allowed_payment_method_types == ["link", "card"]
    assert updated.payment_method_types == ["card"]

    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.create(
            params=_pi(
                allowed_payment_method_types=["card"],
                automatic_payment_methods={"enabled": True},
            )
        )
    assert (info.value.code, info.value.param) == (
        "parameters_exclusive",
        "allowed_payment_method_types",
    )
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.setup_intents.create(params={"allowed_payment_method_types": ["ideal"]})
    assert info.value.code == "setup_intent_invalid_parameter"


def test_automatic_payment_methods_as_the_gateway_sends_them(
    stripe_client: stripe.StripeClient,
) -> None:
    never = {"enabled": True, "allow_redirects": "never"}
    customer = stripe_client.v1.customers.create()
    si = stripe_client.v1.setup_intents.create(
        params={
            "customer": customer.id,
            "usage": "off_session",
            "automatic_payment_methods": never,
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    assert si.status == "succeeded" and si.payment_method_types == ["card"]
    pi = stripe_client.v1.payment_intents.create(
        params=_pi(
            customer=customer.id,
            payment_method=str(si.payment_method),
            confirm=True,
            off_session=True,
            automatic_payment_methods=never,
        )
    )
    assert pi.status == "succeeded"
    assert pi.automatic_payment_methods is not None
    assert pi.automatic_payment_methods.to_dict() == never
    assert pi.allowed_payment_method_types is None


def test_older_versions_keep_their_own_rules(stripe_client: stripe.StripeClient) -> None:
    basil = stripe_client.v1.payment_intents.create(
        params=_pi(payment_method_types=["card"]), options={"stripe_version": BASIL}
    )
    assert basil.payment_method_types == ["card"]
    assert basil.last_response is not None
    assert basil.last_response.headers["Stripe-Version"] == BASIL
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.setup_intents.create(
            params={"allowed_payment_method_types": ["card"]}, options={"stripe_version": BASIL}
        )
    assert (info.value.code, info.value.param) == (
        "parameter_unknown",
        "allowed_payment_method_types",
    )
    # dahlia has both (mutually exclusive); the 2026-08-26 preview already refuses the old one
    for params in ({"payment_method_types": ["card"]}, {"allowed_payment_method_types": ["card"]}):
        assert stripe_client.v1.setup_intents.create(
            params=params,
            options={"stripe_version": DAHLIA},
        ).payment_method_types == ["card"]
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.setup_intents.create(
            params={"payment_method_types": ["card"], "allowed_payment_method_types": ["card"]},
            options={"stripe_version": DAHLIA},
        )
    assert info.value.code == "parameters_exclusive"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.create(
            params=_pi(payment_method_types=["card"]),
            options={"stripe_version": "2026-08-26.preview"},
        )
    assert info.value.code == "payment_method_types_no_longer_supported"


def test_a_malformed_version_is_refused(sandbox: RunningSandbox, control: httpx.Client) -> None:
    r = control.get(
        "/v1/customers",
        headers={"Authorization": f"Bearer {sandbox.secret_key}", "Stripe-Version": "2019-2-19"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "Invalid Stripe API version: 2019-2-19"


def test_errors_carry_a_request_log_url_that_resolves(
    stripe_client: stripe.StripeClient, control: httpx.Client
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as bad:
        stripe_client.v1.payment_intents.create(params={"amount": 10, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.customers.retrieve("cus_nope")
    with pytest.raises(stripe.CardError) as declined:
        stripe_client.v1.payment_intents.create(
            params=_pi(
                payment_method="pm_card_chargeDeclined",
                confirm=True,
                automatic_payment_methods=NO_REDIRECTS,
            )
        )
    for info, status in ((bad, 400), (missing, 404), (declined, 402)):
        error = info.value.error
        assert error is not None and error.request_log_url is not None
        assert info.value.request_id is not None
        assert f"/_sandbox/requests/{info.value.request_id}?t=" in error.request_log_url
        entry = control.get(error.request_log_url).json()
        assert (entry["id"], entry["status"]) == (info.value.request_id, status)
    unauthenticated = control.get("/v1/customers").json()["error"]
    assert "request_log_url" not in unauthenticated  # no account, no log


def test_events_carry_the_endpoint_version_not_the_request_version(
    stripe_client: stripe.StripeClient,
    sandbox: RunningSandbox,
    control: httpx.Client,
) -> None:
    with Receiver() as pinned_receiver, Receiver() as basil_receiver:
        default = stripe_client.v1.webhook_endpoints.create(
            params={"url": pinned_receiver.url, "enabled_events": ["customer.created"]}
        )
        basil = stripe_client.v1.webhook_endpoints.create(
            params={
                "url": basil_receiver.url,
                "enabled_events": ["customer.created"],
                "api_version": BASIL,
            }
        )
        assert (default.api_version, basil.api_version) == (None, BASIL)
        customer = stripe_client.v1.customers.create(options={"stripe_version": DAHLIA})
        assert pinned_receiver.wait_for(1) and basil_receiver.wait_for(1)
        secrets = {pinned_receiver.url: default.secret, basil_receiver.url: basil.secret}
        got = {}
        for receiver in (pinned_receiver, basil_receiver):
            delivery = receiver.ok()[0]
            secret = secrets[receiver.url]
            assert secret is not None
            event = stripe.Webhook.construct_event(
                delivery.body.decode(), delivery.headers["Stripe-Signature"], secret
            )
            assert event.data.object["id"] == customer.id
            got[receiver.url] = event.api_version
        assert got == {pinned_receiver.url: PINNED, basil_receiver.url: BASIL}
        stored = stripe_client.v1.events.list(params={"type": "customer.created"}).data[0]
        assert stored.api_version == PINNED  # the account's version, not the request's

        # A new account default applies to events created from then on.
        assert control.post("/_sandbox/account", json={"api_version": DAHLIA}).status_code == 200
        stripe_client.v1.customers.create()
        assert pinned_receiver.wait_for(2)
        versions = [json.loads(d.body)["api_version"] for d in pinned_receiver.ok()]
        assert versions == [PINNED, DAHLIA]
    bad = control.post("/_sandbox/account", json={"api_version": "latest"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "api_version"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.webhook_endpoints.create(
            params={"url": "http://x.test/", "enabled_events": ["*"], "api_version": "v1"}
        )
    assert info.value.param == "api_version"
