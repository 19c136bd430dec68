"""Customers, their default payment method and balance transactions."""

from __future__ import annotations

import pytest
import stripe

from stripe_sandbox import RunningSandbox


def test_create_retrieve_update_delete(stripe_client: stripe.StripeClient) -> None:
    c = stripe_client.v1.customers.create(
        params={"email": "ada@example.com", "name": "Ada", "metadata": {"user": "u1", "x": "1"}}
    )
    assert isinstance(c, stripe.Customer)
    assert c.id.startswith("cus_")
    assert (c.object, c.livemode, c.balance, c.currency) == ("customer", False, 0, None)
    assert c.invoice_settings.default_payment_method is None
    assert isinstance(c.created, int)

    got = stripe_client.v1.customers.retrieve(c.id)
    assert got.email == "ada@example.com"

    updated = stripe_client.v1.customers.update(
        c.id, params={"name": "Ada L.", "metadata": {"x": "", "y": "2"}}
    )
    assert updated.name == "Ada L."
    assert updated.metadata.to_dict() == {"user": "u1", "y": "2"}

    deleted = stripe_client.v1.customers.delete(c.id)
    assert deleted.deleted is True
    again = stripe_client.v1.customers.retrieve(c.id)
    assert again.to_dict()["deleted"] is True
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.customers.update(c.id, params={"name": "x"})


def test_list_pages_newest_first(stripe_client: stripe.StripeClient) -> None:
    ids = [stripe_client.v1.customers.create(params={"email": f"u{i}@x.io"}).id for i in range(5)]
    page = stripe_client.v1.customers.list(params={"limit": 2})
    assert [c.id for c in page.data] == ids[::-1][:2]
    assert page.has_more is True
    assert page.url == "/v1/customers"
    rest = stripe_client.v1.customers.list(params={"limit": 10, "starting_after": page.data[-1].id})
    assert [c.id for c in rest.data] == ids[::-1][2:]
    assert rest.has_more is False
    assert [c.id for c in page.auto_paging_iter()] == ids[::-1]
    by_email = stripe_client.v1.customers.list(params={"email": "u3@x.io"})
    assert [c.id for c in by_email.data] == [ids[3]]


def test_default_payment_method_and_expand(stripe_client: stripe.StripeClient) -> None:
    c = stripe_client.v1.customers.create()
    pm = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": c.id})
    c = stripe_client.v1.customers.update(
        c.id,
        params={
            "invoice_settings": {"default_payment_method": pm.id},
            "expand": ["invoice_settings.default_payment_method"],
        },
    )
    default = c.invoice_settings.default_payment_method
    assert isinstance(default, stripe.PaymentMethod)
    assert default.card is not None and default.card.last4 == "4242"
    other = stripe_client.v1.payment_methods.create(
        params={"type": "card", "card": {"token": "tok_mastercard"}}
    )
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.customers.update(
            c.id, params={"invoice_settings": {"default_payment_method": other.id}}
        )
    assert info.value.param == "invoice_settings[default_payment_method]"
    stripe_client.v1.payment_methods.detach(pm.id)
    assert stripe_client.v1.customers.retrieve(c.id).invoice_settings.default_payment_method is None


def test_balance_transactions_sign_convention(stripe_client: stripe.StripeClient) -> None:
    c = stripe_client.v1.customers.create()
    credit = stripe_client.v1.customers.balance_transactions.create(
        c.id, params={"amount": -500, "currency": "usd", "description": "credit"}
    )
    assert isinstance(credit, stripe.CustomerBalanceTransaction)
    assert credit.id.startswith("cbtxn_")
    assert (credit.amount, credit.ending_balance, credit.type) == (-500, -500, "adjustment")
    debit = stripe_client.v1.customers.balance_transactions.create(
        c.id, params={"amount": 200, "currency": "usd"}
    )
    assert debit.ending_balance == -300
    customer = stripe_client.v1.customers.retrieve(c.id)
    assert (customer.balance, customer.currency) == (-300, "usd")
    listed = stripe_client.v1.customers.balance_transactions.list(c.id)
    assert [t.id for t in listed.data] == [debit.id, credit.id]
    got = stripe_client.v1.customers.balance_transactions.retrieve(c.id, credit.id)
    assert got.description == "credit"
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.customers.balance_transactions.create(
            c.id, params={"amount": 1, "currency": "eur"}
        )


def test_customer_events(stripe_client: stripe.StripeClient, sandbox: RunningSandbox) -> None:
    c = stripe_client.v1.customers.create(params={"name": "A"})
    stripe_client.v1.customers.update(c.id, params={"name": "B"})
    events = stripe_client.v1.events.list(params={"type": "customer.*"})
    assert [e.type for e in events.data] == ["customer.updated", "customer.created"]
    updated = events.data[0]
    assert isinstance(updated, stripe.Event)
    assert updated.id.startswith("evt_")
    assert updated.data.object["name"] == "B"
    assert updated.data.previous_attributes is not None
    assert updated.data.previous_attributes["name"] == "A"
    assert updated.request is not None and updated.request.id is not None
    assert stripe_client.v1.events.retrieve(updated.id).type == "customer.updated"
