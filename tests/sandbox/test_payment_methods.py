"""PaymentMethods: from numbers, tokens and test ids; attach, detach, list (both routes)."""

from __future__ import annotations

import pytest
import stripe


def test_create_retrieve_attach_list_detach(stripe_client: stripe.StripeClient) -> None:
    customer = stripe_client.v1.customers.create()
    pm = stripe_client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {
                "number": "4242 4242 4242 4242",
                "exp_month": 8,
                "exp_year": 2040,
                "cvc": "314",
            },
            "billing_details": {"name": "Jenny Rosen"},
            "metadata": {"order_id": "1"},
        }
    )
    assert isinstance(pm, stripe.PaymentMethod)
    assert pm.id.startswith("pm_") and pm.type == "card" and pm.customer is None
    assert pm.card is not None
    assert (pm.card.brand, pm.card.last4, pm.card.exp_month, pm.card.exp_year) == (
        "visa",
        "4242",
        8,
        2040,
    )
    assert pm.billing_details.name == "Jenny Rosen"

    attached = stripe_client.v1.payment_methods.attach(pm.id, params={"customer": customer.id})
    assert attached.customer == customer.id
    from_test_id = stripe_client.v1.payment_methods.attach(
        "pm_card_mastercard", params={"customer": customer.id}
    )
    assert from_test_id.id.startswith("pm_") and from_test_id.id != "pm_card_mastercard"

    listed = stripe_client.v1.payment_methods.list(params={"customer": customer.id, "type": "card"})
    assert [p.id for p in listed.data] == [from_test_id.id, pm.id]
    nested = stripe_client.v1.customers.payment_methods.list(customer.id)
    assert [p.id for p in nested.data] == [from_test_id.id, pm.id]
    assert nested.url == f"/v1/customers/{customer.id}/payment_methods"
    one = stripe_client.v1.customers.payment_methods.retrieve(customer.id, pm.id)
    assert one.id == pm.id

    detached = stripe_client.v1.payment_methods.detach(pm.id)
    assert detached.customer is None
    assert [p.id for p in stripe_client.v1.customers.payment_methods.list(customer.id).data] == [
        from_test_id.id
    ]
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.payment_methods.attach(pm.id, params={"customer": customer.id})


def test_tokens_and_update(stripe_client: stripe.StripeClient) -> None:
    pm = stripe_client.v1.payment_methods.create(
        params={"type": "card", "card": {"token": "tok_visa"}}
    )
    assert pm.card is not None and pm.card.last4 == "4242"
    updated = stripe_client.v1.payment_methods.update(
        pm.id, params={"metadata": {"a": "b"}, "billing_details": {"email": "j@x.io"}}
    )
    assert updated.metadata is not None and updated.metadata["a"] == "b"
    assert updated.billing_details.email == "j@x.io"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_methods.create(
            params={"type": "card", "card": {"token": "tok_nope"}}
        )
    assert info.value.code == "resource_missing"


def test_attach_events(stripe_client: stripe.StripeClient) -> None:
    customer = stripe_client.v1.customers.create()
    pm = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    stripe_client.v1.payment_methods.detach(pm.id)
    types = [
        e.type
        for e in stripe_client.v1.events.list(
            params={"types": ["payment_method.attached", "payment_method.detached"]}
        ).data
    ]
    assert types == ["payment_method.detached", "payment_method.attached"]
