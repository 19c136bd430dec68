"""Objects and events in the shape of their API version, and only versions Stripe released.

docs.stripe.com/changelog/2022-11-15: a charge's ``refunds`` list is no longer included unless
expanded. Events are rendered in the version of the endpoint that receives them when it has
one, else in the account's default version when they were created; ``GET /v1/events`` shows
each in its own version whatever the request speaks.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import stripe

from stripe_sandbox import RunningSandbox

from .helpers import pay
from .receiver import Receiver

PINNED = "2026-10-28.endive"
OLD = "2022-08-01"  # the last version whose charges carry their refunds


def _api(sandbox: RunningSandbox, version: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {sandbox.secret_key}"}
    if version is not None:
        headers["Stripe-Version"] = version
    return httpx.Client(base_url=sandbox.base_url, headers=headers, timeout=10)


def _refunded_charge(client: stripe.StripeClient) -> tuple[str, str, str]:
    """(PaymentIntent id, charge id, refund id) of a charge refunded in part."""
    pi = pay(client, amount=2000)
    refund = client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 500})
    return pi.id, str(pi.latest_charge), refund.id


def test_a_charge_shows_its_refunds_only_when_expanded_since_2022_11_15(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox
) -> None:
    pi, charge, refund = _refunded_charge(stripe_client)
    with _api(sandbox) as api:
        plain = api.get(f"/v1/charges/{charge}").json()
        assert "refunds" not in plain
        assert (plain["amount_refunded"], plain["refunded"]) == (500, False)
        expanded = api.get(f"/v1/charges/{charge}", params={"expand[]": "refunds"}).json()
        assert [r["id"] for r in expanded["refunds"]["data"]] == [refund]
        listed = api.get("/v1/charges").json()["data"]
        assert [c["id"] for c in listed] == [charge] and "refunds" not in listed[0]
        in_list = api.get("/v1/charges", params={"expand[]": "data.refunds"}).json()["data"]
        assert in_list[0]["refunds"]["data"][0]["id"] == refund
        latest = api.get(f"/v1/payment_intents/{pi}", params={"expand[]": "latest_charge"}).json()
        assert latest["latest_charge"]["id"] == charge
        assert "refunds" not in latest["latest_charge"]
        deep = api.get(
            f"/v1/payment_intents/{pi}", params={"expand[]": "latest_charge.refunds"}
        ).json()
        assert deep["latest_charge"]["refunds"]["data"][0]["id"] == refund
        on_refund = api.get(f"/v1/refunds/{refund}", params={"expand[]": "charge"}).json()
        assert "refunds" not in on_refund["charge"]
    with _api(sandbox, OLD) as old:
        assert old.get(f"/v1/charges/{charge}").json()["refunds"]["data"][0]["id"] == refund
        listed_old = old.get("/v1/charges").json()["data"][0]
        assert listed_old["refunds"]["url"] == f"/v1/charges/{charge}/refunds"
    # the SDK, pinned to the new version, sees no refunds attribute
    fetched = stripe_client.v1.charges.retrieve(charge)
    assert "refunds" not in fetched
    assert (
        stripe_client.v1.charges.retrieve(charge, params={"expand": ["refunds"]}).refunds
        is not None
    )


def _charge_refunded(events: list[dict[str, Any]]) -> dict[str, Any]:
    (event,) = [e for e in events if e["type"] == "charge.refunded"]
    return event


def test_events_are_shaped_for_the_endpoint_version_else_the_account_default(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox, control: httpx.Client
) -> None:
    with Receiver() as default, Receiver() as old:
        stripe_client.v1.webhook_endpoints.create(
            params={"url": default.url, "enabled_events": ["charge.refunded"]}
        )
        stripe_client.v1.webhook_endpoints.create(
            params={"url": old.url, "enabled_events": ["charge.refunded"], "api_version": OLD}
        )
        _pi, charge, refund = _refunded_charge(stripe_client)
        assert default.wait_for(1) and old.wait_for(1)
        new_shape = json.loads(default.ok()[0].body)
        old_shape = json.loads(old.ok()[0].body)
        assert (new_shape["api_version"], old_shape["api_version"]) == (PINNED, OLD)
        assert new_shape["id"] == old_shape["id"]
        assert new_shape["data"]["object"]["id"] == charge
        assert "refunds" not in new_shape["data"]["object"]
        assert new_shape["data"]["previous_attributes"] == {"amount_refunded": 0}
        assert [r["id"] for r in old_shape["data"]["object"]["refunds"]["data"]] == [refund]
        previous = old_shape["data"]["previous_attributes"]
        assert previous["amount_refunded"] == 0 and previous["refunds"]["data"] == []

        # GET /v1/events: the account's version at creation, whatever the request speaks
        with _api(sandbox, OLD) as api:
            stored = _charge_refunded(api.get("/v1/events").json()["data"])
        assert stored["api_version"] == PINNED and "refunds" not in stored["data"]["object"]

        # the account moves to the old version: the endpoint without one follows it
        assert control.post("/_sandbox/account", json={"api_version": OLD}).status_code == 200
        stripe_client.v1.refunds.create(params={"charge": charge, "amount": 300})
        assert default.wait_for(2)
        later = json.loads(default.ok()[1].body)
        assert later["api_version"] == OLD
        assert len(later["data"]["object"]["refunds"]["data"]) == 2
        with _api(sandbox) as api:
            events = api.get("/v1/events", params={"type": "charge.refunded"}).json()["data"]
        assert [e["api_version"] for e in events] == [OLD, PINNED]
        assert "refunds" in events[0]["data"]["object"]
        assert "refunds" not in events[1]["data"]["object"]
        one = api_get_event(sandbox, events[0]["id"])
        assert one["api_version"] == OLD and "refunds" in one["data"]["object"]


def api_get_event(sandbox: RunningSandbox, event_id: str) -> dict[str, Any]:
    with _api(sandbox) as api:
        result: dict[str, Any] = api.get(f"/v1/events/{event_id}").json()
    return result


@pytest.mark.parametrize(
    "version",
    ["2099-01-01", "2026-10-29.endive", "2025-09-30.acacia", "2024-09-30", "2026-10-28.basil"],
)
def test_a_well_formed_but_unknown_version_is_refused(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox, control: httpx.Client, version: str
) -> None:
    with _api(sandbox, version) as api:
        r = api.get("/v1/customers")
    assert r.status_code == 400
    assert r.json()["error"]["message"] == f"Invalid Stripe API version: {version}"
    assert r.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.webhook_endpoints.create(
            params={"url": "https://x.test/hook", "enabled_events": ["*"], "api_version": version}
        )
    assert (info.value.http_status, info.value.param) == (400, "api_version")
    assert stripe_client.v1.webhook_endpoints.list().data == []
    bad = control.post("/_sandbox/account", json={"api_version": version})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "api_version"
    assert control.get("/_sandbox/account").json() == {"api_version": PINNED}


def test_released_versions_are_accepted(
    stripe_client: stripe.StripeClient, sandbox: RunningSandbox
) -> None:
    for version in (
        "2011-01-01",
        OLD,
        "2022-11-15",
        "2025-03-31.basil",
        PINNED,
        "2026-08-26.preview",
    ):
        with _api(sandbox, version) as api:
            r = api.get("/v1/customers")
        assert r.status_code == 200, (version, r.text)
        assert r.headers["Stripe-Version"] == version
    endpoint = stripe_client.v1.webhook_endpoints.create(
        params={"url": "https://x.test/hook", "enabled_events": ["*"], "api_version": PINNED}
    )
    assert endpoint.api_version == PINNED and endpoint.secret is not None
