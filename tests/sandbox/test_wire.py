"""Stripe's wire protocol: form bodies with brackets, auth, error bodies, unknown parameters."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st
from stripe._encode import _api_encode

from stripe_sandbox.wire import parse_form, split_key


def test_parse_form_brackets() -> None:
    body = (
        "metadata[order]=42&payment_method_types[]=card&expand[0]=customer"
        "&expand[1]=latest_charge&invoice_settings[default_payment_method]=pm_1&empty="
    )
    assert parse_form(body) == {
        "metadata": {"order": "42"},
        "payment_method_types": {"0": "card"},
        "expand": {"0": "customer", "1": "latest_charge"},
        "invoice_settings": {"default_payment_method": "pm_1"},
        "empty": "",
    }


def test_split_key_rejects_malformed() -> None:
    assert split_key("a[b][]") == ["a", "b", ""]
    assert split_key("a[b") is None
    assert split_key("[a]") is None


_key = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
_val = st.text(alphabet="abc123 -_.", min_size=1, max_size=8)


@given(st.dictionaries(_key, st.one_of(_val, st.dictionaries(_key, _val, min_size=1))))
def test_parse_form_inverts_the_sdk_encoding(params: dict[str, object]) -> None:
    body = urlencode(list(_api_encode(params)))
    assert parse_form(body) == params


def test_missing_key_is_401_in_stripe_shape(control: httpx.Client) -> None:
    r = control.get("/v1/customers")
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert "You did not provide an API key" in r.json()["error"]["message"]


def test_malformed_key_is_401(sandbox: object) -> None:
    client = stripe.StripeClient("sk_live_nope", base_addresses={"api": sandbox.base_url})  # type: ignore[attr-defined]
    with pytest.raises(stripe.AuthenticationError) as info:
        client.v1.customers.list()
    assert info.value.http_status == 401
    assert "Invalid API Key provided" in str(info.value.user_message)


def test_any_test_key_and_basic_auth_are_accepted(control: httpx.Client) -> None:
    r = control.post("/v1/customers", auth=("sk_test_anything", ""), data={"email": "a@x.io"})
    assert r.status_code == 200
    assert r.json()["object"] == "customer"
    assert r.headers["request-id"].startswith("req_")


def test_publishable_key_cannot_call_secret_routes(control: httpx.Client) -> None:
    r = control.get("/v1/customers", headers={"Authorization": "Bearer pk_test_x"})
    assert r.status_code == 401
    assert "publishable API key" in r.json()["error"]["message"]


def test_unknown_parameter_is_rejected(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.customers.create(params={"emial": "x@y.z"})  # type: ignore[typeddict-unknown-key]
    assert info.value.http_status == 400
    assert info.value.code == "parameter_unknown"
    assert info.value.param == "emial"
    assert info.value.user_message == "Received unknown parameter: emial"


def test_nested_unknown_parameter_names_the_bracket_path(
    stripe_client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_methods.create(
            params={
                "type": "card",
                "card": {
                    "number": "4242424242424242",
                    "exp_month": 1,
                    "exp_year": 2040,
                    "colour": "red",
                },
            }
        )  # type: ignore[typeddict-unknown-key]
    assert info.value.param == "card[colour]"


def test_missing_and_invalid_parameters(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.create(params={"currency": "usd"})  # type: ignore[typeddict-item]
    assert (info.value.code, info.value.param) == ("parameter_missing", "amount")
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.customers.list(params={"limit": 1000})
    assert info.value.param == "limit"


def test_invalid_integer(control: httpx.Client, sandbox: object) -> None:
    r = control.post(
        "/v1/payment_intents",
        data={"amount": "12.5", "currency": "usd"},
        headers={"Authorization": "Bearer sk_test_x"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "parameter_invalid_integer"


def test_unknown_url_and_missing_object(
    stripe_client: stripe.StripeClient, control: httpx.Client
) -> None:
    r = control.get("/v1/nothing", headers={"Authorization": "Bearer sk_test_x"})
    assert r.status_code == 404
    assert "Unrecognized request URL" in r.json()["error"]["message"]
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.customers.retrieve("cus_missing")
    assert info.value.http_status == 404
    assert info.value.code == "resource_missing"
    assert info.value.user_message == "No such customer: 'cus_missing'"
