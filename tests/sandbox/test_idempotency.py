"""Idempotency keys exactly as Stripe: replay, mismatch, in progress, 24 h retention."""

from __future__ import annotations

import threading

import httpx
import pytest
import stripe

from stripe_sandbox import RunningSandbox

from .helpers import NO_REDIRECTS

PARAMS = {
    "amount": 1000,
    "currency": "usd",
    "payment_method": "pm_card_visa",
    "confirm": True,
    "automatic_payment_methods": NO_REDIRECTS,
}


def _count(client: stripe.StripeClient, kind: str) -> int:
    if kind == "pi":
        return len(client.v1.payment_intents.list(params={"limit": 100}).data)
    return len(client.v1.charges.list(params={"limit": 100}).data)


def test_same_key_same_params_replays(stripe_client: stripe.StripeClient) -> None:
    first = stripe_client.v1.payment_intents.create(
        params=dict(PARAMS), options={"idempotency_key": "rech_1"}
    )
    second = stripe_client.v1.payment_intents.create(
        params=dict(PARAMS), options={"idempotency_key": "rech_1"}
    )
    assert first.id == second.id
    assert second.last_response is not None
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in (first.last_response.headers if first.last_response else {})
    assert _count(stripe_client, "pi") == 1
    assert _count(stripe_client, "charge") == 1


def test_errors_are_replayed_too(stripe_client: stripe.StripeClient) -> None:
    params = {**PARAMS, "payment_method": "pm_card_chargeDeclined"}
    with pytest.raises(stripe.CardError) as one:
        stripe_client.v1.payment_intents.create(
            params=params, options={"idempotency_key": "k-decl"}
        )
    with pytest.raises(stripe.CardError) as two:
        stripe_client.v1.payment_intents.create(
            params=params, options={"idempotency_key": "k-decl"}
        )
    assert one.value.error.payment_intent is not None
    assert two.value.error.payment_intent is not None
    assert one.value.error.payment_intent.id == two.value.error.payment_intent.id
    assert two.value.headers is not None
    assert two.value.headers.get("idempotent-replayed") == "true"
    assert _count(stripe_client, "pi") == 1


def test_same_key_different_params_is_idempotency_error(
    stripe_client: stripe.StripeClient,
) -> None:
    stripe_client.v1.payment_intents.create(params=dict(PARAMS), options={"idempotency_key": "k"})
    with pytest.raises(stripe.IdempotencyError) as info:
        stripe_client.v1.payment_intents.create(
            params={**PARAMS, "amount": 2000}, options={"idempotency_key": "k"}
        )
    assert info.value.http_status == 400
    assert "same parameters" in str(info.value.user_message)
    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.customers.create(options={"idempotency_key": "k"})


def test_validation_failures_are_not_saved(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.payment_intents.create(
            params={**PARAMS, "bogus": 1}, options={"idempotency_key": "k2"}
        )  # type: ignore[typeddict-unknown-key]
    pi = stripe_client.v1.payment_intents.create(
        params=dict(PARAMS), options={"idempotency_key": "k2"}
    )
    assert pi.status == "succeeded"


def test_concurrent_request_with_key_in_progress_gets_409(
    sandbox: RunningSandbox,
    control: httpx.Client,
) -> None:
    control.post(
        "/_sandbox/faults",
        json={"kind": "delay", "method": "POST", "path": "/v1/payment_intents", "seconds": 0.6},
    )
    headers = {"Authorization": "Bearer sk_test_x", "Idempotency-Key": "slow"}
    body = {"amount": "1000", "currency": "usd"}
    results: list[int] = []

    def first() -> None:
        results.append(
            httpx.post(
                f"{sandbox.base_url}/v1/payment_intents", data=body, headers=headers, timeout=5
            ).status_code
        )

    t = threading.Thread(target=first)
    t.start()
    import time

    time.sleep(0.2)
    second = httpx.post(f"{sandbox.base_url}/v1/payment_intents", data=body, headers=headers)
    t.join()
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "idempotency_key_in_use"
    assert results == [200]
    third = httpx.post(f"{sandbox.base_url}/v1/payment_intents", data=body, headers=headers)
    assert third.status_code == 200 and third.headers["idempotent-replayed"] == "true"


def test_keys_expire_after_24_hours(
    stripe_client: stripe.StripeClient, control: httpx.Client
) -> None:
    first = stripe_client.v1.payment_intents.create(
        params=dict(PARAMS), options={"idempotency_key": "old"}
    )
    control.post("/_sandbox/clock", json={"advance": 23 * 3600})
    assert (
        stripe_client.v1.payment_intents.create(
            params=dict(PARAMS), options={"idempotency_key": "old"}
        ).id
        == first.id
    )
    control.post("/_sandbox/clock", json={"advance": 3600})
    again = stripe_client.v1.payment_intents.create(
        params=dict(PARAMS), options={"idempotency_key": "old"}
    )
    assert again.id != first.id
