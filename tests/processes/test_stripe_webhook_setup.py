"""``balance-manager stripe webhook-setup`` against the Stripe sandbox, over the SDK as in
production: the endpoint is created in the service's pinned API version with exactly the event
types the service handles, its secret printed once; run twice → still one endpoint; one that
differs is reported (exit 1) and fixed with ``--update``."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import stripe

from balance_manager.payments.gateway import PINNED_API_VERSION
from balance_manager.usecases.stripe_events import HANDLED_EVENT_TYPES

URL = "https://billing.example.com/api/webhooks/stripe"
OLDER = "2026-07-29.dahlia"


def _setup(sandbox: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "STRIPE_SECRET_KEY": sandbox.secret_key,
        "STRIPE_API_BASE": sandbox.base_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "balance_manager", "stripe", "webhook-setup", "--url", URL, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _sdk(sandbox: Any) -> stripe.StripeClient:
    return stripe.StripeClient(sandbox.secret_key, base_addresses={"api": sandbox.base_url})


def _endpoints(sandbox: Any) -> list[Any]:
    return list(_sdk(sandbox).v1.webhook_endpoints.list().data)


def test_created_in_the_pinned_version_with_the_handled_events_once(stripe_sandbox: Any) -> None:
    # The account's default is older than the service: a Dashboard-made endpoint would get it.
    httpx.post(f"{stripe_sandbox.base_url}/_sandbox/account", json={"api_version": OLDER})

    first = _setup(stripe_sandbox)
    assert first.returncode == 0, first.stderr
    (endpoint,) = _endpoints(stripe_sandbox)
    assert endpoint.url == URL
    assert endpoint.api_version == PINNED_API_VERSION
    assert sorted(endpoint.enabled_events) == sorted(HANDLED_EVENT_TYPES)
    assert endpoint.status == "enabled"
    secret = first.stdout.splitlines()[-1]
    assert secret.startswith("whsec_")
    assert secret == stripe_sandbox.state.private_of(endpoint.id)["secret"]
    assert f"created Stripe webhook endpoint {endpoint.id}" in first.stdout

    second = _setup(stripe_sandbox)
    assert second.returncode == 0, second.stderr
    assert second.stdout == (
        f"Stripe webhook endpoint {endpoint.id} for {URL} is set up: API version "
        f"{PINNED_API_VERSION}, {len(HANDLED_EVENT_TYPES)} event types.\n"
    )
    assert [e.id for e in _endpoints(stripe_sandbox)] == [endpoint.id]  # still one


def test_a_dashboard_endpoint_is_reported_then_replaced(stripe_sandbox: Any) -> None:
    sdk = _sdk(stripe_sandbox)
    # As the Dashboard makes one: no API version of its own, and a hand-picked list.
    old = sdk.v1.webhook_endpoints.create(
        params={"url": URL, "enabled_events": ["payment_intent.succeeded", "charge.succeeded"]}
    )
    other = sdk.v1.webhook_endpoints.create(
        params={"url": "https://elsewhere.example/hook", "enabled_events": ["*"]}
    )

    checked = _setup(stripe_sandbox)
    assert checked.returncode == 1
    assert f"Stripe webhook endpoint {old.id} for {URL} differs" in checked.stdout
    assert "API version none (events come in the account's default version)" in checked.stdout
    assert "missing event types: charge.dispute.closed," in checked.stdout
    assert "event types the service does not handle: charge.succeeded" in checked.stdout
    assert "--update" in checked.stdout and "whsec_" not in checked.stdout
    assert {e.id for e in _endpoints(stripe_sandbox)} == {old.id, other.id}  # nothing changed

    replaced = _setup(stripe_sandbox, "--update")
    assert replaced.returncode == 0, replaced.stderr
    endpoints = {e.url: e for e in _endpoints(stripe_sandbox)}
    assert set(endpoints) == {URL, "https://elsewhere.example/hook"}  # another URL is not ours
    new = endpoints[URL]
    assert new.id != old.id and new.api_version == PINNED_API_VERSION
    assert sorted(new.enabled_events) == sorted(HANDLED_EVENT_TYPES)
    assert f"deleted endpoint {old.id} (same URL)" in replaced.stdout
    assert replaced.stdout.splitlines()[-1] == stripe_sandbox.state.private_of(new.id)["secret"]
    assert _setup(stripe_sandbox).returncode == 0


def test_events_and_state_are_fixed_in_place_keeping_the_secret(stripe_sandbox: Any) -> None:
    created = _setup(stripe_sandbox)
    secret = created.stdout.splitlines()[-1]
    (endpoint,) = _endpoints(stripe_sandbox)
    sdk = _sdk(stripe_sandbox)
    sdk.v1.webhook_endpoints.update(
        endpoint.id, params={"enabled_events": ["payment_intent.succeeded"], "disabled": True}
    )

    checked = _setup(stripe_sandbox)
    assert checked.returncode == 1
    assert "  - missing event types: charge.dispute.closed," in checked.stdout
    assert "  - disabled" in checked.stdout

    fixed = _setup(stripe_sandbox, "--update")
    assert fixed.returncode == 0, fixed.stderr
    assert f"updated Stripe webhook endpoint {endpoint.id}" in fixed.stdout
    assert "whsec_" not in fixed.stdout  # same endpoint, same secret
    (kept,) = _endpoints(stripe_sandbox)
    assert (kept.id, kept.status) == (endpoint.id, "enabled")
    assert sorted(kept.enabled_events) == sorted(HANDLED_EVENT_TYPES)
    assert stripe_sandbox.state.private_of(kept.id)["secret"] == secret


def test_a_second_endpoint_for_the_url_is_deleted(stripe_sandbox: Any) -> None:
    assert _setup(stripe_sandbox).returncode == 0
    sdk = _sdk(stripe_sandbox)
    sdk.v1.webhook_endpoints.create(
        params={
            "url": URL,
            "enabled_events": sorted(HANDLED_EVENT_TYPES),
            "api_version": PINNED_API_VERSION,
        }
    )
    checked = _setup(stripe_sandbox)
    assert checked.returncode == 1
    assert "  - 1 more endpoint(s) for the same URL" in checked.stdout
    fixed = _setup(stripe_sandbox, "--update")
    assert fixed.returncode == 0, fixed.stderr
    assert len(_endpoints(stripe_sandbox)) == 1
    assert fixed.stdout.count("(same URL)") == 1


def test_without_stripe_it_stops_with_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "balance_manager", "stripe", "webhook-setup", "--url", URL],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (
        1,
        "error: STRIPE_SECRET_KEY is not set: this command needs Stripe\n",
    )
