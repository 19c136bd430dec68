"""Disputes: opened through ``/_sandbox/disputes`` or a test card, won or lost through the
control routes, Stripe's test-mode evidence or acceptance, with the events Stripe sends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from stripe_sandbox import RunningSandbox

from .helpers import NO_REDIRECTS, by_type, charge_off_session, listen, received, saved_card
from .receiver import Receiver

# Stripe's webhook endpoints take event types one by one (no "charge.dispute.*").
DISPUTE_EVENTS = [
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
]

DISPUTE_FEE = 1500


def _open(control: httpx.Client, **body: Any) -> dict[str, Any]:
    r = control.post("/_sandbox/disputes", json=body)
    assert r.status_code == 200, r.text
    dispute: dict[str, Any] = r.json()
    return dispute


def _charged(
    client: stripe.StripeClient, sandbox: RunningSandbox, amount: int
) -> stripe.PaymentIntent:
    customer, pm = saved_card(client, sandbox, "pm_card_visa")
    return charge_off_session(client, customer, pm, amount)


def test_open_and_win_a_dispute(
    stripe_client: stripe.StripeClient,
    sandbox: RunningSandbox,
    control: httpx.Client,
    receiver: Receiver,
) -> None:
    pi = _charged(stripe_client, sandbox, 4000)
    secret = listen(stripe_client, receiver, DISPUTE_EVENTS)
    opened = _open(control, payment_intent=pi.id)
    assert opened["id"].startswith("du_")

    dispute = stripe_client.v1.disputes.retrieve(opened["id"])
    assert isinstance(dispute, stripe.Dispute)
    assert (dispute.amount, dispute.charge, dispute.payment_intent) == (
        4000,
        pi.latest_charge,
        pi.id,
    )
    assert (dispute.reason, dispute.status, dispute.is_charge_refundable) == (
        "fraudulent",
        "needs_response",
        False,
    )
    [withdrawal] = dispute.balance_transactions
    assert (withdrawal.amount, withdrawal.fee, withdrawal.net) == (-4000, DISPUTE_FEE, -5500)
    assert withdrawal.reporting_category == "dispute"
    assert stripe_client.v1.charges.retrieve(str(pi.latest_charge)).disputed is True
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.create(params={"payment_intent": pi.id})
    assert info.value.code == "charge_disputed"

    r = control.post(f"/_sandbox/disputes/{dispute.id}/win")
    assert r.status_code == 200 and r.json()["status"] == "won"
    won = stripe_client.v1.disputes.retrieve(dispute.id)
    assert won.status == "won"
    reinstated = won.balance_transactions[1]
    assert (reinstated.amount, reinstated.fee, reinstated.net) == (4000, -DISPUTE_FEE, 5500)
    assert reinstated.reporting_category == "dispute_reversal"
    assert control.post(f"/_sandbox/disputes/{dispute.id}/lose").status_code == 400

    events = by_type(received(receiver, secret, 4))
    assert set(events) == {
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    }
    created = events["charge.dispute.created"][0]["object"]
    assert (created["id"], created["amount"], created["status"]) == (
        dispute.id,
        4000,
        "needs_response",
    )
    assert created["balance_transactions"][0]["net"] == -5500
    closed = events["charge.dispute.closed"][0]
    assert closed["object"]["status"] == "won"
    assert closed["previous_attributes"]["status"] == "needs_response"
    assert len(events["charge.dispute.funds_reinstated"][0]["object"]["balance_transactions"]) == 2


def test_lose_a_dispute_and_accept_one(
    stripe_client: stripe.StripeClient,
    sandbox: RunningSandbox,
    control: httpx.Client,
    receiver: Receiver,
) -> None:
    lost_pi = _charged(stripe_client, sandbox, 1000)
    accepted_pi = _charged(stripe_client, sandbox, 2000)
    secret = listen(
        stripe_client,
        receiver,
        [
            "charge.dispute.closed",
            "charge.dispute.funds_withdrawn",
            "charge.dispute.funds_reinstated",
        ],
    )
    lost = _open(control, charge=lost_pi.latest_charge, reason="product_not_received", amount=600)
    accepted = _open(control, payment_intent=accepted_pi.id)

    assert control.post(f"/_sandbox/disputes/{lost['id']}/lose").json()["status"] == "lost"
    closed = stripe_client.v1.disputes.close(accepted["id"])
    assert closed.status == "lost"
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.disputes.close(accepted["id"])
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.create(params={"payment_intent": accepted_pi.id})
    assert info.value.code == "charge_disputed"

    events = by_type(received(receiver, secret, 4))
    assert sorted(d["object"]["id"] for d in events["charge.dispute.closed"]) == sorted(
        [lost["id"], accepted["id"]]
    )
    assert {d["object"]["status"] for d in events["charge.dispute.closed"]} == {"lost"}
    assert len(events["charge.dispute.funds_withdrawn"]) == 2
    assert "charge.dispute.funds_reinstated" not in events
    partial = stripe_client.v1.disputes.retrieve(lost["id"])
    assert (partial.amount, partial.reason) == (600, "product_not_received")
    assert partial.balance_transactions[0].net == -600 - DISPUTE_FEE


def test_evidence_decides_a_dispute_as_in_stripe_test_mode(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox, control: httpx.Client
) -> None:
    dispute_id = _open(control, payment_intent=_charged(stripe_client, sandbox, 1000).id)["id"]
    staged = stripe_client.v1.disputes.update(
        dispute_id,
        params={"evidence": {"uncategorized_text": "winning_evidence"}, "submit": False},
    )
    assert staged.status == "needs_response" and staged.evidence_details.has_evidence
    won = stripe_client.v1.disputes.update(
        dispute_id, params={"metadata": {"case": "1"}, "submit": True}
    )
    assert (won.status, won.evidence_details.submission_count) == ("won", 1)
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.disputes.update(
            dispute_id, params={"evidence": {"product_description": "x"}}
        )
    tagged = stripe_client.v1.disputes.update(dispute_id, params={"metadata": {"n": "2"}})
    assert tagged.metadata.to_dict() == {"case": "1", "n": "2"}

    other = _open(control, payment_intent=_charged(stripe_client, sandbox, 1000).id)["id"]
    reviewing = stripe_client.v1.disputes.update(
        other, params={"evidence": {"customer_name": "Jenny Rosen"}}
    )
    assert reviewing.status == "under_review"
    assert control.post(f"/_sandbox/disputes/{other}/lose").json()["status"] == "lost"
    types = [e.type for e in stripe_client.v1.events.list(params={"type": "charge.dispute.*"}).data]
    assert types.count("charge.dispute.updated") == 4
    assert types.count("charge.dispute.closed") == 2


def test_dispute_test_card_and_lists(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox, control: httpx.Client
) -> None:
    disputed = stripe_client.v1.payment_intents.create(
        params={
            "amount": 1500,
            "currency": "usd",
            "payment_method": "pm_card_createDispute",
            "confirm": True,
            "automatic_payment_methods": NO_REDIRECTS,
        }
    )
    assert disputed.status == "succeeded"
    [by_card] = stripe_client.v1.disputes.list(params={"payment_intent": disputed.id}).data
    assert (by_card.reason, by_card.status, by_card.amount) == (
        "fraudulent",
        "needs_response",
        1500,
    )
    other = _charged(stripe_client, sandbox, 1000)
    control.post("/_sandbox/clock", json={"advance": 60})
    later = _open(control, charge=other.latest_charge)
    assert [d.id for d in stripe_client.v1.disputes.list().data] == [later["id"], by_card.id]
    assert [
        d.id
        for d in stripe_client.v1.disputes.list(params={"charge": str(other.latest_charge)}).data
    ] == [later["id"]]
    assert [
        d.id
        for d in stripe_client.v1.disputes.list(params={"created": {"gt": by_card.created}}).data
    ] == [later["id"]]
    page = stripe_client.v1.disputes.list(params={"limit": 1})
    assert page.has_more and [d.id for d in page.data] == [later["id"]]


def test_dispute_refusals(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox, control: httpx.Client
) -> None:
    pi = _charged(stripe_client, sandbox, 1000)
    stripe_client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 400})
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        ({"charge": "ch_nope"}, 404, "charge"),
        ({}, 400, "charge"),
        ({"payment_intent": pi.id, "amount": 700}, 400, "amount"),
        ({"payment_intent": pi.id, "reason": "bored"}, 400, "reason"),
        ({"payment_intent": pi.id, "amount": "many"}, 400, "amount"),
    ]
    for body, status, param in cases:
        r = control.post("/_sandbox/disputes", json=body)
        assert (r.status_code, r.json()["error"].get("param")) == (status, param), body
    assert _open(control, payment_intent=pi.id)["amount"] == 600  # the unrefunded part
    assert control.post("/_sandbox/disputes", json={"payment_intent": pi.id}).status_code == 400
    refunded = _charged(stripe_client, sandbox, 1000)
    stripe_client.v1.refunds.create(params={"payment_intent": refunded.id})
    r = control.post("/_sandbox/disputes", json={"payment_intent": refunded.id})
    assert r.status_code == 400 and "fully refunded" in r.json()["error"]["message"]
    assert control.post("/_sandbox/disputes/du_nope/win").status_code == 404
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.disputes.retrieve("du_nope")
    assert info.value.http_status == 404


def test_new_post_routes_are_idempotent(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox, control: httpx.Client
) -> None:
    pi = _charged(stripe_client, sandbox, 3000)
    refund = stripe_client.v1.refunds.create(
        params={"payment_intent": pi.id, "amount": 1000}, options={"idempotency_key": "re-1"}
    )
    again = stripe_client.v1.refunds.create(
        params={"payment_intent": pi.id, "amount": 1000}, options={"idempotency_key": "re-1"}
    )
    assert again.id == refund.id
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert stripe_client.v1.charges.retrieve(str(pi.latest_charge)).amount_refunded == 1000

    dispute_id = _open(control, payment_intent=pi.id)["id"]
    first = stripe_client.v1.disputes.close(dispute_id, options={"idempotency_key": "close-1"})
    replay = stripe_client.v1.disputes.close(dispute_id, options={"idempotency_key": "close-1"})
    assert first.status == replay.status == "lost"
    assert replay.last_response is not None
    assert replay.last_response.headers["Idempotent-Replayed"] == "true"
    closed = stripe_client.v1.events.list(params={"type": "charge.dispute.closed"}).data
    assert len(closed) == 1
