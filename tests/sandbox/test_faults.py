"""Injected faults, and why idempotency keys matter: lost responses never double-charge."""

from __future__ import annotations

import time

import httpx
import pytest
import stripe

from stripe_sandbox import RunningSandbox

from .helpers import NO_REDIRECTS, saved_card

PI = "/v1/payment_intents"


def _fault(control: httpx.Client, **spec: object) -> None:
    r = control.post("/_sandbox/faults", json=spec)
    assert r.status_code == 200, r.text


def _charges(client: stripe.StripeClient) -> list[stripe.Charge]:
    return list(client.v1.charges.list(params={"limit": 100}).data)


def test_lost_response_then_retry_with_same_key_charges_once(
    stripe_client: stripe.StripeClient,
    sandbox: RunningSandbox,
    control: httpx.Client,
) -> None:
    customer, pm = saved_card(stripe_client, sandbox, "pm_card_visa")
    _fault(control, kind="lost_response", method="POST", path=PI)
    params = {
        "amount": 1500,
        "currency": "usd",
        "customer": customer,
        "payment_method": pm,
        "confirm": True,
        "off_session": True,
    }
    with pytest.raises(stripe.APIError) as info:
        stripe_client.v1.payment_intents.create(
            params=params, options={"idempotency_key": "rech_42"}
        )
    assert info.value.http_status == 500
    # the charge did happen, though the caller could not know
    assert len(_charges(stripe_client)) == 1
    pi = stripe_client.v1.payment_intents.create(
        params=params, options={"idempotency_key": "rech_42"}
    )
    assert pi.status == "succeeded"
    assert pi.last_response is not None
    assert pi.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(_charges(stripe_client)) == 1
    assert len(stripe_client.v1.payment_intents.list().data) == 1


def test_sdk_retries_through_a_lost_response_with_its_own_key(
    retrying_client: stripe.StripeClient,
    sandbox: RunningSandbox,
    control: httpx.Client,
) -> None:
    _fault(control, kind="lost_response", method="POST", path=PI, count=2)
    pi = retrying_client.v1.payment_intents.create(
        params={
            "amount": 800,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "automatic_payment_methods": NO_REDIRECTS,
        }
    )
    assert pi.status == "succeeded"
    assert len(_charges(retrying_client)) == 1
    statuses = [
        r["status"] for r in control.get("/_sandbox/requests").json()["data"] if r["path"] == PI
    ]
    assert statuses == [500, 500, 200]


def test_dropped_connection_then_retry(
    stripe_client: stripe.StripeClient,
    sandbox: RunningSandbox,
    control: httpx.Client,
) -> None:
    _fault(control, kind="lost_response", method="POST", path="/v1/customers", drop=True)
    headers = {"Authorization": "Bearer sk_test_x", "Idempotency-Key": "c1"}
    with pytest.raises(httpx.HTTPError):
        httpx.post(f"{sandbox.base_url}/v1/customers", data={"email": "d@x.io"}, headers=headers)
    again = httpx.post(
        f"{sandbox.base_url}/v1/customers", data={"email": "d@x.io"}, headers=headers
    )
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert len(stripe_client.v1.customers.list().data) == 1


def test_500_before_execution_is_retried_by_the_sdk(
    retrying_client: stripe.StripeClient,
    control: httpx.Client,
) -> None:
    _fault(control, kind="error", method="POST", path="/v1/customers", count=2)
    customer = retrying_client.v1.customers.create(params={"email": "r@x.io"})
    assert customer.email == "r@x.io"
    assert len(retrying_client.v1.customers.list().data) == 1


def test_rate_limit_has_retry_after(
    stripe_client: stripe.StripeClient, control: httpx.Client
) -> None:
    _fault(control, kind="rate_limit", method="GET", path="/v1/customers*", seconds=3)
    with pytest.raises(stripe.RateLimitError) as info:
        stripe_client.v1.customers.list()
    assert info.value.http_status == 429
    assert info.value.headers is not None and info.value.headers["retry-after"] == "3"
    assert info.value.error is not None and info.value.error.code == "rate_limit"
    assert stripe_client.v1.customers.list().data == []


def test_timeout_hangs_past_the_client_timeout(
    sandbox: RunningSandbox, control: httpx.Client
) -> None:
    _fault(control, kind="timeout", method="POST", path="/v1/customers", seconds=1.0)
    client = stripe.StripeClient(
        sandbox.secret_key,
        base_addresses={"api": sandbox.base_url},
        http_client=stripe.RequestsClient(timeout=0.3),
    )
    started = time.monotonic()
    with pytest.raises(stripe.APIConnectionError):
        client.v1.customers.create(options={"idempotency_key": "t1"})
    assert time.monotonic() - started < 1.0
    time.sleep(0.9)  # the hung request is dropped unperformed; the key is free again
    created = client.v1.customers.create(options={"idempotency_key": "t1"})
    assert created.id.startswith("cus_")
    assert len(client.v1.customers.list().data) == 1


def test_fraction_and_listing_and_clearing(
    control: httpx.Client, stripe_client: stripe.StripeClient
) -> None:
    _fault(control, kind="error", method="GET", path="/v1/events", fraction=1.0, count=None)
    assert len(control.get("/_sandbox/faults").json()["data"]) == 1
    for _ in range(3):
        with pytest.raises(stripe.APIError):
            stripe_client.v1.events.list()
    control.delete("/_sandbox/faults")
    assert stripe_client.v1.events.list().data == []
    _fault(control, kind="error", method="GET", path="/v1/events", fraction=0.0, count=None)
    assert stripe_client.v1.events.list().data == []
    bad = control.post("/_sandbox/faults", json={"kind": "explode"})
    assert bad.status_code == 400
