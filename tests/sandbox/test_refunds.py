"""Refunds through the SDK: the events Stripe sends for them, delivered signed, and their
effect on the charge, the PaymentIntent's latest charge and the balance."""

from __future__ import annotations

import httpx
import pytest
import stripe

from stripe_sandbox import RunningSandbox

from .helpers import by_type, charge_off_session, listen, received, saved_card
from .receiver import Receiver

REFUND_EVENTS = [
    "refund.created",
    "refund.updated",
    "refund.failed",
    "charge.refunded",
    "charge.refund.updated",
]


def test_partial_then_full_refund_by_intent_and_by_charge(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox, receiver: Receiver
) -> None:
    customer, pm = saved_card(stripe_client, sandbox, "pm_card_visa")
    pi = charge_off_session(stripe_client, customer, pm, 1000)
    charge_id = str(pi.latest_charge)
    secret = listen(stripe_client, receiver, REFUND_EVENTS)

    part = stripe_client.v1.refunds.create(
        params={"payment_intent": pi.id, "amount": 300, "metadata": {"op": "part"}}
    )
    assert isinstance(part, stripe.Refund)
    assert (part.amount, part.status, part.charge, part.payment_intent) == (
        300,
        "succeeded",
        charge_id,
        pi.id,
    )
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.create(params={"charge": charge_id, "amount": 800})
    assert info.value.code == "amount_too_large"
    rest = stripe_client.v1.refunds.create(params={"charge": charge_id})
    assert rest.amount == 700
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.create(params={"payment_intent": pi.id})
    assert info.value.code == "charge_already_refunded"

    # The PaymentIntent's latest charge shows it (its refunds only when expanded, since
    # 2022-11-15).
    seen = stripe_client.v1.payment_intents.retrieve(
        pi.id, params={"expand": ["latest_charge.refunds"]}
    )
    charge = seen.latest_charge
    assert isinstance(charge, stripe.Charge)
    assert (charge.amount_refunded, charge.refunded) == (1000, True)
    assert [r.id for r in charge.refunds.data] == [rest.id, part.id]  # type: ignore[union-attr]

    # Each refund takes its amount out of the balance, without a fee.
    txn = stripe_client.v1.balance_transactions.retrieve(str(part.balance_transaction))
    assert (txn.amount, txn.fee, txn.net, txn.type, txn.source) == (
        -300,
        0,
        -300,
        "refund",
        part.id,
    )

    events = by_type(received(receiver, secret, 4))
    assert sorted(d["object"]["id"] for d in events["refund.created"]) == sorted([part.id, rest.id])
    refunded = sorted(events["charge.refunded"], key=lambda d: d["object"]["amount_refunded"])
    assert [
        (d["object"]["id"], d["object"]["amount_refunded"], d["object"]["refunded"])
        for d in refunded
    ] == [(charge_id, 300, False), (charge_id, 1000, True)]
    assert refunded[0]["previous_attributes"]["amount_refunded"] == 0
    assert refunded[1]["previous_attributes"] == {"amount_refunded": 300, "refunded": False}
    assert all("refunds" not in d["object"] for d in refunded)  # not expanded in an event
    assert set(events) == {"refund.created", "charge.refunded"}


def test_refund_updates_and_failure(
    stripe_client: stripe.StripeClient,
    sandbox: RunningSandbox,
    receiver: Receiver,
    control: httpx.Client,
) -> None:
    customer, pm = saved_card(stripe_client, sandbox, "pm_card_visa")
    pi = charge_off_session(stripe_client, customer, pm, 2000)
    refund = stripe_client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 500})
    secret = listen(stripe_client, receiver, REFUND_EVENTS)

    stripe_client.v1.refunds.update(refund.id, params={"metadata": {"ticket": "T-1"}})
    events = by_type(received(receiver, secret, 2))
    for kind in ("refund.updated", "charge.refund.updated"):
        [data] = events[kind]
        assert data["object"]["metadata"] == {"ticket": "T-1"}
        assert data["previous_attributes"] == {"metadata": {}}

    r = control.post(f"/_sandbox/refunds/{refund.id}/fail", json={"failure_reason": "declined"})
    assert r.status_code == 200, r.text
    failed = stripe_client.v1.refunds.retrieve(refund.id)
    assert (failed.status, failed.failure_reason) == ("failed", "declined")
    back = stripe_client.v1.balance_transactions.retrieve(str(failed.failure_balance_transaction))
    assert (back.amount, back.type) == (500, "refund_failure")
    charge = stripe_client.v1.charges.retrieve(
        str(pi.latest_charge), params={"expand": ["refunds"]}
    )
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    assert charge.refunds is not None and charge.refunds.data[0].status == "failed"

    events = by_type(received(receiver, secret, 5))
    assert events["refund.failed"][0]["object"]["status"] == "failed"
    assert events["refund.updated"][-1]["previous_attributes"]["status"] == "succeeded"
    assert events["charge.refund.updated"][-1]["object"]["failure_reason"] == "declined"
    again = control.post(f"/_sandbox/refunds/{refund.id}/fail")
    assert again.status_code == 400 and again.json()["error"]["type"] == "invalid_request_error"
    # the amount can be refunded again
    assert stripe_client.v1.refunds.create(params={"payment_intent": pi.id}).amount == 2000


def test_refund_lists_filter_and_page(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox, control: httpx.Client
) -> None:
    customer, pm = saved_card(stripe_client, sandbox, "pm_card_visa")
    first = charge_off_session(stripe_client, customer, pm, 5000)
    second = charge_off_session(stripe_client, customer, pm, 5000)
    early = [
        stripe_client.v1.refunds.create(params={"payment_intent": first.id, "amount": 100}).id
        for _ in range(3)
    ]
    control.post("/_sandbox/clock", json={"advance": 3600})
    since = stripe_client.v1.refunds.create(params={"payment_intent": first.id, "amount": 100})
    other = stripe_client.v1.refunds.create(params={"charge": str(second.latest_charge)})

    by_intent = stripe_client.v1.refunds.list(params={"payment_intent": first.id})
    assert [r.id for r in by_intent.data] == [since.id, *early[::-1]]
    by_charge = stripe_client.v1.refunds.list(params={"charge": str(second.latest_charge)})
    assert [r.id for r in by_charge.data] == [other.id]
    recent = stripe_client.v1.refunds.list(params={"created": {"gte": since.created}})
    assert [r.id for r in recent.data] == [other.id, since.id]
    exact = stripe_client.v1.refunds.list(params={"created": since.created})
    assert {r.id for r in exact.data} == {other.id, since.id}

    paged, after = [], None
    while True:
        page = stripe_client.v1.refunds.list(
            params={"limit": 2, **({"starting_after": after} if after else {})}
        )
        paged += [r.id for r in page.data]
        if not page.has_more:
            break
        after = page.data[-1].id
    assert paged == [other.id, since.id, *early[::-1]]
    # the charge's embedded list points at /v1/charges/{id}/refunds (no SDK method any more)
    url = stripe_client.v1.charges.retrieve(  # type: ignore[union-attr]
        str(first.latest_charge), params={"expand": ["refunds"]}
    ).refunds.url
    on_charge = control.get(
        url, headers={"Authorization": f"Bearer {sandbox.secret_key}"}, params={"limit": 3}
    ).json()
    assert [r["id"] for r in on_charge["data"]] == [since.id, *early[:0:-1]]
    assert on_charge["has_more"] is True
