"""SetupIntents, PaymentIntents and refunds through the SDK."""

from __future__ import annotations

import httpx
import pytest
import stripe

from stripe_sandbox import RunningSandbox

from .helpers import NO_REDIRECTS, charge_off_session, saved_card


def test_setup_intent_lifecycle(stripe_client: stripe.StripeClient) -> None:
    customer = stripe_client.v1.customers.create()
    si = stripe_client.v1.setup_intents.create(
        params={
            "customer": customer.id,
            "usage": "off_session",
            "allowed_payment_method_types": ["card", "sepa_debit"],
            "metadata": {"user": "u1"},
        }
    )
    assert isinstance(si, stripe.SetupIntent)
    assert si.id.startswith("seti_")
    assert si.status == "requires_payment_method"
    assert si.client_secret is not None and si.client_secret.startswith(si.id + "_secret_")
    assert si.usage == "off_session" and si.payment_method_types == ["card"]
    assert si.allowed_payment_method_types == ["card", "sepa_debit"]

    done = stripe_client.v1.setup_intents.confirm(si.id, params={"payment_method": "pm_card_visa"})
    assert done.status == "succeeded"
    pm = stripe_client.v1.payment_methods.retrieve(str(done.payment_method))
    assert pm.customer == customer.id
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.setup_intents.cancel(si.id)
    assert info.value.code == "setup_intent_unexpected_state"

    other = stripe_client.v1.setup_intents.create(params={"customer": customer.id})
    canceled = stripe_client.v1.setup_intents.cancel(
        other.id, params={"cancellation_reason": "abandoned"}
    )
    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "abandoned")
    types = [e.type for e in stripe_client.v1.events.list(params={"type": "setup_intent.*"}).data]
    assert types == [
        "setup_intent.canceled",
        "setup_intent.created",
        "setup_intent.succeeded",
        "setup_intent.created",
    ]


