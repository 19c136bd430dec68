"""Bad input to the ``/_sandbox/`` control routes and the 3-D Secure challenge is the caller's
mistake: a 400 in Stripe's error shape naming the parameter, and nothing changes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from stripe_sandbox import RunningSandbox

from .helpers import pay

CONTROL_POSTS = (
    "/_sandbox/faults",
    "/_sandbox/webhooks/config",
    "/_sandbox/webhooks/flush",
    "/_sandbox/clock",
    "/_sandbox/account",
    "/_sandbox/disputes",
)


def _refused(response: httpx.Response, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    if param is not None:
        assert error["param"] == param
    return error


@pytest.mark.parametrize(
    ("spec", "param"),
    [
        ({"kind": "error", "fraction": "abc"}, "fraction"),
        ({"kind": "error", "fraction": 1.5}, "fraction"),
        ({"kind": "error", "fraction": "nan"}, "fraction"),
        ({"kind": "error", "count": "x"}, "count"),
        ({"kind": "error", "count": 0}, "count"),
        ({"kind": "error", "count": 1.5}, "count"),
        ({"kind": "delay", "seconds": "soon"}, "seconds"),
        ({"kind": "delay", "seconds": -1}, "seconds"),
        ({"kind": "error", "status": "teapot"}, "status"),
        ({"kind": "error", "status": 200}, "status"),
        ({"kind": "lost_response", "drop": "maybe"}, "drop"),
        ({"kind": "error", "path": ["/v1/*"]}, "path"),
        ({"kind": "error", "colour": "red"}, "colour"),
        ({"kind": "explode"}, "kind"),
    ],
)
def test_a_bad_fault_is_refused_and_nothing_is_injected(
    control: httpx.Client, spec: dict[str, Any], param: str
) -> None:
    _refused(control.post("/_sandbox/faults", json=spec), param)
    form = {k: str(v) for k, v in spec.items()}
    if param != "path":  # a form has no lists
        _refused(control.post("/_sandbox/faults", data=form), param)
    assert control.get("/_sandbox/faults").json()["data"] == []


def test_a_form_false_is_false(control: httpx.Client) -> None:
    fault = control.post(
        "/_sandbox/faults", data={"kind": "lost_response", "drop": "false", "fraction": "0.5"}
    ).json()
    assert (fault["drop"], fault["fraction"], fault["count"]) == (False, 0.5, None)


@pytest.mark.parametrize("path", CONTROL_POSTS)
@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"'])
def test_a_malformed_json_body_is_refused(control: httpx.Client, path: str, body: bytes) -> None:
    r = control.post(path, content=body, headers={"Content-Type": "application/json"})
    assert "Invalid JSON body" in _refused(r)["message"]


def test_bad_numbers_on_the_clock_flush_and_webhook_config_change_nothing(
    control: httpx.Client,
) -> None:
    before = control.get("/_sandbox/webhooks/config").json()
    _refused(control.post("/_sandbox/clock", json={"advance": "x"}), "advance")
    _refused(control.post("/_sandbox/clock", json={"advance": 1.5}), "advance")
    _refused(control.post("/_sandbox/clock?advance=x"), "advance")
    assert control.get("/_sandbox/clock").json()["offset"] == 0
    _refused(control.post("/_sandbox/webhooks/flush", json={"timeout": "x"}), "timeout")
    _refused(control.post("/_sandbox/webhooks/flush", data={"timeout": "-1"}), "timeout")
    for settings, param in (
        ({"delay_seconds": 0.5, "max_attempts": "x"}, "max_attempts"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"duplicate": "perhaps"}, "duplicate"),
        ({"retry_base_seconds": "inf"}, "retry_base_seconds"),
        ({"colour": 1}, "colour"),
    ):
        _refused(control.post("/_sandbox/webhooks/config", json=settings), param)
    assert control.get("/_sandbox/webhooks/config").json() == before  # all or nothing
    assert control.post("/_sandbox/clock", json={"advance": "60"}).json()["offset"] == 60


def test_bad_values_on_disputes_refunds_resend_and_account(
    stripe_client: stripe.StripeClient, control: httpx.Client
) -> None:
    pi = pay(stripe_client)
    _refused(
        control.post("/_sandbox/disputes", json={"payment_intent": pi.id, "amount": "lots"}),
        "amount",
    )
    _refused(control.post("/_sandbox/disputes", json={"charge": {"id": 1}}), "charge")
    assert stripe_client.v1.disputes.list().data == []
    _refused(control.post("/_sandbox/account", json={"api_version": 20261028}), "api_version")
    event = stripe_client.v1.events.list(params={"limit": 1}).data[0]
    missing = control.post(f"/_sandbox/events/{event.id}/resend", json={"endpoint": "we_nope"})
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "endpoint"
    assert control.post("/_sandbox/events/evt_nope/resend").status_code == 404


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"outcome": "complete", "client_secret": ["x"]}'],
)
def test_the_challenge_refuses_a_malformed_body(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox, body: bytes
) -> None:
    si = stripe_client.v1.setup_intents.create(
        params={
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        }
    )
    assert si.status == "requires_action"
    r = httpx.post(
        f"{sandbox.base_url}/_sandbox/authenticate/{si.id}",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert stripe_client.v1.setup_intents.retrieve(si.id).status == "requires_action"
