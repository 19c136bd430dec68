"""The gateway against localstripe (PyPI ``localstripe``), a third-party Stripe emulator with
a fixed, older parameter set: a check that what we send is plain Stripe.

localstripe runs from its own virtualenv (``.venv-localstripe``, see the Makefile's
``localstripe`` target) or any ``localstripe`` on PATH, or ``$LOCALSTRIPE``. Not found or not
starting → skipped locally, a failure in CI.

Known localstripe gaps, so not checked here (the sandbox tests cover them): no idempotency
keys, no ``automatic_payment_methods`` (the gateway runs with it off), no ``description`` on
PaymentIntents, no listing of PaymentIntents by customer, declines carry no PaymentIntent,
SetupIntents don't attach their card.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import stripe

from balance_manager.payments.gateway import ChargeOutcome, StripeGateway, StripeNotFound
from tests._support import unavailable

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk_test_localstripe"


def _binary() -> str | None:
    explicit = os.environ.get("LOCALSTRIPE")
    if explicit:
        return explicit
    venv = ROOT / ".venv-localstripe" / "bin" / "localstripe"
    if venv.exists():
        return str(venv)
    return shutil.which("localstripe")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def localstripe_url() -> Iterator[str]:
    binary = _binary()
    if binary is None:
        unavailable("localstripe not installed (make localstripe, or set LOCALSTRIPE)")
    assert binary is not None
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    try:
        while True:
            try:
                httpx.get(f"{url}/v1/customers", auth=(KEY, ""), timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode()[-500:] if proc.stderr else ""
                    unavailable(f"localstripe did not start on port {port}: {err}")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
async def gateway(localstripe_url: str) -> AsyncIterator[StripeGateway]:
    http = stripe.HTTPXClient(timeout=5)
    client = stripe.StripeClient(
        KEY, base_addresses={"api": localstripe_url}, http_client=http, max_network_retries=0
    )
    gw = StripeGateway(
        client,
        max_retries=1,
        retry_base_delay=0.01,
        http_client=http,
        automatic_payment_methods=False,
    )
    yield gw
    await gw.aclose()


def _card(url: str, customer: str, number: str) -> str:
    """A card as Stripe.js would create it, attached as the portal would."""
    sdk = stripe.StripeClient(KEY, base_addresses={"api": url})
    pm = sdk.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    sdk.v1.payment_methods.attach(pm.id, params={"customer": customer})
    return pm.id


def _customer(url: str, customer_id: str) -> stripe.Customer:
    return stripe.StripeClient(KEY, base_addresses={"api": url}).v1.customers.retrieve(customer_id)


async def test_customer(gateway: StripeGateway, localstripe_url: str) -> None:
    customer_id = await gateway.ensure_customer(user_id="u1", email="ls@example.com")
    customer = _customer(localstripe_url, customer_id)
    assert customer.email == "ls@example.com"
    assert customer.metadata["user_id"] == "u1"


async def test_cards(gateway: StripeGateway, localstripe_url: str) -> None:
    customer = await gateway.ensure_customer(user_id="u2", email="ls2@example.com")
    assert await gateway.list_cards(customer) == ([], None)
    visa = _card(localstripe_url, customer, "4242424242424242")
    other = _card(localstripe_url, customer, "5555555555554444")
    cards, default = await gateway.list_cards(customer)
    assert {c.id for c in cards} == {visa, other} and default is None
    card, owner = await gateway.retrieve_card(visa)
    assert (card.last4, card.exp_month, card.exp_year, owner) == ("4242", 12, 2034, customer)
    await gateway.set_customer_default(customer_id=customer, payment_method_id=visa)
    assert (await gateway.list_cards(customer))[1] == visa
    await gateway.set_customer_default(customer_id=customer, payment_method_id=None)
    assert (await gateway.list_cards(customer))[1] is None
    await gateway.detach_card(other)
    assert [c.id for c in (await gateway.list_cards(customer))[0]] == [visa]
    si_id, secret = await gateway.create_setup_intent(customer_id=customer)
    assert secret.startswith(si_id)
    assert (await gateway.retrieve_setup_intent(si_id)).customer_id == customer
    with pytest.raises(StripeNotFound):
        await gateway.retrieve_card("pm_missing")


async def test_off_session_success_and_decline(
    gateway: StripeGateway, localstripe_url: str
) -> None:
    customer = await gateway.ensure_customer(user_id="u3", email="ls3@example.com")
    visa = _card(localstripe_url, customer, "4242424242424242")
    ok = await gateway.charge_off_session(
        idempotency_key="rec_ls_1",
        customer_id=customer,
        payment_method_id=visa,
        amount=66885,
        currency="usd",
        metadata={"recharge_id": "rec_ls_1", "user_id": "u3"},
    )
    assert ok.outcome is ChargeOutcome.SUCCEEDED, ok
    assert (ok.amount, ok.metadata) == (66885, {"recharge_id": "rec_ls_1", "user_id": "u3"})
    assert ok.payment_intent_id is not None
    assert (
        await gateway.retrieve_payment_intent(ok.payment_intent_id)
    ).outcome is ChargeOutcome.SUCCEEDED
    # (find_payment_intent is not checked: localstripe cannot list PaymentIntents by customer.)

    failing = _card(localstripe_url, customer, "4000000000000341")  # attaches, charges fail
    declined = await gateway.charge_off_session(
        idempotency_key="rec_ls_2",
        customer_id=customer,
        payment_method_id=failing,
        amount=1000,
        currency="usd",
        metadata={"recharge_id": "rec_ls_2", "user_id": "u3"},
    )
    assert declined.outcome is ChargeOutcome.DECLINED
    assert declined.failure_code == "card_declined" and declined.failure_message
