"""Every test card the service relies on, with Stripe's documented outcome."""

from __future__ import annotations

import pytest
import stripe

from stripe_sandbox import RunningSandbox

from .helpers import NO_REDIRECTS, authenticate, charge_off_session, saved_card

SUCCEEDING = [("pm_card_visa", "4242424242424242"), ("pm_card_mastercard", "5555555555554444")]
DECLINE_AT_SETUP = [
    ("pm_card_chargeDeclined", "4000000000000002", "card_declined", "generic_decline"),
    (
        "pm_card_chargeDeclinedInsufficientFunds",
        "4000000000009995",
        "card_declined",
        "insufficient_funds",
    ),
    ("pm_card_chargeDeclinedProcessingError", "4000000000000119", "processing_error", None),
]


@pytest.mark.parametrize(("test_pm", "number"), SUCCEEDING)
def test_succeeding_cards(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox, test_pm: str, number: str
) -> None:
    customer, pm = saved_card(stripe_client, sandbox, test_pm)
    pi = charge_off_session(stripe_client, customer, pm)
    assert pi.status == "succeeded"
    assert pi.amount_received == 1000
    charge = stripe_client.v1.charges.retrieve(str(pi.latest_charge))
    assert charge.paid and charge.status == "succeeded"
    assert charge.payment_method_details is not None
    card = charge.payment_method_details.card
    assert card is not None and card.last4 == number[-4:]
    by_number = stripe_client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"},
        }
    )
    assert by_number.card is not None and by_number.card.last4 == number[-4:]
    assert by_number.card.checks is not None and by_number.card.checks.cvc_check == "pass"


@pytest.mark.parametrize(("test_pm", "number", "code", "decline_code"), DECLINE_AT_SETUP)
def test_cards_that_decline_at_setup_and_charge(
    stripe_client: stripe.StripeClient,
    test_pm: str,
    number: str,
    code: str,
    decline_code: str | None,
) -> None:
    customer = stripe_client.v1.customers.create()
    with pytest.raises(stripe.CardError) as attach:
        stripe_client.v1.payment_methods.attach(test_pm, params={"customer": customer.id})
    assert (attach.value.code, attach.value.error.decline_code) == (code, decline_code)

    pm = stripe_client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 1, "exp_year": 2040}}
    )
    with pytest.raises(stripe.CardError) as setup:
        stripe_client.v1.setup_intents.create(
            params={
                "customer": customer.id,
                "payment_method": pm.id,
                "confirm": True,
                "automatic_payment_methods": NO_REDIRECTS,
            }
        )
    assert setup.value.http_status == 402
    assert setup.value.error.setup_intent is not None
    assert setup.value.error.setup_intent.status == "requires_payment_method"
    assert setup.value.error.decline_code == decline_code

    with pytest.raises(stripe.CardError) as pay:
        stripe_client.v1.payment_intents.create(
            params={
                "amount": 500,
                "currency": "usd",
                "payment_method": test_pm,
                "confirm": True,
                "automatic_payment_methods": NO_REDIRECTS,
            }
        )
    err = pay.value.error
    assert (err.code, err.decline_code, err.type) == (code, decline_code, "card_error")
    assert err.payment_intent is not None
    assert err.payment_intent.status == "requires_payment_method"
    assert err.payment_intent.last_payment_error is not None
    assert err.payment_intent.last_payment_error.code == code
    assert err.charge is not None
    failed = stripe_client.v1.charges.retrieve(err.charge)
    assert (failed.status, failed.failure_code, failed.paid) == ("failed", code, False)


def test_charge_customer_fail_attaches_but_every_charge_declines(
    stripe_client: stripe.StripeClient,
    sandbox: RunningSandbox,
) -> None:
    customer, pm = saved_card(stripe_client, sandbox, "pm_card_chargeCustomerFail")
    assert stripe_client.v1.payment_methods.retrieve(pm).customer == customer
    for _ in range(2):
        with pytest.raises(stripe.CardError) as info:
            charge_off_session(stripe_client, customer, pm)
        assert info.value.error.decline_code == "generic_decline"


def test_authentication_required_on_setup_then_off_session_succeeds(
    stripe_client: stripe.StripeClient,
    sandbox: RunningSandbox,
) -> None:
    customer = stripe_client.v1.customers.create()
    si = stripe_client.v1.setup_intents.create(
        params={
            "customer": customer.id,
            "payment_method": "pm_card_authenticationRequiredOnSetup",
            "confirm": True,
            "automatic_payment_methods": NO_REDIRECTS,
            "usage": "off_session",
        }
    )
    assert si.status == "requires_action"
    assert si.next_action is not None and si.next_action.type == "use_stripe_sdk"
    authenticate(sandbox, si)
    si = stripe_client.v1.setup_intents.retrieve(si.id)
    assert si.status == "succeeded"
    pi = charge_off_session(stripe_client, customer.id, str(si.payment_method))
    assert pi.status == "succeeded"
    # an on-session payment with the same card still needs the customer
    on_session = stripe_client.v1.payment_intents.create(
        params={
            "amount": 700,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": str(si.payment_method),
            "confirm": True,
            "automatic_payment_methods": NO_REDIRECTS,
        }
    )
    assert on_session.status == "requires_action"


