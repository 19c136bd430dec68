"""What a confirmation needs, as Stripe asks it: a ``return_url`` when the intent may use
redirect-based payment methods (the default since 2023-08-16), and a payment method.

docs.stripe.com/changelog/2023-08-16/automatic-payment-methods: an intent created without
payment method types accepts the Dashboard's payment methods with redirects allowed; confirming
it then needs a ``return_url`` (a PaymentIntent confirmed off session excepted), unless it was
created with ``automatic_payment_methods[allow_redirects]=never``.
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from .helpers import NO_REDIRECTS

PI_NEEDS_RETURN_URL = (
    "A `return_url` must be specified because this Payment Intent is configured to "
    "automatically accept the payment methods enabled in the Dashboard, some of which may "
    "require a full page redirect to succeed. If you do not want to accept redirect-based "
    "payment methods, set `automatic_payment_methods[enabled]` to `true` and "
    "`automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and "
    "Payment Intents."
)
SI_NEEDS_RETURN_URL = PI_NEEDS_RETURN_URL.replace("Payment Intent is", "Setup Intent is")
BEFORE_DYNAMIC_DEFAULT = "2022-11-15"  # the last version before 2023-08-16


def _pi(**extra: Any) -> dict[str, Any]:
    return {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", **extra}


def _refused(info: pytest.ExceptionInfo[stripe.InvalidRequestError], message: str) -> None:
    err = info.value
    assert err.http_status == 400
    assert err.error is not None and err.error.type == "invalid_request_error"
    assert (err.user_message, err.code, err.param) == (message, None, None)


@pytest.mark.parametrize(
    "dynamic",
    [
        {},
        {"automatic_payment_methods": {"enabled": True}},
        {"automatic_payment_methods": {"enabled": True, "allow_redirects": "always"}},
    ],
    ids=["no payment method parameters", "enabled", "redirects always"],
)
def test_confirming_a_payment_that_may_redirect_needs_a_return_url(
    stripe_client: stripe.StripeClient, dynamic: dict[str, Any]
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.create(params=_pi(confirm=True, **dynamic))
    _refused(info, PI_NEEDS_RETURN_URL)
    # refused before anything happened
    assert stripe_client.v1.payment_intents.list().data == []
    assert stripe_client.v1.payment_methods.list().data == []

    pending = stripe_client.v1.payment_intents.create(params=_pi(**dynamic))
    assert pending.automatic_payment_methods is not None
    assert pending.automatic_payment_methods.to_dict() == {
        "allow_redirects": "always",
        "enabled": True,
    }
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.confirm(pending.id)
    _refused(info, PI_NEEDS_RETURN_URL)
    unchanged = stripe_client.v1.payment_intents.retrieve(pending.id)
    assert (unchanged.status, unchanged.latest_charge) == ("requires_confirmation", None)

    done = stripe_client.v1.payment_intents.confirm(
        pending.id, params={"return_url": "https://shop.test/done"}
    )
    assert done.status == "succeeded"
    assert (
        stripe_client.v1.payment_intents.create(
            params=_pi(confirm=True, return_url="https://shop.test/done", **dynamic)
        ).status
        == "succeeded"
    )
    # off session, a PaymentIntent needs none (nobody could be redirected)
    assert (
        stripe_client.v1.payment_intents.create(
            params=_pi(confirm=True, off_session=True, **dynamic)
        ).status
        == "succeeded"
    )


def test_confirming_a_setup_that_may_redirect_needs_a_return_url(
    stripe_client: stripe.StripeClient,
) -> None:
    customer = stripe_client.v1.customers.create()
    params: dict[str, Any] = {
        "customer": customer.id,
        "payment_method": "pm_card_visa",
        "usage": "off_session",
    }
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.setup_intents.create(params={**params, "confirm": True})
    _refused(info, SI_NEEDS_RETURN_URL)
    assert stripe_client.v1.setup_intents.list().data == []
    pending = stripe_client.v1.setup_intents.create(params=params)
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.setup_intents.confirm(pending.id)
    _refused(info, SI_NEEDS_RETURN_URL)
    assert stripe_client.v1.setup_intents.retrieve(pending.id).status == "requires_confirmation"
    assert stripe_client.v1.payment_methods.list(params={"customer": customer.id}).data == []
    done = stripe_client.v1.setup_intents.confirm(
        pending.id, params={"return_url": "https://shop.test/done"}
    )
    assert done.status == "succeeded"


def test_no_return_url_is_needed_without_redirects_or_before_the_change(
    stripe_client: stripe.StripeClient,
) -> None:
    never = stripe_client.v1.payment_intents.create(
        params=_pi(confirm=True, automatic_payment_methods=NO_REDIRECTS)
    )
    assert never.status == "succeeded"
    assert (
        stripe_client.v1.setup_intents.create(
            params={
                "payment_method": "pm_card_visa",
                "confirm": True,
                "automatic_payment_methods": NO_REDIRECTS,
            }
        ).status
        == "succeeded"
    )
    explicit = stripe_client.v1.payment_intents.create(
        params=_pi(confirm=True, allowed_payment_method_types=["card"])
    )
    assert explicit.status == "succeeded" and explicit.automatic_payment_methods is None
    older = stripe_client.v1.payment_intents.create(
        params=_pi(confirm=True), options={"stripe_version": BEFORE_DYNAMIC_DEFAULT}
    )
    assert older.status == "succeeded"
    assert older.automatic_payment_methods is None and older.payment_method_types == ["card"]


def test_automatic_payment_methods_needs_enabled(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.create(
            params=_pi(automatic_payment_methods={"allow_redirects": "never"})  # type: ignore[typeddict-item]
        )
    assert (info.value.code, info.value.param) == (
        "parameter_missing",
        "automatic_payment_methods[enabled]",
    )


def test_confirm_true_without_a_payment_method_is_refused(
    stripe_client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "usd",
                "confirm": True,
                "automatic_payment_methods": NO_REDIRECTS,
            }
        )
    err = info.value
    assert (err.http_status, err.code) == (400, "payment_intent_unexpected_state")
    assert err.user_message == (
        "You cannot confirm this PaymentIntent because it's missing a payment method. You can "
        "either update the PaymentIntent with a payment method and then confirm it again, or "
        "confirm it again directly with a payment method."
    )
    assert err.error is not None and err.error.payment_intent is not None
    created = err.error.payment_intent
    assert created.status == "requires_payment_method"
    assert [p.id for p in stripe_client.v1.payment_intents.list().data] == [created.id]
    assert stripe_client.v1.charges.list().data == []

    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.setup_intents.create(
            params={"confirm": True, "automatic_payment_methods": NO_REDIRECTS}
        )
    assert info.value.code == "setup_intent_unexpected_state"
    assert info.value.error is not None and info.value.error.setup_intent is not None
    assert info.value.error.setup_intent.status == "requires_payment_method"
