"""The async SDK path, and the state file that lets the demo survive a restart."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import stripe

from stripe_sandbox import RunningSandbox, start_background

from .helpers import NO_REDIRECTS


async def test_async_client_recharge_path(
    async_client: stripe.StripeClient, sandbox: RunningSandbox
) -> None:
    customer = await async_client.v1.customers.create_async(params={"email": "a@x.io"})
    si = await async_client.v1.setup_intents.create_async(
        params={
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "automatic_payment_methods": NO_REDIRECTS,
            "usage": "off_session",
        }
    )
    assert si.status == "succeeded"
    pi = await async_client.v1.payment_intents.create_async(
        params={
            "amount": 66885,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": str(si.payment_method),
            "confirm": True,
            "off_session": True,
        },
        options={"idempotency_key": "rech_async"},
    )
    again = await async_client.v1.payment_intents.create_async(
        params={
            "amount": 66885,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": str(si.payment_method),
            "confirm": True,
            "off_session": True,
        },
        options={"idempotency_key": "rech_async"},
    )
    assert pi.status == "succeeded" and again.id == pi.id
    with pytest.raises(stripe.CardError) as info:
        await async_client.v1.payment_intents.create_async(
            params={
                "amount": 500,
                "currency": "usd",
                "customer": customer.id,
                "confirm": True,
                "automatic_payment_methods": NO_REDIRECTS,
                "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
            }
        )
    assert info.value.error.decline_code == "insufficient_funds"
    listed = await async_client.v1.payment_intents.list_async(params={"customer": customer.id})
    assert len(listed.data) == 2


async def test_async_lost_response_then_retry(
    async_client: stripe.StripeClient, sandbox: RunningSandbox
) -> None:
    sandbox.state.faults.add(
        {"kind": "lost_response", "method": "POST", "path": "/v1/payment_intents"}
    )
    params: stripe.params.PaymentIntentCreateParams = {
        "amount": 1000,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
        "automatic_payment_methods": NO_REDIRECTS,
    }
    with pytest.raises(stripe.APIError):
        await async_client.v1.payment_intents.create_async(
            params=params, options={"idempotency_key": "k-async"}
        )
    pi = await async_client.v1.payment_intents.create_async(
        params=params, options={"idempotency_key": "k-async"}
    )
    charges = await async_client.v1.charges.list_async()
    assert [c.id for c in charges.data] == [pi.latest_charge]


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.json"
    with start_background(state_file=path) as first:
        client = stripe.StripeClient(first.secret_key, base_addresses={"api": first.base_url})
        customer = client.v1.customers.create(params={"email": "keep@x.io"})
        client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
        client.v1.customers.create(options={"idempotency_key": "once"})
        pi = client.v1.payment_intents.create(
            params={
                "amount": 2000,
                "currency": "usd",
                "payment_method": "pm_card_createDispute",
                "confirm": True,
                "automatic_payment_methods": NO_REDIRECTS,
            }
        )
        paid = client.v1.payment_intents.create(
            params={
                "amount": 900,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
                "automatic_payment_methods": NO_REDIRECTS,
            }
        )
        refund = client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 500})
        httpx.post(f"{first.base_url}/_sandbox/account", json={"api_version": "2026-07-29.dahlia"})
    assert path.exists()
    with start_background(state_file=path) as second:
        client = stripe.StripeClient(second.secret_key, base_addresses={"api": second.base_url})
        assert client.v1.customers.retrieve(customer.id).email == "keep@x.io"
        cards = client.v1.customers.payment_methods.list(customer.id)
        assert len(cards.data) == 1
        replay = client.v1.customers.create(options={"idempotency_key": "once"})
        assert replay.last_response is not None
        assert replay.last_response.headers["Idempotent-Replayed"] == "true"
        assert client.v1.refunds.retrieve(refund.id).amount == 500
        [dispute] = client.v1.disputes.list(params={"payment_intent": pi.id}).data
        assert dispute.status == "needs_response"
        assert client.v1.disputes.close(dispute.id).status == "lost"
        with pytest.raises(stripe.InvalidRequestError) as info:
            client.v1.refunds.create(params={"payment_intent": pi.id})
        assert info.value.code == "charge_disputed"  # the dispute index survived too
        account = httpx.get(f"{second.base_url}/_sandbox/account").json()
        assert account["api_version"] == "2026-07-29.dahlia"