def test_setup_intent_with_card_data_and_publishable_key(
    stripe_client: stripe.StripeClient,
    sandbox: RunningSandbox,
) -> None:
    customer = stripe_client.v1.customers.create()
    si = stripe_client.v1.setup_intents.create(
        params={"customer": customer.id, "automatic_payment_methods": NO_REDIRECTS}
    )
    assert si.client_secret is not None
    browser = httpx.Client(
        base_url=sandbox.base_url, headers={"Authorization": f"Bearer {sandbox.publishable_key}"}
    )
    wrong = browser.get(f"/v1/setup_intents/{si.id}", params={"client_secret": "nope"})
    assert wrong.status_code == 400
    confirmed = browser.post(
        f"/v1/setup_intents/{si.id}/confirm",
        data={
            "client_secret": si.client_secret,
            "payment_method_data[type]": "card",
            "payment_method_data[card][number]": "5555555555554444",
            "payment_method_data[card][exp_month]": "4",
            "payment_method_data[card][exp_year]": "41",
        },
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "succeeded"
    assert browser.post("/v1/customers").status_code == 401
    cards = stripe_client.v1.customers.payment_methods.list(customer.id)
    assert cards.data[0].card is not None and cards.data[0].card.last4 == "4444"


def test_payment_intent_create_then_confirm_list_and_cancel(
    stripe_client: stripe.StripeClient,
    sandbox: RunningSandbox,
) -> None:
    customer, pm = saved_card(stripe_client, sandbox, "pm_card_visa")
    pi = stripe_client.v1.payment_intents.create(
        params={"amount": 2500, "currency": "USD", "customer": customer, "metadata": {"r": "1"}}
    )
    assert isinstance(pi, stripe.PaymentIntent)
    assert (pi.status, pi.currency, pi.latest_charge) == ("requires_payment_method", "usd", None)
    pi = stripe_client.v1.payment_intents.confirm(
        pi.id, params={"payment_method": pm, "off_session": True}
    )
    assert pi.status == "succeeded" and pi.amount_received == 2500
    assert isinstance(pi.latest_charge, str) and pi.latest_charge.startswith("ch_")
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.confirm(pi.id)
    assert info.value.code == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.payment_intents.cancel(pi.id)

    pending = stripe_client.v1.payment_intents.create(
        params={"amount": 100, "currency": "usd", "customer": customer}
    )
    canceled = stripe_client.v1.payment_intents.cancel(
        pending.id, params={"cancellation_reason": "abandoned"}
    )
    assert canceled.status == "canceled" and canceled.canceled_at is not None
    listed = stripe_client.v1.payment_intents.list(params={"customer": customer})
    assert [p.id for p in listed.data] == [pending.id, pi.id]
    stripe_client.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
    assert len(stripe_client.v1.payment_intents.list(params={"customer": customer}).data) == 2


def test_payment_intent_validation(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.create(params={"amount": 10, "currency": "usd"})
    assert info.value.code == "amount_too_small"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.create(
            params={"amount": 100, "currency": "usd", "off_session": True}
        )
    assert info.value.param == "off_session"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.create(
            params={"amount": 100, "currency": "usd", "customer": "cus_nope"}
        )
    assert (info.value.http_status, info.value.param) == (404, "customer")


def test_off_session_charge_events_and_charge_shape(
    stripe_client: stripe.StripeClient,
    sandbox: RunningSandbox,
) -> None:
    customer, pm = saved_card(stripe_client, sandbox, "pm_card_visa")
    pi = charge_off_session(stripe_client, customer, pm, 66885)
    charge = stripe_client.v1.charges.retrieve(
        str(pi.latest_charge), params={"expand": ["balance_transaction"]}
    )
    assert (charge.amount, charge.captured, charge.customer, charge.payment_intent) == (
        66885,
        True,
        customer,
        pi.id,
    )
    assert charge.metadata is not None and charge.metadata["recharge"] == "r1"
    assert isinstance(charge.balance_transaction, stripe.BalanceTransaction)
    assert charge.balance_transaction.fee == 1970  # 2.9 % + 30, half up
    types = [
        e.type
        for e in stripe_client.v1.events.list(
            params={
                "types": ["payment_intent.created", "payment_intent.succeeded", "charge.succeeded"]
            }
        ).data
    ]
    assert types == ["payment_intent.succeeded", "charge.succeeded", "payment_intent.created"]


def test_lists_for_reconciliation_and_foreign_payments(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox, control: httpx.Client
) -> None:
    """What reconciliation reads: a customer's PaymentIntents since a time, page by page, and
    their charges — including one made outside our flow with someone else's metadata."""
    a, pm_a = saved_card(stripe_client, sandbox, "pm_card_visa")
    b, pm_b = saved_card(stripe_client, sandbox, "pm_card_mastercard")
    old = [charge_off_session(stripe_client, a, pm_a, 1000 + i).id for i in range(3)]
    control.post("/_sandbox/clock", json={"advance": 86400})
    since = (
        stripe_client.v1.charges.retrieve(
            str(stripe_client.v1.payment_intents.retrieve(old[-1]).latest_charge)
        ).created
        + 86400
    )
    recent = [charge_off_session(stripe_client, a, pm_a, 2000 + i).id for i in range(3)]
    charge_off_session(stripe_client, b, pm_b, 5000)
    foreign = stripe_client.v1.payment_intents.create(
        params={
            "amount": 50,
            "currency": "usd",
            "customer": a,
            "payment_method": pm_a,
            "confirm": True,
            "off_session": True,
            "metadata": {"recharge_id": "rch_of_b", "user_id": "b"},
        }
    )
    assert foreign.status == "succeeded"

    pages, after = [], None
    while True:
        page = stripe_client.v1.payment_intents.list(
            params={
                "customer": a,
                "created": {"gte": since},
                "limit": 2,
                **({"starting_after": after} if after else {}),
            }
        )
        pages.append([p.id for p in page.data])
        if not page.has_more:
            break
        after = page.data[-1].id
    assert pages == [[foreign.id, recent[2]], [recent[1], recent[0]]]
    found = stripe_client.v1.payment_intents.retrieve(foreign.id)
    assert found.metadata is not None and found.metadata["recharge_id"] == "rch_of_b"
    assert found.customer == a and found.amount_received == 50

    charges = stripe_client.v1.charges.list(params={"customer": a, "limit": 100}).data
    assert len(charges) == 7 and charges[0].payment_intent == foreign.id
    assert charges[0].metadata is not None and charges[0].metadata["user_id"] == "b"
    back = stripe_client.v1.payment_intents.list(
        params={"customer": a, "ending_before": recent[1], "limit": 1}
    )
    assert [p.id for p in back.data] == [recent[2]] and back.has_more
    older = stripe_client.v1.payment_intents.list(params={"customer": a, "created": {"lt": since}})
    assert [p.id for p in older.data] == old[::-1]