def test_authentication_required_always_fails_off_session_then_customer_completes(
    stripe_client: stripe.StripeClient,
    sandbox: RunningSandbox,
) -> None:
    customer, pm = saved_card(stripe_client, sandbox, "pm_card_authenticationRequired")
    with pytest.raises(stripe.CardError) as info:
        charge_off_session(stripe_client, customer, pm)
    err = info.value.error
    assert info.value.http_status == 402
    assert (err.code, err.decline_code) == ("authentication_required", "authentication_required")
    assert err.payment_intent is not None
    pi_id = err.payment_intent.id
    assert err.payment_intent.status == "requires_payment_method"
    # the customer comes back on session: confirm with the card again → 3DS → succeeded
    pi = stripe_client.v1.payment_intents.confirm(pi_id, params={"payment_method": pm})
    assert pi.status == "requires_action"
    authenticate(sandbox, pi)
    pi = stripe_client.v1.payment_intents.retrieve(pi_id, params={"expand": ["latest_charge"]})
    assert pi.status == "succeeded"
    assert isinstance(pi.latest_charge, stripe.Charge)
    assert pi.latest_charge.status == "succeeded"


def test_failed_authentication_leaves_intent_needing_a_payment_method(
    stripe_client: stripe.StripeClient,
    sandbox: RunningSandbox,
) -> None:
    pi = stripe_client.v1.payment_intents.create(
        params={
            "amount": 900,
            "currency": "usd",
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
            "automatic_payment_methods": NO_REDIRECTS,
        }
    )
    assert pi.status == "requires_action"
    authenticate(sandbox, pi, "fail")
    pi = stripe_client.v1.payment_intents.retrieve(pi.id)
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error is not None
    assert pi.last_payment_error.code == "payment_intent_authentication_failure"


def test_bad_card_numbers(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.CardError) as info:
        stripe_client.v1.payment_methods.create(
            params={
                "type": "card",
                "card": {"number": "4242424242424241", "exp_month": 1, "exp_year": 2040},
            }
        )
    assert info.value.code == "incorrect_number"
    live = stripe_client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": "4111111111111111", "exp_month": 1, "exp_year": 2040},
        }
    )
    with pytest.raises(stripe.CardError) as info:
        stripe_client.v1.payment_intents.create(
            params={
                "amount": 500,
                "currency": "usd",
                "payment_method": live.id,
                "confirm": True,
                "automatic_payment_methods": NO_REDIRECTS,
            }
        )
    assert info.value.error.decline_code == "test_mode_live_card"


@pytest.mark.parametrize("request_3ds", ["any", "challenge"])
def test_request_three_d_secure_asks_for_authentication_whatever_the_card(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox, request_3ds: str
) -> None:
    options = {"card": {"request_three_d_secure": request_3ds}}
    si = stripe_client.v1.setup_intents.create(
        params={
            "payment_method": "pm_card_visa",
            "confirm": True,
            "automatic_payment_methods": NO_REDIRECTS,
            "payment_method_options": options,  # type: ignore[typeddict-item]
        }
    )
    assert si.status == "requires_action"
    assert si.payment_method_options is not None and si.payment_method_options.card is not None
    assert si.payment_method_options.card.request_three_d_secure == request_3ds
    authenticate(sandbox, si)
    assert stripe_client.v1.setup_intents.retrieve(si.id).status == "succeeded"

    pi = stripe_client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "payment_method_options": options,  # type: ignore[typeddict-item]
            "automatic_payment_methods": NO_REDIRECTS,
        }
    )
    pi = stripe_client.v1.payment_intents.confirm(pi.id)
    assert pi.status == "requires_action"
    authenticate(sandbox, pi)
    paid = stripe_client.v1.payment_intents.retrieve(pi.id, params={"expand": ["latest_charge"]})
    assert paid.status == "succeeded" and isinstance(paid.latest_charge, stripe.Charge)
    details = paid.latest_charge.payment_method_details
    assert details is not None and details.card is not None
    assert details.card.three_d_secure is not None  # the charge was authenticated

    # off session nobody can answer the challenge: the payment needs the customer
    customer, pm = saved_card(stripe_client, sandbox, "pm_card_visa")
    with pytest.raises(stripe.CardError) as info:
        stripe_client.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "usd",
                "customer": customer,
                "payment_method": pm,
                "confirm": True,
                "off_session": True,
                "automatic_payment_methods": NO_REDIRECTS,
                "payment_method_options": options,  # type: ignore[typeddict-item]
            }
        )
    assert info.value.code == "authentication_required"
    # "automatic" (the default) leaves it to the card: this one needs none
    assert (
        stripe_client.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
                "automatic_payment_methods": NO_REDIRECTS,
                "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
            }
        ).status
        == "succeeded"
    )
